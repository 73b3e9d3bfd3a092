/**
 * The pure parts of the backup use cases, without a tier or a clock: which chain a run writes
 * to, the retention calendar, and the manifest checks of the chain walk.
 */
import { describe, expect, it } from 'vitest';
import {
  type ChainInfo,
  chainObjectOf,
  chainToWrite,
  checkManifest,
  manifestBytes,
  manifestKey,
  newManifest,
  sha256,
} from '../../shared/app/backup/chain-format';
import { authorizeBackupCaller, type BackupCaller } from '../../shared/app/backup/caller';
import { RUN_COVERAGE_FORMAT } from '../../shared/app/backup/coverage';
import { periodOf, retentionPlan } from '../../shared/app/backup/retention';
import { runCoverageJson } from '../../shared/app/backup/run-coverage';

const complete = (chain: number, completedAt: string): ChainInfo => ({ chain, complete: true, completedAt, manifests: 1 });
const building = (chain: number): ChainInfo => ({ chain, complete: false, manifests: 1 });

describe('chainToWrite', () => {
  it('given no chains: increments and full runs both start chain 1', () => {
    expect(chainToWrite([], false)).toEqual({ chain: 1, complete: false });
    expect(chainToWrite([], true)).toEqual({ chain: 1, complete: false });
  });
  it('given complete chains: increments extend the newest, a full run starts the next', () => {
    const all = [complete(1, '2026-01-01T00:00:00Z'), complete(2, '2026-01-02T00:00:00Z')];
    expect(chainToWrite(all, false)).toEqual({ chain: 2, complete: true });
    expect(chainToWrite(all, true)).toEqual({ chain: 3, complete: false });
  });
  it('given an interrupted newer base: a full run resumes it, increments stay on the complete one', () => {
    const all = [complete(1, '2026-01-01T00:00:00Z'), building(2)];
    expect(chainToWrite(all, true)).toEqual({ chain: 2, complete: false });
    expect(chainToWrite(all, false)).toEqual({ chain: 1, complete: true });
  });
});

describe('retention calendar', () => {
  it('buckets by UTC day, ISO week (its Monday) and month', () => {
    const sunday = new Date('2026-03-08T23:30:00Z');
    expect(periodOf(sunday, 'day')).toBe('2026-03-08');
    expect(periodOf(sunday, 'week')).toBe('2026-03-02');
    expect(periodOf(new Date('2026-03-09T00:10:00Z'), 'week')).toBe('2026-03-09');
    expect(periodOf(sunday, 'month')).toBe('2026-03');
  });

  it('keeps the newest complete chain, newer chains being built, and the newest chain per day within the window', () => {
    const now = new Date('2026-03-10T12:00:00Z');
    const all = [
      complete(1, '2026-01-01T01:00:00Z'), // older than every window
      complete(2, '2026-03-08T01:00:00Z'),
      complete(3, '2026-03-08T02:00:00Z'), // same day as 2, newer: 2 is not kept for that day
      complete(4, '2026-03-09T01:00:00Z'),
      building(5),
    ];
    const plan = retentionPlan(all, { daily: 3, weekly: 0, monthly: 0 }, now);
    expect(plan).toEqual({ keep: [3, 4, 5], drop: [1, 2] });
  });

  it('weekly and monthly windows keep one chain per week and per month', () => {
    const now = new Date('2026-03-10T12:00:00Z');
    const all = [
      complete(1, '2026-01-20T01:00:00Z'),
      complete(2, '2026-02-20T01:00:00Z'),
      complete(3, '2026-02-25T01:00:00Z'),
      complete(4, '2026-03-09T01:00:00Z'),
    ];
    expect(retentionPlan(all, { daily: 0, weekly: 0, monthly: 3 }, now).keep).toEqual([1, 3, 4]);
    expect(retentionPlan(all, { daily: 0, weekly: 2, monthly: 0 }, now).keep).toEqual([3, 4]);
    expect(retentionPlan(all, { daily: 0, weekly: 3, monthly: 0 }, now).keep).toEqual([2, 3, 4]);
    // The newest complete chain is kept whatever the policy.
    expect(retentionPlan(all, { daily: 0, weekly: 0, monthly: 0 }, now)).toEqual({ keep: [4], drop: [1, 2, 3] });
  });
});

describe('manifest checks', () => {
  const wrappedKey = { keyId: 'tenant-a-00000000/1', algorithm: 'A256KW', wrapped: 'AAAA' };
  const m1 = newManifest({
    tenant: 'a',
    chain: 1,
    seq: 1,
    previous: null,
    segmentSha256: 'ab'.repeat(32),
    size: 100,
    timestamps: ['2026-01-02T00:00:00Z', '2026-01-01T00:00:00Z'],
    checkpoint: 'cp1',
    wrappedKey,
    createdAt: '2026-01-03T00:00:00Z',
  });
  const key1 = manifestKey('a', 1, 1);
  const expected: Parameters<typeof checkManifest>[2] = { tenant: 'a', chain: 1, seq: 1, previous: null, bound: false };

  it('a new manifest names its segment under its chain and spans its commits', () => {
    expect(key1).toBe('tenants/a/chains/000001/manifests/000000000001.json');
    expect(m1.segment.key).toBe(`tenants/a/chains/000001/segments/000000000001-${'ab'.repeat(8)}.bin`);
    expect(m1.segment).toMatchObject({ commits: 2, firstTimestamp: '2026-01-01T00:00:00Z', lastTimestamp: '2026-01-02T00:00:00Z' });
    expect(chainObjectOf(key1)).toEqual({ chain: 1, kind: 'manifest' });
    expect(chainObjectOf('tenants/a/chains/000007/complete.json')).toEqual({ chain: 7, kind: 'complete' });
    expect(chainObjectOf('tenants/a/chains/000007/covered/x.json')).toBeUndefined();
  });

  it('accepts the manifest in its place and refuses every broken link', () => {
    const bytes = manifestBytes(m1);
    expect(checkManifest(key1, bytes, expected).seq).toBe(1);
    const broken =
      (k: string, b: Uint8Array, e = expected) =>
      () =>
        checkManifest(k, b, e);
    expect(broken(key1, Buffer.from('{'))).toThrow(/not valid JSON/);
    expect(broken(key1, manifestBytes({ ...m1, tenant: 'b' }))).toThrow(/not a .* manifest of this tenant/);
    expect(broken(key1, bytes, { ...expected, seq: 2 })).toThrow(/out of sequence/);
    expect(broken(manifestKey('a', 2, 1), bytes)).toThrow(/out of sequence/);
    expect(broken(key1, bytes, { ...expected, previous: sha256(Buffer.from('x')) })).toThrow(/does not link/);
    expect(broken(key1, manifestBytes({ ...m1, wrappedKey: { ...wrappedKey, wrapped: 1 as unknown as string } }))).toThrow(
      /no valid wrapped key/,
    );
    expect(broken(key1, manifestBytes({ ...m1, format: 'tenant-ledger-backup/1' }), { ...expected, bound: true })).toThrow(/downgrade/);
  });
});

describe('who may run backups, restores and drills', () => {
  it('an operator, or a timer of the service (recorded as system:<timer>)', () => {
    expect(authorizeBackupCaller({ id: 'operator-key:ab12' })).toEqual({ id: 'operator-key:ab12' });
    expect(authorizeBackupCaller({ kind: 'timer', timer: 'backup-drill' })).toEqual({ id: 'system:backup-drill' });
  });
  it('never a tenant user, whatever its roles, and nothing without an identity', () => {
    const user = { tenantId: 'acme', userId: 'u_1', email: 'a@acme.test', roles: ['admin'], id: 'u_1' };
    for (const bad of [user, { id: '' }, { kind: 'timer', timer: '' }, { kind: 'user', id: 'x' }, null]) {
      expect(() => authorizeBackupCaller(bad as unknown as BackupCaller)).toThrow(expect.objectContaining({ code: 'forbidden' }));
    }
  });
});

describe('run coverage markers', () => {
  it('are written as JSON.stringify writes the marker object, tenants in id order', () => {
    const at = '2026-12-07T10:00:00.000Z';
    const tenants: Array<[string, { chain: number; manifests: number }]> = [
      ['zeta', { chain: 3, manifests: 12 }],
      ['acme', { chain: 1, manifests: 1 }],
      ['m-1', { chain: 2, manifests: 40 }],
    ];
    const text = runCoverageJson(at, tenants);
    expect(text).toBe(
      JSON.stringify({
        format: RUN_COVERAGE_FORMAT,
        at,
        tenants: { acme: { chain: 1, manifests: 1 }, 'm-1': { chain: 2, manifests: 40 }, zeta: { chain: 3, manifests: 12 } },
      }),
    );
    expect(Object.keys(JSON.parse(text).tenants)).toEqual(['acme', 'm-1', 'zeta']);
    expect(JSON.parse(runCoverageJson(at, []))).toEqual({ format: RUN_COVERAGE_FORMAT, at, tenants: {} });
  });
});
