import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { BackupService } from '../../shared/app/backup';
import { RecordService } from '../../shared/app/records';
import { TenantService, type UserPrincipal } from '../../shared/app/service';
import { conflict } from '../../shared/domain/errors';
import type { BackupObject, BackupTarget } from '../../shared/ports/backup-target';
import type { Clock } from '../../shared/ports/runtime';
import { closeSharedCosmos, cosmosDirectoryForTests } from '../support/cosmos-server';
import { e2eOnCosmos } from '../support/host-process';

afterAll(closeSharedCosmos);

/** A faithful in-memory BackupTarget (immutable objects, sorted listing) for engine tests. */
class MemoryTarget implements BackupTarget {
  readonly objects = new Map<string, Uint8Array>();
  failPut?: (key: string) => boolean;
  constructor(readonly name: string) {}
  async put(key: string, body: Uint8Array) {
    if (this.failPut?.(key)) throw new Error(`target down while writing ${key}`);
    if (this.objects.has(key)) throw conflict(`${key} exists`);
    this.objects.set(key, Uint8Array.from(body));
  }
  async get(key: string) {
    const b = this.objects.get(key);
    return b ? Uint8Array.from(b) : undefined;
  }
  async putStream(key: string, chunks: AsyncIterable<Uint8Array>) {
    const parts: Uint8Array[] = [];
    for await (const c of chunks) parts.push(c);
    await this.put(key, Buffer.concat(parts));
  }
  async getStream(key: string) {
    const b = this.objects.get(key);
    return b
      ? (async function* () {
          yield Uint8Array.from(b);
        })()
      : undefined;
  }
  async *list(prefix: string): AsyncIterable<BackupObject> {
    for (const key of [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort())
      yield { key, size: this.objects.get(key)!.length, lastModified: new Date() };
  }
  async delete(key: string) {
    this.objects.delete(key);
  }
}

const PW = 'a long enough password';
const req = { correlationId: 'c' };
const op = { id: 'operator-key:test' };

interface World {
  clock: Clock & { t: number };
  tenants: TenantService;
  records: RecordService;
  backups: BackupService;
  /** The admin of `tenant`, which has a type `doc`. */
  admin: UserPrincipal;
  dispose(): Promise<void>;
}

/** Embedded services in a temp folder with one tenant (admin a@a.test) and a `doc` type. */
async function world(tenant: string, start: string, targets?: BackupTarget[]): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'bk-'));
  const clock = {
    t: Date.parse(start),
    now() {
      return new Date(this.t);
    },
  };
  const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
  // The cosmos-e2e vitest project runs this file on the Cosmos adapter (change-feed stand-in).
  const directory = e2eOnCosmos ? await cosmosDirectoryForTests(clock) : new EmbeddedTenantDirectory(dir, keys, clock);
  const tenants = new TenantService({ directory, keys, clock, tokenTtlSeconds: 3600, passwordLogN: 14 });
  const records = new RecordService(tenants, clock);
  const backups = new BackupService({
    stores: tenants.tenantStores,
    tenants,
    directory,
    keys,
    clock,
    records,
    ...(targets ? { targets } : {}),
  });
  await tenants.createTenant(op, { id: tenant, name: tenant, admin: { email: 'a@a.test', password: PW } }, req);
  const admin = await tenants.authenticate(
    tenant,
    `Bearer ${(await tenants.login({ tenantId: tenant, email: 'a@a.test', password: PW })).access_token}`,
  );
  await records.defineType(admin, { type: 'doc', schema: { type: 'object' } }, req);
  return {
    clock,
    tenants,
    records,
    backups,
    admin,
    async dispose() {
      await tenants.close();
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
}

describe('backups: incremental, verifiable, restorable to any instant', () => {
  let clock: Clock & { t: number };
  let tenants: TenantService;
  let records: RecordService;
  let backups: BackupService;
  let admin: UserPrincipal;

  let w: World;
  beforeEach(async () => {
    w = await world('acme', '2026-11-20T10:00:00Z');
    ({ clock, tenants, records, backups, admin } = w);
  });
  afterEach(async () => {
    await w.dispose();
  });

  async function exportOf(tenant: string, asOf?: Date, who?: UserPrincipal): Promise<unknown[]> {
    const p = who ?? admin;
    const out: unknown[] = [];
    for await (const l of records.exportRecords({ ...p, tenantId: tenant }, { asOf })) {
      const r = JSON.parse(l);
      out.push({
        id: r.id,
        type: r.type,
        version: r.version,
        data: r.data,
        createdAt: r.createdAt,
        updatedAt: r.updatedAt,
        updatedBy: r.updatedBy,
      });
    }
    return out;
  }

  async function principalIn(tenant: string): Promise<UserPrincipal> {
    return tenants.authenticate(
      tenant,
      `Bearer ${(await tenants.login({ tenantId: tenant, email: 'a@a.test', password: PW })).access_token}`,
    );
  }

  it('ships only new commits on each run; the chain verifies; a restore equals the source export and logins work', async () => {
    const target = new MemoryTarget('own-cloud');
    for (let i = 0; i < 5; i++) {
      clock.t += 1000;
      await records.createRecord(admin, { type: 'doc', data: { n: i } }, req);
    }
    const first = await backups.backupTenant('acme', target);
    expect(first.ok).toBe(true);
    expect(first.commits).toBeGreaterThanOrEqual(7); // tenant + admin + type + 5 records
    clock.t += 1000;
    await records.createRecord(admin, { type: 'doc', data: { n: 99 } }, req);
    const second = await backups.backupTenant('acme', target);
    expect(second).toMatchObject({ ok: true, commits: 1, segments: 1 });
    expect((await backups.backupTenant('acme', target)).commits).toBe(0);
    const v = await backups.verify('acme', target);
    expect(v).toMatchObject({ ok: true, manifests: 2, commits: first.commits + 1, problems: [] });
    // nothing readable on the target
    for (const [, bytes] of target.objects) expect(Buffer.from(bytes).includes('"n":99')).toBe(false);
    const coveredUntil = clock.now().toISOString();
    clock.t += 1000;
    // "Now" is past what the tier covers (its last run): refused unless a partial restore is accepted.
    await expect(backups.restore(op, { tenant: 'acme', target, asOf: clock.now(), into: 'acme-copy' }, req)).rejects.toMatchObject({
      code: 'unprocessable',
      message: expect.stringContaining(`covers the log only up to ${coveredUntil}`),
    });
    expect(await tenants.directory.getMeta('acme-copy')).toBeUndefined();
    const restored = await backups.restore(
      op,
      { tenant: 'acme', target, asOf: clock.now(), into: 'acme-copy' },
      { ...req, acceptPartial: true },
    );
    expect(restored).toMatchObject({
      commits: first.commits + 1,
      restoredUntil: coveredUntil,
      coveredUntil,
      partial: true,
      missingFiles: [],
    });
    const copyAdmin = await principalIn('acme-copy');
    expect(await exportOf('acme-copy', undefined, copyAdmin)).toEqual(await exportOf('acme'));
  });

  it('restores to an instant between two events: exactly the state of that instant', async () => {
    const target = new MemoryTarget('azure');
    clock.t += 1000;
    const c = await records.createRecord(admin, { type: 'doc', data: { city: 'Brno' } }, req);
    clock.t += 1000;
    await records.patchRecord(admin, { type: 'doc', id: c.record.id, patch: { city: 'Praha' }, ifMatch: 1 }, req);
    const between = new Date(clock.t + 500);
    clock.t += 1000;
    await records.patchRecord(admin, { type: 'doc', id: c.record.id, patch: { city: 'Ostrava' }, ifMatch: 2 }, req);
    await backups.backupTenant('acme', target, { maxCommitsPerSegment: 2 });
    await backups.restore(op, { tenant: 'acme', target, asOf: between, into: 'acme-then' }, req);
    const p = await principalIn('acme-then');
    const r = await records.getRecord(p, { type: 'doc', id: c.record.id });
    expect(r).toMatchObject({ version: 2, data: { city: 'Praha' } });
    expect(await exportOf('acme-then', undefined, p)).toEqual(await exportOf('acme', between));
  });

  it('a run that dies midway leaves no gap: the next run continues from the last manifest', async () => {
    const target = new MemoryTarget('eu-cloud');
    for (let i = 0; i < 6; i++) {
      clock.t += 1000;
      await records.createRecord(admin, { type: 'doc', data: { n: i } }, req);
    }
    let manifests = 0;
    target.failPut = (key) => key.includes('/manifests/') && ++manifests === 2; // second manifest write fails
    const broken = await backups.backupTenant('acme', target, { maxCommitsPerSegment: 3 });
    expect(broken.ok).toBe(false);
    expect(broken.error).toContain('target down');
    target.failPut = undefined;
    const resumed = await backups.backupTenant('acme', target, { maxCommitsPerSegment: 3 });
    expect(resumed.ok).toBe(true);
    const v = await backups.verify('acme', target);
    expect(v.ok).toBe(true);
    expect(v.commits).toBe(broken.commits + resumed.commits);
    await backups.restore(op, { tenant: 'acme', target, asOf: clock.now(), into: 'acme-resumed' }, req);
    expect(await exportOf('acme-resumed', undefined, await principalIn('acme-resumed'))).toEqual(await exportOf('acme'));
  });

  it('tampering with any segment or manifest is detected by verify and refused by restore', async () => {
    const target = new MemoryTarget('own-cloud');
    // Three runs (each with new commits writes at least one manifest): a middle one exists
    // however the store's feed pages split the commits (on Cosmos one run can be one manifest).
    for (let i = 0; i < 4; i++) {
      clock.t += 1000;
      await records.createRecord(admin, { type: 'doc', data: { n: i } }, req);
      if (i > 0) await backups.backupTenant('acme', target, { maxCommitsPerSegment: 3 });
    }
    const keys = [...target.objects.keys()].sort();
    const seg = keys.find((k) => k.includes('/segments/'))!;
    const man = keys.filter((k) => k.includes('/manifests/'));
    // A middle manifest needs one after it (without it the chain is a shorter valid one).
    expect(man.length, 'manifests').toBeGreaterThanOrEqual(3);
    const middle = man[Math.floor(man.length / 2)]!;
    const cases: Array<[string, () => void]> = [
      ['flipped segment byte', () => (target.objects.get(seg)![10]! ^= 1)],
      [
        'altered manifest',
        () => {
          // Whatever count the first manifest holds (a segment may hold fewer than 3 commits,
          // e.g. on Cosmos where the feed pages by partition range), it is changed.
          const text = Buffer.from(target.objects.get(man[0]!)!).toString();
          const altered = text.replace(/"commits": (\d+)/, (_m, n: string) => `"commits": ${Number(n) + 1}`);
          expect(altered).not.toBe(text);
          target.objects.set(man[0]!, Buffer.from(altered));
        },
      ],
      ['missing middle manifest', () => target.objects.delete(middle)],
      ['missing segment', () => target.objects.delete(seg)],
    ];
    for (const [what, damage] of cases) {
      const saved = new Map([...target.objects].map(([k, v]) => [k, Uint8Array.from(v)]));
      damage();
      const v = await backups.verify('acme', target);
      expect(v.ok, what).toBe(false);
      await expect(backups.restore(op, { tenant: 'acme', target, asOf: clock.now(), into: 'acme-bad' }, req), what).rejects.toMatchObject({
        code: 'unprocessable',
      });
      expect(await tenants.directory.getMeta('acme-bad'), what).toBeUndefined();
      target.objects.clear();
      for (const [k, v2] of saved) target.objects.set(k, v2);
    }
    expect((await backups.verify('acme', target)).ok).toBe(true);
  });
});

describe('backups against the real targets (s3rver for S3 tiers, Azurite for the Azure tier)', () => {
  it('backs up, verifies and restores through S3BackupTarget and BlobBackupTarget', async () => {
    const { startS3 } = await import('../support/s3');
    const { startAzurite } = await import('../support/azurite');
    const { S3BackupTarget } = await import('../../shared/adapters/backup/s3-backup-target');
    const { BlobBackupTarget } = await import('../../shared/adapters/backup/blob-backup-target');
    const s3 = await startS3();
    const az = await startAzurite();
    const w = await world('real', '2026-11-20T10:00:00Z');
    const { clock, tenants, records, backups, admin } = w;
    try {
      const blob = BlobBackupTarget.fromConnectionString(az.connectionString, 'backups', { name: 'azure' });
      await blob.createContainerIfNotExists();
      const targets = [
        S3BackupTarget.create({
          name: 'eu-cloud',
          bucket: s3.bucket,
          endpoint: s3.endpoint,
          region: s3.region,
          forcePathStyle: true,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        }),
        blob,
      ];
      for (let i = 0; i < 3; i++) {
        clock.t += 1000;
        await records.createRecord(admin, { type: 'doc', data: { n: i } }, req);
      }
      for (const t of targets) {
        const r = await backups.backupTenant('real', t);
        expect(r, t.name).toMatchObject({ ok: true, segments: 1 });
        expect((await backups.verify('real', t)).ok).toBe(true);
        const into = `real-from-${t.name}`;
        await backups.restore(op, { tenant: 'real', target: t, asOf: clock.now(), into }, req);
        const p = await tenants.authenticate(
          into,
          `Bearer ${(await tenants.login({ tenantId: into, email: 'a@a.test', password: PW })).access_token}`,
        );
        expect(
          (await records.list(p, { type: 'doc', filters: [], limit: 10 })).items
            .map((x) => x.data)
            .sort((a, b) => (a.n as number) - (b.n as number)),
        ).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
      }
    } finally {
      await w.dispose();
      await s3.close();
      await az.close();
    }
  }, 60_000);
});

describe('chains: daily full runs and retention', () => {
  let clock: Clock & { t: number };
  let tenants: TenantService;
  let records: RecordService;
  let backups: BackupService;
  let admin: UserPrincipal;
  const DAY = 86_400_000;

  let w: World;
  beforeEach(async () => {
    w = await world('acme', '2026-01-01T10:00:00Z');
    ({ clock, tenants, records, backups, admin } = w);
  });
  afterEach(async () => {
    await w.dispose();
  });

  it('a full run starts a new complete chain that restores every earlier instant; increments then extend it', async () => {
    const target = new MemoryTarget('own-cloud');
    const c = await records.createRecord(admin, { type: 'doc', data: { v: 1 } }, req);
    const early = new Date(clock.t);
    expect((await backups.backupTenant('acme', target)).chain).toBe(1);
    clock.t += 1000;
    await records.patchRecord(admin, { type: 'doc', id: c.record.id, patch: { v: 2 }, ifMatch: 1 }, req);
    const full = await backups.backupTenant('acme', target, { full: true });
    expect(full).toMatchObject({ ok: true, chain: 2 });
    expect((await backups.chains('acme', target)).map((x) => [x.chain, x.complete])).toEqual([
      [1, true],
      [2, true],
    ]);
    clock.t += 1000;
    await records.patchRecord(admin, { type: 'doc', id: c.record.id, patch: { v: 3 }, ifMatch: 2 }, req);
    expect(await backups.backupTenant('acme', target)).toMatchObject({ chain: 2, commits: 1 });
    await backups.restore(op, { tenant: 'acme', target, asOf: early, into: 'acme-early' }, req);
    const p = await tenants.authenticate(
      'acme-early',
      `Bearer ${(await tenants.login({ tenantId: 'acme-early', email: 'a@a.test', password: PW })).access_token}`,
    );
    expect((await records.getRecord(p, { type: 'doc', id: c.record.id })).data).toEqual({ v: 1 });
  });

  it('an interrupted full run leaves the previous chain in charge; the next full run finishes it', async () => {
    const target = new MemoryTarget('eu-cloud');
    for (let i = 0; i < 5; i++) await records.createRecord(admin, { type: 'doc', data: { i } }, req);
    await backups.backupTenant('acme', target);
    target.failPut = (key) => key.includes('/chains/000002/') && key.endsWith('complete.json');
    expect((await backups.backupTenant('acme', target, { full: true, maxCommitsPerSegment: 3 })).ok).toBe(false);
    expect((await backups.chains('acme', target)).map((x) => [x.chain, x.complete])).toEqual([
      [1, true],
      [2, false],
    ]);
    expect((await backups.verify('acme', target)).ok).toBe(true);
    target.failPut = undefined;
    expect(await backups.backupTenant('acme', target, { full: true, maxCommitsPerSegment: 3 })).toMatchObject({ ok: true, chain: 2 });
    expect((await backups.chains('acme', target)).every((x) => x.complete)).toBe(true);
  });

  it('retention keeps daily, weekly and monthly chains and the newest; deletes the rest', async () => {
    const target = new MemoryTarget('azure');
    // one full run a day for 100 days
    for (let d = 0; d < 100; d++) {
      await records.createRecord(admin, { type: 'doc', data: { d } }, req);
      expect((await backups.backupTenant('acme', target, { full: d > 0 })).ok).toBe(true);
      clock.t += DAY;
    }
    const before = (await backups.chains('acme', target)).length;
    expect(before).toBe(100);
    const r = await backups.applyRetention('acme', target, { daily: 14, weekly: 8, monthly: 12 });
    expect(r.deleted.length).toBeGreaterThan(60);
    const left = await backups.chains('acme', target);
    expect(left.map((x) => x.chain)).toEqual(r.kept);
    expect(left.at(-1)!.chain).toBe(100);
    // the last 14 days are all there
    for (let n = 87; n <= 100; n++) expect(r.kept).toContain(n);
    // older ones are thinned to about one a week / month
    expect(r.kept.filter((n) => n < 87).length).toBeLessThan(12);
    expect((await backups.verify('acme', target)).ok).toBe(true);
    await backups.restore(op, { tenant: 'acme', target, asOf: new Date(Date.parse('2026-01-05T12:00:00Z')), into: 'acme-jan' }, req);
    const p = await tenants.authenticate(
      'acme-jan',
      `Bearer ${(await tenants.login({ tenantId: 'acme-jan', email: 'a@a.test', password: PW })).access_token}`,
    );
    expect((await records.list(p, { type: 'doc', filters: [], limit: 500 })).items).toHaveLength(5);
  }, 60_000);
});

describe('tiers are independent', () => {
  it("a tier that cannot store a drill's record reports the drill as failed instead of throwing", async () => {
    const target = new MemoryTarget('own-cloud');
    const w = await world('acme', '2026-11-20T10:00:00Z', [target]);
    try {
      await w.records.createRecord(w.admin, { type: 'doc', data: { n: 1 } }, req);
      expect((await w.backups.backupAllTiers('acme')).every((r) => r.ok)).toBe(true);
      target.failPut = (key) => key.includes('/drills/');
      const r = await w.backups.drill(op, { tenant: 'acme', target }, req);
      expect(r).toMatchObject({
        ok: false,
        tier: 'own-cloud',
        error: expect.stringMatching(/^The drill succeeded, but its record could not be stored on own-cloud: target down/),
      });
      // Nothing of the scratch tenant is left behind.
      expect((await w.tenants.listTenants()).map((t) => t.id)).toEqual(['acme']);
    } finally {
      await w.dispose();
    }
  });

  it("a tier's error text is reported with the usual carriers of secrets masked (a SAS signature in an SDK's URL)", async () => {
    const target = new MemoryTarget('azure');
    const w = await world('acme', '2026-11-20T10:00:00Z', [target]);
    try {
      target.failPut = () => true;
      const put = target.put.bind(target);
      target.put = async (key: string, body: Uint8Array) => {
        if (target.failPut?.(key)) throw new Error(`PUT https://acct.blob.core.windows.net/b/${key}?sv=2024&sig=SECRETSIG123 failed`);
        return put(key, body);
      };
      const [r] = await w.backups.backupAllTiers('acme');
      expect(r).toMatchObject({ ok: false, error: expect.stringContaining('sig=[redacted]') });
      expect(r!.error).not.toContain('SECRETSIG123');
      const [d] = await w.backups.drillTenants(op, { tenants: ['acme'] }, req);
      expect(d!.result.ok).toBe(false);
      expect(d!.result.error).not.toContain('SECRETSIG123');
    } finally {
      await w.dispose();
    }
  });

  it('one target being down never blocks the others; the failure is reported and the next run catches up', async () => {
    const down = new MemoryTarget('eu-cloud');
    const up = new MemoryTarget('azure');
    down.failPut = () => true;
    const w = await world('acme', '2026-11-20T10:00:00Z', [down, up]);
    const { backups } = w;
    try {
      const r = await backups.backupAllTiers('acme');
      expect(r.find((x) => x.tier === 'azure')).toMatchObject({ ok: true });
      expect(r.find((x) => x.tier === 'eu-cloud')).toMatchObject({ ok: false, error: expect.stringContaining('target down') });
      const status = await backups.status('acme');
      expect(status.find((s) => s.tier === 'eu-cloud')).toMatchObject({ lastBackup: null });
      // Progress counts tiers as their results come in, failed ones too: 0 of 2 at once, then 1, then 2.
      const seen: unknown[] = [];
      await backups.backupAllTiers('acme', { onProgress: (p) => seen.push(p) });
      expect(seen).toEqual([0, 1, 2].map((done) => ({ phase: 'tiers', done, total: 2 })));
      const drilled: unknown[] = [];
      const results: string[] = [];
      await backups.drillTenants(
        op,
        { tenants: ['acme'] },
        { ...req, onProgress: (p) => drilled.push(p), onResult: (r) => results.push(r.tier) },
      );
      expect(drilled).toEqual([0, 1, 2].map((done) => ({ phase: 'tiers', done, total: 2 })));
      expect(results.sort()).toEqual(['azure', 'eu-cloud']);
      down.failPut = undefined;
      const again = await backups.backupAllTiers('acme');
      expect(again.every((x) => x.ok)).toBe(true);
      expect((await backups.verify('acme', down)).ok).toBe(true);
    } finally {
      await w.dispose();
    }
  });
});

describe('restore drills of a backup that has not changed', () => {
  it('the drill timer restores a proven backup again only when it changed, its chain no longer verifies, or the proof is a period old; a manual drill always restores', async () => {
    const target = new MemoryTarget('own-cloud');
    const w = await world('acme', '2026-11-20T10:00:00Z', [target]);
    const day = 86_400_000;
    const drillRecords = () => [...target.objects.keys()].filter((k) => k.includes('/drills/')).length;
    const timerRun = async () => (await w.backups.drillTenants(op, { tenants: ['acme'], reproofAfterMs: 7 * day }, req))[0]!.result;
    try {
      await w.records.createRecord(w.admin, { type: 'doc', data: { n: 1 } }, req);
      expect((await w.backups.backupAllTiers('acme')).every((r) => r.ok)).toBe(true);
      // Nothing proven yet: restored.
      const first = await timerRun();
      expect(first).toMatchObject({
        ok: true,
        outcome: 'ok',
        commits: expect.any(Number),
        manifest: expect.stringMatching(/^\d+\/1\/[0-9a-f]{64}$/),
      });
      expect(first.provenAt).toBeUndefined();
      expect(drillRecords()).toBe(1);
      // A day later, nothing backed up since: the proof stands. No restore, no scratch tenant, no new record.
      w.clock.t += day;
      const second = await timerRun();
      expect(second).toMatchObject({
        ok: true,
        outcome: 'ok',
        provenAt: first.at,
        manifest: first.manifest,
        restoredHash: first.restoredHash,
      });
      expect(second.at).not.toBe(first.at);
      expect(drillRecords()).toBe(1);
      expect((await w.tenants.listTenants()).map((t) => t.id)).toEqual(['acme']);
      // A manual drill always restores.
      const manual = await w.backups.drill(op, { tenant: 'acme', target }, req);
      expect(manual).toMatchObject({ ok: true, manifest: first.manifest });
      expect(manual.provenAt).toBeUndefined();
      expect(drillRecords()).toBe(2);
      // A change backed up: a new manifest, restored.
      await w.records.createRecord(w.admin, { type: 'doc', data: { n: 2 } }, req);
      expect((await w.backups.backupAllTiers('acme')).every((r) => r.ok)).toBe(true);
      w.clock.t += day;
      const third = await timerRun();
      expect(third.provenAt).toBeUndefined();
      expect(third).toMatchObject({ ok: true, manifest: expect.stringMatching(/^\d+\/2\/[0-9a-f]{64}$/) });
      expect(third.commits).toBeGreaterThan(first.commits!);
      expect(drillRecords()).toBe(3);
      // A segment damaged on the tier: the chain no longer verifies, so the timer restores, and the drill fails.
      const segment = [...target.objects.keys()]
        .filter((k) => k.includes('/segments/'))
        .sort()
        .at(-1)!;
      const good = target.objects.get(segment)!;
      const bad = Uint8Array.from(good);
      bad[bad.length - 1]! ^= 1;
      target.objects.set(segment, bad);
      w.clock.t += day;
      const damaged = await timerRun();
      expect(damaged).toMatchObject({ ok: false, outcome: 'failed' });
      expect(damaged.provenAt).toBeUndefined();
      expect(drillRecords()).toBe(4);
      // Repaired: the last drill failed, so the next run restores again (and proves it).
      target.objects.set(segment, good);
      w.clock.t += 60_000;
      const repaired = await timerRun();
      expect(repaired).toMatchObject({ ok: true, manifest: third.manifest });
      expect(repaired.provenAt).toBeUndefined();
      expect(drillRecords()).toBe(5);
      // Unchanged, proven 6 days ago: stands; 7 days: restored again.
      w.clock.t += 6 * day;
      expect((await timerRun()).provenAt).toBe(repaired.at);
      w.clock.t += day;
      const reproved = await timerRun();
      expect(reproved).toMatchObject({ ok: true, manifest: third.manifest });
      expect(reproved.provenAt).toBeUndefined();
      expect(drillRecords()).toBe(6);
    } finally {
      await w.dispose();
    }
  });
});

describe('the daily full run and an idle tenant', () => {
  it('leaves a chain that is only the base of an unchanged log as it is until the base is a period old; anything else starts a new chain', async () => {
    const target = new MemoryTarget('own-cloud');
    const w = await world('acme', '2026-11-20T10:00:00Z', [target]);
    const day = 86_400_000;
    const fullRun = async () =>
      (
        await w.backups.backupTenants(['acme'], {
          full: true,
          rebaseAfterMs: 7 * day,
          after: async () => ({ retention: 'applied' }),
        })
      )[0]!.result;
    const chains = async () => (await w.backups.chains('acme', target)).map((c) => c.chain);
    try {
      await w.records.createRecord(w.admin, { type: 'doc', data: { n: 1 } }, req);
      // No chain yet: a full one, retention after it.
      const first = await fullRun();
      expect(first).toMatchObject({ ok: true, retention: 'applied' });
      expect(first.unchanged).toBeUndefined();
      const [base] = await chains();
      expect(first.chain).toBe(base);
      // A day later, nothing changed: left as it is (no new chain, no retention run).
      w.clock.t += day;
      const idle = await fullRun();
      expect(idle).toMatchObject({ ok: true, unchanged: true, chain: base });
      expect(idle.retention).toBeUndefined();
      expect(await chains()).toEqual([base]);
      // The incremental runs of an idle tenant change nothing of that.
      expect((await w.backups.backupTenants(['acme']))[0]!.result).toMatchObject({ unchanged: true });
      expect(await fullRun()).toMatchObject({ unchanged: true, chain: base });
      // A change, not backed up yet: the log moved, a new chain.
      await w.records.createRecord(w.admin, { type: 'doc', data: { n: 2 } }, req);
      w.clock.t += day;
      const moved = await fullRun();
      expect(moved).toMatchObject({ ok: true, retention: 'applied' });
      expect(moved.chain).toBeGreaterThan(base!);
      // A change an incremental run backed up: the chain holds more than its base, so it is consolidated.
      await w.records.createRecord(w.admin, { type: 'doc', data: { n: 3 } }, req);
      expect((await w.backups.backupTenants(['acme']))[0]!.result).toMatchObject({ ok: true, segments: 1 });
      w.clock.t += day;
      const consolidated = await fullRun();
      expect(consolidated.unchanged).toBeUndefined();
      expect(consolidated.chain).toBeGreaterThan(moved.chain!);
      // Idle again: left as it is for 6 days, a new chain on the 7th.
      w.clock.t += 6 * day;
      expect(await fullRun()).toMatchObject({ unchanged: true, chain: consolidated.chain });
      w.clock.t += day;
      const rebased = await fullRun();
      expect(rebased).toMatchObject({ ok: true, retention: 'applied' });
      expect(rebased.chain).toBeGreaterThan(consolidated.chain!);
      expect((await w.backups.verify('acme', target)).ok).toBe(true);
      // Without a period (0, or a manual full backup) a full run always starts a new chain.
      expect((await w.backups.backupAllTiers('acme', { full: true }))[0]!.chain).toBeGreaterThan(rebased.chain!);
    } finally {
      await w.dispose();
    }
  });
});
