import { afterAll, describe, expect, it } from 'vitest';
import type { Container, Database } from '@azure/cosmos';
import { CosmosEventStore } from '../../shared/adapters/cosmos/cosmos-event-store';
import { CosmosProjectionStore } from '../../shared/adapters/cosmos/cosmos-projection-store';
import { isAppError } from '../../shared/domain/errors';
import type { AppendMeta } from '../../shared/domain/events';
import type { AuditEntry, RecordView } from '../../shared/ports/projection-store';
import { systemClock } from '../../shared/ports/runtime';
import { projectionStoreContract } from '../contracts/projection-store.contract';
import { startCosmosServer, uniqueId, type CosmosTestServer } from '../support/cosmos-server';

// One server (or real account) and one database per file, started lazily; every fixture gets
// its own fresh container, i.e. its own tenant (the same container layout as the directory's).
let started: Promise<{ server: CosmosTestServer; database: Database }> | undefined;
function shared() {
  started ??= (async () => {
    const server = await startCosmosServer();
    const { database } = await server.client.databases.create({ id: uniqueId('ps-test') });
    return { server, database };
  })();
  return started;
}

async function freshContainer(): Promise<Container> {
  const { database } = await shared();
  const { container } = await database.containers.create({ id: uniqueId('tenant'), partitionKey: { paths: ['/streamId'] } });
  return container;
}

afterAll(async () => {
  if (!started) return;
  const { server, database } = await started;
  await database.delete().catch(() => undefined);
  await server.close();
});

projectionStoreContract(process.env.COSMOS_ENDPOINT ? 'cosmos (real account)' : 'cosmos (local server)', async () => {
  const container = await freshContainer();
  return {
    store: new CosmosProjectionStore(container),
    another: () => new CosmosProjectionStore(container),
    cleanup: async () => {
      await container.delete().catch(() => undefined);
    },
  };
});

const user = { kind: 'user' as const, userId: 'u1', email: 'a@example.com' };
const meta: AppendMeta = { author: user, correlationId: 'c-1' };

function view(type: string, id: string, version: number, data: Record<string, unknown>): RecordView {
  const t = '2024-03-01T08:00:00.000Z';
  return { type, id, version, data, deleted: false, createdAt: t, createdBy: user, updatedAt: t, updatedBy: user };
}

function isValidationError(e: unknown): boolean {
  return isAppError(e) && e.code === 'validation' && e.status === 400;
}

describe('CosmosProjectionStore specifics', () => {
  it('refuses property names that are not plain identifiers (they reach the SQL text)', async () => {
    const container = await freshContainer();
    const store = new CosmosProjectionStore(container);
    await store.upsertRecord(1, view('customer', 'r1', 1, { name: 'A', 'odd key': 1 }));
    const bad: string[][] = [[], ['a"] OR 1=1 --'], ['1abc'], ['odd key'], ['a.b'], ['x'.repeat(65)], ['ok', '']];
    for (const path of bad) {
      const filterErr = await store
        .listRecords(1, { type: 'customer', filters: [{ path, value: 'A' }], limit: 10 })
        .catch((e: unknown) => e);
      expect(isValidationError(filterErr), `filter ${JSON.stringify(path)}`).toBe(true);
      const sortErr = await store
        .listRecords(1, { type: 'customer', filters: [], sort: { path, descending: false }, limit: 10 })
        .catch((e: unknown) => e);
      expect(isValidationError(sortErr), `sort ${JSON.stringify(path)}`).toBe(true);
    }
    // Names of the allowed shape work, and a value is only ever a parameter.
    const ok = await store.listRecords(1, { type: 'customer', filters: [{ path: ['name'], value: '" OR 1=1 --' }], limit: 10 });
    expect(ok.items).toEqual([]);
    expect((await store.listRecords(1, { type: 'customer', filters: [{ path: ['_Name_2'], value: 'A' }], limit: 10 })).items).toEqual([]);
    const objErr = await store
      .listRecords(1, { type: 'customer', filters: [{ path: ['name'], value: { $ne: 1 } as unknown as string }], limit: 10 })
      .catch((e: unknown) => e);
    expect(isValidationError(objErr)).toBe(true);
    await container.delete();
  });

  it('refuses a continuation token that is mangled or belongs to another query', async () => {
    const container = await freshContainer();
    const store = new CosmosProjectionStore(container);
    for (let i = 0; i < 5; i++) await store.upsertRecord(1, view('customer', `r${i}`, 1, { n: i, even: i % 2 === 0 }));
    const first = await store.listRecords(1, { type: 'customer', filters: [], limit: 2 });
    expect(first.continuation).toBeDefined();
    const cont = first.continuation!;
    for (const continuation of ['garbage', cont.slice(0, -3), Buffer.from('{"q":"x","t":"y"}').toString('base64url')]) {
      const err = await store.listRecords(1, { type: 'customer', filters: [], limit: 2, continuation }).catch((e: unknown) => e);
      expect(isValidationError(err), continuation).toBe(true);
    }
    // Same query → continues; other filter, sort, type or generation → refused.
    expect((await store.listRecords(1, { type: 'customer', filters: [], limit: 2, continuation: cont })).items).toHaveLength(2);
    const others = [
      store.listRecords(1, { type: 'customer', filters: [{ path: ['even'], value: true }], limit: 2, continuation: cont }),
      store.listRecords(1, { type: 'customer', filters: [], sort: { path: ['n'], descending: false }, limit: 2, continuation: cont }),
      store.listRecords(1, { type: 'supplier', filters: [], limit: 2, continuation: cont }),
      store.listRecords(2, { type: 'customer', filters: [], limit: 2, continuation: cont }),
    ];
    for (const p of others) expect(isValidationError(await p.catch((e: unknown) => e))).toBe(true);
    const auditErr = await store.listAudit(1, { limit: 2, continuation: cont }).catch((e: unknown) => e);
    expect(isValidationError(auditErr)).toBe(true);
    await container.delete();
  });

  it('does not depend on the stream id scheme: odd types, ids and stream ids', async () => {
    const container = await freshContainer();
    const store = new CosmosProjectionStore(container);
    // ("a:b", "c") and ("a", "b:c") would share "view:a:b:c" without encoding the type.
    expect(await store.upsertRecord(1, view('a:b', 'c', 1, { which: 1 }))).toBe(true);
    expect(await store.upsertRecord(1, view('a', 'b:c', 1, { which: 2 }))).toBe(true);
    expect((await store.listRecords(1, { type: 'a:b', filters: [], limit: 10 })).items.map((v) => v.data)).toEqual([{ which: 1 }]);
    expect((await store.listRecords(1, { type: 'a', filters: [], limit: 10 })).items.map((v) => v.data)).toEqual([{ which: 2 }]);

    // Stream ids with characters Cosmos ids cannot hold, and a very long one.
    const streams = ['weird/stream?#\\ id ', 's'.repeat(400), 'rec:customer:r_0123456789012345678901'];
    const entries: AuditEntry[] = streams.map((streamId, i) => ({
      streamId,
      version: 1,
      index: 0,
      timestamp: `2024-03-0${i + 1}T10:00:00.000Z`,
      eventType: 'E',
      author: user,
      correlationId: 'c',
      changes: [],
    }));
    await store.putAudit(1, entries);
    await store.putAudit(1, entries);
    const listed = (await store.listAudit(1, { limit: 10 })).items;
    expect(listed.map((e) => e.streamId)).toEqual([...streams].reverse());
    await store.park(1, {
      streamId: streams[0]!,
      version: 2,
      checkpoint: undefined,
      error: 'e',
      attempts: 1,
      parkedAt: '2024-03-01T10:00:00.000Z',
    });
    await store.park(1, {
      streamId: streams[1]!,
      version: 2,
      checkpoint: undefined,
      error: 'e',
      attempts: 1,
      parkedAt: '2024-03-01T10:00:01.000Z',
    });
    expect((await store.listParked(1)).map((p) => p.streamId)).toEqual([streams[0], streams[1]]);
    await container.delete();
  });

  it('shares the tenant container with the event log without either seeing the other', async () => {
    const container = await freshContainer();
    const events = new CosmosEventStore('t-1', container, systemClock);
    const projections = new CosmosProjectionStore(container);
    // Another document of the container (like the tenant meta) must survive generation drops.
    await container.items.create({ id: 'tenant', streamId: '$tenant', kind: 'tenant-meta', gen: 1 });

    const r1 = await events.append('rec:customer:r1', 0, [{ type: 'RecordCreated', data: {} }], meta);
    await events.append('rec:customer:r1', 1, [{ type: 'RecordUpdated', data: {} }], meta);
    await events.writeSnapshot('rec:customer:r1', { version: 1, timestamp: r1.timestamp, state: { gen: 1 } });

    await projections.upsertRecord(1, view('customer', 'r1', 2, {}));
    await projections.putAudit(1, [
      {
        streamId: 'rec:customer:r1',
        version: 2,
        index: 0,
        timestamp: '2999-01-01T00:00:00.000Z',
        eventType: 'E',
        author: user,
        correlationId: 'c',
        changes: [],
      },
    ]);
    await projections.setCheckpoint(1, {
      checkpoint: 'x',
      lastTimestamp: null,
      applied: 1,
      updatedAt: '2999-01-01T00:00:00.000Z',
      failures: 0,
    });
    await projections.park(1, {
      streamId: 'rec:customer:r1',
      version: 2,
      checkpoint: 'x',
      error: 'e',
      attempts: 1,
      parkedAt: '2999-01-01T00:00:00.000Z',
    });

    // The log sees only commits; the newest commit is a commit, not a (later) projection doc.
    expect((await events.readStream('rec:customer:r1')).map((c) => c.version)).toEqual([1, 2]);
    expect(await events.streamVersion('rec:customer:r1')).toBe(2);
    const lag = await events.feedLag(undefined);
    // From the beginning the commits are counted: the two commits, no projection document.
    expect(lag.commits).toBe(2);
    expect(lag.newestTimestamp).toBe((await events.readStream('rec:customer:r1'))[1]!.timestamp);
    for (const partition of ['view:customer:r1', '$projection', 'audit:2999-01-01']) {
      expect(await events.streamVersion(partition)).toBe(0);
      expect(await events.readStream(partition)).toEqual([]);
    }

    // Dropping every projection generation leaves commits, snapshots and other documents alone.
    await projections.activateGeneration(5);
    await projections.dropGeneration(5);
    const { resources } = await container.items.query<{ kind: string }>('SELECT c.kind FROM c').fetchAll();
    expect(resources.map((d) => d.kind).sort()).toEqual(['commit', 'commit', 'projection-generation', 'snapshot', 'tenant-meta']);
    expect(await events.readSnapshot('rec:customer:r1')).toEqual({ version: 1, timestamp: r1.timestamp, state: { gen: 1 } });
    expect(await projections.activeGeneration()).toBe(5);
    await container.delete();
  });
});
