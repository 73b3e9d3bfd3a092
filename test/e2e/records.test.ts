import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2eOnCosmos, startHostProcess, type HostProcess } from '../support/host-process';
import { client, type CallResult } from '../support/http-client';
import { seedTenants } from '../support/e2e-tenants';

let host: HostProcess;
const call = client(() => host.url);
const T: Record<string, string> = {};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function expectProblem(r: CallResult, status: number) {
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get('content-type')).toContain('application/problem+json');
  expect(r.json).toMatchObject({ status, detail: expect.any(String) });
}

const customerSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1 },
    email: { type: 'string', format: 'email' },
    vip: { type: 'boolean' },
    score: { type: 'number' },
    address: { type: 'object', properties: { city: { type: 'string' }, zip: { type: 'string' } } },
    tags: { type: 'array', items: { type: 'string' } },
  },
  additionalProperties: false,
};

beforeAll(async () => {
  host = await startHostProcess();
  await seedTenants(call, host.operatorKey, T, {
    users: [
      ['ed1', 'editor'],
      ['ed2', 'editor'],
      ['viewer', 'viewer'],
    ],
  });
  const put = await call('PUT', '/api/t/acme/types/customer', { token: T['acme-admin'], body: customerSchema });
  expect(put.status, put.text).toBe(201);
});

afterAll(async () => {
  await host?.stop();
  host?.cleanup();
});

describe('entity types', () => {
  it('admin defines a type; a changed schema is an audited event; viewers list them', async () => {
    const again = await call('PUT', '/api/t/acme/types/customer', { token: T['acme-admin'], body: customerSchema });
    expect(again.status).toBe(200);
    expect(again.json.version).toBe(1);
    const other = await call('PUT', '/api/t/acme/types/order', { token: T['acme-admin'], body: { type: 'object' } });
    expect(other.status).toBe(201);
    const changed = await call('PUT', '/api/t/acme/types/order', { token: T['acme-admin'], body: { type: 'object', required: ['total'] } });
    expect(changed.status).toBe(200);
    expect(changed.json.version).toBe(3);
    const list = await call('GET', '/api/t/acme/types', { token: T.viewer });
    expect(list.json.items.map((t: { type: string }) => t.type)).toEqual(['customer', 'order']);
    const audit = await call('GET', '/api/t/acme/audit?type=order', { token: T['acme-admin'] });
    expect(audit.json.items[0]).toMatchObject({
      eventType: 'TypeSchemaSet',
      recordType: 'order',
      changes: [{ path: '/schema/required/0', new: 'total' }],
    });
  });

  it('invalid schemas → 422; editors may not define types; bad names → 400', async () => {
    expectProblem(await call('PUT', '/api/t/acme/types/bad', { token: T['acme-admin'], body: { type: 'objekt' } }), 422);
    expectProblem(await call('PUT', '/api/t/acme/types/bad', { token: T.ed1, body: { type: 'object' } }), 403);
    expectProblem(await call('PUT', '/api/t/acme/types/Bad%20Name', { token: T['acme-admin'], body: { type: 'object' } }), 400);
    expectProblem(await call('GET', '/api/t/acme/types/bad', { token: T['acme-admin'] }), 404);
  });
});

describe('the story: create, change twice as two users, history, asOf, list, export', () => {
  let id: string;
  const times: string[] = [];

  it('creates a record (201, ETag, Location, author and time)', async () => {
    const r = await call('POST', '/api/t/acme/records/customer', {
      token: T.ed1,
      body: { name: 'Novák s.r.o.', address: { city: 'Brno', zip: '60200' }, tags: ['a'] },
    });
    expect(r.status, r.text).toBe(201);
    id = r.json.id;
    expect(r.json).toMatchObject({
      type: 'customer',
      version: 1,
      data: { name: 'Novák s.r.o.' },
      createdBy: { email: 'ed1@acme.test' },
      updatedBy: { email: 'ed1@acme.test' },
    });
    expect(r.headers.get('etag')).toBe('"1"');
    expect(r.headers.get('location')).toBe(`/api/t/acme/records/customer/${id}`);
    times.push(r.json.updatedAt);
  });

  it('changes it twice as two users, with If-Match', async () => {
    await sleep(5);
    const a = await call('PATCH', `/api/t/acme/records/customer/${id}`, {
      token: T.ed2,
      body: { address: { city: 'Praha' }, vip: true },
      headers: { 'if-match': '"1"' },
    });
    expect(a.status, a.text).toBe(200);
    expect(a.json).toMatchObject({
      version: 2,
      data: { address: { city: 'Praha', zip: '60200' }, vip: true },
      updatedBy: { email: 'ed2@acme.test' },
    });
    times.push(a.json.updatedAt);
    await sleep(5);
    const b = await call('PATCH', `/api/t/acme/records/customer/${id}`, {
      token: T.ed1,
      body: { tags: ['a', 'b'], vip: null },
      contentType: 'application/merge-patch+json',
      headers: { 'if-match': '"2"' },
    });
    expect(b.status, b.text).toBe(200);
    expect(b.json.version).toBe(3);
    expect(b.json.data).toEqual({ name: 'Novák s.r.o.', address: { city: 'Praha', zip: '60200' }, tags: ['a', 'b'] });
    times.push(b.json.updatedAt);
  });

  it('history lists every change with old and new values, author and time, paged', async () => {
    const h = await call('GET', `/api/t/acme/records/customer/${id}/history`, { token: T.viewer });
    expect(h.status).toBe(200);
    expect(h.json.items.map((i: { version: number }) => i.version)).toEqual([1, 2, 3]);
    expect(h.json.items[1]).toMatchObject({ author: { email: 'ed2@acme.test' }, events: [{ type: 'RecordUpdated' }] });
    expect(h.json.items[1].events[0].changes).toEqual(
      expect.arrayContaining([
        { path: '/address/city', old: 'Brno', new: 'Praha' },
        { path: '/vip', new: true },
      ]),
    );
    expect(h.json.items[2].events[0].changes).toEqual(
      expect.arrayContaining([
        { path: '/tags/1', new: 'b' },
        { path: '/vip', old: true },
      ]),
    );
    const p1 = await call('GET', `/api/t/acme/records/customer/${id}/history?limit=2`, { token: T.viewer });
    expect(p1.json.items).toHaveLength(2);
    const p2 = await call('GET', `/api/t/acme/records/customer/${id}/history?limit=2&continuation=${p1.json.continuation}`, {
      token: T.viewer,
    });
    expect(p2.json.items.map((i: { version: number }) => i.version)).toEqual([3]);
    expect(p2.json.continuation).toBeUndefined();
  });

  it('reads the record as of a moment between the two changes', async () => {
    const between = new Date(Date.parse(times[1]!) + 1).toISOString();
    expect(between < times[2]!).toBe(true);
    const r = await call('GET', `/api/t/acme/records/customer/${id}?asOf=${between}`, { token: T.viewer });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ version: 2, data: { vip: true, address: { city: 'Praha' } } });
    const before = await call('GET', `/api/t/acme/records/customer/${id}?asOf=2020-01-01T00:00:00Z`, { token: T.viewer });
    expectProblem(before, 404);
    expectProblem(await call('GET', `/api/t/acme/records/customer/${id}?asOf=yesterday`, { token: T.viewer }), 400);
    expectProblem(await call('GET', `/api/t/acme/records/customer/${id}?asOf=2026-13-45T99:00:00Z`, { token: T.viewer }), 400);
  });

  it('lists with equality filters, sort and paging; and as of an instant', async () => {
    const names = ['Alfa', 'Beta', 'Gama', 'Delta'];
    for (const [i, name] of names.entries()) {
      const r = await call('POST', '/api/t/acme/records/customer', {
        token: T.ed1,
        body: { name, score: i, vip: i % 2 === 0, address: { city: i < 2 ? 'Brno' : 'Ostrava' } },
      });
      expect(r.status).toBe(201);
    }
    const brno = await call('GET', '/api/t/acme/records/customer?address.city=Brno&sort=name', { token: T.viewer });
    expect(brno.json.items.map((r: { data: { name: string } }) => r.data.name)).toEqual(['Alfa', 'Beta']);
    const vip = await call('GET', '/api/t/acme/records/customer?vip=true&sort=-score', { token: T.viewer });
    expect(vip.json.items.map((r: { data: { name: string } }) => r.data.name)).toEqual(['Gama', 'Alfa']);
    const seen: string[] = [];
    let cont: string | undefined;
    do {
      const page: CallResult = await call('GET', `/api/t/acme/records/customer?limit=2&sort=name${cont ? `&continuation=${cont}` : ''}`, {
        token: T.viewer,
      });
      expect(page.json.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.json.items.map((r: { data: { name: string } }) => r.data.name));
      cont = page.json.continuation;
    } while (cont);
    expect(seen).toEqual(['Alfa', 'Beta', 'Delta', 'Gama', 'Novák s.r.o.']);
    const asOf = await call('GET', `/api/t/acme/records/customer?asOf=${times[2]}`, { token: T.viewer });
    expect(asOf.json.items.map((r: { id: string }) => r.id)).toEqual([id]);
    expectProblem(await call('GET', '/api/t/acme/records/customer?sort=name&asOf=2026-01-01T00:00:00Z', { token: T.viewer }), 400);
    expectProblem(await call('GET', '/api/t/acme/records/customer?bad-field=1', { token: T.viewer }), 400);
  });

  it('exports the tenant as NDJSON as of a date', async () => {
    const now = await fetch(`${host.url}/api/t/acme/export`, { headers: { authorization: `Bearer ${T.viewer}` } });
    expect(now.status).toBe(200);
    expect(now.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await now.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(5);
    const then = await fetch(`${host.url}/api/t/acme/export?asOf=${times[1]}`, { headers: { authorization: `Bearer ${T.viewer}` } });
    const old = (await then.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(old).toEqual([expect.objectContaining({ id, version: 2 })]);
  });

  it('deletion is an event: GET → 410, history and asOf still show everything', async () => {
    expectProblem(await call('DELETE', `/api/t/acme/records/customer/${id}`, { token: T.ed1 }), 428);
    expectProblem(await call('DELETE', `/api/t/acme/records/customer/${id}`, { token: T.ed1, headers: { 'if-match': '"2"' } }), 412);
    const d = await call('DELETE', `/api/t/acme/records/customer/${id}`, { token: T.ed1, headers: { 'if-match': '"3"' } });
    expect(d.status).toBe(204);
    expectProblem(await call('GET', `/api/t/acme/records/customer/${id}`, { token: T.viewer }), 410);
    expectProblem(
      await call('PATCH', `/api/t/acme/records/customer/${id}`, { token: T.ed1, body: { name: 'x' }, headers: { 'if-match': '"4"' } }),
      410,
    );
    const h = await call('GET', `/api/t/acme/records/customer/${id}/history`, { token: T.viewer });
    expect(h.json.items.at(-1)).toMatchObject({ version: 4, events: [{ type: 'RecordDeleted' }] });
    expect(h.json.items.at(-1).events[0].changes).toEqual(expect.arrayContaining([{ path: '/name', old: 'Novák s.r.o.' }]));
    const r = await call('GET', `/api/t/acme/records/customer/${id}?asOf=${times[2]}`, { token: T.viewer });
    expect(r.json.version).toBe(3);
    const list = await call('GET', '/api/t/acme/records/customer', { token: T.viewer });
    expect(list.json.items.map((x: { id: string }) => x.id)).not.toContain(id);
  });
});

describe('commands: validation, concurrency, idempotency', () => {
  it('schema violations → 422 listing each failing path; nothing is written', async () => {
    const r = await call('POST', '/api/t/acme/records/customer', {
      token: T.ed1,
      body: { email: 'not-an-email', score: 'high', extra: 1 },
    });
    expectProblem(r, 422);
    const paths = r.json.errors.map((e: { path: string }) => e.path).sort();
    expect(paths).toEqual(expect.arrayContaining(['/name', '/email', '/score']));
    const created = await call('POST', '/api/t/acme/records/customer', { token: T.ed1, body: { name: 'Valid' } });
    const bad = await call('PATCH', `/api/t/acme/records/customer/${created.json.id}`, {
      token: T.ed1,
      body: { name: '' },
      headers: { 'if-match': '"1"' },
    });
    expectProblem(bad, 422);
    expect((await call('GET', `/api/t/acme/records/customer/${created.json.id}`, { token: T.ed1 })).json.version).toBe(1);
  });

  it('PATCH: missing If-Match → 428, stale → 412, no-op appends nothing', async () => {
    const c = await call('POST', '/api/t/acme/records/customer', { token: T.ed1, body: { name: 'Conc' } });
    const path = `/api/t/acme/records/customer/${c.json.id}`;
    expectProblem(await call('PATCH', path, { token: T.ed1, body: { name: 'X' } }), 428);
    expect((await call('PATCH', path, { token: T.ed1, body: { name: 'X' }, headers: { 'if-match': '"1"' } })).status).toBe(200);
    expectProblem(await call('PATCH', path, { token: T.ed2, body: { name: 'Y' }, headers: { 'if-match': '"1"' } }), 412);
    const same = await call('PATCH', path, { token: T.ed1, body: { name: 'X' }, headers: { 'if-match': '"2"' } });
    expect(same.json.version).toBe(2);
    expect((await call('GET', `${path}/history`, { token: T.ed1 })).json.items).toHaveLength(2);
  });

  it('Idempotency-Key: same key + body replays the first response and appends nothing; other body → 422', async () => {
    const key = { 'idempotency-key': 'create-42' };
    const a = await call('POST', '/api/t/acme/records/customer', { token: T.ed1, body: { name: 'Idem' }, headers: key });
    const b = await call('POST', '/api/t/acme/records/customer', { token: T.ed1, body: { name: 'Idem' }, headers: key });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.json).toEqual(a.json);
    expect(b.headers.get('idempotency-replayed')).toBe('true');
    expectProblem(await call('POST', '/api/t/acme/records/customer', { token: T.ed1, body: { name: 'Other' }, headers: key }), 422);
    const path = `/api/t/acme/records/customer/${a.json.id}`;
    const p1 = await call('PATCH', path, { token: T.ed1, body: { score: 1 }, headers: { 'if-match': '"1"', 'idempotency-key': 'p-1' } });
    const p2 = await call('PATCH', path, { token: T.ed1, body: { score: 1 }, headers: { 'if-match': '"1"', 'idempotency-key': 'p-1' } });
    expect(p1.json).toEqual(p2.json);
    expect(p2.json.version).toBe(2);
    expectProblem(
      await call('PATCH', path, { token: T.ed1, body: { score: 2 }, headers: { 'if-match': '"1"', 'idempotency-key': 'p-1' } }),
      422,
    );
    expect((await call('GET', `${path}/history`, { token: T.ed1 })).json.items).toHaveLength(2);
  });

  it('unknown type → 404, malformed ids → 404', async () => {
    expectProblem(await call('POST', '/api/t/acme/records/nope', { token: T.ed1, body: { a: 1 } }), 404);
    expectProblem(await call('GET', '/api/t/acme/records/customer/not-an-id', { token: T.ed1 }), 404);
  });
});

describe('audit, status and projections', () => {
  it('the audit log is newest first, filtered by author, type and time; identity events for admins only', async () => {
    const all = await call('GET', '/api/t/acme/audit?limit=500', { token: T['acme-admin'] });
    const stamps = all.json.items.map((e: { timestamp: string }) => e.timestamp);
    expect([...stamps].sort().reverse()).toEqual(stamps);
    const byEd2 = await call('GET', '/api/t/acme/audit?author=ed2@acme.test', { token: T.viewer });
    expect(byEd2.json.items.length).toBeGreaterThan(0);
    expect(byEd2.json.items.every((e: { author: { email: string } }) => e.author.email === 'ed2@acme.test')).toBe(true);
    const future = await call('GET', '/api/t/acme/audit?from=2100-01-01T00:00:00Z', { token: T.viewer });
    expect(future.json.items).toEqual([]);
    expectProblem(await call('GET', '/api/t/acme/audit?from=soon', { token: T.viewer }), 400);
    // Identity events reach the audit through the feed projector (timer, every 2 s).
    let identity: unknown[] = [];
    for (let i = 0; i < 40 && identity.length < 4; i++) {
      const r = await call('GET', '/api/t/acme/audit?limit=500', { token: T['acme-admin'] });
      identity = r.json.items.filter((e: { eventType: string }) => e.eventType === 'UserCreated');
      if (identity.length < 4) await sleep(250);
    }
    expect(identity.length).toBeGreaterThanOrEqual(4);
    const asViewer = await call('GET', '/api/t/acme/audit?limit=500', { token: T.viewer });
    expect(asViewer.json.items.some((e: { eventType: string }) => e.eventType.startsWith('User'))).toBe(false);
    const p1 = await call('GET', '/api/t/acme/audit?limit=3', { token: T['acme-admin'] });
    const p2 = await call('GET', `/api/t/acme/audit?limit=3&continuation=${p1.json.continuation}`, { token: T['acme-admin'] });
    expect(p2.json.items[0].timestamp <= p1.json.items[2].timestamp).toBe(true);
  });

  it('status shows the projection position and lag; a rebuild switches generation without stopping commands', async () => {
    const status = async () => {
      const s = await call('GET', '/api/t/acme/status', { token: T['acme-admin'] });
      expect(s.status).toBe(200);
      return s.json.projections[0];
    };
    // The checkpoint passes the last commits when the projector runs (~100 ms after an append, or
    // the 2 s timer): polled for, not read once after a fixed wait a busy machine can outlast.
    await expect
      .poll(
        async () => {
          const q = await status();
          return e2eOnCosmos ? q.lagMs : q.behindCommits;
        },
        { timeout: 30_000 },
      )
      .toBe(0);
    const p = await status();
    expect(p).toMatchObject({ name: 'records-and-audit', generation: 1, failures: 0, parked: [] });
    expect(p.appliedCommits).toBeGreaterThan(0);
    if (e2eOnCosmos) {
      // The change feed cannot count what lies behind a checkpoint (README, Records): lag in time only.
      expect(p.behindCommits).toBeNull();
      expect(p.lagMs).toBe(0);
    } else expect(p.behindCommits).toBe(0);
    expectProblem(await call('GET', '/api/t/acme/status', { token: T.viewer }), 403);
    const before = await call('GET', '/api/t/acme/records/customer?limit=500', { token: T.viewer });
    const [rebuild, during] = await Promise.all([
      call('POST', '/api/tenants/acme/projections/rebuild', { token: host.operatorKey }),
      call('POST', '/api/t/acme/records/customer', { token: T.ed1, body: { name: 'During rebuild' } }),
    ]);
    expect(rebuild.status, rebuild.text).toBe(200);
    expect(rebuild.json.generation).toBe(2);
    expect(during.status).toBe(201);
    let after: CallResult | undefined;
    for (let i = 0; i < 20; i++) {
      after = await call('GET', '/api/t/acme/records/customer?limit=500', { token: T.viewer });
      if (after.json.items.length === before.json.items.length + 1) break;
      await sleep(250);
    }
    expect(after!.json.items.map((r: { id: string }) => r.id).sort()).toEqual(
      [...before.json.items.map((r: { id: string }) => r.id), during.json.id].sort(),
    );
    expectProblem(await call('POST', '/api/tenants/acme/projections/rebuild', { token: T['acme-admin'] }), 401);
  });
});

describe('every records endpoint rejects bad callers and bad input', () => {
  let rid: string;
  beforeAll(async () => {
    const r = await call('POST', '/api/t/acme/records/customer', { token: T.ed1, body: { name: 'Target' } });
    rid = r.json.id;
  });
  type Need = 'admin' | 'write' | 'read';
  const eps: Array<{ name: string; method: string; path: () => string; need: Need; body?: unknown; headers?: Record<string, string> }> = [
    { name: 'putType', method: 'PUT', path: () => '/api/t/acme/types/customer', need: 'admin', body: { type: 'object' } },
    { name: 'listTypes', method: 'GET', path: () => '/api/t/acme/types', need: 'read' },
    { name: 'getType', method: 'GET', path: () => '/api/t/acme/types/customer', need: 'read' },
    { name: 'createRecord', method: 'POST', path: () => '/api/t/acme/records/customer', need: 'write', body: { name: 'Nope' } },
    {
      name: 'patchRecord',
      method: 'PATCH',
      path: () => `/api/t/acme/records/customer/${rid}`,
      need: 'write',
      body: { name: 'Nope' },
      headers: { 'if-match': '"1"' },
    },
    {
      name: 'deleteRecord',
      method: 'DELETE',
      path: () => `/api/t/acme/records/customer/${rid}`,
      need: 'write',
      headers: { 'if-match': '"1"' },
    },
    { name: 'getRecord', method: 'GET', path: () => `/api/t/acme/records/customer/${rid}`, need: 'read' },
    { name: 'getRecordHistory', method: 'GET', path: () => `/api/t/acme/records/customer/${rid}/history`, need: 'read' },
    { name: 'listRecords', method: 'GET', path: () => '/api/t/acme/records/customer', need: 'read' },
    { name: 'getAudit', method: 'GET', path: () => '/api/t/acme/audit', need: 'read' },
    { name: 'exportTenant', method: 'GET', path: () => '/api/t/acme/export', need: 'read' },
    { name: 'getTenantProjectionStatus', method: 'GET', path: () => '/api/t/acme/status', need: 'admin' },
  ];
  for (const ep of eps) {
    describe(ep.name, () => {
      const base = () => ({ ...(ep.body ? { body: ep.body } : {}), headers: ep.headers ?? {} });
      it('no token / garbage token / another tenant → 401', async () => {
        expectProblem(await call(ep.method, ep.path(), base()), 401);
        expectProblem(await call(ep.method, ep.path(), { ...base(), token: 'x.y.z' }), 401);
        expectProblem(await call(ep.method, ep.path(), { ...base(), token: T['globex-admin'] }), 401);
      });
      if (ep.need !== 'read') {
        it('wrong role → 403', async () => {
          expectProblem(await call(ep.method, ep.path(), { ...base(), token: ep.need === 'admin' ? T.ed1 : T.viewer }), 403);
        });
      }
      if (ep.body) {
        it('malformed JSON → 400, wrong content type → 415, oversized → 413', async () => {
          const token = ep.need === 'admin' ? T['acme-admin'] : T.ed1;
          expectProblem(await call(ep.method, ep.path(), { token, raw: '{"name": ', headers: ep.headers ?? {} }), 400);
          expectProblem(
            await call(ep.method, ep.path(), { token, raw: JSON.stringify(ep.body), contentType: 'text/plain', headers: ep.headers ?? {} }),
            415,
          );
          expectProblem(
            await call(ep.method, ep.path(), { token, raw: JSON.stringify({ name: 'x'.repeat(70_000) }), headers: ep.headers ?? {} }),
            413,
          );
          expectProblem(await call(ep.method, ep.path(), { token, raw: '[1,2]', headers: ep.headers ?? {} }), 400);
        });
      }
    });
  }
  afterAll(async () => {
    const r = await call('GET', `/api/t/acme/records/customer/${rid}`, { token: T.ed1 });
    expect(r.json).toMatchObject({ version: 1, data: { name: 'Target' } });
    const types = await call('GET', '/api/t/acme/types/customer', { token: T.ed1 });
    expect(types.json.version).toBe(1);
  });
});
