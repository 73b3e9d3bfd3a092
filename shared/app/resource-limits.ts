import { readdirSync, readFileSync } from 'node:fs';
import { AppError, isAppError } from '../domain/errors';

export interface ResourceUsage {
  /** Open file descriptors of this process, and its soft limit (RLIMIT_NOFILE); null where /proc is missing. */
  fds: number | null;
  fdLimit: number | null;
  /** True when fds reached `warnPercent` of the limit: new files (tenant databases, sockets) will soon fail with EMFILE. */
  nearLimit: boolean;
}

/**
 * How close this process is to its file-descriptor limit (Linux: /proc/self/fd and
 * /proc/self/limits; elsewhere unknown). The health endpoint turns "degraded" at `warnPercent`,
 * before EMFILE makes tenant creation and requests fail, and the log names the limit once per
 * crossing (noteResourceUsage: from health and from watchResourceLimits, every 30 s).
 */
export function resourceUsage(warnPercent: number): ResourceUsage {
  let fds: number | null = null;
  let fdLimit: number | null = null;
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    fdLimit = m && m[1] !== 'unlimited' ? Number(m[1]) : null;
    lastFdLimit = fdLimit;
  } catch (e) {
    // At the limit itself the file cannot be opened: the limit last read stands (it changes
    // only by prlimit/ulimit); not Linux: unknown.
    if (isFdExhaustion(e)) fdLimit = lastFdLimit;
  }
  try {
    fds = readdirSync('/proc/self/fd').length;
  } catch (e) {
    // Listing the fd folder needs a descriptor too: failing for want of one means at the limit.
    if (isFdExhaustion(e)) fds = fdLimit;
  }
  return { fds, fdLimit, nearLimit: fds !== null && fdLimit !== null && fds >= (fdLimit * warnPercent) / 100 };
}

/** The soft limit as last read, for when reading it fails because the process is at it. */
let lastFdLimit: number | null = null;

function isFdExhaustion(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

let warned = false;

/** Logs when the process crosses the warning level (and when it is back below), naming the limit. */
export function noteResourceUsage(u: ResourceUsage, warnPercent: number, log: (line: string) => void): void {
  if (u.nearLimit && !warned)
    log(
      `resource limit: ${u.fds} open file descriptors of the process limit RLIMIT_NOFILE=${u.fdLimit} (warning at ${warnPercent} %): lower TENANT_CACHE_MAX or raise the limit (ulimit -n) before EMFILE makes requests fail`,
    );
  else if (!u.nearLimit && warned) log(`resource limit: open file descriptors back to ${u.fds} of RLIMIT_NOFILE=${u.fdLimit}`);
  warned = u.nearLimit;
}

/** Seconds a client is told to wait before retrying a request refused at the fd limit. */
const RETRY_AFTER_SECONDS = 30;

/** The error's code and those of its causes (wrapped errors keep the original as `cause`). */
function codesOf(e: unknown): string[] {
  const out: string[] = [];
  for (let x = e, depth = 0; typeof x === 'object' && x !== null && depth < 5; x = (x as { cause?: unknown }).cause, depth++) {
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string') out.push(code);
  }
  return out;
}

/**
 * A request that failed because the process ran out of file descriptors, as a 503 that names
 * the limit instead of a 500: EMFILE/ENFILE from Node, or SQLITE_CANTOPEN (libSQL reports no
 * errno) while the process is at `warnPercent` of its limit or beyond. The log names the limit
 * (once per crossing, noteResourceUsage). Undefined for any other error.
 */
export function resourceLimitFault(e: unknown, warnPercent: number, log: (line: string) => void): AppError | undefined {
  if (typeof e !== 'object' || e === null || isAppError(e)) return undefined;
  const codes = codesOf(e);
  const fdError = codes.some((c) => c === 'EMFILE' || c === 'ENFILE');
  if (!fdError && !codes.includes('SQLITE_CANTOPEN')) return undefined;
  const u = resourceUsage(warnPercent);
  if (!fdError && !u.nearLimit) return undefined;
  noteResourceUsage(u, warnPercent, log);
  const limit = u.fdLimit === null ? 'its limit of open files' : `its limit of open files (RLIMIT_NOFILE=${u.fdLimit}, ${u.fds} open)`;
  log(`resource limit: a request failed with ${codes[0]}: the process is at ${limit.replace(/^its /, 'the ')}`);
  return new AppError('unavailable', `This service instance has reached ${limit}; the request was not completed. Try again later.`, {
    retryAfterSeconds: RETRY_AFTER_SECONDS,
  });
}

/** Checks the fd usage every `everyMs` and logs crossings of the warning level (names the limit); returns the stop function. */
export function watchResourceLimits(warnPercent: number, log: (line: string) => void, everyMs = 30_000): () => void {
  const timer = setInterval(() => noteResourceUsage(resourceUsage(warnPercent), warnPercent, log), everyMs);
  timer.unref?.();
  return () => clearInterval(timer);
}
