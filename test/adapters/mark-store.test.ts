/**
 * The embedded mark store (shared/adapters/embedded/mark-store.ts, issue 11): background work's
 * per-tenant marks read and written by point, so a look at a few tenants does not read (or a
 * save rewrite) the marks of every tenant; and LogMarks over it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { MarkStore } from '../../shared/adapters/embedded/mark-store';
import { LogMarks } from '../../shared/app/changes/log-marks';
import { TestClock } from '../support/store-backends';

let dir: string;
const opened: MarkStore[] = [];
const store = () => {
  const s = new MarkStore(join(dir, 'marks.db'), join(dir, 'marks'));
  opened.push(s);
  return s;
};
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'marks-'));
});
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('MarkStore', () => {
  it('reads and writes by point and whole, keeps NUL and any text in values, and is seen at once by another store on the file', () => {
    const a = store();
    const b = store();
    const value = 'fp:1/2\u0000{"chain":1,"note":"ä \\" \u0001"}';
    a.write('projector', { acme: value, globex: 'g1' });
    expect(b.get('projector', 'acme')).toBe(value);
    expect(b.read('projector', ['acme', 'initech'])).toEqual({ acme: value });
    expect(b.readAll('projector')).toEqual({ acme: value, globex: 'g1' });
    // Purposes are apart.
    expect(b.readAll('file-check')).toEqual({});
    b.write('projector', { acme: null, globex: 'g2' });
    expect(a.readAll('projector')).toEqual({ globex: 'g2' });
    expect(a.get('projector', 'acme')).toBeUndefined();
  });

  it('refuses a bad purpose or tenant id, and a batch with one bad id writes nothing', () => {
    const s = store();
    expect(() => s.readAll('../etc')).toThrow(/purpose/);
    expect(() => s.write('Projector', { acme: 'x' })).toThrow(/purpose/);
    expect(() => s.write('projector', { acme: 'x', '../x': 'y' })).toThrow(/Invalid mark/);
    expect(() => s.write('projector', { acme: 5 as unknown as string })).toThrow(/Invalid mark/);
    expect(s.readAll('projector')).toEqual({});
  });

  it('imports an older version’s JSON file once (what belongs in it), then removes it', () => {
    mkdirSync(join(dir, 'marks'));
    const legacy = join(dir, 'marks', 'backup-own-cloud.json');
    writeFileSync(legacy, JSON.stringify({ acme: 'a\u0000{"chain":2}', globex: 'g', 'not an id!': 'x', initech: 7 }));
    expect(store().readAll('backup-own-cloud')).toEqual({ acme: 'a\u0000{"chain":2}', globex: 'g' });
    expect(existsSync(legacy)).toBe(false);
    // A file appearing again later (an older version run on the folder) is not imported over newer marks.
    writeFileSync(legacy, JSON.stringify({ acme: 'old' }));
    const again = store();
    expect(again.get('backup-own-cloud', 'acme')).toBe('a\u0000{"chain":2}');
    expect(existsSync(legacy)).toBe(false);
    // An unreadable file imports nothing.
    writeFileSync(join(dir, 'marks', 'projector.json'), '{not json');
    expect(again.readAll('projector')).toEqual({});
  });

  it('forgets every mark of a destroyed tenant', () => {
    const s = store();
    s.write('projector', { acme: 'p', globex: 'q' });
    s.write('file-check', { acme: 'f' });
    s.forgetTenant('acme');
    expect(s.readAll('projector')).toEqual({ globex: 'q' });
    expect(s.readAll('file-check')).toEqual({});
  });
});

describe('LogMarks over the embedded directory', () => {
  const embedded = () => {
    const clock = new TestClock();
    const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
    return { clock, directory: new EmbeddedTenantDirectory(join(dir, 'data'), keys, clock) };
  };

  it('a look reads its tenant’s mark only; a run over everyone reads them at once; a save writes what changed', async () => {
    const { directory, clock } = embedded();
    try {
      const first = new LogMarks(directory, 'projector', clock);
      await first.record('acme', 'fa');
      await first.record('globex', 'fg', 'detail');
      await first.flush({ force: true });

      const reads = vi.spyOn(directory, 'readMarks');
      const writes = vi.spyOn(directory, 'writeMarks');
      const marks = new LogMarks(directory, 'projector', clock);
      expect(await marks.unchanged('acme', 'fa')).toBe(true);
      expect(await marks.detail('globex')).toBe('detail');
      expect(await marks.unchanged('initech', 'fi')).toBe(false);
      expect(await marks.unchanged('initech', 'fi')).toBe(false); // known absent: not read again
      expect(reads.mock.calls.map((c) => c[1])).toEqual([['acme'], ['globex'], ['initech']]);

      await marks.record('initech', 'fi');
      await marks.forget('acme');
      await marks.flush({ force: true });
      expect(writes.mock.calls.map((c) => c[1])).toEqual([{ initech: 'fi', acme: null }]);

      reads.mockClear();
      const all = await new LogMarks(directory, 'projector', clock).recorded();
      expect(reads.mock.calls.map((c) => c[1])).toEqual([undefined]);
      expect([all.get('acme'), all.get('globex'), all.get('initech')]).toEqual([undefined, 'fg\u0000detail', 'fi']);
    } finally {
      await directory.close();
    }
  });

  it('a run’s changes made while every mark is being read stay on top of what was read', async () => {
    const { directory, clock } = embedded();
    try {
      const first = new LogMarks(directory, 'projector', clock);
      await first.record('acme', 'old');
      await first.record('globex', 'g');
      await first.flush({ force: true });
      const marks = new LogMarks(directory, 'projector', clock);
      const loading = marks.recorded();
      await marks.record('acme', 'new');
      await marks.forget('globex');
      const all = await loading;
      expect([all.get('acme'), all.get('globex')]).toEqual(['new', undefined]);
    } finally {
      await directory.close();
    }
  });
});
