import { afterAll, beforeAll, expect, it } from 'vitest';
import { e2eOnCosmos, freePort, startHostProcess, type HostProcess } from '../support/host-process';
import { client, type CallResult } from '../support/http-client';

let host: HostProcess;
const call = client(() => host.url);
const PW = 'correct horse battery';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let token: string;

function expectProblem(r: CallResult, status: number) {
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get('content-type')).toContain('application/problem+json');
}

beforeAll(async () => {
  host = await startHostProcess({ LOCAL_BLOB: 'azurite', AZURITE_BLOB_PORT: String(await freePort()) });
  await call('POST', '/api/tenants', {
    token: host.operatorKey,
    body: { id: 'acme', name: 'A', admin: { email: 'a@a.test', password: PW } },
  });
  token = (await call('POST', '/api/t/acme/auth/token', { body: { email: 'a@a.test', password: PW } })).json.access_token;
  await call('PUT', '/api/t/acme/types/doc', { token, body: { type: 'object' } });
});
afterAll(async () => {
  await host?.stop();
  host?.cleanup();
});

it('the local host backs up to three local tiers, drills, and restores to an instant into a new tenant', async () => {
  const a = await call('POST', '/api/t/acme/records/doc', { token, body: { city: 'Brno' } });
  const fileBytes = Buffer.from('contract text '.repeat(1000));
  const up = await fetch(`${host.url}/api/t/acme/records/doc/${a.json.id}/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain', 'x-file-name': 'contract.txt' },
    body: fileBytes,
  });
  expect(up.status).toBe(201);
  const fileId = ((await up.json()) as { fileId: string }).fileId;
  await sleep(20);
  await call('PATCH', `/api/t/acme/records/doc/${a.json.id}`, { token, body: { city: 'Praha' }, headers: { 'if-match': '"2"' } });
  await sleep(20);
  const between = new Date().toISOString();
  await sleep(20);
  await call('PATCH', `/api/t/acme/records/doc/${a.json.id}`, { token, body: { city: 'Ostrava' }, headers: { 'if-match': '"3"' } });

  const run = await call('POST', '/api/tenants/acme/backups', { token: host.operatorKey });
  expect(run.status, run.text).toBe(200);
  expect(run.json.tiers.map((t: { tier: string }) => t.tier).sort()).toEqual(['azure', 'eu-cloud', 'own-cloud']);
  for (const t of run.json.tiers) expect(t).toMatchObject({ ok: true, segments: 1, files: 1 });

  await call('POST', '/api/t/acme/records/doc', { token, body: { city: 'Plzeň' } });
  const status = await call('GET', '/api/tenants/acme/backups', { token: host.operatorKey });
  expect(status.status).toBe(200);
  for (const t of status.json.tiers) {
    expect(t.lastBackup).toMatchObject({ manifests: 1 });
    if (e2eOnCosmos) {
      // The change feed cannot count commits behind a checkpoint (README, Backups): the lag is in time.
      expect(t.lagCommits).toBeNull();
      expect(t.lagMinutes).toBeGreaterThanOrEqual(0);
    } else expect(t.lagCommits).toBe(1);
  }
  const again = await call('POST', '/api/tenants/acme/backups', { token: host.operatorKey });
  for (const t of again.json.tiers) expect(t).toMatchObject({ ok: true, commits: 1 });

  const drill = await call('POST', '/api/tenants/acme/backups/drill', { token: host.operatorKey });
  expect(drill.status, drill.text).toBe(200);
  for (const d of drill.json.drills) expect(d).toMatchObject({ ok: true });
  const after = await call('GET', '/api/tenants/acme/backups', { token: host.operatorKey });
  for (const t of after.json.tiers)
    expect(t).toMatchObject({ ...(e2eOnCosmos ? { lagCommits: null, lagMinutes: 0 } : { lagCommits: 0 }), lastDrill: { ok: true } });

  const restored = await call('POST', '/api/tenants/acme/restore', {
    token: host.operatorKey,
    body: { tier: 'eu-cloud', asOf: between, into: 'acme-then' },
  });
  expect(restored.status, restored.text).toBe(201);
  expect(restored.json).toMatchObject({ restoredUntil: between, partial: false, missingFiles: [], files: 1 });
  const t2 = (await call('POST', '/api/t/acme-then/auth/token', { body: { email: 'a@a.test', password: PW } })).json.access_token;
  const r = await call('GET', `/api/t/acme-then/records/doc/${a.json.id}`, { token: t2 });
  expect(r.json).toMatchObject({ version: 3, data: { city: 'Praha' } });
  // The file came back, readable in the restored tenant (ciphertext copied, key re-wrapped).
  const f = await fetch(`${host.url}/api/t/acme-then/records/doc/${a.json.id}/files/${fileId}`, {
    headers: { authorization: `Bearer ${t2}` },
  });
  expect(f.status).toBe(200);
  expect(Buffer.from(await f.arrayBuffer()).equals(fileBytes)).toBe(true);
  const list = await call('GET', '/api/t/acme-then/records/doc', { token: t2 });
  expect(list.json.items).toHaveLength(1);
  // the source token does not work at the restored tenant (its own signing key)
  expectProblem(await call('GET', `/api/t/acme-then/records/doc/${a.json.id}`, { token }), 401);
});

it('restore: bad callers and bad input are refused and create nothing', async () => {
  const body = { tier: 'azure', asOf: new Date().toISOString(), into: 'acme-never' };
  expectProblem(await call('POST', '/api/tenants/acme/restore', { body }), 401);
  expectProblem(await call('POST', '/api/tenants/acme/restore', { token, body }), 401);
  expectProblem(await call('POST', '/api/tenants/acme/restore', { token: host.operatorKey, body: { ...body, tier: 'moon' } }), 404);
  expectProblem(await call('POST', '/api/tenants/acme/restore', { token: host.operatorKey, body: { ...body, asOf: 'yesterday' } }), 400);
  expectProblem(await call('POST', '/api/tenants/acme/restore', { token: host.operatorKey, body: { ...body, into: 'Bad Id' } }), 400);
  expectProblem(await call('POST', '/api/tenants/acme/restore', { token: host.operatorKey, raw: '{"tier":' }), 400);
  expectProblem(await call('POST', '/api/tenants/acme/restore', { token: host.operatorKey, body: { ...body, into: 'acme' } }), 409);
  expectProblem(await call('POST', '/api/tenants/acme/restore', { token: host.operatorKey, body: { ...body, into: 'drill-mine' } }), 400);
  expectProblem(
    await call('POST', '/api/tenants', {
      token: host.operatorKey,
      body: { id: 'drill-x1', name: 'x', admin: { email: 'a@x.test', password: PW } },
    }),
    400,
  );
  expectProblem(await call('GET', '/api/tenants/acme-never', { token: host.operatorKey }), 404);
  expectProblem(await call('POST', '/api/tenants/acme/backups?full=maybe', { token: host.operatorKey }), 400);
  // "Now" is beyond what the tier covers: refused with both instants named, nothing created.
  const beyond = await call('POST', '/api/tenants/acme/restore', {
    token: host.operatorKey,
    body: { ...body, asOf: new Date(Date.now() + 60_000).toISOString(), into: 'acme-later' },
  });
  expectProblem(beyond, 422);
  expect(beyond.json.detail).toMatch(/covers the log only up to \S+, before the requested \S+\..*"acceptPartial": true/);
  expectProblem(await call('GET', '/api/tenants/acme-later', { token: host.operatorKey }), 404);
  expectProblem(await call('POST', '/api/tenants/acme/restore', { token: host.operatorKey, body: { ...body, acceptPartial: 'yes' } }), 400);
  expectProblem(await call('POST', '/api/tenants/acme/backups', { token }), 401);
  expectProblem(await call('GET', '/api/tenants/acme/backups', {}), 401);
  expectProblem(await call('POST', '/api/tenants/acme/backups/drill', { token }), 401);
});

/** A long operation through its progress stream: every line parsed; the last one is the answer. */
async function streamed(path: string): Promise<{ progress: Array<{ phase: string; done: number; total?: number }>; last: any }> {
  const res = await fetch(`${host.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${host.operatorKey}`, accept: 'application/x-ndjson' },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/x-ndjson');
  const lines = (await res.text())
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const last = lines.pop();
  for (const l of lines) expect(Object.keys(l)).toEqual(['progress']);
  return { progress: lines.map((l) => l.progress), last };
}

it('a backup and a drill stream progress (phase tiers, done of total) when asked; the last line is each tier’s result', async () => {
  await call('POST', '/api/t/acme/records/doc', { token, body: { city: 'Zlín' } });
  for (const [path, key] of [
    ['/api/tenants/acme/backups', 'tiers'],
    ['/api/tenants/acme/backups/drill', 'drills'],
  ] as const) {
    const { progress, last } = await streamed(path);
    expect(progress.length, path).toBeGreaterThan(0);
    for (const p of progress) expect(p, path).toEqual({ phase: 'tiers', done: expect.any(Number), total: 3 });
    const done = progress.map((p) => p.done);
    expect(done, path).toEqual([...done].sort((a, b) => a - b));
    // the last progress line before the answer always reports where the work ended
    expect(progress.at(-1), path).toEqual({ phase: 'tiers', done: 3, total: 3 });
    expect(last, path).toMatchObject({ status: 200, body: { tenant: 'acme' } });
    const results = last.body[key] as Array<{ tier: string; ok: boolean }>;
    expect(results.map((t) => t.tier).sort(), path).toEqual(['azure', 'eu-cloud', 'own-cloud']);
    for (const t of results) expect(t, path).toMatchObject({ ok: true });
  }
  // The same operations without the stream answer as before.
  const plain = await call('POST', '/api/tenants/acme/backups', { token: host.operatorKey });
  expect(plain.status, plain.text).toBe(200);
  expect(plain.headers.get('content-type')).toContain('application/json');
  // Authentication is checked before the stream starts: its own status.
  const anon = await fetch(`${host.url}/api/tenants/acme/backups/drill`, { method: 'POST', headers: { accept: 'application/x-ndjson' } });
  expect(anon.status).toBe(401);
  const unknown = await fetch(`${host.url}/api/tenants/nope/backups`, {
    method: 'POST',
    headers: { authorization: `Bearer ${host.operatorKey}`, accept: 'application/x-ndjson' },
  });
  expect(unknown.status).toBe(404);
});
