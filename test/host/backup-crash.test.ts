/**
 * Backups and restores through crashes and hangs, against the real host (`node
 * dist/host/start.js`, killed with SIGKILL) and real tiers: tier 1 is s3rver behind a TCP proxy
 * that can stop forwarding mid-request, tier 2 a folder, tier 3 Azurite.
 *
 * - kill -9 while a backup waits on its manifest write: after the restart the next backup
 *   completes, a drill proves it, and the source tenant is intact;
 * - kill -9 while a restore imports, while it copies files, and while a drill restores into its scratch tenant: the
 *   half-built tenants are removed at the next start, the restore's id is usable again, and the
 *   source tenant is intact;
 * - a tier that accepts connections and never answers: backups and status answer, with that
 *   tier failed and the others ok, for every tenant.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startHostProcess, type HostProcess } from '../support/host-process';
import { client } from '../support/http-client';
import { startS3, type S3TestServer } from '../support/s3';
import { startHangingServer, startStallProxy, type HangingServer, type StallProxy } from '../support/tcp-faults';

const PW = 'correct horse battery';
const FILE = Buffer.from('contract text '.repeat(2000));
let file: { record: string; id: string };
let host: HostProcess | undefined;
const call = client(() => host!.url);

async function killHard(h: HostProcess): Promise<void> {
  process.kill(h.pid, 'SIGKILL');
  await h.stop(); // resolves once the process has exited
}

async function exportOf(token: string, tenant: string): Promise<string> {
  const r = await fetch(`${host!.url}/api/t/${tenant}/export`, { headers: { authorization: `Bearer ${token}` } });
  expect(r.status).toBe(200);
  return (await r.text())
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const x = JSON.parse(l) as Record<string, unknown>;
      return JSON.stringify({ id: x.id, type: x.type, version: x.version, data: x.data });
    })
    .sort()
    .join('\n');
}

async function login(tenant: string): Promise<string> {
  const r = await call('POST', `/api/t/${tenant}/auth/token`, { body: { email: 'a@a.test', password: PW } });
  expect(r.status, r.text).toBe(200);
  return r.json.access_token as string;
}

describe('kill -9 in the middle of a backup, a restore and a drill', () => {
  let s3: S3TestServer;
  let proxy: StallProxy;
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    s3 = await startS3();
    proxy = await startStallProxy(Number(new URL(s3.endpoint).port));
    dataDir = mkdtempSync(join(tmpdir(), 'bk-crash-'));
    env = {
      LOCAL_BLOB: 'azurite',
      AZURITE_BLOB_PORT: String(await freePort()),
      BACKUP_OWN_CLOUD_S3_ENDPOINT: proxy.endpoint,
      BACKUP_OWN_CLOUD_S3_BUCKET: s3.bucket,
      BACKUP_OWN_CLOUD_S3_ACCESS_KEY_ID: s3.accessKeyId,
      BACKUP_OWN_CLOUD_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    };
  });
  afterAll(async () => {
    await host?.stop();
    host?.cleanup();
    await proxy?.close();
    await s3?.close();
    rmSync(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  it('a backup killed while writing its manifest: after the restart the next backup completes and its drill passes', async () => {
    host = await startHostProcess(env, dataDir);
    const op = host.operatorKey;
    expect(
      (await call('POST', '/api/tenants', { token: op, body: { id: 'acme', name: 'A', admin: { email: 'a@a.test', password: PW } } }))
        .status,
    ).toBe(201);
    const token = await login('acme');
    await call('PUT', '/api/t/acme/types/doc', { token, body: { type: 'object' } });
    for (let i = 0; i < 20; i++) expect((await call('POST', '/api/t/acme/records/doc', { token, body: { n: i } })).status).toBe(201);
    const rec = await call('POST', '/api/t/acme/records/doc', { token, body: { with: 'file' } });
    const up = await fetch(`${host.url}/api/t/acme/records/doc/${rec.json.id}/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain', 'x-file-name': 'contract.txt' },
      body: FILE,
    });
    expect(up.status).toBe(201);
    file = { record: rec.json.id as string, id: ((await up.json()) as { fileId: string }).fileId };
    const before = await exportOf(token, 'acme');

    // The segment reaches tier 1; its manifest write never gets an answer; then the host dies.
    proxy.stallWhen((r) => /^PUT \/backups\/tenants\/acme\/chains\/\d+\/manifests\//.test(r));
    const pending = call('POST', '/api/tenants/acme/backups', { token: op }).catch((e: unknown) => e);
    await proxy.stalled();
    await killHard(host);
    expect(await pending).toBeInstanceOf(Error);
    proxy.passThrough();

    host = await startHostProcess(env, dataDir);
    const token2 = await login('acme');
    expect(await exportOf(token2, 'acme')).toBe(before);
    const run = await call('POST', '/api/tenants/acme/backups', { token: op });
    expect(run.status, run.text).toBe(200);
    for (const t of run.json.tiers) expect(t, t.tier).toMatchObject({ ok: true });
    // The run that died never reached the files of tier 1; this one copied it.
    expect(run.json.tiers.find((t: { tier: string }) => t.tier === 'own-cloud')).toMatchObject({ files: 1 });
    const drill = await call('POST', '/api/tenants/acme/backups/drill', { token: op });
    expect(drill.status, drill.text).toBe(200);
    for (const d of drill.json.drills) expect(d, d.tier).toMatchObject({ ok: true, outcome: 'ok' });
    const status = await call('GET', '/api/tenants/acme/backups', { token: op });
    for (const t of status.json.tiers) expect(t, t.tier).toMatchObject({ ok: true, lagCommits: 0, lastDrill: { ok: true } });
  }, 120_000);

  it('a restore killed while importing and a drill killed while restoring: both half-built tenants are removed at start, the id is usable, the source intact', async () => {
    const op = host!.operatorKey;
    const token = await login('acme');
    const before = await exportOf(token, 'acme');
    const status = await call('GET', '/api/tenants/acme/backups', { token: op });
    const covered = status.json.tiers.find((t: { tier: string }) => t.tier === 'own-cloud').lastBackup.coveredUntil as string;
    expect(covered).toMatch(/^\d{4}-/);

    // verify() reads the segment once; the import reads it again: that second read never ends.
    let segmentReads = 0;
    proxy.stallWhen((r) => /^GET \/backups\/tenants\/acme\/chains\/\d+\/segments\//.test(r) && ++segmentReads === 2);
    const pending = call('POST', '/api/tenants/acme/restore', {
      token: op,
      body: { tier: 'own-cloud', asOf: covered, into: 'acme-r' },
    }).catch((e: unknown) => e);
    await proxy.stalled();
    await killHard(host!);
    await pending;
    proxy.passThrough();

    host = await startHostProcess(env, dataDir);
    await expect
      .poll(() => host!.output(), { timeout: 20_000 })
      // (the host's own drill timer may have had a drill under way at the kill too)
      .toMatch(/removed \d+ tenant\(s\) that interrupted restores or drills left: .*\bacme-r\b/);
    expect((await call('GET', '/api/tenants/acme-r', { token: op })).status).toBe(404);

    // Killed later: the whole log imported, the file being copied. Still never served, removed at start.
    proxy.stallWhen((r) => /^GET \/backups\/tenants\/acme\/files\//.test(r));
    const copying = call('POST', '/api/tenants/acme/restore', {
      token: op,
      body: { tier: 'own-cloud', asOf: covered, into: 'acme-f' },
    }).catch((e: unknown) => e);
    await proxy.stalled();
    expect((await call('GET', '/api/tenants/acme-f', { token: op })).json).toMatchObject({ status: 'creating' });
    expect((await call('POST', '/api/t/acme-f/auth/token', { body: { email: 'a@a.test', password: PW } })).status).toBe(401);
    await killHard(host);
    await copying;
    proxy.passThrough();
    host = await startHostProcess(env, dataDir);
    await expect
      .poll(() => host!.output(), { timeout: 20_000 })
      .toMatch(/removed \d+ tenant\(s\) that interrupted restores or drills left: .*\bacme-f\b/);
    expect((await call('GET', '/api/tenants/acme-f', { token: op })).status).toBe(404);

    // A drill killed while it restores: its scratch tenants (one per tier: the tiers drill in
    // parallel, and the host died under all of them) go at the next start too.
    segmentReads = 0;
    proxy.stallWhen((r) => /^GET \/backups\/tenants\/acme\/chains\/\d+\/segments\//.test(r) && ++segmentReads === 2);
    const drilling = call('POST', '/api/tenants/acme/backups/drill', { token: op }).catch((e: unknown) => e);
    await proxy.stalled();
    await killHard(host);
    await drilling;
    proxy.passThrough();

    host = await startHostProcess(env, dataDir);
    await expect
      .poll(() => host!.output(), { timeout: 20_000 })
      .toMatch(/removed \d tenant\(s\) that interrupted restores or drills left: drill-[0-9a-f]+/);
    const list = await call('GET', '/api/tenants', { token: op });
    expect(JSON.stringify(list.json)).not.toContain('drill-');

    const restored = await call('POST', '/api/tenants/acme/restore', {
      token: op,
      body: { tier: 'own-cloud', asOf: covered, into: 'acme-r' },
    });
    expect(restored.status, restored.text).toBe(201);
    expect(restored.json).toMatchObject({
      id: 'acme-r',
      restoredUntil: new Date(covered).toISOString(),
      partial: false,
      missingFiles: [],
      files: 1,
    });
    const tokenR = await login('acme-r');
    expect(await exportOf(tokenR, 'acme-r')).toBe(before);
    const f = await fetch(`${host!.url}/api/t/acme-r/records/doc/${file.record}/files/${file.id}`, {
      headers: { authorization: `Bearer ${tokenR}` },
    });
    expect(f.status).toBe(200);
    expect(Buffer.from(await f.arrayBuffer()).equals(FILE)).toBe(true);
    expect(await exportOf(await login('acme'), 'acme')).toBe(before);
  }, 120_000);
});

describe('a tier that accepts connections and never answers', () => {
  let hang: HangingServer;
  beforeAll(async () => {
    hang = await startHangingServer();
    host = await startHostProcess({
      LOCAL_BLOB: 'azurite',
      AZURITE_BLOB_PORT: String(await freePort()),
      BACKUP_EU_CLOUD_S3_ENDPOINT: hang.endpoint,
      BACKUP_EU_CLOUD_S3_BUCKET: 'backups',
      BACKUP_EU_CLOUD_S3_ACCESS_KEY_ID: 'id',
      BACKUP_EU_CLOUD_S3_SECRET_ACCESS_KEY: 'secret',
      BACKUP_REQUEST_TIMEOUT_SECONDS: '1',
      BACKUP_TIER_DEADLINE_SECONDS: '10',
      BACKUP_STATUS_TIMEOUT_SECONDS: '2',
    });
  });
  afterAll(async () => {
    await host?.stop();
    host?.cleanup();
    await hang?.close();
  });

  it('backups and status of every tenant answer: the hung tier failed, the others ok', async () => {
    const op = host!.operatorKey;
    for (const id of ['one', 'two']) {
      expect(
        (await call('POST', '/api/tenants', { token: op, body: { id, name: id, admin: { email: 'a@a.test', password: PW } } })).status,
      ).toBe(201);
      const run = await call('POST', `/api/tenants/${id}/backups`, { token: op });
      expect(run.status, run.text).toBe(502);
      const byTier = Object.fromEntries(run.json.tiers.map((t: { tier: string }) => [t.tier, t]));
      expect(byTier['own-cloud']).toMatchObject({ ok: true, segments: 1 });
      expect(byTier.azure).toMatchObject({ ok: true, segments: 1 });
      expect(byTier['eu-cloud']).toMatchObject({ ok: false, error: expect.stringMatching(/TimeoutError/) });
      const status = await call('GET', `/api/tenants/${id}/backups`, { token: op });
      expect(status.status).toBe(200);
      const st = Object.fromEntries(status.json.tiers.map((t: { tier: string }) => [t.tier, t]));
      expect(st['eu-cloud']).toMatchObject({ ok: false, error: expect.stringMatching(/TimeoutError/) });
      expect(st['own-cloud']).toMatchObject({ ok: true, lagCommits: 0 });
    }
    expect(hang.connections()).toBeGreaterThan(0);
    expect(host!.output()).toMatch(/backup of tenant two to eu-cloud failed/);
  }, 120_000);
});

describe('a backup reported done survives kill -9 at once, on every default tier', () => {
  // The default local tiers (nothing configured): three folders under DATA_DIR/backups, the
  // Azure tier's included. Before issue 10's fix that tier was Azurite, whose blob index is saved
  // every 5 s, so a backup reported done could be gone after a crash within that window.
  for (const blob of ['off', 'azurite'] as const) {
    const title =
      blob === 'off'
        ? 'default tiers: the backup, its status and a restore from each tier hold after the restart'
        : 'LOCAL_BLOB=azurite: the same kill, recorded but not asserted for the Azurite tier (its 5 s index window)';
    it(title, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'bk-ack-'));
      const env: Record<string, string> = blob === 'off' ? {} : { LOCAL_BLOB: 'azurite', AZURITE_BLOB_PORT: String(await freePort()) };
      try {
        host = await startHostProcess(env, dir);
        const op = host.operatorKey;
        const created = await call('POST', '/api/tenants', {
          token: op,
          body: { id: 'acme', name: 'A', admin: { email: 'a@a.test', password: PW } },
        });
        expect(created.status, created.text).toBe(201);
        const token = await login('acme');
        await call('PUT', '/api/t/acme/types/doc', { token, body: { type: 'object' } });
        for (let i = 0; i < 5; i++) expect((await call('POST', '/api/t/acme/records/doc', { token, body: { n: i } })).status).toBe(201);
        const before = await exportOf(token, 'acme');
        const run = await call('POST', '/api/tenants/acme/backups', { token: op });
        expect(run.status, run.text).toBe(200);
        const tiers = (run.json.tiers as Array<{ tier: string; ok: boolean }>).map((t) => t.tier).sort();
        expect(tiers).toEqual(['azure', 'eu-cloud', 'own-cloud']);
        for (const t of run.json.tiers) expect(t, t.tier).toMatchObject({ ok: true });
        // Acknowledged: kill at once, well inside Azurite's 5 s save interval.
        await killHard(host);

        host = await startHostProcess(env, dir);
        const status = await call('GET', '/api/tenants/acme/backups', { token: host.operatorKey });
        expect(status.status, status.text).toBe(200);
        const held: Record<string, boolean> = {};
        const covered: Record<string, string> = {};
        for (const t of status.json.tiers as Array<{ tier: string; ok: boolean; lastBackup?: { coveredUntil?: string } }>) {
          held[t.tier] = t.ok && typeof t.lastBackup?.coveredUntil === 'string';
          if (t.lastBackup?.coveredUntil) covered[t.tier] = t.lastBackup.coveredUntil;
        }
        if (blob === 'off') {
          expect(held).toEqual({ azure: true, 'eu-cloud': true, 'own-cloud': true });
          for (const tier of tiers) {
            const r = await call('POST', '/api/tenants/acme/restore', {
              token: host.operatorKey,
              body: { tier, asOf: covered[tier], into: `acme-${tier}` },
            });
            expect(r.status, r.text).toBe(201);
            expect(await exportOf(await login(`acme-${tier}`), `acme-${tier}`), tier).toBe(before);
          }
        } else {
          // The folder tiers hold; what the Azurite tier shows is printed, not asserted.
          expect(held).toMatchObject({ 'eu-cloud': true, 'own-cloud': true });
          console.log(`LOCAL_BLOB=azurite, backup killed at once: Azure tier ${held.azure ? 'still holds it' : 'lost it'}`);
        }
      } finally {
        await host?.stop();
        host?.cleanup();
        host = undefined;
        rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
      }
    }, 120_000);
  }
});
