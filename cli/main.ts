#!/usr/bin/env node
/**
 * tenant-ledger CLI: a thin client of the HTTP API for operators.
 *
 *   tenant-ledger [--url U] [--key K] [--as EMAIL] [--json] <command> ...
 *
 * Operator commands send the operator key (or Entra token) as a bearer credential. Tenant
 * commands (users, export) act as a user of that tenant — `--as <email>` signs in, or
 * TENANT_LEDGER_TOKEN carries a token — because the operator credential never opens a
 * tenant's data. Credentials and passwords are never printed (they are scrubbed from
 * anything the CLI writes), except the token `login` exists to print.
 *
 * Exit codes: 0 ok, 1 the service refused, 2 usage error, 3 the service cannot be reached.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { USAGE, UsageError, parse, plan, type Call, type Flags, type Io } from './commands';
import { RECOVERY_USAGE } from './recovery-usage';

export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;

function operatorKey(flags: Flags, env: NodeJS.ProcessEnv): string {
  if (flags.key) return flags.key;
  if (env.OPERATOR_KEY) return env.OPERATOR_KEY;
  const file = join(env.DATA_DIR || './.data', 'operator.key');
  try {
    const k = readFileSync(file, 'utf8').trim();
    if (k) return k;
  } catch {
    /* reported below */
  }
  throw new UsageError(`No operator key: pass --key, set OPERATOR_KEY, or run where ${file} exists.`);
}

function baseUrl(flags: Flags, env: NodeJS.ProcessEnv): string {
  const raw = flags.url || env.TENANT_LEDGER_URL || 'http://localhost:7071';
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`Not a URL: ${raw}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`Not an http(s) URL: ${raw}`);
  return u.toString().replace(/\/+$/, '');
}

/** A spinner with elapsed seconds on a TTY, one plain line otherwise. Returns the stop function. */
function startProgress(label: string, io: Pick<Io, 'err' | 'stderrIsTTY'>, detail: () => string = () => ''): () => void {
  const started = Date.now();
  if (!io.stderrIsTTY) {
    io.err(`${label} …\n`);
    return () => {};
  }
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let i = 0;
  const draw = () => io.err(`\r\x1b[2K${frames[i++ % frames.length]} ${label} … ${detail()}${((Date.now() - started) / 1000).toFixed(0)}s`);
  draw();
  const timer = setInterval(draw, 100);
  return () => {
    clearInterval(timer);
    io.err(`\r\x1b[2K`);
  };
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** Thrown when the service cannot be reached; carries the low-level cause for the message. */
class Unreachable extends Error {}
/** Thrown once the reason has been printed: ends the run with this exit code. */
class Stop extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** Runs the CLI; returns the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  const secrets = new Set<string>();
  const scrub = (s: string) => [...secrets].reduce((acc, x) => acc.split(x).join('***'), s);
  const out = (s: string) => io.out(scrub(s));
  const err = (s: string) => io.err(scrub(s));
  let flags: Flags = {};
  let url = '';

  /** The answer of one call: status, headers and parsed JSON (undefined when not JSON), or the unread response of a stream. */
  interface Answer {
    status: number;
    headers: Headers;
    body: any;
  }

  async function send(call: Call, bearer: string | undefined): Promise<Answer | Response> {
    const stream = call.stream !== undefined || call.progress !== undefined;
    try {
      const res = await fetch(url + call.path, {
        method: call.method,
        headers: {
          accept: stream
            ? 'application/x-ndjson, application/json, application/problem+json'
            : 'application/json, application/problem+json',
          ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
          ...(call.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(call.headers ?? {}),
        },
        ...(call.body !== undefined ? { body: JSON.stringify(call.body) } : {}),
      });
      // A streamed success (an export, or a long operation's progress) is read by the caller.
      if (res.ok && (res.headers.get('content-type') ?? '').startsWith('application/x-ndjson')) return res;
      return { status: res.status, headers: res.headers, body: parseBody(await res.text()) };
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new Unreachable(`Cannot reach the service at ${url}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
    }
  }

  /**
   * Follows a long operation's progress stream (see functions/progress.ts): a bar on a
   * terminal (a counter when the phase has no total), one line per phase otherwise; the last
   * line is the operation's answer.
   */
  async function follow(res: Response, label: string): Promise<Answer> {
    let progress: { phase: string; done: number; total?: number } = { phase: 'start', done: 0 };
    let phase = '';
    const started = Date.now();
    const bar = () => {
      const p = progress;
      if (p.total === undefined || p.total <= 0) return `${p.phase} ${p.done} `;
      const f = Math.min(1, p.done / p.total);
      const w = 24;
      const full = Math.round(f * w);
      return `${p.phase} [${'█'.repeat(full)}${'░'.repeat(w - full)}] ${Math.floor(f * 100)}% ${p.done}/${p.total} `;
    };
    // (Off a terminal the label line was printed while waiting for the answer to start.)
    const stop = io.stderrIsTTY ? startProgress(label, { err, stderrIsTTY: true }, bar) : () => {};
    let answer: Answer | undefined;
    let buffered = '';
    try {
      const decoder = new TextDecoder();
      const handle = (line: string) => {
        if (!line.trim()) return;
        const msg = JSON.parse(line) as { progress?: typeof progress; status?: number; body?: unknown };
        if (msg.progress) {
          progress = msg.progress;
          if (!io.stderrIsTTY && progress.phase !== phase)
            err(`  ${progress.phase}${progress.total !== undefined ? ` (${progress.total})` : ''} …\n`);
          phase = progress.phase;
        } else if (typeof msg.status === 'number') {
          answer = {
            status: msg.status,
            headers: new Headers(
              typeof (msg.body as { type?: unknown })?.type === 'string' && msg.status >= 400
                ? { 'content-type': 'application/problem+json' }
                : {},
            ),
            body: msg.body,
          };
        }
      };
      for await (const chunk of Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>) as AsyncIterable<Buffer>) {
        buffered += decoder.decode(chunk, { stream: true });
        for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
          handle(buffered.slice(0, nl));
          buffered = buffered.slice(nl + 1);
        }
      }
      handle(buffered);
    } catch (e) {
      stop();
      throw new Unreachable(
        `The connection to ${url} broke during "${label}" (${(e as Error).message}); the operation may still be running on the service — check its status.`,
      );
    }
    stop();
    if (!answer)
      throw new Unreachable(
        `The service ended "${label}" without an answer after ${Math.round((Date.now() - started) / 1000)}s; the operation may still be running — check its status.`,
      );
    return answer;
  }

  /** Prints a refusal (problem+json or a per-tier failure body) and returns the exit code. */
  function refused(a: Answer, summary: Call['summary']): number {
    const body = a.body;
    const isProblem = (a.headers.get('content-type') ?? '').includes('problem+json') || typeof body.detail === 'string';
    if (isProblem) {
      err(`Error ${a.status}${body.title ? ` ${body.title}` : ''}: ${body.detail ?? '(no detail)'}\n`);
      for (const e of Array.isArray(body.errors) ? body.errors : [])
        err(`  ${e.path ?? e.instancePath ?? ''} ${e.message ?? JSON.stringify(e)}\n`);
      if (body.correlationId) err(`  correlation id: ${body.correlationId}\n`);
    } else {
      // e.g. 502 from backup/drill when a tier failed: the body is the per-tier result.
      if (!flags.json) out(`${summary(body)}\n`);
      err(`Error ${a.status}: the service reports a failure (see above).\n`);
    }
    return EXIT.refused;
  }

  function parseBody(text: string | undefined): any {
    try {
      return text ? JSON.parse(text) : {};
    } catch {
      return undefined;
    }
  }

  /** The bearer credential a call needs: the operator key, a tenant user's token, or none. */
  async function credential(call: Call): Promise<string | undefined> {
    if (call.caller.kind === 'none') return undefined;
    if (call.caller.kind === 'operator') {
      const key = operatorKey(flags, io.env);
      secrets.add(key);
      return key;
    }
    const tenant = call.caller.tenant;
    if (io.env.TENANT_LEDGER_TOKEN && !flags.as) {
      secrets.add(io.env.TENANT_LEDGER_TOKEN);
      return io.env.TENANT_LEDGER_TOKEN;
    }
    if (!flags.as) {
      throw new UsageError(
        `This command acts as a user of tenant ${tenant}: pass --as <email> (password from TENANT_LEDGER_PASSWORD, or typed on a terminal) or set TENANT_LEDGER_TOKEN. The operator key never opens a tenant's data.`,
      );
    }
    let password = io.env.TENANT_LEDGER_PASSWORD;
    if (!password) {
      if (!io.stdinIsTTY) throw new UsageError(`--as ${flags.as}: set TENANT_LEDGER_PASSWORD (stdin is not a terminal to type it on).`);
      password = await io.readPassword(`Password for ${flags.as} (${tenant}): `);
    }
    if (!password) throw new UsageError(`No password for ${flags.as}.`);
    secrets.add(password);
    const a = (await send(
      {
        method: 'POST',
        path: `/api/t/${encodeURIComponent(tenant)}/auth/token`,
        body: { email: flags.as, password },
        caller: { kind: 'none' },
        summary: () => '',
      },
      undefined,
    )) as Answer;
    const body = a.body;
    if (a.status !== 200 || typeof body?.access_token !== 'string') {
      err(`Signing in to ${tenant} as ${flags.as} failed.\n`);
      throw new Stop(body === undefined ? EXIT.refused : refused(a, () => ''));
    }
    secrets.add(body.access_token);
    return body.access_token as string;
  }

  /** Streams an NDJSON answer to a file (written aside, renamed when complete) or stdout. */
  async function download(call: Call & { stream: NonNullable<Call['stream']> }, res: Response): Promise<number> {
    const target = call.stream.out ? resolve(call.stream.out) : undefined;
    const partial = target ? `${target}.partial-${process.pid}` : undefined;
    let records = 0;
    let bytes = 0;
    let lastByte = 0x0a;
    const stop = startProgress(call.stream.label, { err, stderrIsTTY: io.stderrIsTTY }, () => `${records} records, ${mb(bytes)}, `);
    const dest: NodeJS.WritableStream = partial ? createWriteStream(partial, { flags: 'wx', mode: 0o600 }) : io.stdout;
    // A file stream that fails (or is destroyed with writes pending) emits 'error': keep it as the
    // reason instead of letting an unhandled 'error' event end the CLI, and never wait for a
    // 'drain' that will not come.
    let destError: Error | undefined;
    const onDestError = (e: Error) => {
      destError ??= e;
    };
    if (partial) dest.on('error', onDestError);
    const drained = () =>
      new Promise<void>((r, j) => {
        const done = () => {
          dest.off('error', fail);
          r();
        };
        const fail = (e: Error) => {
          dest.off('drain', done);
          j(e);
        };
        dest.once('drain', done);
        if (partial) dest.once('error', fail);
      });
    try {
      const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
      for await (const chunk of body as AsyncIterable<Buffer>) {
        for (const b of chunk) if (b === 0x0a) records++;
        bytes += chunk.length;
        lastByte = chunk[chunk.length - 1] ?? lastByte;
        if (destError) throw destError;
        if (!dest.write(chunk)) await drained();
      }
      if (destError) throw destError;
      if (lastByte !== 0x0a) throw new Error('the last record is incomplete');
      if (partial) {
        await new Promise<void>((r, j) => (dest as Writable).end((e?: Error | null) => (e ? j(e) : r())));
        await rename(partial, target!);
      }
    } catch (e) {
      stop();
      if (partial) {
        (dest as Writable).destroy();
        await rm(partial, { force: true });
      }
      err(
        `The export of ${call.path.split('/')[3]} broke off after ${records} records (${(e as Error).message}); ${target ? `nothing was written to ${target}` : 'the output above is incomplete'}.\n`,
      );
      return EXIT.refused;
    }
    stop();
    const result = { records, bytes, ...(target ? { out: target } : {}) };
    if (flags.json) out(`${JSON.stringify(result, null, 2)}\n`);
    else err(`${call.summary(result)}\n`);
    return EXIT.ok;
  }

  try {
    // Recovery commands run here, not against a service (cli/recovery.ts).
    if (argv.filter((a) => !a.startsWith('-'))[0] === 'recovery')
      return await (await import('./recovery')).runRecovery(argv, { ...io, out, err });
    const parsed = parse(argv);
    flags = parsed.flags;
    // Even a usage error must not echo the key (e.g. "--key abc extra").
    for (const s of [flags.key, io.env.OPERATOR_KEY, io.env.TENANT_LEDGER_TOKEN, io.env.TENANT_LEDGER_PASSWORD]) if (s) secrets.add(s);
    if (flags.help || parsed.positionals[0] === 'help') {
      out(`${USAGE}\n${RECOVERY_USAGE}`);
      return EXIT.ok;
    }
    url = baseUrl(flags, io.env);
    let call: Call | undefined = await plan(parsed.positionals, flags, io);
    for (const s of call.secrets ?? []) secrets.add(s);
    if (flags.as && call.caller.kind !== 'tenant') throw new UsageError('--as applies to tenant commands only (users, export).');
    const bearer = await credential(call);

    while (call) {
      // Until the answer starts: a spinner (long operations that stream progress then switch to a bar).
      const waiting = call.progress ? startProgress(call.progress, { err, stderrIsTTY: io.stderrIsTTY }) : () => {};
      let sent: Answer | Response;
      try {
        sent = await send(call, bearer);
      } finally {
        waiting();
      }
      let a: Answer;
      if (sent instanceof Response) {
        if (call.stream) return await download(call as Call & { stream: NonNullable<Call['stream']> }, sent);
        a = await follow(sent, call.progress ?? call.path);
      } else {
        a = sent;
      }
      if (a.body === undefined) {
        err(`Unexpected answer from ${url} (HTTP ${a.status}, not JSON).\n`);
        return EXIT.refused;
      }
      if (a.status < 200 || a.status > 299) {
        if (flags.json) out(`${JSON.stringify(a.body, null, 2)}\n`);
        return refused(a, call.summary);
      }
      if (call.next) {
        call = call.next(a.body, a.headers);
        continue;
      }
      if (flags.json) out(`${JSON.stringify(a.body, null, 2)}\n`);
      else out(`${call.summary(a.body)}\n`);
      return EXIT.ok;
    }
    return EXIT.ok;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`tenant-ledger: ${e.message}\nRun "tenant-ledger --help" for usage.\n`);
      return EXIT.usage;
    }
    if (e instanceof Stop) return e.code;
    if (e instanceof Unreachable) {
      err(`${e.message}\n`);
      return EXIT.unreachable;
    }
    err(`tenant-ledger: ${(e as Error)?.message ?? String(e)}\n`);
    return EXIT.refused;
  }
}

/** Reads the whole of stdin (piped), or one line without echo (TTY); strips one trailing newline. */
async function readPasswordFromStdin(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (stdin.isTTY) {
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    return new Promise((resolvePw) => {
      let pw = '';
      const onData = (chunk: string) => {
        for (const ch of chunk) {
          if (ch === '\r' || ch === '\n' || ch === '\u0004') {
            stdin.setRawMode(false);
            stdin.pause();
            stdin.off('data', onData);
            process.stderr.write('\n');
            resolvePw(pw);
            return;
          }
          if (ch === '\u0003') {
            stdin.setRawMode(false);
            process.stderr.write('\n');
            process.exit(130);
          }
          if (ch === '\u007f' || ch === '\b') pw = pw.slice(0, -1);
          else pw += ch;
        }
      };
      stdin.on('data', onData);
    });
  }
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

if (require.main === module) {
  run(process.argv.slice(2), {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    stdout: process.stdout,
    env: process.env,
    stderrIsTTY: Boolean(process.stderr.isTTY),
    stdinIsTTY: Boolean(process.stdin.isTTY),
    readPassword: readPasswordFromStdin,
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`tenant-ledger: ${(e as Error)?.message ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
