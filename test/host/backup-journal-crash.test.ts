/**
 * The incremental backup run over every tenant on the change journal (issue 11), through kill -9
 * of the real host (`node dist/host/start.js`) in the middle of the run. The run answers a
 * tenant the journal does not list since its place "unchanged" from its mark and writes it into
 * a run coverage marker (shared/app/changes/journal-run.ts, shared/app/backup/journal.ts); what
 * must hold whatever the moment of the kill:
 *  - a later run never skips a tenant whose log moved: after each restart's first complete run,
 *    every tenant's every acknowledged write is in its chain on every tier (`lagCommits: 0`, and
 *    `coveredUntil` at or after the write);
 *  - a run coverage marker (killed run's included) never claims commits its chain lacks: for
 *    each tenant a marker lists, every acknowledged write stamped at or before the marker's `at`
 *    is within the manifests the marker names;
 *  - at the end, a restore of every tenant as of its `coveredUntil` holds every acknowledged write
 *    and equals the tenant's export.
 * The host runs the incremental timer on demand (SIGUSR2, test/support/timer-on-signal.cjs: the
 * local host runs timers on their wall-clock schedule only, and test hosts leave the backup
 * timers out). Tiers: own-cloud is s3rver behind a stall proxy (so a kill can land while that
 * tier waits on a manifest or on its run marker), eu-cloud and azure are folders.
 * TENANT_CACHE_MAX=1, so written tenants are closed before the run (journal rows numbered on
 * close) as well as held open by this process or by the killed one; BACKUP_CONCURRENCY=1 and
 * the other background timers off (projector sweep, stored-files and erasure checks, orphan
 * sweep, shredding), so no other work opens a written tenant after a restart: what the run
 * does for a tenant then rests on the backup's own marks and journal places alone. (With them
 * on, or with 8 tenants at once per tier, a journal place saved ahead of the marks went
 * unnoticed: the tenants it skipped were opened again, so listed, by other work or by the
 * killed run's own jobs.)
 * Kill points, one per round (KILL_POINTS), each after more writes: as the run starts, after the
 * first backup on a tier, with own-cloud waiting on a manifest, with own-cloud waiting on its
 * run marker after the folder tiers wrote theirs. Seen to fail: with lookUpJournal's tiers
 * listing no tenant (after kill 1: lagCommits 3), and with each tier's journal place saved at
 * the start of the run, ahead of the marks (after kill 2: lagCommits 3; without the status
 * checks, the run marker check: "claims jr-03 up to …").
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FolderBackupTarget } from '../../shared/adapters/backup/folder-backup-target';
import { S3BackupTarget } from '../../shared/adapters/backup/s3-backup-target';
import { manifestsPrefix } from '../../shared/app/backup/chain-format';
import type { BackupTarget } from '../../shared/ports/backup-target';
import { startHostProcess, timerOnSignal, type HostProcess } from '../support/host-process';
import { client } from '../support/http-client';
import { killHard } from '../support/kill';
import { s3ClientFor, startS3, type S3TestServer } from '../support/s3';
import { startStallProxy, type StallProxy } from '../support/tcp-faults';

const PW = 'correct horse battery';
const N = 12;
const IDS = Array.from({ length: N }, (_, i) => `jr-${String(i).padStart(2, '0')}`);
const TIMER = 'backupIncremental';

const dir = mkdtempSync(join(tmpdir(), 'bk-journal-crash-'));
let s3: S3TestServer;
let proxy: StallProxy;
let env: Record<string, string>;
/** The three tiers as the test reads them: own-cloud (s3rver, reached by the host through the stall proxy), eu-cloud and azure (folders). */
let tiers: BackupTarget[];
let host: HostProcess | undefined;
const call = client(() => host!.url);

beforeAll(async () => {
  s3 = await startS3();
  proxy = await startStallProxy(Number(new URL(s3.endpoint).port));
  env = {
    ...timerOnSignal(TIMER),
    TENANT_CACHE_MAX: '1',
    BACKUP_CONCURRENCY: '1',
    'AzureWebJobs.projectFeeds.Disabled': 'true',
    'AzureWebJobs.checkStoredFiles.Disabled': 'true',
    'AzureWebJobs.finishErasures.Disabled': 'true',
    'AzureWebJobs.sweepOrphanFiles.Disabled': 'true',
    'AzureWebJobs.shredTenants.Disabled': 'true',
    BACKUP_OWN_CLOUD_S3_ENDPOINT: proxy.endpoint,
    BACKUP_OWN_CLOUD_S3_BUCKET: s3.bucket,
    BACKUP_OWN_CLOUD_S3_ACCESS_KEY_ID: s3.accessKeyId,
    BACKUP_OWN_CLOUD_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
  tiers = [
    new S3BackupTarget(s3ClientFor(s3), { name: 'own-cloud', bucket: s3.bucket }),
    new FolderBackupTarget('eu-cloud', join(dir, 'backups', 'eu-cloud')),
    new FolderBackupTarget('azure', join(dir, 'backups', 'azure')),
  ];
});
afterAll(async () => {
  await host?.stop();
  host?.cleanup();
  await proxy?.close();
  await s3?.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

/** Every acknowledged (201) record write, per tenant. */
const acked = new Map<string, Array<{ id: string; n: number; createdAt: string }>>(IDS.map((id) => [id, []]));
const tokens = new Map<string, string>();
let serial = 0;

async function write(tenant: string): Promise<void> {
  const n = ++serial;
  const r = await call('POST', `/api/t/${tenant}/records/doc`, { token: tokens.get(tenant)!, body: { n } });
  expect(r.status, r.text).toBe(201);
  acked.get(tenant)!.push({ id: r.json.id as string, n, createdAt: r.json.createdAt as string });
}

/** Up to `count` writes to each of `tenants`, one after the other, until `stop` is set (the host is killed under them): what was answered 201 counts. */
async function writeUntil(tenants: string[], count: number, stop: { now: boolean }): Promise<void> {
  await Promise.all(
    tenants.map(async (t) => {
      for (let i = 0; i < count && !stop.now; i++) await write(t).catch((e: unknown) => (stop.now ? undefined : Promise.reject(e)));
    }),
  );
}

/** Signals per host process (the preload numbers its runs from 1). */
let signals = 0;
function trigger(): number {
  process.kill(host!.pid, 'SIGUSR2');
  return ++signals;
}

/** The output of run `k` of this host so far. */
function runText(k: number): string {
  const out = host!.output();
  const start = out.indexOf(`timer-on-signal: ${TIMER} #${k} started`);
  return start < 0 ? '' : out.slice(start);
}

/** Waits for run `k` to end and returns its end line. */
async function runToEnd(k: number): Promise<Record<string, unknown>> {
  const ended = new RegExp(`timer-on-signal: ${TIMER} #${k} (finished|failed|busy)`);
  await expect.poll(() => ended.exec(host!.output())?.[1], { timeout: 60_000 }).toBe('finished');
  const end = /\{"event":"timer","fn":"backupIncremental".*\}/.exec(runText(k));
  expect(end, runText(k)).not.toBeNull();
  return JSON.parse(end![0]) as Record<string, unknown>;
}

async function start(): Promise<void> {
  host = await startHostProcess(env, dir);
  signals = 0;
}

async function kill(): Promise<void> {
  await killHard(host!.pid);
  await host!.stop();
}

interface Marker {
  at: string;
  tenants: Record<string, { chain: number; manifests: number }>;
  /** A delta marker: the full marker it rests on, and the tenants it says nothing of. */
  base?: string;
  except?: string[];
}

/** What a marker vouches for: a full one's tenants; a delta's own, and its base's that it does not except (checked at the delta's `at`). */
async function vouched(tier: BackupTarget, marker: Marker): Promise<Record<string, { chain: number; manifests: number }>> {
  if (!marker.base) return marker.tenants;
  const bytes = await tier.get(marker.base);
  const base = bytes ? (JSON.parse(Buffer.from(bytes).toString('utf8')) as Marker).tenants : {};
  const except = new Set(marker.except);
  return { ...Object.fromEntries(Object.entries(base).filter(([id]) => !except.has(id))), ...marker.tenants };
}

async function keys(tier: BackupTarget, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of tier.list(prefix)) out.push(o.key);
  return out.sort();
}

async function readJson<T>(tier: BackupTarget, key: string): Promise<T> {
  const bytes = await tier.get(key);
  expect(bytes, `${tier.name} ${key}`).toBeDefined();
  return JSON.parse(Buffer.from(bytes!).toString('utf8')) as T;
}

/** The run coverage markers on every tier, by tier. */
async function markerKeys(): Promise<Map<string, string[]>> {
  return new Map(await Promise.all(tiers.map(async (t) => [t.name, await keys(t, 'runs/covered/')] as const)));
}

/**
 * Every run coverage marker on every tier: each tenant it lists has every acknowledged write
 * stamped up to its `at` within the manifests it names (the last of them ends at or after it).
 * Returns how many (marker, tenant) pairs had writes to check.
 */
async function checkMarkers(label: string): Promise<number> {
  let checked = 0;
  for (const tier of tiers) {
    for (const key of await keys(tier, 'runs/covered/')) {
      const marker = await readJson<Marker>(tier, key);
      for (const [tenant, { chain, manifests }] of Object.entries(await vouched(tier, marker))) {
        const writes = (acked.get(tenant) ?? []).filter((w) => w.createdAt <= marker.at);
        if (writes.length === 0) continue;
        const chainManifests = await keys(tier, manifestsPrefix(tenant, chain));
        expect(chainManifests.length, `${label}: ${tier.name} ${key} ${tenant}`).toBeGreaterThanOrEqual(manifests);
        const last = await readJson<{ segment: { lastTimestamp: string } }>(tier, chainManifests[manifests - 1]!);
        const newest = writes
          .map((w) => w.createdAt)
          .sort()
          .at(-1)!;
        expect(last.segment.lastTimestamp >= newest, `${label}: ${tier.name} marker at ${marker.at} claims ${tenant} up to ${newest}`).toBe(
          true,
        );
        checked++;
      }
    }
  }
  return checked;
}

/** Every tenant, every tier: the chain holds the whole log, and its coverage reaches the last acknowledged write. */
async function checkStatus(label: string): Promise<Map<string, Record<string, string>>> {
  const covered = new Map<string, Record<string, string>>();
  for (const tenant of IDS) {
    const r = await call('GET', `/api/tenants/${tenant}/backups`, { token: host!.operatorKey });
    expect(r.status, r.text).toBe(200);
    const newest = acked
      .get(tenant)!
      .map((w) => w.createdAt)
      .sort()
      .at(-1);
    const byTier: Record<string, string> = {};
    for (const t of r.json.tiers as Array<{ tier: string; ok: boolean; lagCommits: number; lastBackup: { coveredUntil: string } }>) {
      expect({ ok: t.ok, lagCommits: t.lagCommits }, `${label}: ${tenant} on ${t.tier}`).toEqual({ ok: true, lagCommits: 0 });
      if (newest) expect(t.lastBackup.coveredUntil >= newest, `${label}: ${tenant} on ${t.tier} covered up to ${newest}`).toBe(true);
      byTier[t.tier] = t.lastBackup.coveredUntil;
    }
    expect(Object.keys(byTier).sort()).toEqual(tiers.map((t) => t.name).sort());
    covered.set(tenant, byTier);
  }
  return covered;
}

async function exportOf(token: string, tenant: string): Promise<Array<{ id: string; version: number; data: { n: number } }>> {
  const r = await fetch(`${host!.url}/api/t/${tenant}/export`, { headers: { authorization: `Bearer ${token}` } });
  expect(r.status).toBe(200);
  return (await r.text())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { id: string; version: number; data: { n: number } })
    .map(({ id, version, data }) => ({ id, version, data }))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
}

async function login(tenant: string): Promise<string> {
  const r = await call('POST', `/api/t/${tenant}/auth/token`, { body: { email: 'a@a.test', password: PW } });
  expect(r.status, r.text).toBe(200);
  return r.json.access_token as string;
}

/** A run's backups so far (one line per tenant and tier that shipped commits). */
const backups = (text: string) => text.match(/"event":"backup"/g)?.length ?? 0;

/**
 * The kill points, one per round. `arm` runs before the run is started; `ready` says when to
 * kill. own-cloud stalled (the proxy forwards nothing more to s3rver) holds the run open there
 * while the folder tiers go on.
 */
interface KillPoint {
  name: string;
  arm?: () => void;
  ready: (text: string, stalled: boolean, newMarkers: () => Promise<string[]>) => boolean | Promise<boolean>;
}
const KILL_POINTS: KillPoint[] = [
  { name: 'as the run starts (journal look, fingerprints)', ready: (text) => text.length > 0 },
  { name: 'after the first backup on a tier', ready: (text) => backups(text) > 0 },
  {
    name: 'with own-cloud waiting on its third manifest write of the run and backups done on the folder tiers',
    arm: () => {
      let manifests = 0;
      proxy.stallWhen((r) => /^PUT \/backups\/tenants\/[^/]+\/chains\/\d+\/manifests\//.test(r) && ++manifests === 3);
    },
    ready: (text, stalled) => stalled && /"tier":"(eu-cloud|azure)"/.test(text),
  },
  {
    name: "with own-cloud waiting on its run marker write, the folder tiers' markers written (marks and journal places not saved)",
    arm: () => proxy.stallWhen((r) => /^PUT \/backups\/runs\/covered\//.test(r)),
    ready: async (_, stalled, newMarkers) => stalled && (await newMarkers()).length === 2,
  },
];

it('kill -9 in the middle of an incremental run on the change journal: no later run skips a moved tenant, no run marker claims what its chain lacks', async () => {
  await start();
  const op = host!.operatorKey;
  for (let i = 0; i < N; i += 8)
    await Promise.all(
      IDS.slice(i, i + 8).map(async (id) => {
        const r = await call('POST', '/api/tenants', { token: op, body: { id, name: id, admin: { email: 'a@a.test', password: PW } } });
        expect(r.status, r.text).toBe(201);
        tokens.set(id, await login(id));
        const type = await call('PUT', `/api/t/${id}/types/doc`, { token: tokens.get(id)!, body: { type: 'object' } });
        expect(type.status, type.text).toBeLessThan(300);
        await write(id);
        await write(id);
      }),
    );
  // A first complete run (over every tenant): marks and each tier's journal place exist.
  expect(await runToEnd(trigger())).toMatchObject({ outcome: 'ok', tenants: N, delta: 0, failed: 0 });
  for (const tier of tiers) expect(existsSync(join(dir, 'marks', `backup-${tier.name}-journal.json`)), tier.name).toBe(true);
  await checkStatus('first run');

  let markersChecked = 0;
  for (const [round, point] of KILL_POINTS.entries()) {
    // Writes before the run (to half of the tenants, the other half next round), then
    // more to two tenants while the run goes, until the kill.
    const before = IDS.filter((_, i) => i % 2 === round % 2);
    for (const t of before) for (let j = 0; j < 3; j++) await write(t);
    const markersBefore = await markerKeys();
    const newMarkers = async () => {
      const now = await markerKeys();
      return [...now].flatMap(([tier, ks]) => ks.filter((k) => !markersBefore.get(tier)!.includes(k)).map((k) => `${tier} ${k}`));
    };
    let stalled = false;
    void proxy.stalled().then(() => (stalled = true));
    point.arm?.();
    const stop = { now: false };
    const during = writeUntil([IDS[(round * 5 + 1) % N]!, IDS[(round * 5 + 2) % N]!], 5, stop);
    const k = trigger();
    await expect
      .poll(() => point.ready(runText(k), stalled, newMarkers), { timeout: 60_000, interval: 5 })
      .toBe(true)
      .catch(async (e: unknown) => {
        console.log(
          `no kill point (${point.name}); own-cloud stalled: ${stalled}, new run markers: ${JSON.stringify(await newMarkers())}\n${runText(k)}`,
        );
        throw e;
      });
    stop.now = true;
    await kill();
    proxy.passThrough();
    await during;
    const text = runText(k);
    // The kill landed in the middle of the run.
    expect(text, point.name).not.toMatch(/#\d+ finished/);
    const written = await newMarkers();
    console.log(`round ${round + 1}, killed ${point.name}: ${backups(text)} backups done, run markers written: ${written.length}`);

    await start();
    const end = await runToEnd(trigger());
    expect(end, host!.output()).toMatchObject({ outcome: 'ok', failed: 0 });
    await checkStatus(`after kill ${round + 1} (${point.name})`);
    markersChecked += await checkMarkers(`after kill ${round + 1} (${point.name})`);
  }

  // After the last restart: writes to tenants the rounds did not touch lately, and two more runs.
  for (const t of IDS.filter((_, i) => i % 4 === 3)) await write(t);
  expect(await runToEnd(trigger())).toMatchObject({ outcome: 'ok', failed: 0 });
  // Delta runs by now: each looks only at what the journal lists.
  expect(await runToEnd(trigger())).toMatchObject({ outcome: 'ok', delta: 1, failed: 0 });
  const covered = await checkStatus('at the end');
  markersChecked += await checkMarkers('at the end');
  expect(markersChecked).toBeGreaterThan(0);

  // A restore of each tenant as of what its tier says it covers (the tiers in turn) holds every
  // acknowledged write, and equals the tenant's export.
  for (const [i, tenant] of IDS.entries()) {
    const tier = tiers[i % tiers.length]!.name;
    const into = `${tenant}-r`;
    const r = await call('POST', `/api/tenants/${tenant}/restore`, {
      token: op,
      body: { tier, asOf: covered.get(tenant)![tier], into },
    });
    expect(r.status, r.text).toBe(201);
    const restored = await exportOf(await login(into), into);
    const source = await exportOf(tokens.get(tenant)!, tenant);
    expect(restored, `${tenant} from ${tier}`).toEqual(source);
    const ns = new Set(restored.map((x) => x.data.n));
    expect(
      acked
        .get(tenant)!
        .filter((w) => !ns.has(w.n))
        .map((w) => w.n),
      `${tenant}: acknowledged writes missing from its restore from ${tier}`,
    ).toEqual([]);
  }
}, 240_000);
