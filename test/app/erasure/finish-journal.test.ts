/**
 * The erasure check's run over every tenant (finishErasures, at start and hourly) takes its
 * place in the change journal: once a run has looked at everyone, the next one fingerprints only
 * what the journal lists; a tenant it could not check is looked at again by the next run, though
 * the journal no longer lists it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { EmbeddedTenantDirectory } from '../../../shared/adapters/embedded/embedded-tenant-directory';
import type { Services } from '../../../shared/config/services';
import { createTenants, embeddedServices } from '../../support/embedded-services';

const ids = ['acme', 'globex', 'initech'];
let dir: string;
let s: Services;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'finish-journal-'));
  s = await embeddedServices(dir);
  await createTenants(s, ids, 'finish-journal');
}, 60_000);

afterEach(async () => {
  vi.restoreAllMocks();
  await s?.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

/** Closes every tenant (as the cache does after the idle time): the journal numbers them. */
async function closeAll(): Promise<void> {
  for (const c of s.tenantStores.cached()) s.tenantStores.evict(c.tenantId);
  for (const id of s.directory.openTenantIds?.() ?? []) await s.directory.closeTenant?.(id);
}

/** One run as the finishErasures timer makes it (`fail`: that tenant's look throws): per tenant, "unchanged" (from its mark), "looked" or "failed"; and the fingerprints taken. */
async function timerRun(fail?: string): Promise<{ outcome: Record<string, string>; looks: string[] }> {
  const look = vi.spyOn(EmbeddedTenantDirectory.prototype, 'logFingerprint');
  const outcome: Record<string, string> = {};
  await s.erasure.beginRun();
  for (const id of ids) {
    try {
      if (await s.erasure.unchangedSinceNothingPending(id)) {
        outcome[id] = 'unchanged';
        continue;
      }
      if (id === fail) throw new Error('the check failed');
      await s.erasure.finishInterrupted(id);
      outcome[id] = 'looked';
    } catch {
      await s.erasure.notChecked(id);
      outcome[id] = 'failed';
    }
  }
  await s.erasure.saveMarks();
  const looks = [...new Set(look.mock.calls.map((c) => c[0]))];
  look.mockRestore();
  return { outcome, looks };
}

/** Another process on the data folder appends to the tenant's log, then closes. */
async function appendElsewhere(id: string): Promise<void> {
  const other = new EmbeddedTenantDirectory(dir, s.keys, s.clock);
  try {
    const events = await other.openEventStore(id);
    await events.append('rec:thing:r1', 0, [{ type: 'RecordCreated', data: { type: 'thing', id: 'r1', data: {} } }], {
      author: { kind: 'operator', id: 'elsewhere' },
      correlationId: 'c',
    });
  } finally {
    await other.close();
  }
}

it('fingerprints only what the journal lists once a run has looked at everyone; a tenant it could not check is looked at again', async () => {
  await closeAll();
  await timerRun();
  await closeAll();
  await timerRun();
  const idle = await timerRun();
  expect(idle.outcome).toEqual({ acme: 'unchanged', globex: 'unchanged', initech: 'unchanged' });
  expect(idle.looks).toEqual([]);

  // Written elsewhere: looked at; its look fails, so the next run looks again though the journal no longer lists it.
  await appendElsewhere('globex');
  const failed = await timerRun('globex');
  expect(failed.outcome).toEqual({ acme: 'unchanged', globex: 'failed', initech: 'unchanged' });
  expect(failed.looks).toEqual(['globex']);
  const again = await timerRun();
  expect(again.outcome).toEqual({ acme: 'unchanged', globex: 'looked', initech: 'unchanged' });
  expect(again.looks).toEqual(['globex']);
  await closeAll();
  await timerRun();
  expect((await timerRun()).looks).toEqual([]);
});
