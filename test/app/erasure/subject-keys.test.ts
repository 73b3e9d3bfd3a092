/**
 * New data subjects' keys stored with the commit that first seals under them (issue 14, the
 * embedded store): no keyring object of their own, so a create of a type with personal fields
 * costs the one fsync of its commit. What must hold: the key is durable exactly when the values
 * are (an append that fails stores neither), no two subjects ever get one key (also through two
 * service instances on one data folder), an erasure destroys such a key (and no page of the
 * database file or its WAL keeps its bytes), and each tenant's keys stay in its own log, wrapped
 * by its own key.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteEventStore } from '../../../shared/adapters/embedded/sqlite-event-store';
import { rawEvents } from '../../../shared/app/erasure/vault';
import { sealingFor } from '../../../shared/app/erasure/sealing';
import type { UserPrincipal } from '../../../shared/app/service';
import { loadConfig } from '../../../shared/config';
import { createServices, type Services } from '../../../shared/config/services';
import { backupTenant } from '../../../shared/app/backup/writer';
import { recordStreamId } from '../../../shared/domain/records';
import type { BackupObject, BackupTarget } from '../../../shared/ports/backup-target';
import type { EventStore, SubjectKeyRow } from '../../../shared/ports/event-store';

const PW = 'a long enough password';
const req = { correlationId: 'subject-keys' };
const ERASED = { $erased: true };
const dir = mkdtempSync(join(tmpdir(), 'subject-keys-'));
const CUSTOMER = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', 'x-personal': true }, email: { type: 'string', 'x-personal': true }, tier: { type: 'string' } },
};
const instances: Services[] = [];

beforeAll(async () => {
  const env = { DATA_DIR: dir, LOCAL_BLOB: 'off', PASSWORD_SCRYPT_LOG_N: '14' };
  // Two instances on one data folder (as the local host and `func start`): separate connections, caches, keyrings.
  instances.push(await createServices(loadConfig(env)));
  instances.push(await createServices(loadConfig(env)));
  const a = instances[0]!;
  for (const t of ['alpha', 'beta'])
    await a.tenants.createTenant({ id: 'op' }, { id: t, name: t, admin: { email: `admin@${t}.test`, password: PW } }, req);
  for (const t of ['alpha', 'beta']) await a.records.defineType(await admin(a, t), { type: 'customer', schema: CUSTOMER }, req);
}, 120_000);

afterAll(async () => {
  for (const s of instances) await s.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

async function admin(s: Services, t: string): Promise<UserPrincipal> {
  return s.tenants.authenticate(
    t,
    `Bearer ${(await s.tenants.login({ tenantId: t, email: `admin@${t}.test`, password: PW })).access_token}`,
  );
}

async function rows(s: Services, t: string): Promise<SubjectKeyRow[]> {
  const events = rawEvents(await s.directory.openEventStore(t));
  expect(events.subjectKeys, 'the embedded store keeps a table of subject keys').toBeDefined();
  return events.subjectKeys!.list({ limit: 100_000 });
}

function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return; // no folder: no files (the blob store makes its folder with its first object)
    }
    for (const n of names) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(p);
    }
  };
  walk(root);
  return out;
}

/** The sealed envelopes (subject reference, key id) of a record's first commit, as stored. */
async function envelopesOf(s: Services, t: string, id: string): Promise<Array<{ s: string; k: string }>> {
  const events = rawEvents(await s.directory.openEventStore(t));
  const [c] = await events.readStream(recordStreamId('customer', id), { maxCount: 1 });
  const data = c?.events[0]?.data as { sealed?: Array<{ s: string; k: string }> } | undefined;
  return (data?.sealed ?? []).map(({ s, k }) => ({ s, k }));
}

describe('keys of new subjects go with their first commit', () => {
  it('a create stores its subject key in the log, not as a keyring object of its own; the values read back', async () => {
    const a = instances[0]!;
    const p = await admin(a, 'alpha');
    const before = await rows(a, 'alpha');
    const r = await a.records.createRecord(
      p,
      { type: 'customer', data: { name: 'Anna Alpha', email: 'anna@alpha.test', tier: 'gold' } },
      req,
    );
    const after = await rows(a, 'alpha');
    expect(after.length).toBe(before.length + 1);
    const row = after.find((x) => !before.some((b) => b.keyId === x.keyId))!;
    // The commit names exactly that key, for exactly that subject.
    expect(await envelopesOf(a, 'alpha', r.record.id)).toEqual([{ s: row.subjectRef, k: row.keyId }]);
    // No keyring object was written for it (that write was the extra fsyncs of a personal create).
    expect(filesUnder(dir).filter((f) => readFileSync(f).includes(Buffer.from(row.keyId)))).toEqual([]);
    // The other instance (its own connection and cache) reads the values with that key.
    const b = instances[1]!;
    const got = await b.records.getRecord(await admin(b, 'alpha'), { type: 'customer', id: r.record.id });
    expect(got.data).toEqual({ name: 'Anna Alpha', email: 'anna@alpha.test', tier: 'gold' });
  });

  it('two instances on one data folder creating at once: every subject has its own key, no key serves two subjects', async () => {
    const [a, b] = instances as [Services, Services];
    const [pa, pb] = [await admin(a, 'alpha'), await admin(b, 'alpha')];
    const made: Array<{ id: string; name: string }> = [];
    await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const [s, p] = i % 2 ? [a, pa] : [b, pb];
        const name = `Person ${i}`;
        const r = await s.records.createRecord(p, { type: 'customer', data: { name, tier: 'silver' } }, req);
        made.push({ id: r.record.id, name });
      }),
    );
    const all = await rows(a, 'alpha');
    expect(new Set(all.map((r) => r.keyId)).size).toBe(all.length);
    expect(new Set(all.map((r) => r.subjectRef)).size).toBe(all.length);
    // The wrapped keys themselves differ too (not one key under several ids).
    expect(new Set(all.map((r) => JSON.parse(r.body).wrapped.encryptedKey)).size).toBe(all.length);
    const byRef = new Map(all.map((r) => [r.subjectRef, r.keyId]));
    for (const m of made) {
      const env = await envelopesOf(a, 'alpha', m.id);
      expect(env).toHaveLength(1);
      expect(byRef.get(env[0]!.s)).toBe(env[0]!.k);
      // Read through the instance that did not write it.
      for (const [s, p] of [
        [a, pa],
        [b, pb],
      ] as const)
        expect((await s.records.getRecord(p, { type: 'customer', id: m.id })).data).toEqual({ name: m.name, tier: 'silver' });
    }
  });

  it('an append that fails after the key was made stores no key; the retry seals under a new one', async () => {
    const a = instances[0]!;
    const events = await a.directory.openEventStore('alpha');
    const before = await rows(a, 'alpha');
    let handed: SubjectKeyRow[] = [];
    // The store's append is reached with the key, then fails (a crash between taking the key
    // and the commit, as far as anything durable goes: the transaction never commits).
    const failing = new Proxy(events, {
      get(target, prop) {
        if (prop === 'append')
          return async (...a: Parameters<EventStore['append']>) => {
            handed = a[4]?.subjectKeys ?? [];
            throw new Error('disk gone');
          };
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
      },
    }) as EventStore;
    const created = {
      type: 'RecordCreated' as const,
      data: { type: 'customer', id: 'r_crashed', data: { name: 'Never Stored' }, changes: [{ path: '/name', new: 'Never Stored' }] },
    };
    const sealing = sealingFor({ personal: a.personal }, failing, CUSTOMER)!;
    sealing.loaded(undefined);
    await expect(
      sealing.events.append(recordStreamId('customer', 'r_crashed'), 0, [created], {
        author: { kind: 'system', id: 't' },
        correlationId: 'c',
      }),
    ).rejects.toThrow('disk gone');
    expect(handed).toHaveLength(1);
    const lost = handed[0]!;
    expect(await rows(a, 'alpha')).toEqual(before);
    expect(await events.streamVersion(recordStreamId('customer', 'r_crashed'))).toBe(0);
    // Nothing can open anything under the lost key, and it is not in any cache.
    expect(await (await a.personal.keyring(events)).key(lost.subjectRef, lost.keyId, async () => false)).toBeUndefined();
    // The same command again, now reaching the store: a new key, stored with the commit.
    const ok = sealingFor({ personal: a.personal }, events, CUSTOMER)!;
    ok.loaded(undefined);
    await ok.events.append(recordStreamId('customer', 'r_crashed'), 0, [created], {
      author: { kind: 'system', id: 't' },
      correlationId: 'c',
    });
    const row = (await rows(a, 'alpha')).find((r) => r.subjectRef === lost.subjectRef)!;
    expect(row.keyId).not.toBe(lost.keyId);
    expect(JSON.parse(row.body).wrapped.encryptedKey).not.toBe(JSON.parse(lost.body).wrapped.encryptedKey);
  });

  it('an erasure destroys a key stored with a commit: the row is gone, every read shows the marker, later creates still work', async () => {
    const [a, b] = instances as [Services, Services];
    const p = await admin(a, 'alpha');
    const r = await a.records.createRecord(
      p,
      { type: 'customer', data: { name: 'Erik Erased', email: 'erik@alpha.test', tier: 'gold' } },
      req,
    );
    // Read through the second instance first, so its cache holds the key.
    const pb = await admin(b, 'alpha');
    expect((await b.records.getRecord(pb, { type: 'customer', id: r.record.id })).data.name).toBe('Erik Erased');
    const [env] = await envelopesOf(a, 'alpha', r.record.id);
    const receipt = await a.erasure.eraseSubject(p, r.record.id, { reason: 'Art. 17' }, req);
    expect(receipt).toMatchObject({ subjectRef: env!.s, keysDestroyed: 1, alreadyErased: false });
    expect((await rows(a, 'alpha')).some((x) => x.subjectRef === env!.s || x.keyId === env!.k)).toBe(false);
    expect((await a.records.getRecord(p, { type: 'customer', id: r.record.id })).data).toEqual({
      name: ERASED,
      email: ERASED,
      tier: 'gold',
    });
    // The other instance's cached copy does not outlive the erasure (the erasure stream says the key is gone).
    b.personal.cache.forget('alpha');
    expect((await b.records.getRecord(pb, { type: 'customer', id: r.record.id })).data).toEqual({
      name: ERASED,
      email: ERASED,
      tier: 'gold',
    });
    const again = await a.erasure.eraseSubject(p, r.record.id, { reason: 'Art. 17' }, req);
    expect(again).toMatchObject({ keysDestroyed: 0, alreadyErased: true });
    const next = await a.records.createRecord(p, { type: 'customer', data: { name: 'After Erasure' } }, req);
    expect((await a.records.getRecord(p, { type: 'customer', id: next.record.id })).data).toEqual({ name: 'After Erasure' });
  });

  it('tenants keep their own keys: rows only in their own log, wrapped by their own key, useless to another tenant', async () => {
    const a = instances[0]!;
    const pBeta = await admin(a, 'beta');
    const betaBefore = await rows(a, 'beta');
    const alphaBefore = await rows(a, 'alpha');
    const r = await a.records.createRecord(pBeta, { type: 'customer', data: { name: 'Bea Beta' } }, req);
    const betaAfter = await rows(a, 'beta');
    expect(betaAfter.length).toBe(betaBefore.length + 1);
    expect(await rows(a, 'alpha')).toEqual(alphaBefore);
    const betaKeyName = (await a.directory.getMeta('beta'))!.keyName;
    const alphaKeyName = (await a.directory.getMeta('alpha'))!.keyName;
    const row = betaAfter.find((x) => !betaBefore.some((y) => y.keyId === x.keyId))!;
    const wrapped = JSON.parse(row.body).wrapped;
    expect(wrapped.keyId.startsWith(`local:${betaKeyName}/`)).toBe(true);
    await expect(a.keys.unwrapKey(alphaKeyName, wrapped)).rejects.toMatchObject({ name: 'KeyUnwrapError' });
    // Alpha's keyring does not know the subject.
    const alphaRing = await a.personal.keyring(await a.directory.openEventStore('alpha'));
    expect(await alphaRing.entriesOf(row.subjectRef)).toEqual([]);
    expect((await a.records.getRecord(pBeta, { type: 'customer', id: r.record.id })).data).toEqual({ name: 'Bea Beta' });
  });
});

describe('backups', () => {
  /** A backup tier in memory; `onPut` runs before an object is stored. */
  class MemoryTarget implements BackupTarget {
    readonly name = 'memory';
    readonly objects = new Map<string, Uint8Array>();
    onPut?: (key: string) => Promise<void>;
    async put(key: string, body: Uint8Array) {
      await this.onPut?.(key);
      if (!this.objects.has(key)) this.objects.set(key, Uint8Array.from(body));
    }
    async get(key: string) {
      return this.objects.get(key);
    }
    async putStream(key: string, chunks: AsyncIterable<Uint8Array>) {
      const parts: Uint8Array[] = [];
      for await (const c of chunks) parts.push(c);
      await this.put(key, Buffer.concat(parts));
    }
    async getStream(key: string) {
      const b = this.objects.get(key);
      return b
        ? (async function* () {
            yield b;
          })()
        : undefined;
    }
    async *list(prefix: string): AsyncIterable<BackupObject> {
      for (const key of [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort())
        yield { key, size: this.objects.get(key)!.length, lastModified: new Date() };
    }
    async delete(key: string) {
      this.objects.delete(key);
    }
  }

  it('a create committed while a run reads the log has its key in the chain that holds its commit', async () => {
    const a = instances[0]!;
    const p = await admin(a, 'alpha');
    const target = new MemoryTarget();
    let raced: { id: string } | undefined;
    const before = new Set((await rows(a, 'alpha')).map((r) => r.keyId));
    const commitsBefore = (await (await a.directory.openEventStore('alpha')).feedLag(undefined)).commits!;
    // The run has listed and shipped the keyring and is writing its first segment: a create now
    // is read by a later page of the same run. One commit per segment, so every page is full
    // and the run reads on (a run stops at its first short page: what comes after is the next run's).
    target.onPut = async (key) => {
      if (raced || !key.includes('/chains/') || key.includes('/keyring/')) return;
      raced = (await a.records.createRecord(p, { type: 'customer', data: { name: 'Rita Race' } }, req)).record;
    };
    const run = await backupTenant(
      { stores: a.tenants.tenantStores, tenants: a.tenants, directory: a.directory, keys: a.keys, clock: a.clock, personal: a.personal },
      'alpha',
      target,
      { maxCommitsPerSegment: 1 },
    );
    expect(run.ok, run.error).toBe(true);
    expect(raced).toBeDefined();
    // The raced create is in this chain (nothing else writes meanwhile).
    expect(run.commits).toBeGreaterThan(commitsBefore);
    expect(run.segments).toBe(run.commits);
    const row = (await rows(a, 'alpha')).find((r) => !before.has(r.keyId))!;
    expect((await envelopesOf(a, 'alpha', raced!.id))[0]!.k).toBe(row.keyId);
    expect([...target.objects.keys()].filter((k) => k.endsWith(`/keyring/${row.subjectRef}.${row.keyId}.json`))).toHaveLength(1);
  });
});

describe('the embedded store table of subject keys', () => {
  const file = join(dir, 'plain.db');
  const clock = { now: () => new Date() };
  const meta = { author: { kind: 'system' as const, id: 't' }, correlationId: 'c' };
  const ev = [{ type: 'Noted', data: {} }];
  // Unencrypted, so the file's bytes can be searched.
  const store = () => new SqliteEventStore('plain', file, undefined, clock);

  it('a row goes in with its commit or not at all; a subject that has a key refuses a second one', async () => {
    const s = store();
    const row = { subjectRef: 's_one', keyId: 'k_1', body: '{"x":1}' };
    await s.append('a', 0, ev, meta, { subjectKeys: [row] });
    expect(await s.subjectKeys.get('s_one')).toEqual(row);
    await expect(s.append('b', 0, ev, meta, { subjectKeys: [{ ...row, keyId: 'k_2' }] })).rejects.toMatchObject({ code: 'conflict' });
    expect(await s.streamVersion('b')).toBe(0);
    await expect(s.append('a', 0, ev, meta, { subjectKeys: [{ subjectRef: 's_two', keyId: 'k_3', body: '{}' }] })).rejects.toThrow();
    expect(await s.subjectKeys.get('s_two')).toBeUndefined();
    expect(await s.subjectKeys.get('s_one')).toEqual(row);
    s.close();
  });

  it('deleting a row leaves its bytes in no page of the database or its WAL', async () => {
    const s = store();
    const secret = `WRAPPED-KEY-${'Q'.repeat(40)}`;
    await s.append('c', 0, ev, meta, { subjectKeys: [{ subjectRef: 's_gone', keyId: 'k_gone', body: JSON.stringify({ w: secret }) }] });
    for (let i = 0; i < 20; i++) await s.append(`fill-${i}`, 0, ev, meta);
    const onDisk = () =>
      [file, `${file}-wal`].filter((f) => {
        try {
          return readFileSync(f).includes(Buffer.from(secret));
        } catch {
          return false;
        }
      });
    expect(onDisk().length).toBeGreaterThan(0);
    await s.subjectKeys.delete('s_gone');
    expect(await s.subjectKeys.get('s_gone')).toBeUndefined();
    expect(onDisk()).toEqual([]);
    await s.subjectKeys.delete('s_gone');
    s.close();
    expect(onDisk()).toEqual([]);
  });
});

/**
 * The point of storing the key with the commit, counted rather than timed: a create of a type
 * with personal fields makes no more fsyncs than a create of the same type without marks
 * (before: two more per create, the keyring object's file and folder). strace on a child process
 * running the built service; the creates are bracketed by fsyncs of marker files.
 */
describe.skipIf(spawnSync('strace', ['-V']).status !== 0)('fsyncs per create (strace)', () => {
  it('a personal create fsyncs as often as a plain one', () => {
    const n = 20;
    const count = (personal: boolean) => {
      const data = mkdtempSync(join(dir, `fsync-${personal ? 'personal' : 'plain'}-`));
      const log = join(data, 'strace.log');
      const script = `
        const fs = require('node:fs');
        const { createServices } = require('./dist/shared/config/services');
        const { loadConfig } = require('./dist/shared/config');
        const mark = (name) => { const fd = fs.openSync(${JSON.stringify(data)} + '/' + name, 'w'); fs.fsyncSync(fd); fs.closeSync(fd); };
        (async () => {
          const s = await createServices(loadConfig({ DATA_DIR: ${JSON.stringify(data)}, LOCAL_BLOB: 'off', PASSWORD_SCRYPT_LOG_N: '14' }));
          const req = { correlationId: 'fsync' };
          await s.tenants.createTenant({ id: 'op' }, { id: 'gamma', name: 'gamma', admin: { email: 'admin@gamma.test', password: ${JSON.stringify(PW)} } }, req);
          const token = (await s.tenants.login({ tenantId: 'gamma', email: 'admin@gamma.test', password: ${JSON.stringify(PW)} })).access_token;
          const p = await s.tenants.authenticate('gamma', 'Bearer ' + token);
          const schema = ${JSON.stringify(CUSTOMER)};
          if (!${personal}) for (const f of Object.values(schema.properties)) delete f['x-personal'];
          await s.records.defineType(p, { type: 'customer', schema }, req);
          await s.records.createRecord(p, { type: 'customer', data: { name: 'warm up' } }, req);
          mark('BEGIN');
          for (let i = 0; i < ${n}; i++) await s.records.createRecord(p, { type: 'customer', data: { name: 'P ' + i, email: i + '@x.test' } }, req);
          mark('END');
          process.exit(0);
        })().catch((e) => { console.error(e); process.exit(1); });`;
      execFileSync('strace', ['-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync', '-o', log, process.execPath, '-e', script], {
        cwd: join(__dirname, '..', '..', '..'),
        stdio: 'pipe',
      });
      const lines = readFileSync(log, 'utf8').split('\n');
      const begin = lines.findIndex((l) => l.includes('/BEGIN>'));
      const end = lines.findIndex((l) => l.includes('/END>'));
      expect(begin).toBeGreaterThanOrEqual(0);
      expect(end).toBeGreaterThan(begin);
      return lines.slice(begin + 1, end).filter((l) => /\b(fsync|fdatasync)\(/.test(l) && l.includes(data)).length;
    };
    const plain = count(false);
    const personal = count(true);
    console.log(`fsync/fdatasync calls for ${n} creates: plain ${plain}, personal ${personal}`);
    expect(plain).toBeGreaterThanOrEqual(n);
    // A few spare for background work that may happen to fall in the window; before: +2 per create.
    expect(personal).toBeLessThanOrEqual(plain + 3);
  }, 120_000);
});
