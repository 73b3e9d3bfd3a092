/**
 * handleCommand (shared/app/command-handling/handle-command.ts) against the real embedded
 * event store: read → decide → append, no-ops, Idempotency-Key replays and refusals, lost
 * races (retried or mapped by onConflict), aroundAppend, and decide's errors passing through.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handleCommand } from '../../shared/app/command-handling/handle-command';
import { AppError } from '../../shared/domain/errors';
import type { AppendMeta, NewEvent } from '../../shared/domain/events';
import type { EventStore } from '../../shared/ports/event-store';
import { openTempStores, type TempStores } from '../projections/support';
import { counter, systemMeta } from '../support/counter-decider';

const meta = systemMeta('c-1');
const STREAM = 'counter-1';
const precondition = (v: number) => new AppError('precondition_failed', `lost at ${v}`);

/** Delegates to `inner`, but lets another writer append first on the next `racing` appends. */
function racy(inner: EventStore, racing: number): EventStore {
  let left = racing;
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'append')
        return async (streamId: string, expected: number, events: NewEvent[], m: AppendMeta) => {
          if (left > 0) {
            left--;
            await target.append(streamId, await target.streamVersion(streamId), [{ type: 'Added', data: { by: 100 } }], meta);
          }
          return target.append(streamId, expected, events, m);
        };
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

describe('handleCommand', () => {
  let t: TempStores;
  beforeEach(() => {
    t = openTempStores();
  });
  afterEach(() => t.close());

  it('reads, decides and appends one commit with the expected version, returning the evolved state', async () => {
    const r1 = await handleCommand(t.events, STREAM, counter, { add: 2 }, { meta });
    expect(r1).toMatchObject({ state: { total: 2, version: 1 }, version: 1, replayed: false, newEvents: [{ type: 'Added' }] });
    expect(r1.commit).toMatchObject({
      streamId: STREAM,
      version: 1,
      author: meta.author,
      correlationId: 'c-1',
      tenantId: t.events.tenantId,
    });
    const r2 = await handleCommand(t.events, STREAM, counter, { add: 3 }, { meta });
    expect(r2.state).toEqual({ total: 5, version: 2 });
    const stored = await t.events.readStream(STREAM);
    expect(stored.map((c) => c.events)).toEqual([[{ type: 'Added', data: { by: 2 } }], [{ type: 'Added', data: { by: 3 } }]]);
    expect(stored[1]!.timestamp).toBe(r2.commit!.timestamp);
  });

  it('appends nothing for a command that changes nothing', async () => {
    await handleCommand(t.events, STREAM, counter, { add: 2 }, { meta });
    const r = await handleCommand(t.events, STREAM, counter, { add: 0 }, { meta });
    expect(r).toMatchObject({ state: { total: 2 }, version: 1, newEvents: [], replayed: false });
    expect(r.commit).toBeUndefined();
    expect(await t.events.streamVersion(STREAM)).toBe(1);
  });

  it("passes decide's errors through and appends nothing", async () => {
    await expect(handleCommand(t.events, STREAM, counter, { add: -1 }, { meta })).rejects.toMatchObject({ code: 'validation' });
    expect(await t.events.streamVersion(STREAM)).toBe(0);
  });

  it('builds the command from the loaded state when given a function', async () => {
    await handleCommand(t.events, STREAM, counter, { add: 4 }, { meta });
    const seen: Array<[number, number]> = [];
    const r = await handleCommand(
      t.events,
      STREAM,
      counter,
      async (s, v) => {
        seen.push([s.total, v]);
        return { add: s.total };
      },
      { meta },
    );
    expect(seen).toEqual([[4, 1]]);
    expect(r.state.total).toBe(8);
  });

  it('replays a command whose Idempotency-Key a commit already carried, and refuses the key with another request', async () => {
    const idempotency = { key: 'k1', requestHash: 'h1' };
    const first = await handleCommand(t.events, STREAM, counter, { add: 2 }, { meta, idempotency });
    await handleCommand(t.events, STREAM, counter, { add: 5 }, { meta });
    const again = await handleCommand(t.events, STREAM, counter, { add: 2 }, { meta, idempotency });
    // The answer is the state right after the first commit, not the current one.
    expect(again).toMatchObject({ replayed: true, version: 1, state: { total: 2, version: 1 }, newEvents: [] });
    expect(again.commit).toBeUndefined();
    expect(first.commit?.idempotency).toEqual(idempotency);
    expect(await t.events.streamVersion(STREAM)).toBe(2);
    await expect(
      handleCommand(t.events, STREAM, counter, { add: 2 }, { meta, idempotency: { key: 'k1', requestHash: 'other' } }),
    ).rejects.toMatchObject({ code: 'unprocessable' });
    const custom = await handleCommand(
      t.events,
      STREAM,
      counter,
      { add: 2 },
      {
        meta,
        idempotency: { key: 'k1', requestHash: 'other' },
        isSameRequest: (earlier) => earlier.version === 1,
      },
    );
    expect(custom.replayed).toBe(true);
    expect(await t.events.streamVersion(STREAM)).toBe(2);
  });

  it('throws onConflict with the expected version after a lost race when no retry is allowed', async () => {
    await handleCommand(t.events, STREAM, counter, { add: 1 }, { meta });
    await expect(handleCommand(racy(t.events, 1), STREAM, counter, { add: 1 }, { meta, onConflict: precondition })).rejects.toThrow(
      'lost at 1',
    );
    await expect(handleCommand(racy(t.events, 1), STREAM, counter, { add: 1 }, { meta })).rejects.toMatchObject({ code: 'conflict' });
    expect((await t.events.readStream(STREAM)).map((c) => c.events[0]!.data)).toEqual([{ by: 1 }, { by: 100 }, { by: 100 }]);
  });

  it('re-reads and decides again after a lost race while retries allow', async () => {
    const r = await handleCommand(racy(t.events, 2), STREAM, counter, { add: 1 }, { meta, retries: 2, onConflict: precondition });
    expect(r.state).toEqual({ total: 201, version: 3 });
    await expect(
      handleCommand(racy(t.events, 3), STREAM, counter, { add: 1 }, { meta, retries: 2, onConflict: precondition }),
    ).rejects.toThrow('lost at 5');
  });

  it('answers a lost race with the commit that carried the same Idempotency-Key', async () => {
    const idempotency = { key: 'k2', requestHash: 'h2' };
    // The "other writer" is the first attempt of the same request, committing just before us.
    const twin: EventStore = new Proxy(t.events, {
      get(target, prop, receiver) {
        if (prop === 'append')
          return async (streamId: string, expected: number, events: NewEvent[], m: AppendMeta) => {
            await target.append(streamId, expected, events, m);
            return target.append(streamId, expected, events, m);
          };
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const r = await handleCommand(twin, STREAM, counter, { add: 7 }, { meta, idempotency, onConflict: precondition });
    expect(r).toMatchObject({ replayed: true, version: 1, state: { total: 7 } });
    expect(await t.events.streamVersion(STREAM)).toBe(1);
  });

  it('uses a custom loader and lets aroundAppend wrap the append with the change it makes', async () => {
    await handleCommand(t.events, STREAM, counter, { add: 1 }, { meta });
    const loads: string[] = [];
    const changes: unknown[] = [];
    const r = await handleCommand(
      t.events,
      STREAM,
      counter,
      { add: 2 },
      {
        meta,
        load: async (store, id) => {
          loads.push(id);
          return { state: { total: 10, version: 1 }, version: await store.streamVersion(id) };
        },
        aroundAppend: async (append, change) => {
          changes.push({ before: change.before, after: change.after, expected: change.expectedVersion, n: change.events.length });
          return append();
        },
      },
    );
    expect(loads).toEqual([STREAM]);
    expect(changes).toEqual([{ before: { total: 10, version: 1 }, after: { total: 12, version: 2 }, expected: 1, n: 1 }]);
    expect(r.state).toEqual({ total: 12, version: 2 });
  });

  it('stops before reading once the abort signal fired', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(handleCommand(t.events, STREAM, counter, { add: 1 }, { meta, abortSignal: ac.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(await t.events.streamVersion(STREAM)).toBe(0);
  });

  it('passes its abortSignal to every store call it makes: the default load, the Idempotency-Key lookup, the replay and the append', async () => {
    const idempotency = { key: 'k-signal', requestHash: 'h' };
    await handleCommand(t.events, STREAM, counter, { add: 1 }, { meta, idempotency });
    const signal = new AbortController().signal;
    const seen: Array<{ method: string; signal: unknown }> = [];
    const watched = new Proxy(t.events, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          const last = args.at(-1) as { abortSignal?: unknown } | undefined;
          if (prop === 'readStream' || prop === 'findByIdempotencyKey' || prop === 'append')
            seen.push({ method: String(prop), signal: last?.abortSignal });
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    // A replay: load (readStream), lookup (findByIdempotencyKey), fold up to the earlier commit (readStream).
    await handleCommand(watched, STREAM, counter, { add: 1 }, { meta, idempotency, abortSignal: signal });
    // A new command: load and append.
    await handleCommand(watched, STREAM, counter, { add: 3 }, { meta, abortSignal: signal });
    expect(seen.map((x) => x.method)).toEqual(['readStream', 'findByIdempotencyKey', 'readStream', 'readStream', 'append']);
    for (const x of seen) expect(x.signal, x.method).toBe(signal);
  });
});
