/**
 * Undo to an instant, over HTTP against the compiled host: reverting one record (changed,
 * deleted and created after asOf, no-op, schema refusals, authorisation and bad input), and
 * how history, audit and export show a revert.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHostProcess, type HostProcess } from '../support/host-process';
import { client, type CallResult } from '../support/http-client';
import { seedTenants } from '../support/e2e-tenants';

let host: HostProcess;
const call = client(() => host.url);
const T: Record<string, string> = {};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function expectProblem(r: CallResult, status: number, detail?: RegExp) {
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get('content-type')).toContain('application/problem+json');
  expect(r.json).toMatchObject({ status, detail: expect.any(String) });
  if (detail) expect(r.json.detail).toMatch(detail);
}

/** An instant strictly between the commits before and after it. */
async function instantNow(): Promise<string> {
  await sleep(15);
  const t = new Date().toISOString();
  await sleep(15);
  return t;
}

async function create(data: Record<string, unknown>, token = T.editor): Promise<{ id: string; version: number }> {
  const r = await call('POST', '/api/t/acme/records/price', { token, body: data });
  expect(r.status, r.text).toBe(201);
  return { id: r.json.id, version: r.json.version };
}

async function patch(id: string, version: number, body: Record<string, unknown>): Promise<number> {
  const r = await call('PATCH', `/api/t/acme/records/price/${id}`, { token: T.editor, body, headers: { 'if-match': `"${version}"` } });
  expect(r.status, r.text).toBe(200);
  return r.json.version;
}

async function historyOf(id: string): Promise<any[]> {
  const r = await call('GET', `/api/t/acme/records/price/${id}/history`, { token: T.viewer });
  expect(r.status, r.text).toBe(200);
  return r.json.items;
}

function revert(id: string, body: unknown, version: number | undefined, token = T.editor, headers: Record<string, string> = {}) {
  return call('POST', `/api/t/acme/records/price/${id}/revert`, {
    token,
    body,
    headers: { ...(version !== undefined ? { 'if-match': `"${version}"` } : {}), ...headers },
  });
}

beforeAll(async () => {
  host = await startHostProcess();
  await seedTenants(call, host.operatorKey, T, {
    users: [
      ['editor', 'editor'],
      ['viewer', 'viewer'],
    ],
  });
  const schema = {
    type: 'object',
    required: ['sku'],
    properties: { sku: { type: 'string' }, amount: { type: 'number' }, note: { type: 'string' } },
  };
  expect((await call('PUT', '/api/t/acme/types/price', { token: T['acme-admin'], body: schema })).status).toBe(201);
  expect((await call('PUT', '/api/t/globex/types/price', { token: T['globex-admin'], body: schema })).status).toBe(201);
});

afterAll(async () => {
  await host?.stop();
  host?.cleanup();
});

describe('revert one record', () => {
  it('changed fields get their old values back, in one commit that names asOf and the reason', async () => {
    const rec = await create({ sku: 'A', amount: 10, note: 'list 2026' });
    const asOf = await instantNow();
    let v = await patch(rec.id, rec.version, { amount: 99, note: null });
    v = await patch(rec.id, v, { amount: 98 });
    const r = await revert(rec.id, { asOf, reason: 'price list overwritten' }, v);
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get('etag')).toBe(`"${v + 1}"`);
    expect(r.json).toMatchObject({
      outcome: 'changed',
      asOf,
      version: v + 1,
      record: { id: rec.id, data: { sku: 'A', amount: 10, note: 'list 2026' } },
    });
    expect(r.json.changes).toEqual([
      { path: '/amount', old: 98, new: 10 },
      { path: '/note', new: 'list 2026' },
    ]);
    const got = await call('GET', `/api/t/acme/records/price/${rec.id}`, { token: T.viewer });
    expect(got.json).toMatchObject({ version: v + 1, data: { sku: 'A', amount: 10, note: 'list 2026' } });
    // The mistake and the revert both stay in the history; the revert lists old and new values like any change.
    const h = await historyOf(rec.id);
    expect(h.map((c) => c.events[0].type)).toEqual(['RecordCreated', 'RecordUpdated', 'RecordUpdated', 'RecordReverted']);
    expect(h[3].events[0].changes).toEqual(r.json.changes);
    expect(h[3].author).toMatchObject({ kind: 'user', email: 'editor@acme.test' });
  });

  it('a record deleted after asOf comes back (If-Match: its version as deleted)', async () => {
    const rec = await create({ sku: 'B', amount: 5 });
    const asOf = await instantNow();
    const del = await call('DELETE', `/api/t/acme/records/price/${rec.id}`, { token: T.editor, headers: { 'if-match': '"1"' } });
    expect(del.status).toBe(204);
    expectProblem(await call('GET', `/api/t/acme/records/price/${rec.id}`, { token: T.viewer }), 410);
    const r = await revert(rec.id, { asOf }, 2);
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ outcome: 'restored', version: 3, record: { data: { sku: 'B', amount: 5 } } });
    expect(r.json.changes).toEqual([
      { path: '/sku', new: 'B' },
      { path: '/amount', new: 5 },
    ]);
    const got = await call('GET', `/api/t/acme/records/price/${rec.id}`, { token: T.viewer });
    expect(got.status, got.text).toBe(200);
    expect(got.json.data).toEqual({ sku: 'B', amount: 5 });
    // It is live again: it can be changed as usual.
    expect(await patch(rec.id, 3, { amount: 6 })).toBe(4);
  });

  it('a record created after asOf is deleted; reverting it again changes nothing and says so', async () => {
    const asOf = await instantNow();
    const rec = await create({ sku: 'C', amount: 1 });
    const r = await revert(rec.id, { asOf, reason: 'created by mistake' }, 1);
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ outcome: 'deleted', version: 2 });
    expect(r.json.record).toBeUndefined();
    expect(r.json.changes).toEqual([
      { path: '/sku', old: 'C' },
      { path: '/amount', old: 1 },
    ]);
    expectProblem(await call('GET', `/api/t/acme/records/price/${rec.id}`, { token: T.viewer }), 410);
    const again = await revert(rec.id, { asOf }, 2);
    expect(again.status, again.text).toBe(200);
    expect(again.json).toMatchObject({ outcome: 'unchanged', version: 2, changes: [] });
    expect((await historyOf(rec.id)).length).toBe(2);
  });

  it('reverting to the current state appends nothing', async () => {
    const rec = await create({ sku: 'D', amount: 1 });
    const v = await patch(rec.id, 1, { amount: 2 });
    const asOf = await instantNow();
    const r = await revert(rec.id, { asOf }, v);
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ outcome: 'unchanged', version: v, changes: [], record: { data: { sku: 'D', amount: 2 } } });
    expect(r.headers.get('etag')).toBe(`"${v}"`);
    expect((await historyOf(rec.id)).length).toBe(2);
  });

  it('an Idempotency-Key replays the first answer and appends nothing more', async () => {
    const rec = await create({ sku: 'E', amount: 1 });
    const asOf = await instantNow();
    const v = await patch(rec.id, 1, { amount: 2 });
    const headers = { 'idempotency-key': 'revert-e-1' };
    const first = await revert(rec.id, { asOf }, v, T.editor, headers);
    expect(first.status, first.text).toBe(200);
    const second = await revert(rec.id, { asOf }, v, T.editor, headers);
    expect(second.status, second.text).toBe(200);
    expect(second.headers.get('idempotency-replayed')).toBe('true');
    expect(second.json).toEqual(first.json);
    expect((await historyOf(rec.id)).length).toBe(3);
    expectProblem(await revert(rec.id, { asOf, reason: 'other' }, v, T.editor, headers), 422, /Idempotency-Key/);
  });

  it("an old state the type's current schema refuses is 422 problem+json, and nothing is written", async () => {
    const rec = await create({ sku: 'F' }, T['acme-admin']);
    const asOf = await instantNow();
    // The type now requires amount; the record gets one; its state at asOf has none.
    const strict = {
      type: 'object',
      required: ['sku', 'amount'],
      properties: { sku: { type: 'string' }, amount: { type: 'number' }, note: { type: 'string' } },
    };
    const v = await patch(rec.id, 1, { amount: 3 });
    const put = await call('PUT', '/api/t/acme/types/price', { token: T['acme-admin'], body: strict });
    expect(put.status, put.text).toBe(200);
    try {
      const r = await revert(rec.id, { asOf }, v);
      expectProblem(r, 422, /current schema/);
      expect(r.json.errors?.length).toBeGreaterThan(0);
      expect((await historyOf(rec.id)).length).toBe(2);
      expect((await call('GET', `/api/t/acme/records/price/${rec.id}`, { token: T.viewer })).json.data).toEqual({ sku: 'F', amount: 3 });
    } finally {
      const back = {
        type: 'object',
        required: ['sku'],
        properties: { sku: { type: 'string' }, amount: { type: 'number' }, note: { type: 'string' } },
      };
      expect((await call('PUT', '/api/t/acme/types/price', { token: T['acme-admin'], body: back })).status).toBe(200);
    }
  });
});

describe('revert one record: who may, and bad input', () => {
  it('viewer 403, another tenant’s token 401, no token 401; nothing changes', async () => {
    const rec = await create({ sku: 'G', amount: 1 });
    const asOf = await instantNow();
    const v = await patch(rec.id, 1, { amount: 2 });
    expectProblem(await revert(rec.id, { asOf }, v, T.viewer), 403);
    expectProblem(await revert(rec.id, { asOf }, v, T['globex-admin']), 401);
    expectProblem(
      await call('POST', `/api/t/acme/records/price/${rec.id}/revert`, { body: { asOf }, headers: { 'if-match': `"${v}"` } }),
      401,
    );
    // A record of another tenant is not reachable with this tenant's id either.
    expectProblem(
      await call('POST', `/api/t/globex/records/price/${rec.id}/revert`, {
        token: T['globex-admin'],
        body: { asOf },
        headers: { 'if-match': `"${v}"` },
      }),
      404,
    );
    expect((await historyOf(rec.id)).length).toBe(2);
  });

  it('malformed bodies, asOf, If-Match → problem+json; a missing or stale If-Match → 428 / 412; nothing changes', async () => {
    const rec = await create({ sku: 'H', amount: 1 });
    const asOf = await instantNow();
    const v = await patch(rec.id, 1, { amount: 2 });
    expectProblem(await revert(rec.id, { asOf: 'yesterday' }, v), 400);
    expectProblem(await revert(rec.id, { asOf: '2026-13-45T10:00:00Z' }, v), 400, /asOf/);
    expectProblem(await revert(rec.id, { asOf, extra: 1 }, v), 400, /does not match/);
    expectProblem(await revert(rec.id, {}, v), 400);
    expectProblem(await revert(rec.id, { asOf, reason: 'x'.repeat(501) }, v), 400);
    expectProblem(await revert(rec.id, [asOf], v), 400);
    expectProblem(
      await call('POST', `/api/t/acme/records/price/${rec.id}/revert`, {
        token: T.editor,
        raw: '{"asOf":',
        headers: { 'if-match': `"${v}"` },
      }),
      400,
    );
    expectProblem(await revert(rec.id, { asOf: new Date(Date.now() + 3_600_000).toISOString() }, v), 400, /future/);
    expectProblem(await revert(rec.id, { asOf }, undefined), 428);
    expectProblem(await revert(rec.id, { asOf }, 1), 412);
    expectProblem(await revert(rec.id, { asOf }, v, T.editor, { 'if-match': 'nonsense' }), 400);
    expectProblem(await revert('r_0000000000000000000000', { asOf }, 1), 404);
    expectProblem(
      await call('POST', `/api/t/acme/records/nosuchtype/${rec.id}/revert`, {
        token: T.editor,
        body: { asOf },
        headers: { 'if-match': '"1"' },
      }),
      404,
    );
    expect((await historyOf(rec.id)).length).toBe(2);
  });
});

describe('a revert is a change like any other', () => {
  it('audit, history and export show it', async () => {
    const rec = await create({ sku: 'I', amount: 7 });
    const asOf = await instantNow();
    const v = await patch(rec.id, 1, { amount: 700 });
    const r = await revert(rec.id, { asOf, reason: 'typo' }, v);
    expect(r.status, r.text).toBe(200);
    // Audit (lists project inline, so it is there at once).
    const audit = await call('GET', '/api/t/acme/audit?type=price&limit=5', { token: T.viewer });
    expect(audit.status, audit.text).toBe(200);
    const entry = audit.json.items.find((e: any) => e.recordId === rec.id && e.eventType === 'RecordReverted');
    expect(entry).toMatchObject({
      version: v + 1,
      changes: [{ path: '/amount', old: 700, new: 7 }],
      author: { email: 'editor@acme.test' },
    });
    // Export now shows the reverted data; export as of before the revert shows the mistake.
    const exported = await call('GET', '/api/t/acme/export', { token: T.viewer });
    const line = exported.text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .find((x) => x.id === rec.id);
    expect(line).toMatchObject({ version: v + 1, data: { sku: 'I', amount: 7 } });
    // Lists (the projection) agree.
    const list = await call('GET', '/api/t/acme/records/price?sku=I', { token: T.viewer });
    expect(list.json.items.map((x: any) => [x.id, x.version, x.data.amount])).toEqual([[rec.id, v + 1, 7]]);
    // And asOf reads of the time between still show the mistake.
    const h = await historyOf(rec.id);
    const between = h[1].timestamp;
    const old = await call('GET', `/api/t/acme/records/price/${rec.id}?asOf=${encodeURIComponent(between)}`, { token: T.viewer });
    expect(old.json.data.amount).toBe(700);
  });
});

describe('revert the tenant', () => {
  const bulk = (body: unknown, token = T['acme-admin'], headers: Record<string, string> = {}) =>
    call('POST', '/api/t/acme/revert', { token, body, headers });

  it('a mistaken bulk change undone: dry run (nothing written), then the run with progress lines, then a replay', async () => {
    const schema = { type: 'object', required: ['sku'], properties: { sku: { type: 'string' }, amount: { type: 'number' } } };
    expect((await call('PUT', '/api/t/acme/types/bulk', { token: T['acme-admin'], body: schema })).status).toBe(201);
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await call('POST', '/api/t/acme/records/bulk', { token: T.editor, body: { sku: `S${i}`, amount: i } });
      expect(r.status, r.text).toBe(201);
      ids.push(r.json.id);
    }
    const asOf = await instantNow();
    // The mistake: every price set to -1, two records deleted, one created.
    for (const id of ids) {
      const r = await call('PATCH', `/api/t/acme/records/bulk/${id}`, {
        token: T.editor,
        body: { amount: -1 },
        headers: { 'if-match': '"1"' },
      });
      expect(r.status, r.text).toBe(200);
    }
    for (const id of ids.slice(0, 2))
      expect((await call('DELETE', `/api/t/acme/records/bulk/${id}`, { token: T.editor, headers: { 'if-match': '"2"' } })).status).toBe(
        204,
      );
    const extra = await call('POST', '/api/t/acme/records/bulk', { token: T.editor, body: { sku: 'X', amount: 0 } });
    expect(extra.status).toBe(201);

    const plan = await bulk({ asOf, types: ['bulk'], dryRun: true });
    expect(plan.status, plan.text).toBe(200);
    expect(plan.json).toMatchObject({
      dryRun: true,
      types: ['bulk'],
      counts: { examined: 13, changed: 10, restored: 2, deleted: 1, unchanged: 0, conflicts: 0, invalid: 0 },
    });
    const sample = plan.json.samples.find((x: any) => x.id === ids[5]);
    expect(sample).toEqual({ type: 'bulk', id: ids[5], outcome: 'changed', changes: [{ path: '/amount', old: -1, new: 5 }] });
    expect((await historyOf2('bulk', ids[5]!)).length).toBe(2);

    // The run, with progress lines (NDJSON) and an Idempotency-Key.
    const res = await fetch(`${host.url}/api/t/acme/revert`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${T['acme-admin']}`,
        'content-type': 'application/json',
        accept: 'application/x-ndjson',
        'idempotency-key': 'undo-bulk-1',
      },
      body: JSON.stringify({ asOf, types: ['bulk'], reason: 'prices overwritten by a bad import' }),
    });
    expect(res.status).toBe(200);
    const lines = (await res.text())
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const last = lines.at(-1);
    expect(last.status).toBe(200);
    expect(last.body).toMatchObject({ dryRun: false, counts: plan.json.counts, reason: 'prices overwritten by a bad import' });
    expect(last.body.operationId).toMatch(/^op_/);
    expect(lines.slice(0, -1).every((l) => l.progress && typeof l.progress.done === 'number')).toBe(true);
    expect(lines.filter((l) => l.progress?.phase === 'revert').at(-1).progress).toEqual({ phase: 'revert', done: 13, total: 13 });
    expect(plan.json.retry).toMatch(/Idempotency-Key/);
    // Everything is as it was at asOf; the list (projection) agrees.
    const list = await call('GET', '/api/t/acme/records/bulk?limit=100&sort=sku', { token: T.viewer });
    expect(list.json.items.map((x: any) => [x.data.sku, x.data.amount])).toEqual(
      Array.from({ length: 12 }, (_, i) => [`S${i}`, i]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    expectProblem(await call('GET', `/api/t/acme/records/bulk/${extra.json.id}`, { token: T.viewer }), 410);
    const h = await historyOf2('bulk', ids[5]!);
    expect(h.map((c) => c.events[0].type)).toEqual(['RecordCreated', 'RecordUpdated', 'RecordReverted']);
    expect(h[2].events[0].changes).toEqual([{ path: '/amount', old: -1, new: 5 }]);

    // The same request again: the stored result, nothing appended.
    const again = await bulk({ asOf, types: ['bulk'], reason: 'prices overwritten by a bad import' }, T['acme-admin'], {
      'idempotency-key': 'undo-bulk-1',
    });
    expect(again.status, again.text).toBe(200);
    expect(again.headers.get('idempotency-replayed')).toBe('true');
    expect(again.json).toMatchObject({ operationId: last.body.operationId, counts: plan.json.counts });
    expect((await historyOf2('bulk', ids[5]!)).length).toBe(3);
  });

  it('viewer and editor 403, another tenant’s token 401, no token 401; malformed bodies 400; nothing changes', async () => {
    const before = await call('GET', '/api/t/acme/audit?limit=1', { token: T['acme-admin'] });
    const asOf = await instantNow();
    expectProblem(await bulk({ asOf }, T.viewer), 403);
    expectProblem(await bulk({ asOf }, T.editor), 403);
    expectProblem(await bulk({ asOf }, T['globex-admin']), 401);
    expectProblem(await call('POST', '/api/t/acme/revert', { body: { asOf } }), 401);
    expectProblem(await bulk({ asOf: 'last tuesday' }), 400);
    expectProblem(await bulk({ asOf: '2026-02-30T25:00:00Z' }), 400);
    expectProblem(await bulk({ asOf, types: ['Not A Type'] }), 400);
    expectProblem(await bulk({ asOf, types: [] }), 400);
    expectProblem(await bulk({ asOf, dryRun: 'yes' }), 400);
    expectProblem(await bulk({ asOf, operationId: 'x' }), 400, /does not match/);
    expectProblem(await bulk({ asOf: new Date(Date.now() + 86_400_000).toISOString() }), 400, /future/);
    expectProblem(await bulk({ asOf, types: ['nosuchtype'] }), 404);
    expectProblem(await call('POST', '/api/t/acme/revert', { token: T['acme-admin'], raw: 'not json' }), 400);
    const after = await call('GET', '/api/t/acme/audit?limit=1', { token: T['acme-admin'] });
    expect(after.json.items).toEqual(before.json.items);
  });
});

async function historyOf2(type: string, id: string): Promise<any[]> {
  const r = await call('GET', `/api/t/acme/records/${type}/${id}/history`, { token: T.viewer });
  expect(r.status, r.text).toBe(200);
  return r.json.items;
}

describe('revert and personal data (issue 14)', () => {
  it('values a revert brings back are sealed like any write; a person erased since asOf stays erased', async () => {
    const ERASED = { $erased: true };
    const person = {
      type: 'object',
      required: ['name'],
      properties: { name: { type: 'string', 'x-personal': true }, tier: { type: 'string' } },
    };
    expect((await call('PUT', '/api/t/acme/types/person', { token: T['acme-admin'], body: person })).status).toBe(201);
    const mk = async (name: string) =>
      (await call('POST', '/api/t/acme/records/person', { token: T.editor, body: { name, tier: 'gold' } })).json.id as string;
    const p = await mk('Revert Person Alpha');
    const q = await mk('Revert Person Beta');
    const asOf = await instantNow();
    for (const [id, name] of [
      [p, 'Alpha Renamed'],
      [q, 'Beta Renamed'],
    ] as const) {
      const r = await call('PATCH', `/api/t/acme/records/person/${id}`, {
        token: T.editor,
        body: { name, tier: 'silver' },
        headers: { 'if-match': '"1"' },
      });
      expect(r.status, r.text).toBe(200);
    }
    // Q's name comes back by a record revert; erasing Q afterwards erases it in the revert too
    // (had the revert stored it in clear, the current state would still show it).
    const rq = await call('POST', `/api/t/acme/records/person/${q}/revert`, {
      token: T.editor,
      body: { asOf },
      headers: { 'if-match': '"2"' },
    });
    expect(rq.status, rq.text).toBe(200);
    expect(rq.json.record.data).toEqual({ name: 'Revert Person Beta', tier: 'gold' });
    expect((await call('POST', `/api/t/acme/subjects/${q}/erase`, { token: T['acme-admin'], body: { reason: 'request 1' } })).status).toBe(
      200,
    );
    const gq = await call('GET', `/api/t/acme/records/person/${q}`, { token: T.viewer });
    expect(gq.json.data).toEqual({ name: ERASED, tier: 'gold' });
    const hq = await call('GET', `/api/t/acme/records/person/${q}/history`, { token: T.viewer });
    expect(JSON.stringify(hq.json)).not.toContain('Revert Person Beta');
    // P is erased after its change; reverting the type to asOf brings its tier back, its name stays erased.
    expect((await call('POST', `/api/t/acme/subjects/${p}/erase`, { token: T['acme-admin'], body: { reason: 'request 2' } })).status).toBe(
      200,
    );
    const run = await call('POST', '/api/t/acme/revert', { token: T['acme-admin'], body: { asOf, types: ['person'] } });
    expect(run.status, run.text).toBe(200);
    expect(run.json.counts).toMatchObject({ examined: 2, changed: 1, unchanged: 1, invalid: 0 });
    const gp = await call('GET', `/api/t/acme/records/person/${p}`, { token: T.viewer });
    expect(gp.json.data).toEqual({ name: ERASED, tier: 'gold' });
  });
});
