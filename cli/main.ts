#!/usr/bin/env node
/**
 * tenant-ledger operator CLI: a thin client of the operator HTTP endpoints.
 *
 *   tenant-ledger [--url U] [--key K] [--json] <command> ...
 *
 * Exit codes: 0 ok, 1 the service refused, 2 usage error, 3 the service cannot be reached.
 * The operator key is sent as a bearer credential and never printed (it is also scrubbed
 * from anything the CLI writes).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;

const USAGE = `Usage: tenant-ledger [--url <base>] [--key <operator key>] [--json] <command>

Commands:
  tenants create <id> --name <name> --admin-email <email> --admin-password-stdin
  tenants status <id>
  tenants list
  tenants suspend <id> | tenants resume <id>
  backup now <tenant>                 back up to every tier
  backup list <tenant>                backup status per tier
  backup verify <tenant>              restore drill on every tier
  backup restore <tenant> --tier <tier> --as-of <iso instant> --into <new tenant id>
  projections rebuild <tenant>
  keys rotate <tenant> [--resume]

Global options:
  --url <base>   service base URL (env TENANT_LEDGER_URL; default http://localhost:7071)
  --key <key>    operator key (env OPERATOR_KEY; default: the file <DATA_DIR or ./.data>/operator.key)
  --json         print the response JSON on stdout
  -h, --help     this help

Exit codes: 0 ok, 1 the service refused, 2 usage error, 3 cannot reach the service.
`;

class UsageError extends Error {}

interface Io {
  out(s: string): void;
  err(s: string): void;
  env: NodeJS.ProcessEnv;
  stderrIsTTY: boolean;
  readPassword(): Promise<string>;
}

interface Call {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  /** Long operation: show a progress indicator while waiting. */
  progress?: string;
  summary(json: any): string;
}

type Flags = {
  url?: string;
  key?: string;
  json?: boolean;
  help?: boolean;
  name?: string;
  'admin-email'?: string;
  'admin-password-stdin'?: boolean;
  tier?: string;
  'as-of'?: string;
  into?: string;
  resume?: boolean;
};

const GLOBAL_FLAGS = ['url', 'key', 'json', 'help'];

function parse(argv: string[]): { flags: Flags; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: 'string' },
        key: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        name: { type: 'string' },
        'admin-email': { type: 'string' },
        'admin-password-stdin': { type: 'boolean' },
        tier: { type: 'string' },
        'as-of': { type: 'string' },
        into: { type: 'string' },
        resume: { type: 'boolean' },
      },
    });
    return { flags: values as Flags, positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

const seg = (s: string) => encodeURIComponent(s);

function onlyFlags(flags: Flags, allowed: string[], command: string): void {
  for (const k of Object.keys(flags)) {
    if (flags[k as keyof Flags] === undefined) continue;
    if (!GLOBAL_FLAGS.includes(k) && !allowed.includes(k)) throw new UsageError(`Option --${k} does not apply to "${command}".`);
  }
}

function args(positionals: string[], names: string[], command: string): string[] {
  const rest = positionals.slice(2);
  if (rest.length < names.length) throw new UsageError(`"${command}" needs <${names[rest.length]}>.`);
  if (rest.length > names.length) throw new UsageError(`Unexpected argument "${rest[names.length]}" for "${command}".`);
  return rest;
}

function required(flags: Flags, name: keyof Flags, command: string): string {
  const v = flags[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`"${command}" needs --${name}.`);
  return v;
}

const when = (iso: unknown) => (typeof iso === 'string' ? iso : '—');
const plural = (n: unknown, w: string) => `${n ?? 0} ${w}${n === 1 ? '' : 's'}`;

function tierLines(tiers: any[]): string {
  return tiers
    .map((t) =>
      t.ok
        ? `  ${t.tier}: ok, ${plural(t.segments, 'segment')}, ${plural(t.commits, 'commit')}${t.lastTimestamp ? ` (up to ${t.lastTimestamp})` : ''}`
        : `  ${t.tier}: FAILED: ${t.error ?? 'unknown error'}`,
    )
    .join('\n');
}

/** Turns the command line into one HTTP call (or throws UsageError). */
async function plan(positionals: string[], flags: Flags, io: Io): Promise<Call> {
  const [group, action] = positionals;
  const command = `${group ?? ''} ${action ?? ''}`.trim();
  switch (command) {
    case 'tenants create': {
      onlyFlags(flags, ['name', 'admin-email', 'admin-password-stdin'], command);
      const [id] = args(positionals, ['id'], command);
      const name = required(flags, 'name', command);
      const email = required(flags, 'admin-email', command);
      if (!flags['admin-password-stdin']) throw new UsageError(`"${command}" needs --admin-password-stdin (the password is read from stdin, never from the command line).`);
      const password = await io.readPassword();
      if (!password) throw new UsageError('No admin password on stdin.');
      return {
        method: 'POST',
        path: '/api/tenants',
        body: { id, name, admin: { email, password } },
        summary: (j) => `Created tenant ${j.id} (${j.status}) at ${when(j.createdAt)}.`,
      };
    }
    case 'tenants status': {
      onlyFlags(flags, [], command);
      const [id] = args(positionals, ['id'], command);
      return { method: 'GET', path: `/api/tenants/${seg(id!)}`, summary: (j) => `Tenant ${j.id}: ${j.status} (created ${when(j.createdAt)}).` };
    }
    case 'tenants list': {
      onlyFlags(flags, [], command);
      args(positionals, [], command);
      return {
        method: 'GET',
        path: '/api/tenants',
        summary: (j) => ((j.items ?? []) as Array<{ id: string; status: string; createdAt: string }>).map((t) => `${t.id}\t${t.status}\t${t.createdAt}`).join('\n') || '(no tenants)',
      };
    }
    case 'tenants suspend':
    case 'tenants resume': {
      onlyFlags(flags, [], command);
      const [id] = args(positionals, ['id'], command);
      return { method: 'POST', path: `/api/tenants/${seg(id!)}/${action}`, summary: (j) => `Tenant ${j.id}: ${j.status}.` };
    }
    case 'backup now': {
      onlyFlags(flags, [], command);
      const [t] = args(positionals, ['tenant'], command);
      return {
        method: 'POST',
        path: `/api/tenants/${seg(t!)}/backups`,
        progress: `Backing up ${t} to every tier`,
        summary: (j) => `Backup of ${j.tenant}:\n${tierLines(j.tiers ?? [])}`,
      };
    }
    case 'backup list': {
      onlyFlags(flags, [], command);
      const [t] = args(positionals, ['tenant'], command);
      return {
        method: 'GET',
        path: `/api/tenants/${seg(t!)}/backups`,
        summary: (j) =>
          `Backups of ${j.tenant}:\n` +
          (j.tiers ?? [])
            .map((x: any) => {
              if (x.error) return `  ${x.tier}: ERROR: ${x.error}`;
              const b = x.lastBackup ? `last backup ${x.lastBackup.at} (${plural(x.lastBackup.manifests, 'manifest')})` : 'no backup yet';
              const lag = `lag ${plural(x.lagCommits, 'commit')}${x.lagMinutes != null ? ` / ${x.lagMinutes} min` : ''}`;
              const d = x.lastDrill ? `last drill ${x.lastDrill.at}: ${x.lastDrill.ok ? 'ok' : `FAILED${x.lastDrill.error ? ` (${x.lastDrill.error})` : ''}`}` : 'no drill yet';
              return `  ${x.tier}: ${b}; ${lag}; ${d}`;
            })
            .join('\n'),
      };
    }
    case 'backup verify': {
      onlyFlags(flags, [], command);
      const [t] = args(positionals, ['tenant'], command);
      return {
        method: 'POST',
        path: `/api/tenants/${seg(t!)}/backups/drill`,
        progress: `Restore drill of ${t} on every tier`,
        summary: (j) =>
          `Restore drill of ${j.tenant}:\n` +
          (j.drills ?? [])
            .map((d: any) =>
              d.ok
                ? `  ${d.tier}: ok, ${plural(d.commits, 'commit')}${d.restoredHash ? `, state hash ${String(d.restoredHash).slice(0, 12)}` : ''}`
                : `  ${d.tier}: FAILED: ${d.error ?? 'the restored state hash differs from the source'}`,
            )
            .join('\n'),
      };
    }
    case 'backup restore': {
      onlyFlags(flags, ['tier', 'as-of', 'into'], command);
      const [t] = args(positionals, ['tenant'], command);
      const tier = required(flags, 'tier', command);
      const asOf = required(flags, 'as-of', command);
      const into = required(flags, 'into', command);
      if (Number.isNaN(Date.parse(asOf))) throw new UsageError(`--as-of must be an ISO 8601 instant, e.g. ${new Date().toISOString()}.`);
      return {
        method: 'POST',
        path: `/api/tenants/${seg(t!)}/restore`,
        body: { tier, asOf, into },
        progress: `Restoring ${t} from ${tier} as of ${asOf} into ${into}`,
        summary: (j) => `Restored ${j.source} from ${j.tier} as of ${j.asOf} into tenant ${j.id}: ${plural(j.commits, 'commit')}.`,
      };
    }
    case 'projections rebuild': {
      onlyFlags(flags, [], command);
      const [t] = args(positionals, ['tenant'], command);
      return {
        method: 'POST',
        path: `/api/tenants/${seg(t!)}/projections/rebuild`,
        progress: `Rebuilding the projections of ${t}`,
        summary: (j) => `Rebuilt the projections of ${t}: generation ${j.generation}, ${plural(j.applied, 'commit')} applied in ${j.durationMs} ms.`,
      };
    }
    case 'keys rotate': {
      onlyFlags(flags, ['resume'], command);
      const [t] = args(positionals, ['tenant'], command);
      return {
        method: 'POST',
        path: `/api/tenants/${seg(t!)}/keys/rotate${flags.resume ? '?resume=true' : ''}`,
        progress: `${flags.resume ? 'Resuming the key rotation' : 'Rotating the key'} of ${t}`,
        summary: (j) => `${flags.resume ? 'Resumed the key rotation' : 'Rotated the key'} of ${t}: key ${j.keyId}; ${plural(j.checked, 'file')} checked, ${j.rewrapped} re-wrapped.`,
      };
    }
    default:
      throw new UsageError(command ? `Unknown command "${command}".` : 'No command given.');
  }
}

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
function startProgress(label: string, io: Io): () => void {
  const started = Date.now();
  if (!io.stderrIsTTY) {
    io.err(`${label} …\n`);
    return () => {};
  }
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let i = 0;
  const draw = () => io.err(`\r${frames[i++ % frames.length]} ${label} … ${((Date.now() - started) / 1000).toFixed(0)}s`);
  draw();
  const timer = setInterval(draw, 100);
  return () => {
    clearInterval(timer);
    io.err(`\r\x1b[2K`);
  };
}

/** Runs the CLI; returns the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  let secret: string | undefined;
  const scrub = (s: string) => (secret ? s.split(secret).join('***') : s);
  const out = (s: string) => io.out(scrub(s));
  const err = (s: string) => io.err(scrub(s));
  let flags: Flags = {};
  try {
    const parsed = parse(argv);
    flags = parsed.flags;
    // Even a usage error must not echo the key (e.g. "--key abc extra").
    secret = flags.key || io.env.OPERATOR_KEY || undefined;
    if (flags.help || parsed.positionals[0] === 'help') {
      out(USAGE);
      return EXIT.ok;
    }
    const url = baseUrl(flags, io.env);
    const call = await plan(parsed.positionals, flags, io);
    const key = operatorKey(flags, io.env);
    secret = key;

    const stop = call.progress ? startProgress(call.progress, { ...io, err }) : () => {};
    let res: Response;
    let text: string;
    try {
      res = await fetch(url + call.path, {
        method: call.method,
        headers: {
          authorization: `Bearer ${key}`,
          accept: 'application/json, application/problem+json',
          ...(call.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(call.body !== undefined ? { body: JSON.stringify(call.body) } : {}),
      });
      text = await res.text();
    } catch (e) {
      stop();
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      err(`Cannot reach the service at ${url}: ${cause?.code ?? cause?.message ?? (e as Error).message}\n`);
      return EXIT.unreachable;
    }
    stop();

    let body: any;
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      body = undefined;
    }
    if (body === undefined) {
      err(`Unexpected answer from ${url} (HTTP ${res.status}, not JSON).\n`);
      return EXIT.refused;
    }
    if (flags.json) out(JSON.stringify(body, null, 2) + '\n');
    const isProblem = (res.headers.get('content-type') ?? '').includes('problem+json') || (!res.ok && typeof body.detail === 'string');
    if (res.ok) {
      if (!flags.json) out(call.summary(body) + '\n');
      return EXIT.ok;
    }
    if (isProblem) {
      err(`Error ${res.status}${body.title ? ` ${body.title}` : ''}: ${body.detail ?? '(no detail)'}\n`);
      for (const e of Array.isArray(body.errors) ? body.errors : []) err(`  ${e.path ?? e.instancePath ?? ''} ${e.message ?? JSON.stringify(e)}\n`);
      if (body.correlationId) err(`  correlation id: ${body.correlationId}\n`);
    } else {
      // e.g. 502 from backup/drill when a tier failed: the body is the per-tier result.
      if (!flags.json) out(call.summary(body) + '\n');
      err(`Error ${res.status}: the service reports a failure (see above).\n`);
    }
    return EXIT.refused;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`tenant-ledger: ${e.message}\nRun "tenant-ledger --help" for usage.\n`);
      return EXIT.usage;
    }
    err(`tenant-ledger: ${(e as Error)?.message ?? String(e)}\n`);
    return EXIT.refused;
  }
}

/** Reads the whole of stdin (piped), or one line without echo (TTY); strips one trailing newline. */
async function readPasswordFromStdin(): Promise<string> {
  const stdin = process.stdin;
  if (stdin.isTTY) {
    process.stderr.write('Admin password: ');
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    return new Promise((resolve) => {
      let pw = '';
      const onData = (chunk: string) => {
        for (const ch of chunk) {
          if (ch === '\r' || ch === '\n' || ch === '\u0004') {
            stdin.setRawMode(false);
            stdin.pause();
            stdin.off('data', onData);
            process.stderr.write('\n');
            resolve(pw);
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
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

if (require.main === module) {
  run(process.argv.slice(2), {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    env: process.env,
    stderrIsTTY: Boolean(process.stderr.isTTY),
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
