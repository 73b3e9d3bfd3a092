import { describe, expect, it } from 'vitest';
import { storageFaultOf, TenantHealth } from '../../shared/app/tenant-health';
import { AppError } from '../../shared/domain/errors';

const err = (props: Record<string, unknown>) => Object.assign(new Error('x'), props);

describe('storage faults are classified by code, never by message', () => {
  it.each([
    [{ code: 'SQLITE_NOTADB' }, 'store_corrupt'],
    [{ code: 'SQLITE_CORRUPT' }, 'store_corrupt'],
    [{ code: 'SQLITE_CORRUPT_INDEX' }, 'store_corrupt'],
    [{ code: 'SQLITE_FULL' }, 'disk_full'],
    [{ code: 'ENOSPC' }, 'disk_full'],
    [{ code: 'SQLITE_IOERR_WRITE' }, 'store_unavailable'],
    [{ code: 'SQLITE_CANTOPEN' }, 'store_unavailable'],
    [{ code: 'EIO' }, 'store_unavailable'],
    [{ statusCode: 503, code: 'ServiceUnavailable' }, 'store_unavailable'], // Cosmos SDK
    [{ statusCode: 507 }, 'disk_full'],
  ])('%o → %s', (props, reason) => expect(storageFaultOf(err(props))).toBe(reason));

  it('anything else is not a storage fault (stays a 500 or its own error)', () => {
    expect(storageFaultOf(err({ code: 'SQLITE_CONSTRAINT' }))).toBeUndefined();
    expect(storageFaultOf(err({ statusCode: 409 }))).toBeUndefined();
    expect(storageFaultOf(new Error('database or disk is full'))).toBeUndefined();
    expect(storageFaultOf(new AppError('validation', 'x'))).toBeUndefined();
    expect(storageFaultOf('SQLITE_FULL')).toBeUndefined();
  });
});

describe('TenantHealth', () => {
  it('remembers a fault per tenant for a while, with its first time; answers 503 with Retry-After; never the error message', () => {
    let t = Date.parse('2026-12-01T10:00:00Z');
    const h = new TenantHealth({ now: () => new Date(t) }, 60_000);
    const answer = h.note('acme', 'disk_full', err({ code: 'SQLITE_FULL', message: '/secret/path/events.db' }));
    expect(answer).toMatchObject({ code: 'unavailable', status: 503, details: { retryAfterSeconds: expect.any(Number) } });
    t += 10_000;
    h.note('acme', 'disk_full', err({ code: 'SQLITE_FULL' }));
    expect(h.recent('acme')).toEqual({ reason: 'disk_full', since: '2026-12-01T10:00:00.000Z', cause: 'Error SQLITE_FULL' });
    expect(JSON.stringify(h.recent('acme'))).not.toContain('secret');
    expect(h.recent('globex')).toBeUndefined();
    t += 61_000;
    expect(h.recent('acme')).toBeUndefined();
  });
});
