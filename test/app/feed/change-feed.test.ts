/**
 * The change feed's app layer (shared/app/feed/): positions resume exactly on the embedded
 * store, a feed whose order shifted after a checkpoint (as Cosmos ranges can) is handed out
 * again rather than lost, positions are sealed per tenant, and the long poll wakes on the
 * change signal and ends on abort and on close. The HTTP side, both real stores and the
 * authorisation are in test/e2e/changes.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SqliteEventStore } from '../../../shared/adapters/embedded/sqlite-event-store';
import { ChangeSignal } from '../../../shared/app/changes/change-signal';
import { ContinuationTokens } from '../../../shared/app/continuation';
import { ChangeFeed } from '../../../shared/app/feed/change-feed';
import type { UserPrincipal } from '../../../shared/app/auth/principal';
import type { Commit } from '../../../shared/domain/events';
import type { EventStore, FeedPage } from '../../../shared/ports/event-store';
import { systemClock } from '../../../shared/ports/runtime';
import type { OneTenantStores, TenantStores } from '../../../shared/ports/tenant-stores';

/** A record stream id (rec:<type>:r_<22 chars>) for a short name. */
const rec = (type: string, name: string) => `rec:${type}:r_${name.padEnd(22, '0')}`;

const author = { kind: 'user' as const, userId: 'u1', email: 'a@x.test' };
const viewer: UserPrincipal = { tenantId: 'acme', userId: 'u1', email: 'a@x.test', roles: ['viewer'] };
const admin: UserPrincipal = { ...viewer, roles: ['admin'] };

/** TenantStores over given event stores (only what the feed uses: events and continuations). */
function storesOf(events: Record<string, EventStore>): TenantStores {
  const sealers = Object.fromEntries(Object.keys(events).map((t) => [t, ContinuationTokens.forTenant(t, randomBytes(32))]));
  return {
    async use(tenantId, work) {
      const e = events[tenantId];
      if (!e) throw new Error('no such tenant');
      return work({ tenantId, events: e, continuations: sealers[tenantId]! } as unknown as OneTenantStores);
    },
  } as TenantStores;
}

describe('change feed over the embedded store', () => {
  let dir: string;
  let store: SqliteEventStore;
  let other: SqliteEventStore;
  let signal: ChangeSignal;
  let feed: ChangeFeed;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'feed-'));
    store = new SqliteEventStore('acme', join(dir, 'acme.db'), randomBytes(32).toString('hex'), systemClock);
    other = new SqliteEventStore('globex', join(dir, 'globex.db'), randomBytes(32).toString('hex'), systemClock);
    signal = new ChangeSignal();
    feed = new ChangeFeed({
      stores: storesOf({ acme: store, globex: other }),
      signal,
      clock: systemClock,
      maxWaitMs: 30_000,
      recheckMs: 30_000,
    });
  });
  afterEach(() => {
    feed.close();
    store.close();
    other.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  const append = async (s: EventStore, stream: string, version: number, type = 'RecordUpdated') => {
    await s.append(stream, version - 1, [{ type, data: { changes: [{ path: '/n', new: version }] } }], {
      author,
      correlationId: `c-${stream}-${version}`,
    });
    signal.notify(s.tenantId);
  };

  it('pages and resumes exactly, from a page and from any commit in it', async () => {
    for (let v = 1; v <= 4; v++) {
      await append(store, rec('item', 'a'), v);
      await append(store, rec('item', 'b'), v);
    }
    await append(store, 'users', 1, 'UserCreated');
    const all: string[] = [];
    let after: string | undefined;
    for (let guard = 0; guard < 20; guard++) {
      const page = await feed.read(admin, { limit: 3, ...(after ? { after } : {}) });
      all.push(...page.items.map((c) => `${c.streamId}@${c.version}`));
      after = page.position;
      if (!page.more) break;
    }
    expect(all).toEqual([
      `${rec('item', 'a')}@1`,
      `${rec('item', 'b')}@1`,
      `${rec('item', 'a')}@2`,
      `${rec('item', 'b')}@2`,
      `${rec('item', 'a')}@3`,
      `${rec('item', 'b')}@3`,
      `${rec('item', 'a')}@4`,
      `${rec('item', 'b')}@4`,
      'users@1',
    ]);
    // Any commit's own position resumes right after it.
    const first = await feed.read(admin, { limit: 5 });
    for (let i = 0; i < 5; i++) {
      const next = await feed.read(admin, { limit: 2, after: first.items[i]!.position });
      const shown = next.items.map((c) => `${c.streamId}@${c.version}`);
      // A resume inside an earlier page reads what that page read: its pages end where that one
      // did. The page's last commit's position is the store's checkpoint (a fresh page).
      expect(shown).toEqual(i === 4 ? all.slice(5, 7) : all.slice(i + 1, Math.min(i + 3, 5)));
      let rest = next;
      while (rest.more) {
        rest = await feed.read(admin, { limit: 2, after: rest.position });
        shown.push(...rest.items.map((c) => `${c.streamId}@${c.version}`));
      }
      expect(shown).toEqual(all.slice(i + 1));
    }
    // Nothing after the end; the end position stays valid and picks up what comes next.
    const end = await feed.read(admin, { limit: 100, after: after! });
    expect(end).toMatchObject({ items: [], more: false });
    await append(store, rec('item', 'c'), 1);
    expect((await feed.read(admin, { limit: 100, after: end.position })).items.map((c) => c.streamId)).toEqual([rec('item', 'c')]);
  });

  it('shows identity events to administrators only, and a viewer still moves past them', async () => {
    await append(store, 'users', 1, 'UserCreated');
    await append(store, rec('item', 'a'), 1, 'RecordCreated');
    const v = await feed.read(viewer, { limit: 1 });
    // The first commit is an identity event: the viewer's page shows nothing but moves on.
    expect(v.items).toEqual([]);
    expect(v.more).toBe(true);
    const v2 = await feed.read(viewer, { limit: 10, after: v.position });
    expect(v2.items.map((c) => c.streamId)).toEqual([rec('item', 'a')]);
    expect(v2.items[0]).toMatchObject({
      recordType: 'item',
      recordId: `r_${'a'.padEnd(22, '0')}`,
      events: [{ type: 'RecordCreated', changes: [{ path: '/n', new: 1 }] }],
    });
    const a = await feed.read(admin, { limit: 10 });
    expect(a.items.map((c) => c.streamId)).toEqual(['users', rec('item', 'a')]);
  });

  it("refuses a changed position, another tenant's position and garbage with 400", async () => {
    await append(store, rec('item', 'a'), 1);
    await append(other, rec('item', 'a'), 1);
    const mine = await feed.read(viewer, { limit: 1 });
    const theirs = await feed.read({ ...viewer, tenantId: 'globex' }, { limit: 1 });
    const tampered = mine.position.slice(0, -3) + (mine.position.endsWith('AAA') ? 'BBB' : 'AAA');
    for (const after of [theirs.position, tampered, 'garbage', '', 'a'.repeat(20_000)])
      await expect(feed.read(viewer, { limit: 1, after })).rejects.toMatchObject({ status: 400, details: { errors: [{ path: 'after' }] } });
  });

  it('a long poll wakes on an append, ends on abort and on close', async () => {
    const start = await feed.read(viewer, { limit: 10 });
    const waiting = feed.read(viewer, { limit: 10, after: start.position, waitMs: 30_000 });
    await append(store, rec('item', 'a'), 1);
    expect((await waiting).items.map((c) => c.streamId)).toEqual([rec('item', 'a')]);

    const end = (await waiting).position;
    const ac = new AbortController();
    const aborted = feed.read(viewer, { limit: 10, after: end, waitMs: 30_000, abortSignal: ac.signal });
    await vi.waitFor(() => expect(feed.waiting).toBe(1));
    ac.abort();
    expect(await aborted).toMatchObject({ items: [], more: false });

    const closing = feed.read(viewer, { limit: 10, after: end, waitMs: 30_000 });
    await vi.waitFor(() => expect(feed.waiting).toBe(1));
    feed.close();
    expect(await closing).toMatchObject({ items: [], more: false });
  });

  it('an append to another tenant does not end a wait with a page of this one', async () => {
    const start = await feed.read(viewer, { limit: 10 });
    const waiting = feed.read(viewer, { limit: 10, after: start.position, waitMs: 30_000 });
    await append(other, rec('item', 'x'), 1);
    await append(store, rec('item', 'a'), 1);
    const page = await waiting;
    expect(page.items.map((c) => c.streamId)).toEqual([rec('item', 'a')]);
  });
});

describe('change feed over a feed whose order shifts after a checkpoint (Cosmos ranges)', () => {
  const commit = (streamId: string, version: number): Commit => ({
    tenantId: 'acme',
    streamId,
    version,
    timestamp: new Date(0).toISOString(),
    author,
    correlationId: 'c',
    events: [{ type: 'RecordUpdated', data: { changes: [] } }],
  });

  it('hands commits out again rather than losing one when the sequence after a checkpoint changed', async () => {
    // What a Cosmos change feed can do between two reads from the same continuation: a commit
    // written later to a range read earlier comes before commits already handed out.
    let sequence = [commit(rec('t', 'a'), 1), commit(rec('t', 'b'), 1), commit(rec('t', 'c'), 1)];
    const events = {
      tenantId: 'acme',
      async readFeed(checkpoint: string | undefined, o: { maxCount?: number } = {}): Promise<FeedPage> {
        expect(checkpoint).toBe('token-0');
        return { commits: sequence.slice(0, o.maxCount ?? 1000), checkpoint: 'token-1' };
      },
    } as unknown as EventStore;
    const sealer = ContinuationTokens.forTenant('acme', randomBytes(32));
    const stores = {
      use: (_t: string, work: (s: OneTenantStores) => unknown) => work({ events, continuations: sealer } as unknown as OneTenantStores),
    } as unknown as TenantStores;
    const feed = new ChangeFeed({ stores, signal: new ChangeSignal(), clock: systemClock, maxWaitMs: 0, recheckMs: 1000 });
    const start = await sealer.seal('changes', null, JSON.stringify({ c: 'token-0' }));
    const page = await feed.read(viewer, { limit: 10, after: start });
    // The page's own end is the store's checkpoint; the first commit's position is mid-page.
    const afterA = page.items[0]!.position;
    expect((await feed.read(viewer, { limit: 10, after: afterA })).items.map((c) => c.streamId)).toEqual([rec('t', 'b'), rec('t', 'c')]);
    sequence = [commit(rec('t', 'z'), 1), ...sequence];
    const again = await feed.read(viewer, { limit: 10, after: afterA });
    expect(again.items.map((c) => c.streamId)).toEqual([rec('t', 'z'), rec('t', 'a'), rec('t', 'b'), rec('t', 'c')]);
  });

  it('resumes from a position past what the read asked for (a Cosmos read can return more than maxCount)', async () => {
    // The Cosmos adapter reads whole iterator pages (up to maxItemCount each, one partition-key
    // range at a time) until it has maxCount commits, so one read can return almost twice what
    // it asked for; a position inside such a read then skips more commits than it asked for.
    const sequence = Array.from({ length: 12 }, (_, i) => commit(rec('t', `s${i}`), 1));
    const events = {
      tenantId: 'acme',
      async readFeed(checkpoint: string | undefined, o: { maxCount?: number } = {}): Promise<FeedPage> {
        const from = Number(checkpoint ?? 0);
        const commits = sequence.slice(from, from + 2 * (o.maxCount ?? 1000) - 1);
        return { commits, checkpoint: String(from + commits.length) };
      },
    } as unknown as EventStore;
    const sealer = ContinuationTokens.forTenant('acme', randomBytes(32));
    const stores = {
      use: (_t: string, work: (s: OneTenantStores) => unknown) => work({ events, continuations: sealer } as unknown as OneTenantStores),
    } as unknown as TenantStores;
    const feed = new ChangeFeed({ stores, signal: new ChangeSignal(), clock: systemClock, maxWaitMs: 0, recheckMs: 1000 });
    // A page of 4 (the store returns 7), then pages of 2 from its position: the second of them
    // ends 6 commits past a checkpoint that was read asking for 4.
    const first = await feed.read(viewer, { limit: 4 });
    const seen = first.items.map((c) => c.streamId);
    let after = first.position;
    for (let guard = 0; guard < 20; guard++) {
      const page = await feed.read(viewer, { limit: 2, after });
      seen.push(...page.items.map((c) => c.streamId));
      after = page.position;
      if (!page.more) break;
    }
    expect(seen).toEqual(sequence.map((c) => c.streamId));
  });
});
