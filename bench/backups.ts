/**
 * Backups phase of `npm run bench`, in-process with the embedded defaults (no host, no HTTP):
 * EmbeddedTenantDirectory + LocalKeyProvider in a temp dir and a FolderBackupTarget in a temp
 * dir. One tenant gets 100,000 record commits (RecordCreated / RecordUpdated appended straight
 * to its EventStore, type `doc` defined through RecordService.defineType), then:
 *   - full backup (first BackupService.backupTenant run),
 *   - incremental backup after 1% more commits,
 *   - verify (the chain walk restore does first) and restore into a new tenant as of now,
 *   - a restore drill (restore into a scratch tenant + export hashes of both sides).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FolderBackupTarget } from '../shared/adapters/backup/folder-backup-target';
import { EmbeddedTenantDirectory } from '../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../shared/adapters/embedded/local-key-provider';
import { BackupService } from '../shared/app/backup';
import { runProjector } from '../shared/app/projector';
import { RecordService } from '../shared/app/records';
import { TenantService } from '../shared/app/service';
import type { Author } from '../shared/domain/events';
import { decideRecord, evolveRecord, recordStreamId, type RecordCommand, type RecordState } from '../shared/domain/records';
import type { EventStore } from '../shared/ports/event-store';
import { systemClock } from '../shared/ports/runtime';
import { type Metric, msSince, nowNs, withLoopStall } from './lib';

export const BACKUP_TYPE = 'doc';

export interface BackupBenchConfig {
  /** Records, each created then updated round-robin until `commits` record commits exist. */
  records: number;
  commits: number;
  /** Commits appended after the full backup, before the incremental one. */
  incrementalCommits: number;
}

export interface BackupBenchResult {
  cfg: BackupBenchConfig;
  buildMs: number;
  /** Projecting the source (list view) so the drill's source export sees the records; not a backup cost. */
  projectSourceMs: number;
  full: { ms: number; commits: number; segments: number; stallMs: number };
  incremental: { ms: number; commits: number; segments: number };
  /** Bytes on the target after both runs (segments + manifests). */
  targetBytes: number;
  verify: { ms: number; commits: number; manifests: number };
  restore: { ms: number; commits: number; importEndMs: number; stallMs: number };
  drill: { ms: number; ok: boolean; commits: number; error?: string };
}

const op = { id: 'operator-key:bench' };
const req = () => ({ correlationId: randomUUID() });
const loader: Author = { kind: 'system', id: 'bench-loader' };
const newRecordId = () => `r_${randomBytes(16).toString('base64url').slice(0, 22)}`;

/** Appends RecordCreated for every record, then one RecordUpdated per record per round, until `commits`. */
async function appendCommits(
  events: EventStore,
  ids: string[],
  states: Array<RecordState | undefined>,
  commits: number,
  start: number,
): Promise<void> {
  for (let k = 0; k < commits; k++) {
    const i = (start + k) % ids.length;
    const id = ids[i]!;
    const state = states[i];
    const cmd: RecordCommand = state
      ? {
          kind: 'patch',
          patch: { counter: state.version, status: state.version % 2 === 0 ? 'open' : 'closed' },
          expectedVersion: state.version,
          schemaCheck: { outcome: 'valid' },
        }
      : {
          kind: 'create',
          type: BACKUP_TYPE,
          id,
          data: {
            title: `bench record ${i}`,
            status: 'open',
            counter: 0,
            owner: { name: 'Bench Owner', email: 'owner@bench.test' },
            tags: ['bench', `batch-${i % 10}`],
          },
          schemaCheck: { outcome: 'valid' },
        };
    const out = decideRecord(state, cmd);
    const r = await events.append(recordStreamId(BACKUP_TYPE, id), state?.version ?? 0, out, {
      author: loader,
      correlationId: randomUUID(),
    });
    states[i] = evolveRecord(state, { version: r.version, timestamp: r.timestamp, author: loader, events: out });
  }
}

function folderBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) n += statSync(join(dir, f)).size;
  return n;
}

export async function benchBackups(tmp: string, cfg: BackupBenchConfig): Promise<BackupBenchResult> {
  const dataDir = join(tmp, 'backup-data');
  const targetDir = join(tmp, 'backup-target');
  const clock = systemClock;
  const keys = new LocalKeyProvider({ dir: join(dataDir, 'keys'), masterKey: randomBytes(32) });
  const directory = new EmbeddedTenantDirectory(dataDir, keys, clock);
  const tenants = new TenantService({ directory, keys, clock, tokenTtlSeconds: 3600, passwordLogN: 14 });
  const records = new RecordService(tenants, clock);
  const backups = new BackupService({ stores: tenants.tenantStores, tenants, directory, keys, clock, records });
  const target = new FolderBackupTarget('own-cloud', targetDir);
  const source = 'bench-backup';
  const password = `bench-${randomBytes(12).toString('base64url')}`;
  try {
    await tenants.createTenant(op, { id: source, name: 'Bench backups', admin: { email: 'admin@bench-backup.test', password } }, req());
    const admin = await tenants.authenticate(
      source,
      `Bearer ${(await tenants.login({ tenantId: source, email: 'admin@bench-backup.test', password })).access_token}`,
    );
    await records.defineType(admin, { type: BACKUP_TYPE, schema: { type: 'object' } }, req());

    const { events, projections } = await tenants.stores(source);
    const ids = Array.from({ length: cfg.records }, newRecordId);
    const states = new Array<RecordState | undefined>(cfg.records);
    let t0 = nowNs();
    await appendCommits(events, ids, states, cfg.commits, 0);
    const buildMs = msSince(t0);

    // Full backup: everything in the log (the 100k record commits + tenant, admin and type commits).
    let t = 0;
    const fullRun = await withLoopStall(async () => {
      const s = nowNs();
      const r = await backups.backupTenant(source, target);
      t = msSince(s);
      return r;
    });
    const full = fullRun.result;
    if (!full.ok) throw new Error(`full backup failed: ${full.error}`);
    const fullMs = t;

    await appendCommits(events, ids, states, cfg.incrementalCommits, cfg.commits);
    t0 = nowNs();
    const inc = await backups.backupTenant(source, target);
    const incMs = msSince(t0);
    if (!inc.ok) throw new Error(`incremental backup failed: ${inc.error}`);
    if (inc.commits !== cfg.incrementalCommits)
      throw new Error(`incremental backup shipped ${inc.commits} commits, expected ${cfg.incrementalCommits}`);
    const targetBytes = folderBytes(targetDir);

    // The drill compares exports, which read the list view: project the source first (untimed for backups).
    t0 = nowNs();
    const gen = await projections.activeGeneration();
    for (;;) {
      const r = await runProjector(events, projections, gen, { clock, maxPages: 1_000_000 });
      if (r.failed) throw new Error('projecting the source tenant failed');
      if (r.applied === 0) break;
    }
    const projectSourceMs = msSince(t0);

    t0 = nowNs();
    const v = await backups.verify(source, target);
    const verifyMs = msSince(t0);
    if (!v.ok) throw new Error(`verify failed: ${v.problems.join('; ')}`);

    let importEnd = 0n;
    let restoreStart = 0n;
    let restoreMs = 0;
    const restoreRun = await withLoopStall(async () => {
      restoreStart = nowNs();
      // "Everything the tier has": the clock has moved past the last backup's coverage, so a
      // restore as of now must accept that it ends there (the check below proves it is complete).
      const r = await backups.restore(
        op,
        { tenant: source, target, asOf: clock.now(), into: `${source}-restored` },
        {
          ...req(),
          // The import ends where the first files or projection progress is reported (the import's
          // own last report comes after the projections).
          onProgress: (progress) => {
            if (importEnd === 0n && (progress.phase === 'files' || progress.phase === 'project')) importEnd = nowNs();
          },
          acceptPartial: true,
        },
      );
      restoreMs = msSince(restoreStart);
      return r;
    });
    const restored = restoreRun.result;
    if (restored.commits !== v.commits) throw new Error(`restore imported ${restored.commits} commits; the chain holds ${v.commits}`);
    const importEndMs = Number(importEnd - restoreStart) / 1e6;

    t0 = nowNs();
    const drill = await backups.drill(op, { tenant: source, target }, req());
    const drillMs = msSince(t0);

    return {
      cfg,
      buildMs,
      projectSourceMs,
      full: { ms: fullMs, commits: full.commits, segments: full.segments, stallMs: fullRun.maxStallMs },
      incremental: { ms: incMs, commits: inc.commits, segments: inc.segments },
      targetBytes,
      verify: { ms: verifyMs, commits: v.commits, manifests: v.manifests },
      restore: { ms: restoreMs, commits: restored.commits, importEndMs, stallMs: restoreRun.maxStallMs },
      drill: { ms: drillMs, ok: drill.ok, commits: drill.commits ?? 0, ...(drill.error ? { error: drill.error } : {}) },
    };
  } finally {
    await tenants.close();
  }
}

/** The backup phase's metrics (bench/results.json), for the whole bench and for `npm run bench -- backups`. */
export function backupMetrics(bk: BackupBenchResult): Metric[] {
  return [
    { name: 'backup_build_append_throughput', value: bk.cfg.commits / (bk.buildMs / 1000), unit: 'appends/s' },
    { name: 'backup_source_projection_duration', value: bk.projectSourceMs, unit: 'ms' },
    { name: 'backup_full_commits', value: bk.full.commits, unit: 'commits' },
    { name: 'backup_full_segments', value: bk.full.segments, unit: 'segments' },
    { name: 'backup_full_duration', value: bk.full.ms, unit: 'ms' },
    { name: 'backup_full_throughput', value: bk.full.commits / (bk.full.ms / 1000), unit: 'commits/s' },
    { name: 'backup_full_event_loop_stall', value: bk.full.stallMs, unit: 'ms' },
    { name: 'backup_incremental_commits', value: bk.incremental.commits, unit: 'commits' },
    { name: 'backup_incremental_duration', value: bk.incremental.ms, unit: 'ms' },
    { name: 'backup_target_bytes', value: bk.targetBytes, unit: 'bytes' },
    { name: 'ratio_backup_incremental_over_full_duration', value: bk.incremental.ms / bk.full.ms, unit: 'x' },
    { name: 'backup_verify_commits', value: bk.verify.commits, unit: 'commits' },
    { name: 'backup_verify_duration', value: bk.verify.ms, unit: 'ms' },
    { name: 'backup_verify_throughput', value: bk.verify.commits / (bk.verify.ms / 1000), unit: 'commits/s' },
    { name: 'restore_commits', value: bk.restore.commits, unit: 'commits' },
    { name: 'restore_duration', value: bk.restore.ms, unit: 'ms' },
    { name: 'restore_throughput', value: bk.restore.commits / (bk.restore.ms / 1000), unit: 'commits/s' },
    { name: 'restore_verify_and_import_duration', value: bk.restore.importEndMs, unit: 'ms' },
    { name: 'restore_projection_duration', value: bk.restore.ms - bk.restore.importEndMs, unit: 'ms' },
    { name: 'restore_event_loop_stall', value: bk.restore.stallMs, unit: 'ms' },
    { name: 'restore_drill_duration', value: bk.drill.ms, unit: 'ms' },
    { name: 'restore_drill_ok', value: bk.drill.ok ? 1 : 0, unit: 'bool' },
  ];
}
