import { readdirSync, readFileSync } from 'node:fs';

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
 * crossing (watchResourceLimits).
 */
export function resourceUsage(warnPercent: number): ResourceUsage {
  let fds: number | null = null;
  let fdLimit: number | null = null;
  try {
    fds = readdirSync('/proc/self/fd').length;
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    fdLimit = m && m[1] !== 'unlimited' ? Number(m[1]) : null;
  } catch {
    // Not Linux: unknown.
  }
  return { fds, fdLimit, nearLimit: fds !== null && fdLimit !== null && fds >= (fdLimit * warnPercent) / 100 };
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
