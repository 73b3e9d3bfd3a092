/**
 * Undo to an instant (shared/app/revert), side by side in one run on the embedded store,
 * in-process: 2,000 records changed by ordinary commands (PATCH with If-Match through
 * RecordService), then the tenant-wide revert of those 2,000 records back to the instant
 * before the change (a dry run first, then the run). Records/s of each and the ratio
 * revert ÷ commands: the goal is the speed of the same number of ordinary commands.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedTenantDirectory } from '../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../shared/adapters/embedded/local-key-provider';
import { RecordService } from '../shared/app/records';
import { RevertService } from '../shared/app/revert';
import { TenantService } from '../shared/app/service';
import { systemClock } from '../shared/ports/runtime';
import { fmt, type Metric, msSince, nowNs, table } from './lib';

export const REVERT_BENCH = { records: 2_000 };

const PW = 'a long enough password';
const req = { correlationId: 'bench-revert' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchRevert(say: (line?: string) => void): Promise<Metric[]> {
  const n = REVERT_BENCH.records;
  say(`[revert] in-process, embedded store: ${n} records; ${n} PATCH commands (If-Match) vs the tenant-wide revert of those ${n} records…`);
  const dir = mkdtempSync(join(tmpdir(), 'tenant-ledger-bench-revert-'));
  const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
  const tenants = new TenantService({
    directory: new EmbeddedTenantDirectory(dir, keys, systemClock),
    keys,
    clock: systemClock,
    tokenTtlSeconds: 3600,
    passwordLogN: 14,
  });
  const records = new RecordService(tenants, systemClock);
  const revert = new RevertService({ stores: tenants.tenantStores, records: records.context, clock: systemClock });
  try {
    await tenants.createTenant({ id: 'bench' }, { id: 'bench-revert', name: 'B', admin: { email: 'admin@b.test', password: PW } }, req);
    const admin = await tenants.authenticate(
      'bench-revert',
      `Bearer ${(await tenants.login({ tenantId: 'bench-revert', email: 'admin@b.test', password: PW })).access_token}`,
    );
    await records.defineType(
      admin,
      { type: 'price', schema: { type: 'object', required: ['sku'], properties: { sku: { type: 'string' }, amount: { type: 'number' } } } },
      req,
    );
    const ids: string[] = [];
    for (let i = 0; i < n; i++)
      ids.push((await records.createRecord(admin, { type: 'price', data: { sku: `S${i}`, amount: i } }, req)).record.id);
    await sleep(5);
    const asOf = new Date();
    await sleep(5);

    // Ordinary commands: the mistaken bulk change, one PATCH per record.
    const t0 = nowNs();
    for (const id of ids) await records.patchRecord(admin, { type: 'price', id, patch: { amount: -1 }, ifMatch: 1 }, req);
    const commandsMs = msSince(t0);

    const t1 = nowNs();
    const plan = await (await revert.prepareTenantRevert(admin, { asOf, types: ['price'], dryRun: true }, req)).run();
    const dryMs = msSince(t1);
    if (plan.counts.changed !== n) throw new Error(`dry run planned ${plan.counts.changed} changes, expected ${n}`);

    const t2 = nowNs();
    const done = await (
      await revert.prepareTenantRevert(admin, { asOf, types: ['price'] }, { ...req, idempotency: { key: 'bench', requestHash: 'bench' } })
    ).run();
    const revertMs = msSince(t2);
    if (done.counts.changed !== n) throw new Error(`revert changed ${done.counts.changed} records, expected ${n}`);

    const perSec = (ms: number) => (n * 1000) / ms;
    const metrics: Metric[] = [
      { name: 'revert_commands_per_s', value: perSec(commandsMs), unit: 'records/s' },
      { name: 'revert_dry_run_per_s', value: perSec(dryMs), unit: 'records/s' },
      { name: 'revert_run_per_s', value: perSec(revertMs), unit: 'records/s' },
      { name: 'ratio_revert_run_vs_commands', value: commandsMs / revertMs, unit: 'x' },
    ];
    say(
      table(
        ['what', `${n} records`, 'records/s'],
        [
          ['ordinary commands (PATCH, If-Match)', `${fmt(commandsMs)} ms`, fmt(perSec(commandsMs))],
          ['tenant-wide revert, dry run', `${fmt(dryMs)} ms`, fmt(perSec(dryMs))],
          ['tenant-wide revert, run', `${fmt(revertMs)} ms`, fmt(perSec(revertMs))],
        ],
      ),
    );
    say(`revert run vs the same number of ordinary commands: ${fmt(commandsMs / revertMs)}× the speed (1 = as fast)`);
    return metrics;
  } finally {
    await tenants.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}
