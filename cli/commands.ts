/**
 * The CLI's commands: each turns its arguments into one HTTP call (sometimes followed by a
 * second one that uses the first answer), or a streamed download. No I/O happens here except
 * reading a password through the Io the caller gives.
 */

import { parseArgs } from 'node:util';

export const USAGE = `Usage: tenant-ledger [--url <base>] [--key <operator key>] [--json] <command>

Operator commands (operator key or Entra token):
  tenants create <id> --name <name> --admin-email <email> --admin-password-stdin
  tenants status <id>
  tenants list [--continuation <token>]   one page of 1,000 tenants (the next page's token is printed)
  tenants suspend <id> | tenants resume <id>
  tenants delete <id>                 schedule the deletion: suspended at once, shredded (key destroyed,
                                      data, files and backups removed) when the grace period ends
  tenants cancel-deletion <id>        within the grace period: the tenant comes back as it was
  tenants receipts <id>               deletion receipts of a shredded tenant
  backup now <tenant> [--full]        back up to every tier (--full: a new chain, rechecking every file)
  backup list <tenant>                backup status per tier
  backup verify <tenant>              restore drill on every tier
  backup restore <tenant> --tier <tier> --as-of <iso instant> --into <new tenant id> [--accept-partial]
                                      --accept-partial: restore what the tier has when it does not reach --as-of
  projections rebuild <tenant>
  keys rotate <tenant> [--resume]

Tenant commands (act as a user of the tenant: --as <email>, or TENANT_LEDGER_TOKEN;
the operator key never opens a tenant's data):
  login <tenant> --email <email> --password-stdin        print an access token
  users create <tenant> --email <email> --roles <admin,editor,viewer> [--display-name <name>] --password-stdin
  users show <tenant> <email>
  users reset-password <tenant> <email> --password-stdin  ends the user's sessions
  users disable <tenant> <email> | users enable <tenant> <email>
  export <tenant> [--as-of <iso instant>] [--out <file>]  NDJSON, one record per line

Global options:
  --url <base>   service base URL (env TENANT_LEDGER_URL; default http://localhost:7071)
  --key <key>    operator key (env OPERATOR_KEY; default: the file <DATA_DIR or ./.data>/operator.key)
  --as <email>   tenant commands: sign in as this user (password from TENANT_LEDGER_PASSWORD,
                 or typed without echo on a terminal)
  --json         print the response JSON on stdout
  -h, --help     this help

Passwords are read from stdin (piped, or typed without echo), never from the command line.
Exit codes: 0 ok, 1 the service refused, 2 usage error, 3 cannot reach the service.
`;

export class UsageError extends Error {}

export interface Io {
  out(s: string): void;
  err(s: string): void;
  /** Where streamed output goes when no --out file is given. */
  stdout: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  stderrIsTTY: boolean;
  stdinIsTTY: boolean;
  /** The whole of stdin when piped; one line typed without echo (after `prompt`) on a terminal. */
  readPassword(prompt: string): Promise<string>;
}

/** Who a call acts as: the operator (key or Entra token), a user of a tenant, or nobody (sign-in). */
export type Caller = { kind: 'operator' } | { kind: 'tenant'; tenant: string } | { kind: 'none' };

export interface Call {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  caller: Caller;
  /** Long operation: show a progress indicator while waiting. */
  progress?: string;
  summary(json: any): string;
  /** A second call made with this call's answer (e.g. look a user up, then change them). */
  next?(json: any, headers: Headers): Call;
  /** Stream the answer (an NDJSON export) to a file or stdout instead of reading JSON. */
  stream?: { out?: string; label: string };
  /** Extra strings to keep out of everything printed (passwords read for this call). */
  secrets?: string[];
}

export type Flags = {
  url?: string;
  key?: string;
  json?: boolean;
  help?: boolean;
  as?: string;
  name?: string;
  'admin-email'?: string;
  'admin-password-stdin'?: boolean;
  tier?: string;
  'as-of'?: string;
  into?: string;
  resume?: boolean;
  full?: boolean;
  'accept-partial'?: boolean;
  email?: string;
  roles?: string;
  'display-name'?: string;
  'password-stdin'?: boolean;
  out?: string;
  continuation?: string;
};

const GLOBAL_FLAGS = ['url', 'key', 'json', 'help'];

export function parse(argv: string[]): { flags: Flags; positionals: string[] } {
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
        full: { type: 'boolean' },
        'accept-partial': { type: 'boolean' },
        as: { type: 'string' },
        email: { type: 'string' },
        roles: { type: 'string' },
        'display-name': { type: 'string' },
        'password-stdin': { type: 'boolean' },
        out: { type: 'string' },
        continuation: { type: 'string' },
      },
    });
    return { flags: values as Flags, positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

const seg = (s: string) => encodeURIComponent(s);
const OPERATOR: Caller = { kind: 'operator' };

function onlyFlags(flags: Flags, allowed: string[], command: string): void {
  for (const k of Object.keys(flags)) {
    if (flags[k as keyof Flags] === undefined) continue;
    if (!GLOBAL_FLAGS.includes(k) && !allowed.includes(k)) throw new UsageError(`Option --${k} does not apply to "${command}".`);
  }
}

/** The positional arguments after the command's `words` words (most commands have two: "backup now"). */
function args(positionals: string[], names: string[], command: string, words = 2): string[] {
  const rest = positionals.slice(words);
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
        ? `  ${t.tier}: ok, ${plural(t.segments, 'segment')}, ${plural(t.commits, 'commit')}${t.coveredUntil ? `, covers the log up to ${t.coveredUntil}` : t.lastTimestamp ? ` (up to ${t.lastTimestamp})` : ''}`
        : `  ${t.tier}: FAILED: ${t.error ?? 'unknown error'}${t.missingFiles?.names?.length ? ` (${t.missingFiles.names.join(', ')}${t.missingFiles.count > t.missingFiles.names.length ? ', …' : ''})` : ''}`,
    )
    .join('\n');
}

/** A receipt in a few lines: status, when, and each step's outcome. */
function receiptLines(items: any[]): string {
  return items
    .map((r) =>
      [
        `Deletion ${r.deletionId} of ${r.tenant}: ${r.status}${r.completedAt ? ` at ${r.completedAt}` : ''} (scheduled ${when(r.scheduledAt)} by ${r.scheduledBy}, grace until ${when(r.purgeAfter)})`,
        r.steps?.key
          ? `  key ${r.keyName}: ${r.steps.key.outcome}, ${plural(r.steps.key.versions, 'version')} — ${r.steps.key.detail}`
          : '',
        r.steps?.store ? `  store: ${r.steps.store.outcome} at ${r.steps.store.at}` : '',
        r.steps?.files
          ? `  files: ${r.steps.files.outcome}, ${plural(r.steps.files.objects, 'object')} (sha256 ${r.steps.files.sha256})`
          : '',
        ...Object.entries(r.steps?.tiers ?? {}).map(([tier, t]: [string, any]) => `  tier ${tier}: ${t.outcome} — ${t.detail}`),
      ]
        .filter(Boolean)
        .join('\n'),
    )
    .join('\n');
}

/** Same rule as the service: an ISO-8601 instant (a bare date means its midnight UTC). */
function isoInstant(v: string, flag: string): string {
  const ok = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(v);
  if (!ok || Number.isNaN(Date.parse(v)))
    throw new UsageError(`${flag} must be an ISO 8601 instant, e.g. ${new Date().toISOString().slice(0, 19)}Z.`);
  return v;
}

async function newPassword(flags: Flags, io: Io, command: string, prompt: string): Promise<string> {
  if (!flags['password-stdin'])
    throw new UsageError(`"${command}" needs --password-stdin (the password is read from stdin, never from the command line).`);
  const password = await io.readPassword(prompt);
  if (!password) throw new UsageError('No password on stdin.');
  return password;
}

/** Tenant commands: the user is found by email first, then changed with the version just read (If-Match). */
interface UserChange {
  tenant: string;
  /** The user to change, found by email. */
  email: string;
  patch: Record<string, unknown>;
  /** The summary line of the change. */
  done: (u: any) => string;
  /** Values the CLI must never print (a new password). */
  secrets?: string[];
}

function changeUser({ tenant, email, patch, done, secrets = [] }: UserChange): Call {
  return {
    method: 'GET',
    path: `/api/t/${seg(tenant)}/users?email=${encodeURIComponent(email)}`,
    caller: { kind: 'tenant', tenant },
    secrets,
    summary: (u) => `User ${u.email}.`,
    next: (u, headers) => ({
      method: 'PATCH',
      path: `/api/t/${seg(tenant)}/users/${seg(String(u.userId))}`,
      headers: { 'if-match': headers.get('etag') ?? `"${u.version}"` },
      body: patch,
      caller: { kind: 'tenant', tenant },
      secrets,
      summary: done,
    }),
  };
}

const userLine = (u: any) => `${u.email}\t${(u.roles ?? []).join(',')}\t${u.disabled ? 'disabled' : 'enabled'}\t${u.userId}`;

/** Turns the command line into one HTTP call (or throws UsageError). */
export async function plan(positionals: string[], flags: Flags, io: Io): Promise<Call> {
  const [group, action] = positionals;
  const oneWord = group === 'login' || group === 'export';
  const command = oneWord ? group : `${group ?? ''} ${action ?? ''}`.trim();
  switch (command) {
    case 'tenants create': {
      onlyFlags(flags, ['name', 'admin-email', 'admin-password-stdin'], command);
      const [id] = args(positionals, ['id'], command);
      const name = required(flags, 'name', command);
      const email = required(flags, 'admin-email', command);
      if (!flags['admin-password-stdin'])
        throw new UsageError(`"${command}" needs --admin-password-stdin (the password is read from stdin, never from the command line).`);
      const password = await io.readPassword('Admin password: ');
      if (!password) throw new UsageError('No admin password on stdin.');
      return {
        method: 'POST',
        path: '/api/tenants',
        body: { id, name, admin: { email, password } },
        caller: OPERATOR,
        secrets: [password],
        summary: (j) => `Created tenant ${j.id} (${j.status}) at ${when(j.createdAt)}.`,
      };
    }
    case 'tenants status': {
      onlyFlags(flags, [], command);
      const [id] = args(positionals, ['id'], command);
      return {
        method: 'GET',
        path: `/api/tenants/${seg(id!)}`,
        caller: OPERATOR,
        summary: (j) => `Tenant ${j.id}: ${j.status} (created ${when(j.createdAt)}).`,
      };
    }
    case 'tenants list': {
      onlyFlags(flags, ['continuation'], command);
      args(positionals, [], command);
      return {
        method: 'GET',
        path: `/api/tenants?limit=1000${flags.continuation ? `&continuation=${seg(flags.continuation)}` : ''}`,
        caller: OPERATOR,
        summary: (j) =>
          (((j.items ?? []) as Array<{ id: string; status: string; createdAt: string }>)
            .map((t) => `${t.id}\t${t.status}\t${t.createdAt}`)
            .join('\n') || '(no tenants)') +
          (typeof j.continuation === 'string' ? `\n(more: tenants list --continuation ${j.continuation})` : ''),
      };
    }
    case 'tenants suspend':
    case 'tenants resume': {
      onlyFlags(flags, [], command);
      const [id] = args(positionals, ['id'], command);
      return {
        method: 'POST',
        path: `/api/tenants/${seg(id!)}/${action}`,
        caller: OPERATOR,
        summary: (j) => `Tenant ${j.id}: ${j.status}.`,
      };
    }
    case 'tenants delete': {
      onlyFlags(flags, [], command);
      const [id] = args(positionals, ['id'], command);
      return {
        method: 'DELETE',
        path: `/api/tenants/${seg(id!)}`,
        caller: OPERATOR,
        summary: (j) =>
          `Tenant ${j.id}: deletion scheduled (${j.deletion?.deletionId ?? '—'}); it is no longer served and will be shredded after ${when(j.deletion?.purgeAfter)}.\nUntil then: tenant-ledger tenants cancel-deletion ${j.id}`,
      };
    }
    case 'tenants cancel-deletion': {
      onlyFlags(flags, [], command);
      const [id] = args(positionals, ['id'], command);
      return {
        method: 'POST',
        path: `/api/tenants/${seg(id!)}/deletion/cancel`,
        caller: OPERATOR,
        summary: (j) => `Tenant ${j.id}: deletion cancelled; ${j.status}.`,
      };
    }
    case 'tenants receipts': {
      onlyFlags(flags, [], command);
      const [id] = args(positionals, ['id'], command);
      return {
        method: 'GET',
        path: `/api/tenants/${seg(id!)}/deletion/receipts`,
        caller: OPERATOR,
        summary: (j) => receiptLines(j.items ?? []) || `No deletion receipt for ${id}.`,
      };
    }
    case 'backup now': {
      onlyFlags(flags, ['full'], command);
      const [t] = args(positionals, ['tenant'], command);
      return {
        method: 'POST',
        path: `/api/tenants/${seg(t!)}/backups${flags.full ? '?full=true' : ''}`,
        caller: OPERATOR,
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
        caller: OPERATOR,
        summary: (j) =>
          `Backups of ${j.tenant}:\n` +
          (j.tiers ?? [])
            .map((x: any) => {
              if (x.error) return `  ${x.tier}: ERROR: ${x.error}`;
              const b = x.lastBackup
                ? `last backup ${x.lastBackup.at} (${plural(x.lastBackup.manifests, 'manifest')}${x.lastBackup.coveredUntil ? `, covers the log up to ${x.lastBackup.coveredUntil}` : ''})${x.missingFiles ? `, ${plural(x.missingFiles, 'file')} MISSING` : ''}`
                : 'no backup yet';
              const lag = `lag ${plural(x.lagCommits, 'commit')}${x.lagMinutes != null ? ` / ${x.lagMinutes} min` : ''}`;
              const d = x.lastDrill
                ? `last drill ${x.lastDrill.at}: ${x.lastDrill.ok ? 'ok' : `${x.lastDrill.outcome === 'degraded' ? 'DEGRADED' : 'FAILED'}${x.lastDrill.error ? ` (${x.lastDrill.error})` : ''}`}`
                : 'no drill yet';
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
        caller: OPERATOR,
        progress: `Restore drill of ${t} on every tier`,
        summary: (j) =>
          `Restore drill of ${j.tenant}:\n` +
          (j.drills ?? [])
            .map((d: any) =>
              d.ok
                ? `  ${d.tier}: ok, ${plural(d.commits, 'commit')}${d.restoredHash ? `, state hash ${String(d.restoredHash).slice(0, 12)}` : ''}`
                : d.outcome === 'degraded'
                  ? `  ${d.tier}: DEGRADED: ${plural(d.missingFiles, 'file')} missing from the backup (the log matched)`
                  : `  ${d.tier}: FAILED: ${d.error ?? 'the restored state hash differs from the source'}`,
            )
            .join('\n'),
      };
    }
    case 'backup restore': {
      onlyFlags(flags, ['tier', 'as-of', 'into', 'accept-partial'], command);
      const [t] = args(positionals, ['tenant'], command);
      const tier = required(flags, 'tier', command);
      const asOf = required(flags, 'as-of', command);
      const into = required(flags, 'into', command);
      isoInstant(asOf, '--as-of');
      return {
        method: 'POST',
        path: `/api/tenants/${seg(t!)}/restore`,
        caller: OPERATOR,
        body: { tier, asOf, into, ...(flags['accept-partial'] ? { acceptPartial: true } : {}) },
        progress: `Restoring ${t} from ${tier} as of ${asOf} into ${into}`,
        summary: (j) =>
          `Restored ${j.source} from ${j.tier} into tenant ${j.id}: ${plural(j.commits, 'commit')}, the state as of ${j.restoredUntil ?? j.asOf}` +
          (j.partial ? ` — PARTIAL: ${j.asOf} was asked for, but ${j.tier} covers the log only up to ${j.coveredUntil}` : '') +
          '.' +
          (Array.isArray(j.missingFiles) && j.missingFiles.length
            ? `\n${plural(j.missingFiles.length, 'file')} the log references ${j.missingFiles.length === 1 ? 'is' : 'are'} missing from the backup: ${j.missingFiles.join(', ')}`
            : ''),
      };
    }
    case 'projections rebuild': {
      onlyFlags(flags, [], command);
      const [t] = args(positionals, ['tenant'], command);
      return {
        method: 'POST',
        path: `/api/tenants/${seg(t!)}/projections/rebuild`,
        caller: OPERATOR,
        progress: `Rebuilding the projections of ${t}`,
        summary: (j) =>
          `Rebuilt the projections of ${t}: generation ${j.generation}, ${plural(j.applied, 'commit')} applied in ${j.durationMs} ms.`,
      };
    }
    case 'keys rotate': {
      onlyFlags(flags, ['resume'], command);
      const [t] = args(positionals, ['tenant'], command);
      return {
        method: 'POST',
        path: `/api/tenants/${seg(t!)}/keys/rotate${flags.resume ? '?resume=true' : ''}`,
        caller: OPERATOR,
        progress: `${flags.resume ? 'Resuming the key rotation' : 'Rotating the key'} of ${t}`,
        summary: (j) =>
          `${flags.resume ? 'Resumed the key rotation' : 'Rotated the key'} of ${t}: key ${j.keyId}; ${plural(j.checked, 'file')} checked, ${j.rewrapped} re-wrapped${j.refused ? `, ${j.refused} refused (not wrapped by this tenant's key, or invalid metadata; see the log)` : ''}.`,
      };
    }
    case 'login': {
      onlyFlags(flags, ['email', 'password-stdin'], command);
      const [t] = args(positionals, ['tenant'], command, 1);
      const email = required(flags, 'email', command);
      const password = await newPassword(flags, io, command, `Password for ${email}: `);
      return {
        method: 'POST',
        path: `/api/t/${seg(t!)}/auth/token`,
        body: { email, password },
        caller: { kind: 'none' },
        secrets: [password],
        summary: (j) => String(j.access_token),
      };
    }
    case 'users create': {
      onlyFlags(flags, ['as', 'email', 'roles', 'display-name', 'password-stdin'], command);
      const [t] = args(positionals, ['tenant'], command);
      const email = required(flags, 'email', command);
      const roles = required(flags, 'roles', command)
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean);
      const password = await newPassword(flags, io, command, `Password for the new user ${email}: `);
      return {
        method: 'POST',
        path: `/api/t/${seg(t!)}/users`,
        body: { email, password, roles, ...(flags['display-name'] ? { displayName: flags['display-name'] } : {}) },
        caller: { kind: 'tenant', tenant: t! },
        secrets: [password],
        summary: (u) => `Created user ${u.email} in ${t} with roles ${(u.roles ?? []).join(', ')} (id ${u.userId}).`,
      };
    }
    case 'users show': {
      onlyFlags(flags, ['as'], command);
      const [t, email] = args(positionals, ['tenant', 'email'], command);
      return {
        method: 'GET',
        path: `/api/t/${seg(t!)}/users?email=${encodeURIComponent(email!)}`,
        caller: { kind: 'tenant', tenant: t! },
        summary: userLine,
      };
    }
    case 'users reset-password': {
      onlyFlags(flags, ['as', 'password-stdin'], command);
      const [t, email] = args(positionals, ['tenant', 'email'], command);
      const password = await newPassword(flags, io, command, `New password for ${email}: `);
      return changeUser({
        tenant: t!,
        email: email!,
        patch: { password },
        done: (u) => `Reset the password of ${u.email} in ${t}; their earlier sessions have ended.`,
        secrets: [password],
      });
    }
    case 'users disable':
    case 'users enable': {
      onlyFlags(flags, ['as'], command);
      const [t, email] = args(positionals, ['tenant', 'email'], command);
      return changeUser({
        tenant: t!,
        email: email!,
        patch: { disabled: action === 'disable' },
        done: (u) => `User ${u.email} in ${t} is ${u.disabled ? 'disabled; their sessions have ended' : 'enabled'}.`,
      });
    }
    case 'export': {
      onlyFlags(flags, ['as', 'as-of', 'out'], command);
      const [t] = args(positionals, ['tenant'], command, 1);
      const asOf = flags['as-of'] === undefined ? undefined : isoInstant(flags['as-of'], '--as-of');
      if (flags.json && !flags.out) throw new UsageError('--json needs --out <file>: without it the export itself is written to stdout.');
      if (flags.out === '') throw new UsageError('--out needs a file name.');
      return {
        method: 'GET',
        path: `/api/t/${seg(t!)}/export${asOf ? `?asOf=${encodeURIComponent(asOf)}` : ''}`,
        caller: { kind: 'tenant', tenant: t! },
        stream: { label: `Exporting ${t}${asOf ? ` as of ${asOf}` : ''}`, ...(flags.out ? { out: flags.out } : {}) },
        summary: (j) =>
          `Exported ${plural(j.records, 'record')} of ${t}${asOf ? ` as of ${asOf}` : ''} (${j.bytes} bytes)${j.out ? ` to ${j.out}` : ''}.`,
      };
    }
    default:
      throw new UsageError(command ? `Unknown command "${command}".` : 'No command given.');
  }
}
