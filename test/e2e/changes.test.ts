/**
 * The pull change feed over HTTP (GET /api/t/{tenant}/changes) against the real host: paging,
 * resume, long poll, authorisation and bad positions. The `cosmos-e2e` project runs it again
 * on the Cosmos adapter against the change-feed stand-in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2eOnCosmos, type HostProcess, startHostProcess } from '../support/host-process';
import { client } from '../support/http-client';
import { seedTenants } from '../support/e2e-tenants';

let host: HostProcess;
const call = client(() => host.url);
const T: Record<string, string> = {};

function expectProblem(r: { status: number; headers: Headers; json: any }, status: number) {
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toContain('application/problem+json');
  expect(r.json).toMatchObject({ status, detail: expect.any(String) });
}

const changes = (tenant: string, token: string | undefined, q: Record<string, string | number> = {}) =>
  call(
    'GET',
    `/api/t/${tenant}/changes?${new URLSearchParams(Object.entries(q).map(([k, v]): [string, string] => [k, String(v)]))}`,
    token ? { token } : {},
  );

/** Reads the whole feed page by page; returns the commits and the final position. */
async function readAll(tenant: string, token: string, limit: number, after?: string) {
  const items: any[] = [];
  let position = after;
  for (let guard = 0; guard < 200; guard++) {
    const r = await changes(tenant, token, { limit, ...(position ? { after: position } : {}) });
    expect(r.status, r.text).toBe(200);
    items.push(...r.json.items);
    position = r.json.position;
    if (!r.json.more) return { items, position: position! };
  }
  throw new Error('the feed never ended');
}

const key = (c: { streamId: string; version: number }) => `${c.streamId}@${c.version}`;

/**
 * `resumed` continues `before` as the feed promises: on the embedded store exactly `expected`;
 * on Cosmos (ordered per partition-key range, see README) every commit of `expected` at least
 * once with nothing from outside it, and each stream's commits in version order.
 */
function expectContinues(resumed: string[], expected: string[]) {
  if (!e2eOnCosmos) return expect(resumed).toEqual(expected);
  expect(new Set(resumed)).toEqual(new Set(expected));
  const last = new Map<string, number>();
  for (const k of resumed) {
    const [stream, v] = [k.slice(0, k.lastIndexOf('@')), Number(k.slice(k.lastIndexOf('@') + 1))];
    expect(v).toBeGreaterThanOrEqual(last.get(stream) ?? 0);
    last.set(stream, v);
  }
}
const ids: string[] = [];

beforeAll(async () => {
  host = await startHostProcess();
  await seedTenants(call, host.operatorKey, T, { users: [['viewer', 'viewer']] });
  for (const t of ['acme', 'globex']) {
    const r = await call('PUT', `/api/t/${t}/types/item`, { token: T[`${t}-admin`], body: { type: 'object' } });
    expect(r.status, r.text).toBe(201);
  }
  for (let i = 0; i < 7; i++) {
    const r = await call('POST', '/api/t/acme/records/item', { token: T['acme-admin'], body: { n: i } });
    expect(r.status, r.text).toBe(201);
    ids.push(r.json.id);
  }
  const p = await call('PATCH', `/api/t/acme/records/item/${ids[0]}`, {
    token: T['acme-admin'],
    body: { n: 100 },
    headers: { 'if-match': '"1"' },
  });
  expect(p.status, p.text).toBe(200);
}, 120_000);

afterAll(async () => {
  const code = await host?.stop();
  host?.cleanup();
  expect(code).toBe(0);
});

describe('GET /api/t/{tenant}/changes', () => {
  it('gives every commit once, in order per record, with events, changes, author and time, whatever the page size', async () => {
    const one = await readAll('acme', T['acme-admin']!, 500);
    const small = await readAll('acme', T['acme-admin']!, 2);
    expectContinues(small.items.map(key), one.items.map(key));
    expect(new Set(one.items.map(key)).size).toBe(one.items.length);
    const records = one.items.filter((c) => c.recordType === 'item' && c.recordId);
    expect(records.map((c) => c.recordId).sort()).toEqual([...ids, ids[0]].sort());
    // In order per record: the first record's two commits in version order.
    expect(records.filter((c) => c.recordId === ids[0]).map((c) => c.version)).toEqual([1, 2]);
    const update = records.find((c) => c.recordId === ids[0] && c.version === 2);
    expect(update).toMatchObject({
      streamId: expect.any(String),
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      author: { kind: 'user', email: 'admin@acme.test' },
      correlationId: expect.any(String),
      position: expect.any(String),
      events: [{ type: 'RecordUpdated', changes: [{ path: '/n', old: 0, new: 100 }] }],
    });
  });

  it('resumes exactly after a page and after any single commit', async () => {
    const all = (await readAll('acme', T['acme-admin']!, 500)).items;
    const page = await changes('acme', T['acme-admin'], { limit: 4 });
    expect(page.status, page.text).toBe(200);
    const first: string[] = page.json.items.map(key);
    expect(first).toHaveLength(4);
    const rest = await readAll('acme', T['acme-admin']!, 3, page.json.position);
    expectContinues([...first, ...rest.items.map(key)], all.map(key));
    if (!e2eOnCosmos) expect(rest.items.map(key)).toEqual(all.slice(4).map(key));
    for (const i of [0, 2]) {
      const next = await readAll('acme', T['acme-admin']!, 2, page.json.items[i].position);
      expectContinues([...first.slice(0, i + 1), ...next.items.map(key)], all.map(key));
      if (!e2eOnCosmos) expect(next.items.map(key)).toEqual(all.slice(i + 1).map(key));
    }
  });

  it('shows identity events to administrators only, as the audit log does', async () => {
    const adminView = (await readAll('acme', T['acme-admin']!, 500)).items;
    const viewerView = (await readAll('acme', T.viewer!, 500)).items;
    expect(adminView.some((c) => c.events.some((e: any) => e.type === 'UserCreated'))).toBe(true);
    expect(viewerView.some((c) => !c.recordType)).toBe(false);
    expectContinues(viewerView.map(key), adminView.filter((c) => c.recordType).map(key));
    // Small pages step over hidden commits and still give the viewer all of its commits.
    expectContinues((await readAll('acme', T.viewer!, 1)).items.map(key), viewerView.map(key));
  });

  it('long poll: a waiting request answers with the change that arrives while it waits', async () => {
    const { position } = await readAll('acme', T.viewer!, 500);
    const waiting = changes('acme', T.viewer, { after: position, wait: 60 });
    const created = await call('POST', '/api/t/acme/records/item', { token: T['acme-admin'], body: { n: 'late' } });
    expect(created.status, created.text).toBe(201);
    const r = await waiting;
    expect(r.status, r.text).toBe(200);
    expect(r.json.items.map((c: any) => c.recordId)).toEqual([created.json.id]);
    // With nothing new, a short wait answers an empty page whose position is still good.
    const empty = await changes('acme', T.viewer, { after: r.json.position, wait: 1 });
    expect(empty.status, empty.text).toBe(200);
    expect(empty.json).toMatchObject({ items: [], more: false, position: expect.any(String) });
    // A client that gives up on a long poll does not break the host.
    const ac = new AbortController();
    const gone = fetch(`${host.url}/api/t/acme/changes?wait=60&after=${encodeURIComponent(r.json.position)}`, {
      headers: { authorization: `Bearer ${T.viewer}` },
      signal: ac.signal,
    }).catch((e: unknown) => e);
    ac.abort();
    expect(await gone).toMatchObject({ name: 'AbortError' });
    expect((await changes('acme', T.viewer, { after: r.json.position })).status).toBe(200);
  });

  it('refuses callers without a token of this tenant (401)', async () => {
    expectProblem(await changes('acme', undefined), 401);
    expectProblem(await changes('acme', T['globex-admin']), 401);
  });

  it("refuses a malformed, changed or other tenant's position, and bad limit or wait (400)", async () => {
    const mine = await changes('acme', T.viewer, { limit: 1 });
    const theirs = await changes('globex', T['globex-admin'], { limit: 1 });
    expect(theirs.status, theirs.text).toBe(200);
    const p: string = mine.json.position;
    const tampered = `${p.slice(0, 40)}${p[40] === 'A' ? 'B' : 'A'}${p.slice(41)}`;
    for (const after of ['nonsense', tampered, theirs.json.position, 'x'.repeat(3_000)]) {
      const r = await changes('acme', T.viewer, { after });
      expectProblem(r, 400);
    }
    expectProblem(await changes('acme', T.viewer, { limit: 0 }), 400);
    expectProblem(await changes('acme', T.viewer, { wait: -1 }), 400);
    expectProblem(await changes('acme', T.viewer, { wait: 'soon' }), 400);
    // globex never sees acme's commits, and acme's records are not in globex's feed.
    const g = await readAll('globex', T['globex-admin']!, 500);
    expect(g.items.some((c) => ids.includes(c.recordId))).toBe(false);
  });
});
