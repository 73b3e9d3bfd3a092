/**
 * Issue 11: a start's first projector pass reads the marks of the tenants it looks at, by
 * point, not every tenant's (DATA_DIR/marks.db, shared/adapters/embedded/mark-store.ts): what
 * that pass costs does not grow with the number of tenants that did nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { EmbeddedTenantDirectory } from '../../../shared/adapters/embedded/embedded-tenant-directory';
import { createTenants, embeddedServices } from '../../support/embedded-services';

const ids = ['acme', 'globex', 'initech', 'umbrella'];
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'first-pass-marks-'));
});
afterAll(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

it('after a restart, the first pass looks at what the journal lists and reads those tenants’ marks only', async () => {
  const s = await embeddedServices(dir);
  const { keys, clock } = s;
  try {
    await createTenants(s, ids, 'first-pass');
    // Caught up, and the journal's place saved past everything (a round over every tenant done).
    await s.projector.catchUp();
    while ((await s.projector.pass()).swept > 0);
  } finally {
    await s.close();
  }

  // Another process writes to one tenant while no host runs.
  const other = new EmbeddedTenantDirectory(dir, keys, clock);
  await (await other.openEventStore('globex')).append(
    'rec:thing:x1',
    0,
    [{ type: 'RecordCreated', data: { type: 'thing', id: 'x1', data: { n: 1 } } }],
    { author: { kind: 'operator', id: 'test' }, correlationId: 'elsewhere' },
  );
  await other.close();

  const reads = vi.spyOn(EmbeddedTenantDirectory.prototype, 'readMarks');
  const restarted = await embeddedServices(dir);
  try {
    const first = await restarted.projector.pass();
    expect(Object.keys(first.results)).toEqual(['globex']);
    expect(first.results.globex?.applied).toBe(1);
    const projectorReads = reads.mock.calls.filter(([purpose]) => purpose === 'projector').map(([, which]) => which);
    expect(projectorReads).toEqual([['globex']]);
  } finally {
    await restarted.close();
  }
}, 120_000);
