import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startHostProcess, type HostProcess } from '../support/host-process';

const root = resolve(__dirname, '..', '..');
const PW = 'correct horse battery';
let host: HostProcess;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cli/main.js ...` as a child process, like an operator would. */
function cli(args: string[], opts: { env?: Record<string, string>; stdin?: string } = {}): Promise<CliResult> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [resolve(root, 'dist/cli/main.js'), ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', TENANT_LEDGER_URL: host.url, OPERATOR_KEY: host.operatorKey, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => {
      // The operator key must never be printed, whatever the outcome.
      expect(stdout).not.toContain(host.operatorKey);
      expect(stderr).not.toContain(host.operatorKey);
      res({ code, stdout, stderr });
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

beforeAll(async () => {
  host = await startHostProcess({ LOCAL_BLOB: 'azurite', AZURITE_BLOB_PORT: String(await freePort()) });
});
afterAll(async () => {
  await host?.stop();
  host?.cleanup();
});

describe('operator CLI against the local host', () => {
  it('creates a tenant with the password from stdin, and shows its status', async () => {
    const created = await cli(['tenants', 'create', 'acme', '--name', 'ACME s.r.o.', '--admin-email', 'jana@acme.test', '--admin-password-stdin'], {
      stdin: `${PW}\n`,
    });
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/Created tenant acme \(ready\)/);
    expect(created.stdout + created.stderr).not.toContain(PW);

    // the password was taken exactly (the trailing newline stripped): the admin can log in
    const login = await fetch(`${host.url}/api/t/acme/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'jana@acme.test', password: PW }),
    });
    expect(login.status).toBe(200);

    const status = await cli(['tenants', 'status', 'acme']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/Tenant acme: ready/);

    const json = await cli(['--json', 'tenants', 'status', 'acme']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: 'acme', status: 'ready' });
  });

  it('backs up, lists, verifies (drill) and restores into a new tenant', async () => {
    const now = await cli(['backup', 'now', 'acme', '--json']);
    expect(now.code, now.stderr).toBe(0);
    const run = JSON.parse(now.stdout);
    expect(run.tiers.map((t: { tier: string }) => t.tier).sort()).toEqual(['azure', 'eu-cloud', 'own-cloud']);
    for (const t of run.tiers) expect(t.ok).toBe(true);
    // not a TTY: a plain progress line on stderr, nothing but JSON on stdout
    expect(now.stderr).toContain('Backing up acme to every tier …');

    const list = await cli(['backup', 'list', 'acme']);
    expect(list.code, list.stderr).toBe(0);
    for (const tier of ['azure', 'eu-cloud', 'own-cloud']) expect(list.stdout).toMatch(new RegExp(`${tier}: last backup .*lag 0 commits`));

    const verify = await cli(['backup', 'verify', 'acme']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout.match(/: ok,/g)).toHaveLength(3);
    expect(verify.stderr).toContain('Restore drill of acme on every tier …');

    const listJson = JSON.parse((await cli(['backup', 'list', 'acme', '--json'])).stdout);
    for (const t of listJson.tiers) expect(t.lastDrill).toMatchObject({ ok: true });

    const asOf = new Date().toISOString();
    const restore = await cli(['backup', 'restore', 'acme', '--tier', 'eu-cloud', '--as-of', asOf, '--into', 'acme-copy']);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/Restored acme from eu-cloud as of .* into tenant acme-copy/);
    expect(restore.stderr).toContain('Restoring acme from eu-cloud');
    const copy = await cli(['tenants', 'status', 'acme-copy', '--json']);
    expect(JSON.parse(copy.stdout)).toMatchObject({ id: 'acme-copy', status: 'ready' });
  });

  it('rebuilds projections and rotates the tenant key (also --resume)', async () => {
    const rebuild = await cli(['projections', 'rebuild', 'acme', '--json']);
    expect(rebuild.code, rebuild.stderr).toBe(0);
    expect(JSON.parse(rebuild.stdout)).toMatchObject({ generation: expect.any(Number), applied: expect.any(Number) });
    const readable = await cli(['projections', 'rebuild', 'acme']);
    expect(readable.stdout).toMatch(/Rebuilt the projections of acme: generation \d+/);

    const rotate = await cli(['keys', 'rotate', 'acme', '--json']);
    expect(rotate.code, rotate.stderr).toBe(0);
    const r = JSON.parse(rotate.stdout);
    expect(r).toMatchObject({ keyId: expect.any(String), checked: expect.any(Number), rewrapped: expect.any(Number) });
    const resume = await cli(['keys', 'rotate', 'acme', '--resume']);
    expect(resume.code, resume.stderr).toBe(0);
    expect(resume.stdout).toMatch(/Resumed the key rotation of acme: key /);
  });

  it('lists tenants, suspends and resumes one', async () => {
    const list = await cli(['tenants', 'list', '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).items.map((t: { id: string }) => t.id)).toContain('acme');
    const plain = await cli(['tenants', 'list']);
    expect(plain.stdout).toMatch(/^acme\tready\t/m);
    const s = await cli(['tenants', 'suspend', 'acme']);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain('Tenant acme: suspended.');
    expect((await cli(['tenants', 'status', 'acme', '--json'])).stdout).toContain('"suspended"');
    const r = await cli(['tenants', 'resume', 'acme']);
    expect(r.stdout).toContain('Tenant acme: ready.');
    expect((await cli(['tenants', 'list', 'extra'])).code).toBe(2);
  });

  it('reads the operator key from DATA_DIR/operator.key when neither --key nor OPERATOR_KEY is given', async () => {
    const r = await cli(['tenants', 'status', 'acme'], { env: { OPERATOR_KEY: '', DATA_DIR: host.dataDir } });
    expect(r.code, r.stderr).toBe(0);
  });

  it('exits 1 with the problem detail when the service refuses', async () => {
    const wrongKey = 'x'.repeat(40);
    const bad = await cli(['tenants', 'status', 'acme', '--key', wrongKey]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('Error 401');
    expect(bad.stderr).toContain('The operator key is not valid.');
    expect(bad.stdout + bad.stderr).not.toContain(wrongKey);

    const missing = await cli(['tenants', 'status', 'nobody-here']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/Error 404.*does not exist/);

    const exists = await cli(['tenants', 'create', 'acme', '--name', 'A', '--admin-email', 'a@a.test', '--admin-password-stdin', '--json'], { stdin: PW });
    expect(exists.code).toBe(1);
    expect(JSON.parse(exists.stdout)).toMatchObject({ status: 409 });
  });

  it('exits 2 on usage errors, without calling the service', async () => {
    const cases: string[][] = [
      [],
      ['frobnicate'],
      ['tenants', 'delete', 'acme'],
      ['tenants', 'status'],
      ['tenants', 'status', 'acme', 'extra'],
      ['tenants', 'status', 'acme', '--bogus'],
      ['backup', 'now', 'acme', '--tier', 'azure'],
      ['backup', 'restore', 'acme', '--tier', 'azure', '--into', 'x'],
      ['backup', 'restore', 'acme', '--tier', 'azure', '--as-of', 'yesterday', '--into', 'x'],
      ['tenants', 'create', 'zeta', '--name', 'Z', '--admin-email', 'z@z.test'],
      ['tenants', 'create', 'zeta', '--name', 'Z', '--admin-email', 'z@z.test', '--admin-password-stdin'],
      ['--url', 'not a url', 'tenants', 'status', 'acme'],
    ];
    for (const args of cases) {
      const r = await cli(args, { env: { TENANT_LEDGER_URL: 'http://127.0.0.1:9' } });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain('tenant-ledger --help');
    }
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('backup restore <tenant>');
  });

  it('exits 3 when the service cannot be reached', async () => {
    const port = await freePort();
    const r = await cli(['tenants', 'status', 'acme'], { env: { TENANT_LEDGER_URL: `http://127.0.0.1:${port}` } });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/Cannot reach the service at http:\/\/127\.0\.0\.1:\d+/);
  });
});
