import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeFeedMode, ChangeFeedStartFrom, StatusCodes, type Container, type Database } from '@azure/cosmos';
import { startCosmosServer, uniqueId, type CosmosTestServer } from '../support/cosmos-server';

// The change-feed stand-in (host/cosmos-standin.ts) driven by the real @azure/cosmos SDK, the
// way the service drives it. Against a real account (COSMOS_ENDPOINT) the same expectations
// hold, except the ones about the stand-in's own range layout (skipped there).

let server: CosmosTestServer;
let database: Database;
beforeAll(async () => {
  server = await startCosmosServer({ ranges: 3 });
  ({ database } = await server.client.databases.create({ id: uniqueId('standin') }));
});
afterAll(async () => {
  await database?.delete().catch(() => undefined);
  await server?.close();
});

async function freshContainer(): Promise<Container> {
  const { container } = await database.containers.create({ id: uniqueId('c'), partitionKey: { paths: ['/pk'] } });
  return container;
}

type Doc = { id: string; pk: string; n: number; _lsn?: number };

/** Reads the feed from `token` until the SDK says 304 (every range checked, nothing new). */
async function drain(container: Container, token: string | undefined, maxItemCount?: number) {
  const iterator = container.items.getChangeFeedIterator<Doc>({
    changeFeedStartFrom: token === undefined ? ChangeFeedStartFrom.Beginning() : ChangeFeedStartFrom.Continuation(token),
    changeFeedMode: ChangeFeedMode.LatestVersion,
    ...(maxItemCount !== undefined ? { maxItemCount } : {}),
  });
  const pages: Doc[][] = [];
  let last = token;
  for (let guard = 0; guard < 200; guard++) {
    const page = await iterator.readNext();
    last = page.continuationToken ?? last;
    if (page.statusCode === StatusCodes.NotModified) return { pages, token: last!, status304: true };
    pages.push(page.result);
  }
  throw new Error('feed never said 304');
}

describe('Cosmos change-feed stand-in with the real SDK', () => {
  it('reports several partition key ranges that tile the whole key space', async () => {
    const container = await freshContainer();
    const { resources } = await container.readPartitionKeyRanges().fetchAll();
    if (server.real) return;
    expect(resources.map((r) => r.id)).toEqual(['0', '1', '2']);
    expect(resources[0]!.minInclusive).toBe('');
    expect(resources.at(-1)!.maxExclusive).toBe('FF');
    for (let i = 1; i < resources.length; i++) expect(resources[i]!.minInclusive).toBe(resources[i - 1]!.maxExclusive);
  });

  it('from the beginning: every document once, ordered within each partition key, then 304', async () => {
    const container = await freshContainer();
    for (let n = 0; n < 4; n++) for (const pk of ['a', 'b', 'c', 'd', 'e', 'f']) await container.items.create({ id: `${pk}${n}`, pk, n });
    const { pages, token } = await drain(container, undefined);
    const all = pages.flat();
    expect(all).toHaveLength(24);
    for (const pk of ['a', 'b', 'c', 'd', 'e', 'f']) {
      expect(all.filter((d) => d.pk === pk).map((d) => d.n)).toEqual([0, 1, 2, 3]);
    }
    // Each page comes from one range, with strictly increasing LSNs.
    for (const page of pages) {
      const lsns = page.map((d) => d._lsn!);
      expect(lsns).toEqual([...lsns].sort((x, y) => x - y));
    }
    // The continuation is a composite token with one position per range.
    const parsed = JSON.parse(token) as { Continuation: { continuationToken: string }[] };
    if (!server.real) {
      expect(parsed.Continuation).toHaveLength(3);
      // Six partition keys spread over more than one range.
      expect(pages.length).toBeGreaterThan(1);
    }
    const again = await drain(container, token);
    expect(again.pages).toEqual([]);
  });

  it('maxItemCount pages: the continuation moves only past what was delivered', async () => {
    const container = await freshContainer();
    for (let n = 0; n < 7; n++) await container.items.create({ id: `x${n}`, pk: `p${n % 3}`, n });
    const seen: Doc[] = [];
    let token: string | undefined;
    for (let guard = 0; guard < 30; guard++) {
      const iterator = container.items.getChangeFeedIterator<Doc>({
        changeFeedStartFrom: token === undefined ? ChangeFeedStartFrom.Beginning() : ChangeFeedStartFrom.Continuation(token),
        changeFeedMode: ChangeFeedMode.LatestVersion,
        maxItemCount: 2,
      });
      // One page per fresh iterator: resuming from each page's token must neither skip nor repeat.
      const page = await iterator.readNext();
      token = page.continuationToken;
      if (page.statusCode === StatusCodes.NotModified) break;
      expect(page.result.length).toBeLessThanOrEqual(2);
      seen.push(...page.result);
    }
    expect(seen.map((d) => d.id).sort()).toEqual(['x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6']);
  });

  it('a document changed after the checkpoint comes once, in its newest version; deletes do not appear', async () => {
    const container = await freshContainer();
    await container.items.create({ id: 'u', pk: 'k1', n: 1 });
    await container.items.create({ id: 'gone', pk: 'k2', n: 1 });
    const first = await drain(container, undefined);
    expect(
      first.pages
        .flat()
        .map((d) => d.id)
        .sort(),
    ).toEqual(['gone', 'u']);
    await container.items.upsert({ id: 'u', pk: 'k1', n: 2 });
    await container.item('u', 'k1').replace({ id: 'u', pk: 'k1', n: 3 });
    await container.item('gone', 'k2').delete();
    await container.items.create({ id: 'new', pk: 'k2', n: 1 });
    const next = await drain(container, first.token);
    const docs = next.pages.flat();
    expect(docs.map((d) => `${d.id}:${d.n}`).sort()).toEqual(['new:1', 'u:3']);
  });

  it('start from now sees only later writes', async () => {
    const container = await freshContainer();
    await container.items.create({ id: 'before', pk: 'z', n: 0 });
    const iterator = container.items.getChangeFeedIterator<Doc>({
      changeFeedStartFrom: ChangeFeedStartFrom.Now(),
      changeFeedMode: ChangeFeedMode.LatestVersion,
    });
    const empty = await iterator.readNext();
    expect(empty.statusCode).toBe(StatusCodes.NotModified);
    await container.items.create({ id: 'after', pk: 'z', n: 1 });
    const { pages } = await drain(container, empty.continuationToken);
    expect(pages.flat().map((d) => d.id)).toEqual(['after']);
  });

  it('cross-partition queries see every document once', async () => {
    const container = await freshContainer();
    for (let n = 0; n < 9; n++) await container.items.create({ id: `q${n}`, pk: `p${n}`, n });
    const { resources } = await container.items.query<{ n: number }>('SELECT c.n FROM c').fetchAll();
    expect(resources.map((r) => r.n).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const { resources: top } = await container.items.query<{ n: number }>('SELECT TOP 1 c.n FROM c ORDER BY c.n DESC').fetchAll();
    expect(top).toEqual([{ n: 8 }]);
  });

  it.skipIf(!!process.env.COSMOS_ENDPOINT)('counts what it recorded', async () => {
    const before = server.stats!();
    const container = await freshContainer();
    await container.items.create({ id: 's', pk: 's', n: 0 });
    await drain(container, undefined);
    const after = server.stats!();
    expect(after.writes - before.writes).toBe(1);
    expect(after.feedRequests - before.feedRequests).toBeGreaterThanOrEqual(3);
  });
});
