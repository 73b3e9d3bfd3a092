/**
 * handleCommands (shared/app/command-handling/handle-commands.ts), the batch form of
 * handleCommand, against the real embedded event store: read → decide each → one appendMany;
 * a lost race in the middle of the batch writes nothing of it and the commands go one by one
 * (conflict for a command decided on a given stale state, a fresh decision otherwise);
 * no-ops, refusals and Idempotency-Key replays per command; stores without appendMany.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handleCommand } from '../../shared/app/command-handling/handle-command';
import { type BatchCommand, handleCommands } from '../../shared/app/command-handling/handle-commands';
import { AppError } from '../../shared/domain/errors';
import type { AppendMeta, NewEvent } from '../../shared/domain/events';
import type { BatchAppend, EventStore } from '../../shared/ports/event-store';
import { openTempStores, type TempStores } from '../projections/support';
import { type Cmd, type Counter, counter, systemMeta } from '../support/counter-decider';

const meta = systemMeta('c-batch');

interface Calls {
  append: string[];
  appendMany: Array<{ streams: string[]; outcome: string; versionsAfter?: number[] }>;
}

/**
 * Records every append and appendMany; `beforeMany` runs just before each appendMany reaches
 * the store (e.g. another writer). After a failed appendMany the batch's streams' versions are
 * read, to show the store wrote none of it.
 */
function watched(inner: EventStore, calls: Calls, beforeMany?: (batch: BatchAppend[]) => Promise<void>, noMany = false): EventStore {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'appendMany') {
        if (noMany) return undefined;
        return async (batch: BatchAppend[], o?: object) => {
          await beforeMany?.(batch);
          const streams = batch.map((b) => b.streamId);
          try {
            const r = await target.appendMany!(batch, o);
            calls.appendMany.push({ streams, outcome: 'appended' });
            return r;
          } catch (e) {
            const versionsAfter = await Promise.all(streams.map((s) => target.streamVersion(s)));
            calls.appendMany.push({ streams, outcome: (e as Error).name, versionsAfter });
            throw e;
          }
        };
      }
      if (prop === 'append')
        return (streamId: string, expected: number, events: NewEvent[], m: AppendMeta, o?: object) => {
          calls.append.push(streamId);
          return target.append(streamId, expected, events, m, o);
        };
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

const totals = async (events: EventStore, streams: string[]) =>
  Promise.all(
    streams.map(async (s) => (await events.readStream(s)).flatMap((c) => c.events).reduce((t, e) => t + (e.data as { by: number }).by, 0)),
  );

describe('handleCommands', () => {
  let t: TempStores;
  let calls: Calls;
  beforeEach(() => {
    t = openTempStores();
    calls = { append: [], appendMany: [] };
  });
  afterEach(() => t.close());

  it('reads and decides each command, then appends them all in ONE appendMany, each with its expected version', async () => {
    await handleCommand(t.events, 'b', counter, { add: 10 }, { meta });
    const events = watched(t.events, calls);
    const r = await handleCommands(
      events,
      counter,
      [
        { streamId: 'a', command: { add: 1 } },
        { streamId: 'b', command: { add: 2 } },
        { streamId: 'c', command: (s: Counter, v: number) => ({ add: s.total + v + 3 }) },
      ],
      { meta },
    );
    expect(r.batched).toBe(true);
    expect(calls).toEqual({ append: [], appendMany: [{ streams: ['a', 'b', 'c'], outcome: 'appended' }] });
    expect(r.outcomes.map((o) => o.ok && [o.result.version, o.result.state.total, o.result.replayed, o.result.commit?.version])).toEqual([
      [1, 1, false, 1],
      [2, 12, false, 2],
      [1, 3, false, 1],
    ]);
    const first = r.outcomes[0]!;
    expect(first.ok && first.result.commit).toMatchObject({ streamId: 'a', author: meta.author, correlationId: 'c-batch' });
    expect(first.ok && first.result.commit?.timestamp).toBe((await t.events.readStream('a'))[0]!.timestamp);
    expect(await totals(t.events, ['a', 'b', 'c'])).toEqual([1, 12, 3]);
  });

  it('a no-op or a refused command is its own outcome; the others are still appended together', async () => {
    const events = watched(t.events, calls);
    const r = await handleCommands(
      events,
      counter,
      [
        { streamId: 'a', command: { add: 1 } },
        { streamId: 'b', command: { add: 0 } },
        { streamId: 'c', command: { add: -1 } },
        { streamId: 'd', command: { add: 4 } },
      ],
      { meta },
    );
    expect(r.outcomes[1]).toEqual({ ok: true, result: { state: { total: 0, version: 0 }, version: 0, newEvents: [], replayed: false } });
    const refused = r.outcomes[2]!;
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.error).toMatchObject({ code: 'validation', message: 'Only additions.' });
    expect(calls.appendMany).toEqual([{ streams: ['a', 'd'], outcome: 'appended' }]);
    expect(await Promise.all(['a', 'b', 'c', 'd'].map((s) => t.events.streamVersion(s)))).toEqual([1, 0, 0, 1]);
  });

  it('a conflict in the middle of the batch: nothing of it is written; one by one, the stale command is a conflict, the others append', async () => {
    for (const s of ['a', 'b', 'c']) await handleCommand(t.events, s, counter, { add: 1 }, { meta });
    // Another writer changes b after the batch was decided, just before its appendMany.
    const events = watched(t.events, calls, async () => {
      if (calls.appendMany.length === 0) await t.events.append('b', 1, [{ type: 'Added', data: { by: 100 } }], meta);
    });
    // Each decided on the state its caller read before (as the tenant revert's plan does).
    const commands: Array<BatchCommand<Cmd, Counter>> = ['a', 'b', 'c'].map((s) => ({
      streamId: s,
      command: { add: 5 },
      loaded: { state: { total: 1, version: 1 }, version: 1 },
    }));
    const r = await handleCommands(events, counter, commands, {
      meta,
      onConflict: (v) => new AppError('precondition_failed', `lost at ${v}`),
    });
    expect(r.batched).toBe(false);
    // The store refused the whole batch: a and c were still at version 1 right after it.
    expect(calls.appendMany).toEqual([{ streams: ['a', 'b', 'c'], outcome: 'WrongExpectedVersionError', versionsAfter: [1, 2, 1] }]);
    expect(calls.append).toEqual(['a', 'b', 'c']);
    expect(r.outcomes.map((o) => (o.ok ? o.result.state.total : `${o.error.code}: ${o.error.message}`))).toEqual([
      6,
      'precondition_failed: lost at 1',
      6,
    ]);
    // b keeps the other writer's change and nothing of this batch; a and c have exactly one commit of it.
    expect(await totals(t.events, ['a', 'b', 'c'])).toEqual([6, 101, 6]);
    expect(await Promise.all(['a', 'b', 'c'].map((s) => t.events.streamVersion(s)))).toEqual([2, 2, 2]);
  });

  it('after a lost race, a command without a given state is read and decided again on the fresh state (retries as handleCommand)', async () => {
    const events = watched(t.events, calls, async () => {
      if (calls.appendMany.length === 0) await t.events.append('b', 0, [{ type: 'Added', data: { by: 100 } }], meta);
    });
    const r = await handleCommands(
      events,
      counter,
      [
        { streamId: 'a', command: { add: 1 } },
        { streamId: 'b', command: (s: Counter) => ({ add: s.total + 1 }) },
      ],
      { meta },
    );
    expect(calls.appendMany.map((c) => c.outcome)).toEqual(['WrongExpectedVersionError']);
    expect(r.outcomes.map((o) => o.ok && o.result.state.total)).toEqual([1, 201]);
    expect(await Promise.all(['a', 'b'].map((s) => t.events.streamVersion(s)))).toEqual([1, 2]);
  });

  it('Idempotency-Key per command: a command whose key a commit carried is replayed, another request with it is 422; the rest go in one appendMany', async () => {
    const k = (key: string, requestHash = 'h') => ({ key, requestHash });
    await handleCommand(t.events, 'a', counter, { add: 2 }, { meta, idempotency: k('ka') });
    await handleCommand(t.events, 'a', counter, { add: 5 }, { meta });
    await handleCommand(t.events, 'b', counter, { add: 2 }, { meta, idempotency: k('kb') });
    const events = watched(t.events, calls);
    const batch: Array<BatchCommand<Cmd, Counter>> = [
      { streamId: 'a', command: { add: 2 }, idempotency: k('ka') },
      { streamId: 'b', command: { add: 2 }, idempotency: k('kb', 'another body') },
      { streamId: 'c', command: { add: 3 }, idempotency: k('kc') },
      { streamId: 'd', command: { add: 4 }, idempotency: k('kd') },
    ];
    const r = await handleCommands(events, counter, batch, { meta });
    // a: the state right after its earlier commit, not the current one.
    expect(r.outcomes[0]).toMatchObject({ ok: true, result: { replayed: true, version: 1, state: { total: 2 } } });
    expect(r.outcomes[1]).toMatchObject({ ok: false, error: { code: 'unprocessable' } });
    expect(calls.appendMany).toEqual([{ streams: ['c', 'd'], outcome: 'appended' }]);
    const c = r.outcomes[2]!;
    expect(c.ok && c.result.commit?.idempotency).toEqual(k('kc'));
    expect((await t.events.findByIdempotencyKey('d', 'kd'))?.version).toBe(1);

    // The same batch again (a retried request): every command answered from its commit, nothing appended.
    const again = await handleCommands(events, counter, [batch[0]!, batch[2]!, batch[3]!], { meta });
    expect(again.outcomes.map((o) => o.ok && o.result.replayed)).toEqual([true, true, true]);
    expect(calls.appendMany).toHaveLength(1);
    expect(calls.append).toEqual([]);
    expect(await Promise.all(['a', 'b', 'c', 'd'].map((s) => t.events.streamVersion(s)))).toEqual([2, 1, 1, 1]);
  });

  it('a lost race against a retry of the same command (same key) is answered by that commit, one by one', async () => {
    const k = { key: 'k-twin', requestHash: 'h' };
    // The "other writer" is the first attempt of the same request for b, committing just before the batch.
    const events = watched(t.events, calls, async () => {
      if (calls.appendMany.length === 0) await t.events.append('b', 0, [{ type: 'Added', data: { by: 7 } }], { ...meta, idempotency: k });
    });
    const r = await handleCommands(
      events,
      counter,
      [
        { streamId: 'a', command: { add: 1 } },
        { streamId: 'b', command: { add: 7 }, idempotency: k },
      ],
      { meta },
    );
    expect(calls.appendMany.map((c) => c.outcome)).toEqual(['WrongExpectedVersionError']);
    expect(r.outcomes[1]).toMatchObject({ ok: true, result: { replayed: true, version: 1, state: { total: 7 } } });
    expect(await Promise.all(['a', 'b'].map((s) => t.events.streamVersion(s)))).toEqual([1, 1]);
  });

  it('goes one by one on a store without appendMany, and for a single command to append', async () => {
    const plain = watched(t.events, calls, undefined, true);
    const r = await handleCommands(
      plain,
      counter,
      [
        { streamId: 'a', command: { add: 1 } },
        { streamId: 'b', command: { add: 2 } },
      ],
      { meta },
    );
    expect(r.batched).toBe(false);
    expect(calls.append).toEqual(['a', 'b']);
    const single = await handleCommands(watched(t.events, calls), counter, [{ streamId: 'c', command: { add: 3 } }], { meta });
    expect(single.batched).toBe(false);
    expect(calls.appendMany).toEqual([]);
    expect(calls.append).toEqual(['a', 'b', 'c']);
    expect(await totals(t.events, ['a', 'b', 'c'])).toEqual([1, 2, 3]);
  });

  it('takes one command per stream, stops once aborted, and lets a store failure through', async () => {
    await expect(
      handleCommands(
        t.events,
        counter,
        [
          { streamId: 'a', command: { add: 1 } },
          { streamId: 'a', command: { add: 1 } },
        ],
        { meta },
      ),
    ).rejects.toThrow('one command per stream');
    const aborted = AbortSignal.abort();
    await expect(
      handleCommands(t.events, counter, [{ streamId: 'a', command: { add: 1 } }], { meta, abortSignal: aborted }),
    ).rejects.toThrow();
    const broken = watched(t.events, calls, async () => {
      throw new Error('disk gone');
    });
    await expect(
      handleCommands(
        broken,
        counter,
        [
          { streamId: 'a', command: { add: 1 } },
          { streamId: 'b', command: { add: 1 } },
        ],
        { meta },
      ),
    ).rejects.toThrow('disk gone');
    expect(await Promise.all(['a', 'b'].map((s) => t.events.streamVersion(s)))).toEqual([0, 0]);
  });
});
