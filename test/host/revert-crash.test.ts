/**
 * A tenant-wide revert through kill -9 of the real host: the run is killed in the middle
 * (checked after the restart: some records reverted, some not; at least as many as progress
 * had reported, and whole batches only, as each batch is one transaction on this store), then
 * the same request with the same Idempotency-Key finishes it. Every record ends as it was at
 * asOf with exactly one RecordReverted commit: none reverted twice, none missed.
 *
 * The records are written by a first host run with DURABILITY=fast (no fsync per command:
 * the setup is most of this test's time); the revert runs, and is killed, on a host with the
 * default durability. A kill -9 ends the process, not the machine: what the killed run had
 * committed is in the log either way.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { TENANT_REVERT_BATCH } from '../../shared/app/revert/tenant-revert';
import { createTenantAs, loginAs } from '../support/e2e-tenants';
import { e2eOnCosmos, startHostProcess, type HostProcess } from '../support/host-process';
import { client } from '../support/http-client';
import { inParallel } from '../support/in-parallel';
import { killHard } from '../support/kill';

const dir = mkdtempSync(join(tmpdir(), 'revert-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }));

const T = 'undo';
const PW = 'a long enough password';
const RECORDS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('kill -9 in the middle of a tenant-wide revert; the retry with the same key finishes it, no record reverted twice', {
  timeout: 600_000,
}, async () => {
  let host: HostProcess = await startHostProcess({ DURABILITY: 'fast' }, dir);
  const call = client(() => host.url);
  const login = () => loginAs(call, T, `admin@${T}.test`, PW);
  const ids: string[] = [];
  let asOf = '';
  const body = () => ({ asOf, types: ['doc'], reason: 'bulk change by mistake' });
  const headers = { 'idempotency-key': 'undo-2026-12-06' };
  try {
    await createTenantAs(call, host.operatorKey, T, PW);
    const token = await login();
    expect(
      (await call('PUT', `/api/t/${T}/types/doc`, { token, body: { type: 'object', properties: { n: { type: 'integer' } } } })).status,
    ).toBe(201);
    await inParallel(
      Array.from({ length: RECORDS }, (_, i) => i),
      8,
      async (i) => {
        const r = await call('POST', `/api/t/${T}/records/doc`, { token, body: { n: i } });
        expect(r.status, r.text).toBe(201);
        ids.push(r.json.id);
      },
    );
    await sleep(20);
    asOf = new Date().toISOString();
    await sleep(20);
    await inParallel(ids, 8, async (id) => {
      const r = await call('PATCH', `/api/t/${T}/records/doc/${id}`, { token, body: { n: -1 }, headers: { 'if-match': '"1"' } });
      expect(r.status, r.text).toBe(200);
    });
  } finally {
    expect(await host.stop()).toBe(0);
    host.cleanup();
  }

  // The revert runs on a host with the default durability (full).
  host = await startHostProcess({}, dir);
  let reported = 0;
  try {
    const token = await login();

    // The run, with progress lines; killed once it has reverted at least one batch.
    const res = await fetch(`${host.url}/api/t/${T}/revert`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/x-ndjson', ...headers },
      body: JSON.stringify(body()),
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    let killed = false;
    while (!killed) {
      const { done, value } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      for (const line of buffered.split('\n').slice(0, -1)) {
        const l = JSON.parse(line);
        expect(l.status, `the run finished before it could be killed: ${line}`).toBeUndefined();
        if (l.progress?.phase === 'revert') reported = Math.max(reported, l.progress.done);
        if (l.progress?.phase === 'revert' && l.progress.done >= TENANT_REVERT_BATCH) {
          await killHard(host.pid);
          killed = true;
          break;
        }
      }
      buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
    }
    expect(killed).toBe(true);
    await reader.cancel().catch(() => undefined);
  } finally {
    host.cleanup();
  }

  host = await startHostProcess({}, dir);
  try {
    const token = await login();
    // Killed in the middle: some records are reverted, some are not.
    const exported = await call('GET', `/api/t/${T}/export`, { token });
    expect(exported.status).toBe(200);
    const rows = exported.text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(RECORDS);
    const reverted = rows.filter((r) => r.data.n !== -1).length;
    expect(reverted).toBeGreaterThan(0);
    expect(reverted).toBeLessThan(RECORDS);
    // What progress reported as done was durable; the embedded store appends a batch in one transaction.
    expect(reverted).toBeGreaterThanOrEqual(reported);
    if (!e2eOnCosmos) expect(reverted % TENANT_REVERT_BATCH).toBe(0);

    // The same request with the same key finishes the run.
    const r = await call('POST', `/api/t/${T}/revert`, { token, body: body(), headers });
    expect(r.status, r.text).toBe(200);
    expect(r.json.counts).toEqual({ examined: RECORDS, changed: RECORDS, restored: 0, deleted: 0, unchanged: 0, conflicts: 0, invalid: 0 });
    // Every record: as at asOf, with exactly one RecordReverted (those reverted before the kill were not reverted again).
    await inParallel(ids, 8, async (id) => {
      const h = await call('GET', `/api/t/${T}/records/doc/${id}/history`, { token });
      expect(h.status, h.text).toBe(200);
      const types = h.json.items.map((c: any) => c.events[0].type);
      expect(types).toEqual(['RecordCreated', 'RecordUpdated', 'RecordReverted']);
      expect(h.json.items[2].events[0].changes).toEqual([{ path: '/n', old: -1, new: expect.any(Number) }]);
    });
    const after = (await call('GET', `/api/t/${T}/export`, { token })).text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const atAsOf = (await call('GET', `/api/t/${T}/export?asOf=${encodeURIComponent(asOf)}`, { token })).text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const dataOf = (xs: any[]) => Object.fromEntries(xs.map((x) => [x.id, x.data]));
    expect(dataOf(after)).toEqual(dataOf(atAsOf));
    // Retried once more: the stored result, nothing new.
    const again = await call('POST', `/api/t/${T}/revert`, { token, body: body(), headers });
    expect(again.headers.get('idempotency-replayed')).toBe('true');
    expect(again.json.counts).toEqual(r.json.counts);
  } finally {
    expect(await host.stop()).toBe(0);
    host.cleanup();
  }
});
