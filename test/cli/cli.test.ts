import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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
    const created = await cli(
      ['tenants', 'create', 'acme', '--name', 'ACME s.r.o.', '--admin-email', 'jana@acme.test', '--admin-password-stdin'],
      {
        stdin: `${PW}\n`,
      },
    );
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

    // --full starts a new chain on every tier.
    const full = await cli(['backup', 'now', 'acme', '--full', '--json']);
    expect(full.code, full.stderr).toBe(0);
    for (const t of JSON.parse(full.stdout).tiers) expect(t).toMatchObject({ ok: true, chain: 2 });

    // "Now" is past the tier's last run: refused unless a partial restore is accepted.
    const asOf = new Date(Date.now() + 1000).toISOString();
    const refused = await cli(['backup', 'restore', 'acme', '--tier', 'eu-cloud', '--as-of', asOf, '--into', 'acme-copy']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/422[\s\S]*covers the log only up to/);
    const restore = await cli([
      'backup',
      'restore',
      'acme',
      '--tier',
      'eu-cloud',
      '--as-of',
      asOf,
      '--into',
      'acme-copy',
      '--accept-partial',
    ]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(
      /Restored acme from eu-cloud into tenant acme-copy: \d+ commits, the state as of \S+ — PARTIAL: \S+ was asked for, but eu-cloud covers the log only up to \S+\./,
    );
    expect(restore.stderr).toContain('Restoring acme from eu-cloud');
    // Off a terminal the progress stream shows one line per phase, each with its total where known.
    expect(restore.stderr).toMatch(/^ {2}verify …$/m);
    expect(restore.stderr).toMatch(/^ {2}import \(\d+\) …$/m);
    expect(restore.stderr).toMatch(/^ {2}project \(\d+\) …$/m);
    const copy = await cli(['tenants', 'status', 'acme-copy', '--json']);
    expect(JSON.parse(copy.stdout)).toMatchObject({ id: 'acme-copy', status: 'ready' });
  });

  it('rebuilds projections and rotates the tenant key (also --resume)', async () => {
    const rebuild = await cli(['projections', 'rebuild', 'acme', '--json']);
    expect(rebuild.code, rebuild.stderr).toBe(0);
    expect(JSON.parse(rebuild.stdout)).toMatchObject({ generation: expect.any(Number), applied: expect.any(Number) });
    const readable = await cli(['projections', 'rebuild', 'acme']);
    expect(readable.stdout).toMatch(/Rebuilt the projections of acme: generation \d+/);
    expect(readable.stderr).toMatch(/^ {2}project \(\d+\) …$/m);

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

    const exists = await cli(
      ['tenants', 'create', 'acme', '--name', 'A', '--admin-email', 'a@a.test', '--admin-password-stdin', '--json'],
      { stdin: PW },
    );
    expect(exists.code).toBe(1);
    expect(JSON.parse(exists.stdout)).toMatchObject({ status: 409 });
  });

  it('exits 2 on usage errors, without calling the service', async () => {
    const cases: string[][] = [
      [],
      ['frobnicate'],
      ['tenants', 'destroy', 'acme'],
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

  describe('tenant commands act as a user of the tenant, never with the operator key', () => {
    const ADMIN = { TENANT_LEDGER_PASSWORD: PW };
    const NEW_PW = 'a brand new long password';

    async function signIn(tenant: string, email: string, password: string): Promise<Response> {
      return fetch(`${host.url}/api/t/${tenant}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password }),
      });
    }
    async function api(method: string, path: string, token: string, body?: unknown): Promise<Response> {
      return fetch(`${host.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    }

    it('creates a user, shows them, resets their password (old sessions end) and disables/enables them', async () => {
      const created = await cli(
        [
          'users',
          'create',
          'acme',
          '--as',
          'jana@acme.test',
          '--email',
          'Petr@acme.test',
          '--roles',
          'editor,viewer',
          '--display-name',
          'Petr',
          '--password-stdin',
        ],
        {
          env: ADMIN,
          stdin: `${PW}\n`,
        },
      );
      expect(created.code, created.stderr).toBe(0);
      expect(created.stdout).toMatch(/Created user petr@acme\.test in acme with roles editor, viewer \(id u_/);
      expect(created.stdout + created.stderr).not.toContain(PW);
      const oldLogin = await signIn('acme', 'petr@acme.test', PW);
      expect(oldLogin.status).toBe(200);
      const oldToken = ((await oldLogin.json()) as { access_token: string }).access_token;

      const show = await cli(['users', 'show', 'acme', 'petr@acme.test', '--as', 'jana@acme.test'], { env: ADMIN });
      expect(show.code, show.stderr).toBe(0);
      expect(show.stdout).toMatch(/^petr@acme\.test\teditor,viewer\tenabled\tu_/);

      const reset = await cli(['users', 'reset-password', 'acme', 'petr@acme.test', '--as', 'jana@acme.test', '--password-stdin'], {
        env: ADMIN,
        stdin: NEW_PW,
      });
      expect(reset.code, reset.stderr).toBe(0);
      expect(reset.stdout).toContain('Reset the password of petr@acme.test in acme');
      expect(reset.stdout + reset.stderr).not.toContain(NEW_PW);
      expect((await signIn('acme', 'petr@acme.test', PW)).status).toBe(401);
      expect((await signIn('acme', 'petr@acme.test', NEW_PW)).status).toBe(200);
      expect((await api('GET', '/api/t/acme/records/none', oldToken)).status).toBe(401);

      const disabled = await cli(['users', 'disable', 'acme', 'petr@acme.test', '--as', 'jana@acme.test', '--json'], { env: ADMIN });
      expect(disabled.code, disabled.stderr).toBe(0);
      expect(JSON.parse(disabled.stdout)).toMatchObject({ email: 'petr@acme.test', disabled: true });
      expect((await signIn('acme', 'petr@acme.test', NEW_PW)).status).toBe(401);
      const enabled = await cli(['users', 'enable', 'acme', 'petr@acme.test', '--as', 'jana@acme.test'], { env: ADMIN });
      expect(enabled.stdout).toContain('User petr@acme.test in acme is enabled.');
      expect((await signIn('acme', 'petr@acme.test', NEW_PW)).status).toBe(200);

      // Every change is in the user's history, authored by the admin the CLI signed in as.
      const token = (await cli(['login', 'acme', '--email', 'jana@acme.test', '--password-stdin'], { stdin: PW })).stdout.trim();
      const id = show.stdout.trim().split('\t')[3]!;
      const history = (await (await api('GET', `/api/t/acme/users/${id}/history`, token)).json()) as {
        items: Array<{ author: { email: string }; events: Array<{ type: string }> }>;
      };
      expect(history.items.map((c) => c.events.map((e) => e.type).join('+'))).toEqual([
        'UserCreated',
        'UserPasswordChanged',
        'UserDisabled',
        'UserEnabled',
      ]);
      for (const c of history.items) expect(c.author.email).toBe('jana@acme.test');
    });

    it('login prints a token usable as TENANT_LEDGER_TOKEN; the token is scrubbed from other output', async () => {
      const login = await cli(['login', 'acme', '--email', 'jana@acme.test', '--password-stdin'], { stdin: `${PW}\n` });
      expect(login.code, login.stderr).toBe(0);
      const token = login.stdout.trim();
      expect(token.split('.')).toHaveLength(3);
      const show = await cli(['users', 'show', 'acme', 'jana@acme.test', '--json'], { env: { TENANT_LEDGER_TOKEN: token } });
      expect(show.code, show.stderr).toBe(0);
      expect(JSON.parse(show.stdout)).toMatchObject({ email: 'jana@acme.test', roles: ['admin'] });
      expect(show.stdout).not.toContain(token);
      const badLogin = await cli(['login', 'acme', '--email', 'jana@acme.test', '--password-stdin'], { stdin: 'wrong password here' });
      expect(badLogin.code).toBe(1);
      expect(badLogin.stderr).toContain('Error 401');
    });

    it('refuses without tenant credentials (exit 2), with a wrong role or another tenant (exit 1), and changes nothing', async () => {
      const noCreds = await cli(['users', 'show', 'acme', 'jana@acme.test']);
      expect(noCreds.code).toBe(2);
      expect(noCreds.stderr).toContain("The operator key never opens a tenant's data");
      const noPw = await cli(['export', 'acme', '--as', 'jana@acme.test']);
      expect(noPw.code).toBe(2);
      expect(noPw.stderr).toContain('TENANT_LEDGER_PASSWORD');
      expect((await cli(['tenants', 'status', 'acme', '--as', 'jana@acme.test'], { env: ADMIN })).code).toBe(2);

      // A viewer may not manage users.
      const viewer = await cli(
        ['users', 'create', 'acme', '--as', 'jana@acme.test', '--email', 'vera@acme.test', '--roles', 'viewer', '--password-stdin'],
        { env: ADMIN, stdin: PW },
      );
      expect(viewer.code, viewer.stderr).toBe(0);
      const denied = await cli(
        ['users', 'create', 'acme', '--as', 'vera@acme.test', '--email', 'x@acme.test', '--roles', 'admin', '--password-stdin'],
        { env: ADMIN, stdin: PW },
      );
      expect(denied.code).toBe(1);
      expect(denied.stderr).toContain('Error 403');
      const wrongPw = await cli(['users', 'show', 'acme', 'jana@acme.test', '--as', 'jana@acme.test'], {
        env: { TENANT_LEDGER_PASSWORD: 'not the password' },
      });
      expect(wrongPw.code).toBe(1);
      expect(wrongPw.stderr).toMatch(/Signing in to acme as jana@acme\.test failed[\s\S]*Error 401/);
      expect(wrongPw.stderr).not.toContain('not the password');
      // A token of another tenant does not work here.
      const other = (await cli(['login', 'acme-copy', '--email', 'jana@acme.test', '--password-stdin'], { stdin: PW })).stdout.trim();
      const cross = await cli(['users', 'show', 'acme', 'jana@acme.test'], { env: { TENANT_LEDGER_TOKEN: other } });
      expect(cross.code).toBe(1);
      expect(cross.stderr).toContain('Error 401');
      // Unknown user, invalid role: clear refusals.
      expect(
        (
          await cli(['users', 'reset-password', 'acme', 'ghost@acme.test', '--as', 'jana@acme.test', '--password-stdin'], {
            env: ADMIN,
            stdin: NEW_PW,
          })
        ).stderr,
      ).toContain('Error 404');
      const badRole = await cli(
        ['users', 'create', 'acme', '--as', 'jana@acme.test', '--email', 'r@acme.test', '--roles', 'root', '--password-stdin'],
        { env: ADMIN, stdin: PW },
      );
      expect(badRole.code).toBe(1);
      expect(badRole.stderr).toContain('Error 400');
      expect((await signIn('acme', 'x@acme.test', PW)).status).toBe(401);
      expect((await signIn('acme', 'r@acme.test', PW)).status).toBe(401);
    });

    it('exports a tenant now and as of an earlier instant, to stdout or a file (written only when complete)', async () => {
      const token = (await cli(['login', 'acme', '--email', 'jana@acme.test', '--password-stdin'], { stdin: PW })).stdout.trim();
      expect(
        (await api('PUT', '/api/t/acme/types/customer', token, { type: 'object', properties: { name: { type: 'string' } } })).status,
      ).toBe(201);
      const ids: string[] = [];
      for (const name of ['Novák', 'Svoboda', 'Dvořák']) {
        const r = await api('POST', '/api/t/acme/records/customer', token, { name });
        expect(r.status).toBe(201);
        ids.push(((await r.json()) as { id: string }).id);
      }
      await new Promise((r) => setTimeout(r, 20));
      const before = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 20));
      const patch = await fetch(`${host.url}/api/t/acme/records/customer/${ids[0]}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/merge-patch+json', 'if-match': '"1"' },
        body: JSON.stringify({ name: 'Novák a syn' }),
      });
      expect(patch.status).toBe(200);
      const del = await fetch(`${host.url}/api/t/acme/records/customer/${ids[1]}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}`, 'if-match': '"1"' },
      });
      expect(del.status).toBe(204);
      // Wait until the projection has caught up (the export scans the projection's record list).
      for (let i = 0; i < 100; i++) {
        const st = (await (await api('GET', '/api/t/acme/status', token)).json()) as { projections: Array<{ behindCommits: number }> };
        if (st.projections[0]!.behindCommits === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }

      const names = (ndjson: string) =>
        ndjson
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { type: string; data: { name: string } })
          .filter((r) => r.type === 'customer')
          .map((r) => r.data.name)
          .sort();
      const now = await cli(['export', 'acme', '--as', 'jana@acme.test'], { env: ADMIN });
      expect(now.code, now.stderr).toBe(0);
      expect(names(now.stdout)).toEqual(['Dvořák', 'Novák a syn']);
      expect(now.stderr).toMatch(/Exported \d+ records of acme \(\d+ bytes\)\./);

      const dir = host.dataDir;
      const file = resolve(dir, 'acme-before.ndjson');
      const then = await cli(['export', 'acme', '--as-of', before, '--out', file, '--json'], { env: { TENANT_LEDGER_TOKEN: token } });
      expect(then.code, then.stderr).toBe(0);
      const summary = JSON.parse(then.stdout) as { records: number; bytes: number; out: string };
      const content = readFileSync(file, 'utf8');
      expect(summary).toMatchObject({ records: content.trim().split('\n').length, bytes: Buffer.byteLength(content), out: file });
      expect(names(content)).toEqual(['Dvořák', 'Novák', 'Svoboda']);
      expect(readdirSync(dir).filter((f) => f.includes('.partial-'))).toEqual([]);

      // Refused exports and usage errors leave no file behind.
      const refusedFile = resolve(dir, 'never.ndjson');
      const refused = await cli(['export', 'acme', '--out', refusedFile], { env: { TENANT_LEDGER_TOKEN: 'not.a.token' } });
      expect(refused.code).toBe(1);
      expect(existsSync(refusedFile)).toBe(false);
      expect((await cli(['export', 'acme', '--as-of', 'last tuesday', '--as', 'jana@acme.test'], { env: ADMIN })).code).toBe(2);
      expect((await cli(['export', 'acme', '--json', '--as', 'jana@acme.test'], { env: ADMIN })).code).toBe(2);
      // A stream that breaks off (the service fails mid-export) leaves no file and says so.
      const broken = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.write('{"type":"customer","id":"r_1","data":{}}\n{"type":"customer","id":"r_2","data":{}}\n{"type":"cust');
        setTimeout(() => res.socket?.destroy(), 50);
      });
      await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
      const brokenFile = resolve(dir, 'broken.ndjson');
      const cut = await cli(['export', 'acme', '--out', brokenFile], {
        env: { TENANT_LEDGER_URL: `http://127.0.0.1:${(broken.address() as AddressInfo).port}`, TENANT_LEDGER_TOKEN: 'x.y.z' },
      });
      broken.close();
      expect(cut.code).toBe(1);
      expect(cut.stderr).toMatch(/The export of acme broke off after 2 records .*nothing was written to/);
      expect(existsSync(brokenFile)).toBe(false);
      expect(readdirSync(dir).filter((f) => f.includes('.partial-'))).toEqual([]);

      // A complete export replaces an earlier file of the same name.
      const again = await cli(['export', 'acme', '--out', file], { env: { TENANT_LEDGER_TOKEN: token } });
      expect(again.code).toBe(0);
      expect(names(readFileSync(file, 'utf8'))).toEqual(['Dvořák', 'Novák a syn']);
    });
  });

  it('long operations stream progress to clients that ask (Accept: application/x-ndjson); the last line is the answer', async () => {
    const res = await fetch(`${host.url}/api/tenants/acme/projections/rebuild`, {
      method: 'POST',
      headers: { authorization: `Bearer ${host.operatorKey}`, accept: 'application/x-ndjson' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const last = lines[lines.length - 1];
    expect(last).toMatchObject({ status: 200, body: { generation: expect.any(Number), applied: expect.any(Number) } });
    for (const l of lines.slice(0, -1))
      expect(l.progress).toMatchObject({ phase: 'project', done: expect.any(Number), total: expect.any(Number) });
    // A failure after the stream started is the last line, as a problem document.
    const restore = await fetch(`${host.url}/api/tenants/acme/restore`, {
      method: 'POST',
      headers: { authorization: `Bearer ${host.operatorKey}`, accept: 'application/x-ndjson', 'content-type': 'application/json' },
      body: JSON.stringify({ tier: 'eu-cloud', asOf: new Date().toISOString(), into: 'acme-copy' }),
    });
    expect(restore.status).toBe(200);
    const rl = (await restore.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rl[rl.length - 1]).toMatchObject({ status: 409, body: { status: 409, detail: expect.any(String) } });
    // Authentication and input errors still answer with their own status.
    const unauth = await fetch(`${host.url}/api/tenants/acme/projections/rebuild`, {
      method: 'POST',
      headers: { accept: 'application/x-ndjson' },
    });
    expect(unauth.status).toBe(401);
    const cliRefused = await cli([
      'backup',
      'restore',
      'acme',
      '--tier',
      'eu-cloud',
      '--as-of',
      new Date().toISOString(),
      '--into',
      'acme-copy',
    ]);
    expect(cliRefused.code).toBe(1);
    expect(cliRefused.stderr).toMatch(/Error 409/);
  });

  it('exits 3 when the service cannot be reached', async () => {
    const port = await freePort();
    const r = await cli(['tenants', 'status', 'acme'], { env: { TENANT_LEDGER_URL: `http://127.0.0.1:${port}` } });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/Cannot reach the service at http:\/\/127\.0\.0\.1:\d+/);
  });
});
