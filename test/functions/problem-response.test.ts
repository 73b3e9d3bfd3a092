import { InvocationContext } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { abortError } from '../../shared/adapters/abort';
import { notFound } from '../../shared/domain/errors';
import { problemResponse } from '../../functions/http';

const context = () => new InvocationContext({ functionName: 'getRecord' });
const body = (r: { body?: unknown }) => JSON.parse(String(r.body)) as Record<string, unknown>;

describe('problem+json for aborted operations', () => {
  it("an Error named 'AbortError' (the adapters' and the SDKs' abort) answers 503 unavailable, without the cause", () => {
    const c = new AbortController();
    c.abort(new Error('deadline of 30 s passed at /secret/path'));
    for (const e of [abortError(c.signal), Object.assign(new Error('x'), { name: 'AbortError' }), new DOMException('stop', 'AbortError')]) {
      const r = problemResponse(e, 'corr-1', context());
      expect(r.status).toBe(503);
      expect(r.headers).toMatchObject({ 'content-type': 'application/problem+json' });
      const b = body(r);
      expect(b).toMatchObject({ type: 'urn:tenant-ledger:problem:unavailable', status: 503, correlationId: 'corr-1' });
      expect(String(b.detail)).toMatch(/cancelled/);
      expect(JSON.stringify(b)).not.toContain('secret');
    }
  });

  it('other errors keep their mapping: AppErrors their status, anything else 500 internal', () => {
    expect(problemResponse(notFound('No such record.'), 'c', context()).status).toBe(404);
    const r = problemResponse(new Error('boom'), 'c', context());
    expect(r.status).toBe(500);
    expect(body(r).type).toBe('urn:tenant-ledger:problem:internal');
  });
});
