/**
 * CosmosEventStore.feedFingerprint with `commitsSince` (LogFingerprintOptions): documents
 * that are not commits (a projection's own) written after a fingerprint leave it as it was, a
 * commit does not, whoever read the feed in between. Against the change-feed stand-in (3
 * partition key ranges), with the real SDK.
 */
import type { Container, Database } from '@azure/cosmos';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CosmosEventStore } from '../../shared/adapters/cosmos/cosmos-event-store';
import type { AppendMeta } from '../../shared/domain/events';
import { systemClock } from '../../shared/ports/runtime';
import { type CosmosTestServer, startCosmosServer, uniqueId } from '../support/cosmos-server';

const meta: AppendMeta = { author: { kind: 'operator', id: 'op' }, correlationId: 'c' };
let server: CosmosTestServer;
let database: Database;
let container: Container;
let store: CosmosEventStore;

beforeAll(async () => {
  server = await startCosmosServer({ ranges: 3 });
  ({ database } = await server.client.databases.create({ id: uniqueId('fp') }));
  ({ container } = await database.containers.create({ id: uniqueId('tenant'), partitionKey: { paths: ['/streamId'] } }));
  store = new CosmosEventStore('t', container, systemClock);
});
afterAll(async () => {
  await database?.delete().catch(() => undefined);
  await server?.close();
});

/** A document of the kind a projection writes (not a commit), in some partition. */
const projectionWrite = (n: number) => container.items.upsert({ id: `view-${n}`, streamId: `$projection:${n}`, kind: 'view', n });

it('stays at a fingerprint while only documents that are not commits are written, and moves on with a commit', async () => {
  await store.append('s-1', 0, [{ type: 'E', data: 1 }], meta);
  const mark = await store.feedFingerprint();
  expect(await store.feedFingerprint({ commitsSince: mark })).toBe(mark); // nothing written

  // Only "own" writes since the mark: asked relative to it, the fingerprint is the mark; asked
  // plainly, it has moved (the feed has).
  await projectionWrite(1);
  await projectionWrite(2);
  expect(await store.feedFingerprint({ commitsSince: mark })).toBe(mark);
  const end = await store.feedFingerprint();
  expect(end).not.toBe(mark);
  await projectionWrite(3);
  expect(await store.feedFingerprint({ commitsSince: mark })).toBe(mark);
  expect(await store.feedFingerprint({ commitsSince: end })).toBe(end);

  // A commit (with own writes around it): the mark is left behind, even when another caller
  // read the feed past the commit first (its read is counted too).
  await store.append('s-2', 0, [{ type: 'E', data: 2 }], meta);
  const sawIt = await store.feedFingerprint();
  await projectionWrite(4);
  const now = await store.feedFingerprint({ commitsSince: mark });
  expect(now).not.toBe(mark);
  expect(now).not.toBe(sawIt); // write 4 came after
  expect(await store.feedFingerprint({ commitsSince: end })).not.toBe(end);
  expect(await store.feedFingerprint({ commitsSince: sawIt })).toBe(sawIt); // only write 4 since

  // A fingerprint this store never handed out (another process's, a forged one) is never "the same".
  const foreign = await store.feedFingerprint({ commitsSince: 'not-one-of-mine' });
  expect(foreign).not.toBe('not-one-of-mine');
  expect(foreign).toBe(await store.feedFingerprint());
});
