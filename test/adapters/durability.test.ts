/**
 * Acknowledged means durable against power loss: the embedded store fsyncs every commit by
 * default (synchronous=FULL), DURABILITY=fast does not, and every file the service writes is
 * fsynced with its folder. The fsync calls are counted with strace on a child process (a
 * power cut cannot be simulated here; the system calls that make data survive one can be seen).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileDurably, mkdirDurably, writeFileDurably } from '../../shared/adapters/durable-files';
import { SqliteEventStore } from '../../shared/adapters/embedded/sqlite-event-store';
import { loadConfig } from '../../shared/config';
import { systemClock } from '../../shared/ports/runtime';

const root = resolve(__dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'durability-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hasStrace = spawnSync('strace', ['-V']).status === 0;

/** Runs `script` (CommonJS, cwd = repo root) under strace; returns the fsync-family calls it made on files under `under`. */
function fsyncsOf(script: string, under: string): string[] {
  const log = join(dir, `strace-${randomBytes(4).toString('hex')}.log`);
  execFileSync('strace', ['-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync', '-o', log, process.execPath, '-e', script], {
    cwd: root,
    stdio: 'pipe',
  });
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => /\b(fsync|fdatasync)\(/.test(l) && l.includes(under) && / = 0$/.test(l.trim()));
}

describe('durable file writes', () => {
  it('replace and create: complete, private, no temp file left, create refuses an existing file', async () => {
    const f = join(dir, 'meta.json');
    await writeFileDurably(f, '{"a":1}');
    await writeFileDurably(f, '{"a":2}');
    expect(readFileSync(f, 'utf8')).toBe('{"a":2}');
    expect(statSync(f).mode & 0o777).toBe(0o600);
    const g = join(dir, 'object.bin');
    async function* chunks() {
      yield Buffer.from('hello ');
      yield Buffer.from('world');
    }
    await createFileDurably(g, chunks());
    expect(readFileSync(g, 'utf8')).toBe('hello world');
    await expect(createFileDurably(g, 'other')).rejects.toMatchObject({ code: 'EEXIST' });
    expect(readFileSync(g, 'utf8')).toBe('hello world');
    expect(readdirSync(dir).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    await mkdirDurably(join(dir, 'a', 'b', 'c'));
    expect(statSync(join(dir, 'a', 'b', 'c')).isDirectory()).toBe(true);
  });

  it('abortSignal: an aborted write, before the start or between streamed chunks, leaves the file as it was and no temp file', async () => {
    const sub = join(dir, 'abort');
    await mkdirDurably(sub);
    const f = join(sub, 'meta.json');
    await writeFileDurably(f, 'before');
    const fired = new AbortController();
    fired.abort();
    await expect(writeFileDurably(f, 'after', { abortSignal: fired.signal })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(createFileDurably(join(sub, 'new.bin'), 'x', { abortSignal: fired.signal })).rejects.toMatchObject({ name: 'AbortError' });
    // Mid-write: the caller gives up while the content is still streaming in.
    for (const write of [writeFileDurably, createFileDurably]) {
      const c = new AbortController();
      async function* slow() {
        yield Buffer.alloc(64 * 1024, 1);
        c.abort();
        yield Buffer.alloc(64 * 1024, 2);
      }
      const target = write === writeFileDurably ? f : join(sub, 'new.bin');
      await expect(write(target, slow(), { abortSignal: c.signal })).rejects.toMatchObject({ name: 'AbortError' });
    }
    expect(readFileSync(f, 'utf8')).toBe('before');
    expect(readdirSync(sub).sort()).toEqual(['meta.json']);
  });

  it.skipIf(!hasStrace)('fsyncs the file and its folder before returning (strace)', () => {
    const target = join(dir, 'traced');
    writeFileSync(join(dir, 'placeholder'), '');
    const calls = fsyncsOf(
      `require('./dist/shared/adapters/durable-files').mkdirDurably(${JSON.stringify(target)}).then(() => require('./dist/shared/adapters/durable-files').writeFileDurably(${JSON.stringify(join(target, 'meta.json'))}, 'x'))`,
      target,
    );
    // The temp file's data, then the folder holding the new name.
    expect(calls.some((l) => l.includes('.tmp-meta.json'))).toBe(true);
    expect(calls.some((l) => new RegExp(`<${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}>\\)`).test(l))).toBe(true);
  });
});

describe('embedded store durability', () => {
  it('DURABILITY defaults to full; fast is explicit', () => {
    expect(loadConfig({}).durability).toBe('full');
    expect(loadConfig({ DURABILITY: 'fast' }).durability).toBe('fast');
    expect(() => loadConfig({ DURABILITY: 'sometimes' })).toThrow(/DURABILITY must be one of full, fast/);
  });

  it('synchronous is FULL by default and NORMAL with durability fast', () => {
    for (const [d, expected] of [
      [undefined, 2],
      ['full', 2],
      ['fast', 1],
    ] as const) {
      const s = new SqliteEventStore(
        't',
        join(dir, `sync-${d ?? 'default'}.db`),
        randomBytes(32).toString('hex'),
        systemClock,
        d ? { durability: d } : {},
      );
      try {
        expect(s.database.prepare('PRAGMA synchronous').get(), String(d)).toMatchObject({ synchronous: expected });
        expect(s.database.prepare('PRAGMA journal_mode').get()).toMatchObject({ journal_mode: 'wal' });
      } finally {
        s.close();
      }
    }
  });

  it.skipIf(!hasStrace)('full fsyncs every acknowledged commit; fast does not (strace)', () => {
    const appends = 40;
    const run = (durability: 'full' | 'fast') => {
      const db = join(dir, `traced-${durability}`, 'events.db');
      execFileSync('mkdir', ['-p', join(dir, `traced-${durability}`)]);
      const script = `
        const { SqliteEventStore } = require('./dist/shared/adapters/embedded/sqlite-event-store');
        const s = new SqliteEventStore('t', ${JSON.stringify(db)}, '${'ab'.repeat(32)}', { now: () => new Date() }, { durability: '${durability}' });
        (async () => {
          for (let i = 0; i < ${appends}; i++) await s.append('s' + i, 0, [{ type: 'X', data: { i } }], { author: { kind: 'system', id: 'test' }, correlationId: 'c' });
          process.exit(0); // no close(): a close would checkpoint (and fsync) once more
        })();`;
      return fsyncsOf(script, join(dir, `traced-${durability}`));
    };
    const full = run('full');
    const fast = run('fast');
    console.log(`fsync/fdatasync calls for ${appends} appends: full ${full.length}, fast ${fast.length}`);
    expect(full.filter((l) => l.includes('events.db-wal')).length).toBeGreaterThanOrEqual(appends);
    expect(fast.filter((l) => l.includes('events.db-wal')).length).toBeLessThan(appends);
  });
});

describe('bulk import durability', () => {
  it.skipIf(!hasStrace)(
    "appendMany with syncLater (a restore's import) skips the per-batch fsync; the next append's fsync covers the batches, and a new process reads them all (strace)",
    async () => {
      const batches = 20;
      const run = (mode: 'each' | 'later' | 'bulk') => {
        const syncLater = mode === 'later';
        const sub = join(dir, `import-${mode}`);
        execFileSync('mkdir', ['-p', sub]);
        const db = join(sub, 'events.db');
        const script = `
        const { SqliteEventStore } = require('./dist/shared/adapters/embedded/sqlite-event-store');
        const s = new SqliteEventStore('t', ${JSON.stringify(db)}, '${'cd'.repeat(32)}', { now: () => new Date() });
        const meta = { author: { kind: 'system', id: 'test' }, correlationId: 'c' };
        (async () => {
          const bulk = ${mode === 'bulk' ? 'await s.beginImport()' : 'undefined'};
          for (let b = 0; b < ${batches}; b++) {
            const batch = Array.from({ length: 10 }, (_, i) => ({ streamId: 's' + (b * 10 + i), expectedVersion: 0, events: [{ type: 'X', data: { b, i } }], meta }));
            if (bulk) await bulk.append(batch);
            else await s.appendMany(batch, ${syncLater ? '{ syncLater: true }' : '{}'});
          }
          await s.append('restores', 0, [{ type: 'Done', data: {} }], meta);
          bulk?.end();
          process.exit(0); // no close(): a close would checkpoint (and fsync) once more
        })();`;
        return { wal: fsyncsOf(script, sub).filter((l) => l.includes('events.db-wal')), db };
      };
      const each = run('each');
      const later = run('later');
      // beginImport (what a restore uses on the embedded store) keeps the same durability.
      const bulk = run('bulk');
      console.log(
        `WAL fsyncs for ${batches} import batches + 1 append: per batch ${each.wal.length}, syncLater ${later.wal.length}, beginImport ${bulk.wal.length}`,
      );
      expect(each.wal.length).toBeGreaterThanOrEqual(batches + 1);
      for (const imported of [later, bulk]) {
        // The same fsyncs without the one per batch: opening (schema) and the final append's own.
        expect(imported.wal.length).toBeGreaterThanOrEqual(1);
        expect(imported.wal.length).toBeLessThanOrEqual(each.wal.length - batches);
        // Settings are back to FULL after the batches, and everything is there for a new process.
        const s = new SqliteEventStore('t', imported.db, 'cd'.repeat(32), systemClock);
        try {
          expect(s.database.prepare('PRAGMA synchronous').get()).toMatchObject({ synchronous: 2 });
          const page = await s.readFeed(undefined, { maxCount: 1000 });
          expect(page.commits).toHaveLength(batches * 10 + 1);
          expect(page.commits.at(-1)).toMatchObject({ streamId: 'restores', version: 1 });
        } finally {
          s.close();
        }
      }
    },
  );
});

describe('tenant creation durability', () => {
  it.skipIf(!hasStrace)(
    'every file of a new tenant and its folder are fsynced before the rename that claims the id; the root folder after it (strace)',
    () => {
      const data = join(dir, 'create-traced');
      execFileSync('mkdir', ['-p', data]);
      const log = join(dir, `strace-create-${randomBytes(4).toString('hex')}.log`);
      const script = `
        const { LocalKeyProvider } = require('./dist/shared/adapters/embedded/local-key-provider');
        const { EmbeddedTenantDirectory } = require('./dist/shared/adapters/embedded/embedded-tenant-directory');
        const clock = { now: () => new Date() };
        const keys = new LocalKeyProvider({ dir: ${JSON.stringify(join(data, 'keys'))}, masterKey: Buffer.alloc(32, 7) });
        const d = new EmbeddedTenantDirectory(${JSON.stringify(data)}, keys, clock);
        (async () => {
          await keys.createKey('tenant-acme-00000000');
          const meta = { id: 'acme', name: 'acme', status: 'creating', createdAt: new Date().toISOString(), keyName: 'tenant-acme-00000000', signingKey: await keys.wrapKey('tenant-acme-00000000', Buffer.alloc(32, 1)) };
          await d.create(meta, { populate: async (events) => {
            for (let i = 0; i < 3; i++) await events.append('s' + i, 0, [{ type: 'X', data: { i } }], { author: { kind: 'system', id: 'test' }, correlationId: 'c' });
          } });
          const store = await d.openEventStore('acme');
          const page = await store.readFeed(undefined);
          process.stdout.write(JSON.stringify({ commits: page.commits.length, status: (await d.getMeta('acme')).status }));
          await d.close();
        })();`;
      const out = execFileSync(
        'strace',
        ['-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2', '-o', log, process.execPath, '-e', script],
        { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
      ).toString();
      expect(JSON.parse(out)).toEqual({ commits: 3, status: 'ready' });
      const tenants = join(data, 'tenants');
      const lines = readFileSync(log, 'utf8')
        .split('\n')
        // Parallel fsyncs are logged as "<unfinished ...>" (path, no result) and resumed later.
        .filter((l) => l.includes(tenants) && (/ = 0$/.test(l.trim()) || l.includes('<unfinished')));
      const claim = lines.findIndex((l) => /rename/.test(l) && l.includes('.creating-acme-') && l.includes(`"${join(tenants, 'acme')}"`));
      expect(claim, lines.join('\n')).toBeGreaterThan(0);
      const before = lines.slice(0, claim).filter((l) => /fsync|fdatasync/.test(l));
      const after = lines.slice(claim + 1).filter((l) => /fsync|fdatasync/.test(l));
      for (const file of ['meta.json', 'store.json', 'events.db'])
        expect(
          before.some((l) => new RegExp(`\\.creating-acme-[0-9a-f]+/${file.replace('.', '\\.')}>`).test(l)),
          `${file} fsynced before the claim`,
        ).toBe(true);
      expect(
        before.some((l) => /\.creating-acme-[0-9a-f]+>\)/.test(l)),
        'the tenant folder fsynced before the claim',
      ).toBe(true);
      expect(
        after.some((l) => l.includes(`<${tenants}>)`)),
        'the tenants folder fsynced after the claim',
      ).toBe(true);
      // The building folder is synced at once, not per write: no fsync per commit or per schema statement.
      const building = before.filter((l) => l.includes('.creating-acme-'));
      console.log(`fsync calls while building a tenant with 3 commits: ${building.length}`);
      expect(building.filter((l) => l.includes('events.db-wal')).length).toBeLessThanOrEqual(1);
    },
  );
});
