/**
 * Cold reads after a restore or a rebuild (issue 15, "Cold reads"): a backup carries the log
 * only, no snapshots, so the restore must leave every long record with a snapshot near its head
 * (as the command path keeps one every SNAPSHOT_EVERY versions); otherwise the first read of a
 * long record replays its whole history. Likewise a rebuild of a log appended in bulk. Counted
 * in commits read from the log by the first read, never in time.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FolderBackupTarget } from '../../shared/adapters/backup/folder-backup-target';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { BackupService } from '../../shared/app/backup';
import { loadRecord, SNAPSHOT_EVERY } from '../../shared/app/record-reader';
import { RecordService } from '../../shared/app/records';
import { TenantService, type UserPrincipal } from '../../shared/app/service';
import type { Author } from '../../shared/domain/events';
import { decideRecord, evolveRecord, type RecordState, recordStreamId } from '../../shared/domain/records';
import type { EventStore } from '../../shared/ports/event-store';
import { CountingEventStore, foldFromLog, recordId } from '../projections/support';

const PW = 'a long enough password';
const req = { correlationId: 'c' };
const op = { id: 'operator-key:test' };
const loader: Author = { kind: 'system', id: 'test-loader' };

interface World {
  dir: string;
  tenants: TenantService;
  records: RecordService;
  backups: BackupService;
  admin: UserPrincipal;
}

async function world(): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'restore-snap-'));
  // Every reading 10 ms later than the one before.
  let t = Date.parse('2026-11-20T10:00:00Z');
  const clock = {
    now: () => {
      t += 10;
      return new Date(t);
    },
  };
  const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
  const directory = new EmbeddedTenantDirectory(join(dir, 'data'), keys, clock);
  const tenants = new TenantService({ directory, keys, clock, tokenTtlSeconds: 3600, passwordLogN: 14 });
  const records = new RecordService(tenants, clock);
  const backups = new BackupService({ stores: tenants.tenantStores, tenants, directory, keys, clock, records });
  await tenants.createTenant(op, { id: 'acme', name: 'acme', admin: { email: 'a@a.test', password: PW } }, req);
  const admin = await principalIn(tenants, 'acme');
  await records.defineType(admin, { type: 'doc', schema: { type: 'object' } }, req);
  return { dir, tenants, records, backups, admin };
}

async function principalIn(tenants: TenantService, tenant: string): Promise<UserPrincipal> {
  return tenants.authenticate(
    tenant,
    `Bearer ${(await tenants.login({ tenantId: tenant, email: 'a@a.test', password: PW })).access_token}`,
  );
}

/** `n` commits of one record appended straight to the log (as an import or a bulk load does: no snapshots). */
async function appendRecord(events: EventStore, id: string, n: number): Promise<void> {
  const streamId = recordStreamId('doc', id);
  let state: RecordState | undefined;
  for (let v = 1; v <= n; v++) {
    const cmd =
      v === 1
        ? { kind: 'create' as const, type: 'doc', id, data: { n: 0, tags: [] as string[] }, schemaCheck: { outcome: 'valid' as const } }
        : { kind: 'patch' as const, patch: { n: v, [`k${v % 5}`]: v }, expectedVersion: v - 1, schemaCheck: { outcome: 'valid' as const } };
    const out = decideRecord(state, cmd);
    const r = await events.append(streamId, v - 1, out, { author: loader, correlationId: randomUUID() });
    state = evolveRecord(state, { version: r.version, timestamp: r.timestamp, author: loader, events: out });
  }
}

/** What the first read of a record costs: commits read from the log, and the state it returns (checked against a full fold). */
async function firstRead(events: EventStore, streamId: string): Promise<{ replayed: number; snapshotVersion: number; version: number }> {
  const snap = await events.readSnapshot(streamId);
  const counting = new CountingEventStore(events);
  const state = await loadRecord(counting, streamId);
  expect(state).toEqual(await foldFromLog(events, streamId));
  return { replayed: counting.replayed, snapshotVersion: snap?.version ?? 0, version: state?.version ?? 0 };
}

describe('cold reads: a restore or a rebuild leaves long records with a current snapshot', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });
  afterEach(async () => {
    await w.tenants.close();
    rmSync(w.dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  it('a record restored from a backup has its snapshot: the first read replays fewer than SNAPSHOT_EVERY commits', async () => {
    const { tenants, records, backups, admin } = w;
    // One record written through commands (its source has snapshots; the backup does not carry them)…
    const viaCommands = await records.createRecord(admin, { type: 'doc', data: { n: 0 } }, req);
    const commandsN = 2 * SNAPSHOT_EVERY + 23;
    for (let v = 2; v <= commandsN; v++)
      await records.patchRecord(admin, { type: 'doc', id: viaCommands.record.id, patch: { n: v }, ifMatch: v - 1 }, req);
    // …one appended in bulk (no snapshot anywhere) that fits in one projection page, and a longer one.
    const { events } = await tenants.stores('acme');
    const short = recordId(1);
    const long = recordId(2);
    await appendRecord(events, short, 6 * SNAPSHOT_EVERY + 7);
    await appendRecord(events, long, 1_234);
    const target = new FolderBackupTarget('own-cloud', join(w.dir, 'target'));
    expect((await backups.backupTenant('acme', target)).ok).toBe(true);
    await backups.restore(
      op,
      { tenant: 'acme', target, asOf: new Date(Date.now() + 3_600_000), into: 'acme-copy' },
      {
        ...req,
        acceptPartial: true,
      },
    );

    const copy = (await tenants.stores('acme-copy')).events;
    for (const [id, n] of [
      [viaCommands.record.id, commandsN],
      [short, 6 * SNAPSHOT_EVERY + 7],
      [long, 1_234],
    ] as const) {
      const streamId = recordStreamId('doc', id);
      const r = await firstRead(copy, streamId);
      expect(r.version, id).toBe(n);
      expect(r.snapshotVersion, `${id}: snapshot after the restore`).toBeGreaterThan(n - SNAPSHOT_EVERY);
      expect(r.replayed, `${id}: commits the first read after the restore replayed`).toBeLessThan(SNAPSHOT_EVERY);
    }
    // And what the restored tenant serves is the source's record.
    const copyAdmin = await principalIn(tenants, 'acme-copy');
    expect(await records.getRecord(copyAdmin, { type: 'doc', id: long })).toEqual(
      await records.getRecord(admin, { type: 'doc', id: long }),
    );
  });

  it('a rebuild of the projections leaves a snapshot on a record appended in bulk without one', async () => {
    const { tenants, records } = w;
    const { events } = await tenants.stores('acme');
    const id = recordId(3);
    const n = 4 * SNAPSHOT_EVERY + 11;
    await appendRecord(events, id, n);
    const streamId = recordStreamId('doc', id);
    expect(await events.readSnapshot(streamId)).toBeUndefined();
    await records.rebuild('acme');
    const r = await firstRead(events, streamId);
    expect(r.version).toBe(n);
    expect(r.snapshotVersion).toBe(4 * SNAPSHOT_EVERY);
    expect(r.replayed).toBe(11);
    // A second rebuild writes the same snapshot versions again (no new rows, same state).
    await records.rebuild('acme');
    expect((await firstRead(events, streamId)).snapshotVersion).toBe(4 * SNAPSHOT_EVERY);
  });
});
