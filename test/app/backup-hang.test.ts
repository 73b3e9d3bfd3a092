/**
 * A backup tier that accepts connections and never answers (a real TCP server, used as an S3
 * tier through the real AWS SDK) must not stop the other tiers or tenants: every call on it
 * times out, each tenant's run on it ends at the tier deadline, status shows it failed, and
 * the other tiers (real folder targets) back up, report and drill as usual.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobBackupTarget } from '../../shared/adapters/backup/blob-backup-target';
import { FolderBackupTarget } from '../../shared/adapters/backup/folder-backup-target';
import { S3BackupTarget } from '../../shared/adapters/backup/s3-backup-target';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { BackupService } from '../../shared/app/backup';
import { RecordService } from '../../shared/app/records';
import { TenantService } from '../../shared/app/service';
import { startHangingServer, type HangingServer } from '../support/tcp-faults';

const PW = 'a long enough password';
const req = { correlationId: 'c' };
const op = { id: 'operator-key:test' };

let hang: HangingServer;
let dir: string;
let tenants: TenantService;
let backups: BackupService;

function hangingS3(name: string, idleTimeoutMs = 60_000): S3BackupTarget {
  return S3BackupTarget.create({
    name,
    bucket: 'backups',
    endpoint: hang.endpoint,
    region: 'eu-central-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    idleTimeoutMs,
    connectTimeoutMs: 1000,
  });
}

beforeAll(async () => {
  hang = await startHangingServer();
  dir = mkdtempSync(join(tmpdir(), 'bk-hang-'));
  const clock = { now: () => new Date() };
  const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
  const directory = new EmbeddedTenantDirectory(dir, keys, clock);
  tenants = new TenantService({ directory, keys, clock, tokenTtlSeconds: 3600, passwordLogN: 14 });
  const records = new RecordService(tenants, clock);
  // The hanging tier's own request timeout is longer than the deadline: the deadline must act.
  const targets = [
    new FolderBackupTarget('own-cloud', join(dir, 'tier-own')),
    hangingS3('eu-cloud'),
    new FolderBackupTarget('azure', join(dir, 'tier-azure')),
  ];
  backups = new BackupService({
    stores: tenants.tenantStores,
    tenants,
    directory,
    keys,
    clock,
    records,
    targets,
    limits: { tierDeadlineMs: 1500, concurrency: 1, statusTimeoutMs: 1000 },
    exclusiveStore: true,
  });
  for (const id of ['alpha', 'beta', 'gamma']) {
    await tenants.createTenant(op, { id, name: id, admin: { email: 'a@a.test', password: PW } }, req);
    const admin = await tenants.authenticate(
      id,
      `Bearer ${(await tenants.login({ tenantId: id, email: 'a@a.test', password: PW })).access_token}`,
    );
    await records.defineType(admin, { type: 'doc', schema: { type: 'object' } }, req);
    await records.createRecord(admin, { type: 'doc', data: { n: 1 } }, req);
  }
});

afterAll(async () => {
  await tenants?.close();
  await hang?.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

describe('a tier that accepts connections and never answers', () => {
  it('each adapter call on it fails by its own timeout (S3 idle timeout, Blob try timeout)', async () => {
    const s3 = hangingS3('eu-cloud', 300);
    await expect(s3.get('tenants/x/probe.json')).rejects.toMatchObject({ name: 'BackupTargetError' });
    const blob = BlobBackupTarget.fromConnectionString(
      `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${Buffer.alloc(32).toString('base64')};BlobEndpoint=${hang.endpoint}/devstoreaccount1;`,
      'backups',
      { name: 'azure', timeouts: { tryTimeoutMs: 300, maxTries: 1 } },
    );
    await expect(blob.get('tenants/x/probe.json')).rejects.toMatchObject({ name: 'BackupTargetError' });
    const folder = new FolderBackupTarget('own-cloud', join(dir, 'tier-abort'));
    await expect(folder.put('k', new Uint8Array(1), { abortSignal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(hang.connections()).toBeGreaterThanOrEqual(2);
  });

  it('every other tier and tenant is backed up; the hung tier fails at its deadline, then is skipped for the rest of the run', async () => {
    const seen: string[] = [];
    const results = await backups.backupTenants(['alpha', 'beta', 'gamma'], { onResult: (r) => seen.push(`${r.tenant}/${r.tier}`) });
    expect(results).toHaveLength(9);
    expect(seen).toHaveLength(9);
    for (const r of results.filter((x) => x.tier !== 'eu-cloud'))
      expect(r.result, `${r.tenant}/${r.tier}`).toMatchObject({ ok: true, segments: 1 });
    const hung = results.filter((x) => x.tier === 'eu-cloud').map((x) => x.result);
    for (const r of hung) expect(r.ok).toBe(false);
    expect(hung[0]!.error).toMatch(/^TimeoutError: backup of alpha on eu-cloud did not finish within 1\.5 s/);
    expect(hung.slice(1).every((r) => r.error?.startsWith('Skipped: eu-cloud did not answer earlier in this run'))).toBe(true);
    for (const t of ['own-cloud', 'azure']) expect((await backups.verify('gamma', backups.target(t))).ok).toBe(true);
  });

  it('POST-style single-tenant runs, status and drills answer; the hung tier is reported failed', async () => {
    const one = await backups.backupAllTiers('beta');
    expect(one.map((r) => [r.tier, r.ok])).toEqual([
      ['own-cloud', true],
      ['eu-cloud', false],
      ['azure', true],
    ]);
    // The abandoned run of beta on eu-cloud may still hold its request; a new one is never started beside it.
    expect(one[1]!.error).toMatch(/TimeoutError|still running/);
    const status = await backups.status('alpha');
    expect(status.find((s) => s.tier === 'eu-cloud')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^TimeoutError: Status of eu-cloud did not finish within 1 s/),
    });
    for (const t of ['own-cloud', 'azure'])
      expect(status.find((s) => s.tier === t)).toMatchObject({ ok: true, lastBackup: { manifests: 1 }, lagCommits: 0 });
    const drills = await backups.drillTenants(op, { tenants: ['alpha'] }, req);
    expect(drills.map((d) => [d.tier, d.result.outcome])).toEqual([
      ['own-cloud', 'ok'],
      ['eu-cloud', 'failed'],
      ['azure', 'ok'],
    ]);
  });
});
