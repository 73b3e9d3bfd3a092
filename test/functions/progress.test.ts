import { HttpRequest, InvocationContext } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/domain/errors';
import type { ProgressSink } from '../../shared/app/progress';
import type { Ctx } from '../../functions/http';
import { withProgress } from '../../functions/progress';

function ctx(accept?: string): Ctx {
  return {
    req: new HttpRequest({ method: 'POST', url: 'http://localhost/api/tenants/acme/restore', headers: accept ? { accept } : {} }),
    context: new InvocationContext({ functionName: 'restoreTenant' }),
    services: undefined as unknown as Ctx['services'],
    correlationId: 'corr-1',
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let finished = false;

async function work(report: ProgressSink, fail = false) {
  finished = false;
  for (let i = 1; i <= 4; i++) {
    report({ phase: 'import', done: i * 10, total: 40 });
    await sleep(150);
  }
  finished = true;
  if (fail) throw new AppError('unprocessable', 'The backup failed verification.');
  return { status: 201, body: { id: 'acme-copy', commits: 40 }, headers: { location: '/api/tenants/acme-copy' } };
}

async function lines(body: unknown): Promise<any[]> {
  const text = await new Response(body as ReadableStream).text();
  expect(text.endsWith('\n')).toBe(true);
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

describe('withProgress (long operations)', () => {
  it('answers as usual when the client does not ask for a progress stream', async () => {
    const r = await withProgress(ctx('application/json'), (report) => work(report));
    expect(r.status).toBe(201);
    expect(JSON.parse(String(r.body))).toEqual({ id: 'acme-copy', commits: 40 });
    expect((r.headers as Record<string, string>).location).toBe('/api/tenants/acme-copy');
  });

  it('streams throttled progress lines, then the answer as the last line', async () => {
    const r = await withProgress(ctx('application/x-ndjson'), (report) => work(report));
    expect(r.status).toBe(200);
    expect(finished).toBe(false); // answered before the work finished
    expect((r.headers as Record<string, string>)['content-type']).toBe('application/x-ndjson');
    const all = await lines(r.body);
    const progress = all.slice(0, -1);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.length).toBeLessThanOrEqual(4);
    for (const p of progress) expect(p.progress).toMatchObject({ phase: 'import', total: 40 });
    const done = progress.map((p) => p.progress.done);
    expect([...done].sort((a, b) => a - b)).toEqual(done);
    expect(done[done.length - 1]).toBe(40);
    expect(all[all.length - 1]).toEqual({ status: 201, body: { id: 'acme-copy', commits: 40 }, location: '/api/tenants/acme-copy' });
  });

  it('every phase shows up with its final count, even one shorter than the throttle interval', async () => {
    const r = await withProgress(ctx('application/x-ndjson'), async (report) => {
      for (let i = 1; i <= 3; i++) report({ phase: 'verify', done: i });
      for (let i = 1; i <= 2; i++) report({ phase: 'import', done: i, total: 2 });
      await sleep(300);
      report({ phase: 'project', done: 2, total: 2 });
      return { status: 200, body: {} };
    });
    const progress = (await lines(r.body)).slice(0, -1).map((l) => `${l.progress.phase}:${l.progress.done}`);
    expect(progress).toEqual(['verify:3', 'import:2', 'project:2']);
  });

  it('a failure after the stream started ends it with the problem document', async () => {
    const r = await withProgress(ctx('application/x-ndjson'), (report) => work(report, true));
    expect(r.status).toBe(200);
    const all = await lines(r.body);
    expect(all[all.length - 1]).toEqual({
      status: 422,
      body: expect.objectContaining({ status: 422, detail: 'The backup failed verification.', correlationId: 'corr-1' }),
    });
  });
});
