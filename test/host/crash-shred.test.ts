/**
 * Tenant offboarding end to end against the real host (`node dist/host/start.js`) and the CLI:
 * who may schedule, cancel and read receipts; a scheduled tenant answers 410 everywhere;
 * cancel brings it back; then (grace period 0) the shredTenants timer, which also runs at
 * start, shreds — and the host is killed with SIGKILL while it does. After a restart every
 * shredding completes, the receipts say what was destroyed, a restore of a deleted tenant
 * fails with a clear message, and the data folder holds no plaintext and no key of them.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HostProcess, startHostProcess } from '../support/host-process';
import { client } from '../support/http-client';
import { killHard } from '../support/kill';
import { filesContaining, filesUnder, wrappedKeysUnder } from '../app/offboarding/support';

const root = resolve(__dirname, '..', '..');
const PW = 'correct horse battery';
const ENV = { TENANT_DELETION_GRACE_DAYS: '0' };
/**
 * The first host serves the schedule/cancel tests and the scheduling of the shred test. With a
 * grace period of 0, the shredTenants timer's hourly run (minute 7 by the wall clock) would shred
 * a scheduled tenant under them whenever the test crosses it (acme between its DELETE and the
 * cancel, or before its meta.json is read): that host runs without the timer. The hosts of the
 * kill rounds run it (at start, which is what the test kills).
 */
const FIRST_HOST_ENV = { ...ENV, 'AzureWebJobs.shredTenants.Disabled': 'true' };
let host: HostProcess;
let dir: string;
const call = client(() => host.url);
const op = () => host.operatorKey;
const tokens: Record<string, string> = {};
const records: Record<string, string> = {};
const marks: Record<string, string[]> = {};

function expectProblem(r: { status: number; headers: Headers; json: any }, status: number) {
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toContain('application/problem+json');
  expect(r.json).toMatchObject({ status, detail: expect.any(String) });
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [resolve(root, 'dist/cli/main.js'), ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', TENANT_LEDGER_URL: host.url, OPERATOR_KEY: host.operatorKey },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}

async function seed(t: string): Promise<void> {
  const created = await call('POST', '/api/tenants', {
    token: op(),
    body: { id: t, name: t, admin: { email: `admin@${t}.test`, password: PW } },
  });
  expect(created.status, created.text).toBe(201);
  tokens[t] = (await call('POST', `/api/t/${t}/auth/token`, { body: { email: `admin@${t}.test`, password: PW } })).json.access_token;
  expect((await call('PUT', `/api/t/${t}/types/doc`, { token: tokens[t], body: { type: 'object' } })).status).toBe(201);
  const recordMark = `RECORD-PLAINTEXT-${t}-${randomBytes(6).toString('hex')}`;
  const fileMark = `FILE-PLAINTEXT-${t}-${randomBytes(6).toString('hex')}`;
  const r = await call('POST', `/api/t/${t}/records/doc`, { token: tokens[t], body: { note: recordMark } });
  expect(r.status, r.text).toBe(201);
  records[t] = r.json.id;
  const up = await fetch(`${host.url}/api/t/${t}/records/doc/${records[t]}/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens[t]}`, 'content-type': 'text/plain', 'x-file-name': 'secret.txt' },
    body: `${fileMark}\n`.repeat(2000),
  });
  expect(up.status).toBe(201);
  const b = await call('POST', `/api/tenants/${t}/backups`, { token: op() });
  expect(b.status, b.text).toBe(200);
  marks[t] = [recordMark, fileMark];
}

const receiptsDir = () => join(dir, 'backups', 'receipts');
function receiptStates(): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(receiptsDir())) return out;
  for (const t of readdirSync(receiptsDir()))
    for (const f of readdirSync(join(receiptsDir(), t)).filter((n) => n.endsWith('.json'))) {
      try {
        const r = JSON.parse(readFileSync(join(receiptsDir(), t, f), 'utf8'));
        out[t] = `${r.status}:${Object.keys(r.steps)
          .filter((k) => k !== 'tiers')
          .join('+')}+tiers${Object.keys(r.steps.tiers).length}`;
      } catch {
        // Being replaced (rename is atomic, so this is a read racing the rename): look again.
      }
    }
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shred-host-'));
  host = await startHostProcess(FIRST_HOST_ENV, dir);
  expect(host.output()).toMatch(/shredTenants: disabled/);
  for (const t of ['acme', 'globex', 'initech', 'umbrella']) await seed(t);
}, 180_000);
afterAll(async () => {
  await host?.stop();
  host?.cleanup();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

describe('who may schedule, cancel and read receipts', () => {
  const endpoints = [
    ['DELETE', '/api/tenants/acme'],
    ['POST', '/api/tenants/acme/deletion/cancel'],
    ['GET', '/api/tenants/acme/deletion/receipts'],
  ] as const;
  it.each(endpoints)('%s %s: no token, a garbage token, the tenant admin’s and another tenant’s token → 401', async (method, path) => {
    expectProblem(await call(method, path), 401);
    expectProblem(await call(method, path, { token: 'not.a.token' }), 401);
    // Operator endpoints take the operator credential only: a user token, even the tenant's admin's, is not one (401, as for every operator endpoint).
    expectProblem(await call(method, path, { token: tokens.acme }), 401);
    expectProblem(await call(method, path, { token: tokens.globex }), 401);
    expect((await call('GET', `/api/t/acme/records/doc/${records.acme}`, { token: tokens.acme })).status).toBe(200);
  });
  it.each(endpoints)('%s %s: a malformed tenant id → 400, an unknown one → 404 (receipts: an empty list)', async (method, path) => {
    expectProblem(await call(method, path.replace('acme', 'Bad--Id'), { token: op() }), 400);
    expectProblem(await call(method, path.replace('acme', `x${'y'.repeat(60)}`), { token: op() }), 400);
    const unknown = await call(method, path.replace('acme', 'never-made'), { token: op() });
    if (method === 'GET') expect(unknown.json).toEqual({ items: [] });
    else expectProblem(unknown, 404);
  });
  it('a body is ignored, a DELETE with a body changes nothing else', async () => {
    const r = await call('POST', '/api/tenants/acme/deletion/cancel', { token: op(), body: { anything: 1 } });
    expectProblem(r, 409); // not scheduled
    expect((await call('GET', '/api/tenants/acme', { token: op() })).json.status).toBe('ready');
  });
});

describe('schedule, cancel, schedule again (CLI and API)', () => {
  it('scheduled: every tenant endpoint answers 410, the operator sees `deleting`, suspend/restore are refused; the neighbour is served', async () => {
    const r = await call('DELETE', '/api/tenants/acme', { token: op() });
    expect(r.status, r.text).toBe(202);
    expect(r.json).toMatchObject({
      id: 'acme',
      status: 'deleting',
      deletion: { deletionId: expect.any(String), purgeAfter: expect.any(String) },
    });
    for (const [method, path, body] of [
      ['GET', `/api/t/acme/records/doc/${records.acme}`, undefined],
      ['GET', '/api/t/acme/export', undefined],
      ['POST', '/api/t/acme/records/doc', { note: 'x' }],
      ['POST', '/api/t/acme/auth/token', { email: 'admin@acme.test', password: PW }],
    ] as const) {
      const g = await call(method, path, { token: tokens.acme, ...(body ? { body } : {}) });
      expectProblem(g, 410);
      expect(g.json.detail).toMatch(/scheduled for deletion/);
    }
    expect((await call('GET', '/api/tenants/acme', { token: op() })).json.status).toBe('deleting');
    expectProblem(await call('POST', '/api/tenants/acme/suspend', { token: op() }), 409);
    expectProblem(
      await call('POST', '/api/tenants/acme/restore', {
        token: op(),
        body: { tier: 'own-cloud', asOf: new Date().toISOString(), into: 'acme-copy' },
      }),
      409,
    );
    expect((await call('GET', `/api/t/globex/records/doc/${records.globex}`, { token: tokens.globex })).status).toBe(200);
    // Scheduling again answers the same schedule.
    expect((await call('DELETE', '/api/tenants/acme', { token: op() })).json.deletion).toEqual(r.json.deletion);
  });

  it('cancel (CLI): back as it was, the old token works again; schedule again (CLI)', async () => {
    const c = await cli(['tenants', 'cancel-deletion', 'acme']);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/Tenant acme: deletion cancelled; ready\./);
    const rec = await call('GET', `/api/t/acme/records/doc/${records.acme}`, { token: tokens.acme });
    expect(rec.status).toBe(200);
    expect(rec.json.data).toEqual({ note: marks.acme![0] });
    const again = await cli(['tenants', 'cancel-deletion', 'acme']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/not scheduled for deletion/);
    const d = await cli(['tenants', 'delete', 'acme']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/Tenant acme: deletion scheduled .*shredded after 20/);
    expect(d.stdout).toMatch(/tenants cancel-deletion acme/);
    const usage = await cli(['tenants', 'delete']);
    expect(usage.code).toBe(2);
  });
});

describe('grace period over: shredded by the timer, through kill -9', () => {
  it('kill -9 while shredding; after a restart every shredding completes', async () => {
    for (const t of ['initech', 'umbrella']) expect((await call('DELETE', `/api/tenants/${t}`, { token: op() })).status).toBe(202);
    const keyNames = Object.fromEntries(
      ['acme', 'initech', 'umbrella'].map((t) => [
        t,
        JSON.parse(readFileSync(join(dir, 'tenants', t, 'meta.json'), 'utf8')).keyName as string,
      ]),
    );
    expect(await host.stop()).toBe(0);
    // The timer runs at start. Several times: start the host, wait until the shredding makes
    // one more step (a receipt written or changed), kill -9 at once. Each kill lands a step
    // further; the end state must hold wherever they landed.
    const kills: string[] = [];
    for (let round = 0; round < 4; round++) {
      const before = JSON.stringify(receiptStates());
      host = await startHostProcess(ENV, dir);
      let now = before;
      for (let i = 0; i < 4000 && now === before; i++) {
        now = JSON.stringify(receiptStates());
        if (now === before) await new Promise((r) => setTimeout(r, 2));
      }
      await killHard(host.pid);
      kills.push(JSON.stringify(receiptStates()));
      if (Object.values(receiptStates()).filter((x) => x.startsWith('complete')).length === 3) break;
    }
    // Where the kills landed (informative).
    console.log(`crash-shred: receipts after each kill -9:\n  ${kills.join('\n  ')}`);
    expect(kills[0]).toMatch(/shredding/);

    host = await startHostProcess(ENV, dir);
    let done: Record<string, string> = {};
    for (let i = 0; i < 600; i++) {
      done = receiptStates();
      if (Object.keys(done).length === 3 && Object.values(done).every((s) => s.startsWith('complete'))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(done).toEqual({
      acme: 'complete:key+store+files+tiers3',
      initech: 'complete:key+store+files+tiers3',
      umbrella: 'complete:key+store+files+tiers3',
    });

    for (const t of ['acme', 'initech', 'umbrella']) {
      const r = await call('GET', `/api/tenants/${t}/deletion/receipts`, { token: op() });
      expect(r.status).toBe(200);
      expect(r.json.items).toHaveLength(1);
      const receipt = r.json.items[0];
      expect(receipt).toMatchObject({ tenant: t, status: 'complete', keyName: keyNames[t], steps: { store: { outcome: 'removed' } } });
      expect(['destroyed', 'absent']).toContain(receipt.steps.key.outcome);
      for (const tier of Object.values(receipt.steps.tiers) as Array<{ outcome: string }>) expect(tier.outcome).toBe('deleted');
      expect(existsSync(join(dir, 'keys', `${keyNames[t]}.json`))).toBe(false);
      expect(existsSync(join(dir, 'tenants', t))).toBe(false);
      // Gone: a sign-in and the operator's status answer 410 (not 404), naming the receipt.
      const signIn = await call('POST', `/api/t/${t}/auth/token`, { body: { email: `admin@${t}.test`, password: PW } });
      expectProblem(signIn, 410);
      expect(signIn.json.detail).toContain(`(deletion receipt ${receipt.deletionId})`);
      expectProblem(await call('GET', `/api/tenants/${t}`, { token: op() }), 410);
      // The id is retired: a new tenant of that id is refused (409).
      const again = await call('POST', '/api/tenants', {
        token: op(),
        body: { id: t, name: t, admin: { email: `admin@${t}.test`, password: PW } },
      });
      expectProblem(again, 409);
      expect(again.json.detail).toMatch(/not reused/);
      // A restore of the deleted tenant: 410, naming the receipt.
      const restore = await call('POST', `/api/tenants/${t}/restore`, {
        token: op(),
        body: { tier: 'own-cloud', asOf: new Date().toISOString(), into: `${t}-back` },
      });
      expectProblem(restore, 410);
      expect(restore.json.detail).toContain(`was deleted on ${receipt.completedAt} (deletion receipt ${receipt.deletionId})`);
      // Cancelling now: 410 too.
      expectProblem(await call('POST', `/api/tenants/${t}/deletion/cancel`, { token: op() }), 410);
    }
    const printed = await cli(['tenants', 'receipts', 'acme']);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toMatch(/Deletion .* of acme: complete at /);
    expect(printed.stdout).toMatch(/tier own-cloud: deleted/);
    expect(printed.stdout).not.toMatch(/PLAINTEXT/);

    // The data folder: no plaintext of any deleted tenant, no wrapped key of their keys.
    const deletedMarks = ['acme', 'initech', 'umbrella'].flatMap((t) => marks[t]!);
    expect(filesContaining(dir, deletedMarks)).toEqual([]);
    const names = Object.values(keyNames);
    expect(wrappedKeysUnder(dir).filter((k) => names.some((n) => k.keyId.includes(n)))).toEqual([]);
    expect(filesUnder(join(dir, 'backups')).filter((f) => /tenants%2F(acme|initech|umbrella)%2F/.test(f))).toEqual([]);

    // The neighbour is untouched.
    const g = await call('GET', `/api/t/globex/records/doc/${records.globex}`, { token: tokens.globex });
    expect(g.status).toBe(200);
    expect((await call('GET', '/api/tenants/globex/backups', { token: op() })).status).toBe(200);
    expect(host.output()).not.toMatch(/PLAINTEXT/);
  }, 240_000);
});
