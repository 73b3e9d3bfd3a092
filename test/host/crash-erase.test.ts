/**
 * Erasure of a data subject through kill -9 of the real host (`node dist/host/start.js`):
 * the host is killed while an erase runs (once right after the request went out, once after
 * the subject's key left the keyring, while the projections are rebuilt), with other writes
 * going on. After each restart: the erasure is either done or the same request finishes it;
 * every write that was acknowledged is there, other people's personal values included (each
 * create's subject key is a row of the tenant's log, written with its commit: acknowledged means
 * readable); and the data folder holds no plaintext of the erased values and no copy of the
 * erased key (its row is gone from the log's table; test/app/erasure/subject-keys.test.ts shows
 * a deleted row leaves no bytes in the database file or its WAL).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { filesContaining as filesContainingAny } from '../app/offboarding/support';
import { createTenantAs, loginAs } from '../support/e2e-tenants';
import { type HostProcess, startHostProcess } from '../support/host-process';
import { client } from '../support/http-client';
import { inParallel } from '../support/in-parallel';
import { killHard } from '../support/kill';
import { openSubjectKeys, type SubjectKeyReader } from '../support/subject-keys';

const dir = mkdtempSync(join(tmpdir(), 'erase-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }));

const T = 'forget';
const PW = 'a long enough password';
const PEOPLE = 400;
const NAME = 'Ludmila Crash-Plaintextova';
const EMAIL = 'ludmila.crash-plaintextova@example.test';
const ERASED = { $erased: true };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const CUSTOMER = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', 'x-personal': true }, email: { type: 'string', 'x-personal': true }, tier: { type: 'string' } },
};

/** Files under `root` whose bytes contain `needle`. */
const filesContaining = (root: string, needle: string) => filesContainingAny(root, [needle]);

it('kill -9 during an erase, twice: afterwards it is done or the same request finishes it; acknowledged writes stay; nothing of the erased values or key is on disk', {
  timeout: 600_000,
}, async () => {
  let host: HostProcess = await startHostProcess({}, dir);
  const call = client(() => host.url);
  const login = () => loginAs(call, T, `admin@${T}.test`, PW);
  /** Acknowledged creates: id → data sent. */
  const acked = new Map<string, Record<string, unknown>>();
  let token = '';
  let target = '';
  let erasedRef = '';
  let erasedKeyId = '';
  let ring: SubjectKeyReader | undefined;

  /** Creates customers until `stop()` says so; remembers every 201. */
  const writer = (prefix: string, stop: () => boolean) =>
    (async () => {
      for (let i = 0; !stop(); i++) {
        const data = { name: `${prefix} person ${i}`, email: `${prefix}.${i}@example.test`, tier: 'silver' };
        const r = await call('POST', `/api/t/${T}/records/customer`, { token, body: data }).catch(() => undefined);
        if (r?.status === 201) acked.set(r.json.id, data);
        else return;
      }
    })();

  /**
   * Writes go on (they have been acknowledged at least once), then the erase is sent and the
   * host killed when `killWhen()` holds (polled every few ms); the erase must not have answered.
   */
  async function eraseAndKill(label: string, killWhen: () => boolean | Promise<boolean>): Promise<void> {
    let stopped = false;
    const before = acked.size;
    const writes = [writer(`${label}-a`, () => stopped), writer(`${label}-b`, () => stopped)];
    for (let i = 0; i < 5000 && acked.size === before; i++) await sleep(2);
    expect(acked.size, `${label}: no write was acknowledged`).toBeGreaterThan(before);
    let answered: number | undefined;
    const erase = call('POST', `/api/t/${T}/subjects/${target}/erase`, { token, body: { reason: 'Art. 17 request, crash test' } }).then(
      (r) => {
        answered = r.status;
      },
      () => undefined,
    );
    for (let i = 0; i < 20_000 && !(await killWhen()) && answered === undefined; i++) await sleep(2);
    await killHard(host.pid);
    stopped = true;
    await Promise.all([erase, ...writes]);
    expect(answered, `${label}: the erase answered before the kill`).toBeUndefined();
    host.cleanup();
    host = await startHostProcess({}, dir);
    token = await login();
  }

  /** Whether the person reads as erased (the kill may have come before the erasure was recorded). */
  async function readsErased(): Promise<boolean> {
    const r = await call('GET', `/api/t/${T}/records/customer/${target}`, { token });
    expect(r.status, r.text).toBe(200);
    return JSON.stringify(r.json.data.name) === JSON.stringify(ERASED);
  }

  /** What must hold after every restart, whatever step the kill interrupted. */
  async function checkAcknowledged(erased: boolean): Promise<void> {
    const ids = [...acked.keys()];
    await inParallel(ids, 8, async (id) => {
      const r = await call('GET', `/api/t/${T}/records/customer/${id}`, { token });
      expect(r.status, r.text).toBe(200);
      expect(r.json.data).toEqual(id === target && erased ? { name: ERASED, email: ERASED, tier: 'gold' } : acked.get(id));
    });
  }

  try {
    await createTenantAs(call, host.operatorKey, T, PW);
    token = await login();
    expect((await call('PUT', `/api/t/${T}/types/customer`, { token, body: CUSTOMER })).status).toBe(201);
    await inParallel(
      Array.from({ length: PEOPLE }, (_, i) => i),
      8,
      async (i) => {
        const data = { name: `Person ${i}`, email: `p${i}@example.test`, tier: 'bronze' };
        const r = await call('POST', `/api/t/${T}/records/customer`, { token, body: data });
        expect(r.status, r.text).toBe(201);
        acked.set(r.json.id, data);
      },
    );
    // The person to erase, written last: the one new row of the log's subject keys is theirs.
    ring = await openSubjectKeys(dir, T);
    const before = new Set((await ring.rows()).map((r) => r.keyId));
    expect(before.size).toBe(PEOPLE);
    const made = await call('POST', `/api/t/${T}/records/customer`, { token, body: { name: NAME, email: EMAIL, tier: 'gold' } });
    expect(made.status, made.text).toBe(201);
    target = made.json.id;
    acked.set(target, { name: NAME, email: EMAIL, tier: 'gold' });
    const added = (await ring.rows()).filter((r) => !before.has(r.keyId));
    expect(added).toHaveLength(1);
    erasedRef = added[0]!.subjectRef;
    erasedKeyId = added[0]!.keyId;
    const listed = await call('GET', `/api/t/${T}/records/customer?email=${encodeURIComponent(EMAIL)}`, { token });
    expect(listed.json.items.map((r: { id: string }) => r.id)).toEqual([target]);

    // 1. Killed right after the request went out.
    await eraseAndKill('first', () => true);
    await checkAcknowledged(await readsErased());

    // 2. Killed while the projections are rebuilt: after the key left the keyring (or, when the
    //    first kill came after that already, a moment into the re-run's rebuild).
    const keyGone = async () => (await ring!.get(erasedRef)) === undefined;
    if (!(await keyGone())) await eraseAndKill('second', keyGone);
    else {
      const t0 = Date.now();
      await eraseAndKill('second', () => Date.now() - t0 > 300);
    }
    // The erasure is recorded and its key is gone: the person reads as erased at once, and the
    // audit (a projection, caught up after the restart) shows one SubjectErased.
    expect(await readsErased()).toBe(true);
    await checkAcknowledged(true);
    let erasures = 0;
    for (let i = 0; i < 300 && erasures === 0; i++) {
      const audit = await call('GET', `/api/t/${T}/audit`, { token });
      erasures = audit.json.items.filter((e: { eventType: string }) => e.eventType === 'SubjectErased').length;
      if (erasures === 0) await sleep(100);
    }
    expect(erasures).toBe(1);

    // The same request finishes it: no second SubjectErased, the projections rebuilt.
    const again = await call('POST', `/api/t/${T}/subjects/${target}/erase`, { token, body: { reason: 'Art. 17 request, crash test' } });
    expect(again.status, again.text).toBe(200);
    expect(again.json).toMatchObject({ alreadyErased: true, keysDestroyed: 0, reason: 'Art. 17 request, crash test' });
    const audit3 = await call('GET', `/api/t/${T}/audit`, { token });
    expect(audit3.json.items.filter((e: { eventType: string }) => e.eventType === 'SubjectErased')).toHaveLength(1);
    for (const q of [`email=${encodeURIComponent(EMAIL)}`, `name=${encodeURIComponent(NAME)}`]) {
      const l = await call('GET', `/api/t/${T}/records/customer?${q}`, { token });
      expect(l.status, l.text).toBe(200);
      expect(l.json.items).toEqual([]);
    }
    const hist = await call('GET', `/api/t/${T}/records/customer/${target}/history`, { token });
    expect(JSON.stringify(hist.json)).not.toContain(NAME);
    const exp = await call('GET', `/api/t/${T}/export`, { token });
    expect(exp.text).not.toContain(NAME);
    expect(exp.text).not.toContain(EMAIL);
    await checkAcknowledged(true);
    // Writes were acknowledged around both kills (so the checks above cover them).
    expect(acked.size).toBeGreaterThan(PEOPLE + 2);
    // The erased key is gone from the log's table; everyone else acknowledged has theirs. A
    // create the kill cut off after its commit but before its 201 reached us is in the log too
    // (committed, never acknowledged): at most one per writer per kill, so up to 4 more rows.
    expect(await ring!.get(erasedRef)).toBeUndefined();
    const held = await ring!.rows();
    expect(held.some((r) => r.keyId === erasedKeyId)).toBe(false);
    expect(held.length).toBeGreaterThanOrEqual(acked.size - 1);
    expect(held.length).toBeLessThanOrEqual(acked.size - 1 + 4);
  } finally {
    await ring?.close();
    expect(await host.stop()).toBe(0);
    host.cleanup();
  }
  // The data folder: no plaintext of the erased values, and the erased key in no file.
  expect(filesContaining(dir, NAME)).toEqual([]);
  expect(filesContaining(dir, EMAIL)).toEqual([]);
  expect(filesContaining(dir, erasedKeyId)).toEqual([]);
});

it('kill -9 while an erase rebuilds the projections: the restarted host finishes it by itself (no repeated request); lists stop matching the erased values', {
  timeout: 600_000,
}, async () => {
  const dir2 = mkdtempSync(join(tmpdir(), 'erase-finish-'));
  let keys: SubjectKeyReader | undefined;
  let host: HostProcess = await startHostProcess({}, dir2);
  const call = client(() => host.url);
  try {
    await createTenantAs(call, host.operatorKey, T, PW);
    const login = () => loginAs(call, T, `admin@${T}.test`, PW);
    let token = await login();
    expect((await call('PUT', `/api/t/${T}/types/customer`, { token, body: CUSTOMER })).status).toBe(201);
    await inParallel(
      Array.from({ length: PEOPLE }, (_, i) => i),
      8,
      async (i) => {
        const r = await call('POST', `/api/t/${T}/records/customer`, { token, body: { name: `Person ${i}`, email: `p${i}@example.test` } });
        expect(r.status, r.text).toBe(201);
      },
    );
    keys = await openSubjectKeys(dir2, T);
    const before = new Set((await keys.rows()).map((r) => r.keyId));
    const made = await call('POST', `/api/t/${T}/records/customer`, { token, body: { name: NAME, email: EMAIL, tier: 'gold' } });
    expect(made.status, made.text).toBe(201);
    const target = made.json.id as string;
    const added = (await keys.rows()).filter((r) => !before.has(r.keyId));
    expect(added).toHaveLength(1);
    const erasedRef = added[0]!.subjectRef;
    const erasedKeyId = added[0]!.keyId;
    const generation = async () =>
      (await call('GET', `/api/t/${T}/status`, { token })).json as { projections: Array<{ generation: number }> };
    const genBefore = (await generation()).projections[0]!.generation;

    // The erase, and kill -9 once the key has left the keyring (steps 1 and 2 done, step 3 running).
    let answered: number | undefined;
    const erase = call('POST', `/api/t/${T}/subjects/${target}/erase`, { token, body: { reason: 'Art. 17, finished by the host' } }).then(
      (r) => {
        answered = r.status;
      },
      () => undefined,
    );
    const keyGone = async () => (await keys!.get(erasedRef)) === undefined;
    for (let i = 0; i < 20_000 && !(await keyGone()) && answered === undefined; i++) await sleep(1);
    await killHard(host.pid);
    await erase;
    expect(answered, 'the erase answered before the kill (the rebuild was too quick to be cut off)').toBeUndefined();
    expect(await keyGone()).toBe(true);
    host.cleanup();

    // Restart; nobody repeats the request. The finishErasures timer runs at start.
    host = await startHostProcess({}, dir2);
    token = await login();
    let listed: unknown[] = [EMAIL];
    for (let i = 0; i < 600 && listed.length > 0; i++) {
      const l = await call('GET', `/api/t/${T}/records/customer?email=${encodeURIComponent(EMAIL)}`, { token });
      expect(l.status, l.text).toBe(200);
      listed = l.json.items;
      if (listed.length > 0) await sleep(100);
    }
    expect(listed, 'the list still matches the erased email: the interrupted erase was not finished').toEqual([]);
    expect((await call('GET', `/api/t/${T}/records/customer?name=${encodeURIComponent(NAME)}`, { token })).json.items).toEqual([]);
    expect((await generation()).projections[0]!.generation).toBeGreaterThan(genBefore);
    await expect.poll(() => host.output(), { timeout: 10_000 }).toMatch(/erasure\.finish.*"outcome":"finished"/);
    const got = await call('GET', `/api/t/${T}/records/customer/${target}`, { token });
    expect(got.json.data).toEqual({ name: ERASED, email: ERASED, tier: 'gold' });
    const audit = await call('GET', `/api/t/${T}/audit`, { token });
    expect(audit.json.items.filter((e: { eventType: string }) => e.eventType === 'SubjectErased')).toHaveLength(1);
    // Another restart finds nothing left to do (the rebuilt generation recorded the erasure).
    // A stop waits for the runs at start, finishErasures' included, and its last line comes after
    // theirs: the whole output is read then, not after a fixed wait the run may outlast.
    expect(await host.stop()).toBe(0);
    host = await startHostProcess({}, dir2);
    expect(await host.stop()).toBe(0);
    await expect.poll(() => host.output(), { timeout: 10_000 }).toContain('Stopped.');
    expect(host.output()).not.toMatch(/erasure\.finish/);
    // No plaintext of the erased values, no copy of the erased key.
    for (const v of [NAME, EMAIL, erasedKeyId]) expect(filesContaining(dir2, v)).toEqual([]);
    // The erased key's row is gone; the other people's keys are there.
    expect(await keys.get(erasedRef)).toBeUndefined();
    expect((await keys.rows()).length).toBe(PEOPLE);
  } finally {
    await keys?.close();
    await host.stop();
    host.cleanup();
    rmSync(dir2, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
});
