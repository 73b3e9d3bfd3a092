/**
 * The embedded change journal (shared/adapters/embedded/change-journal.ts, issue 11): which
 * tenants any process may have written since a cursor, so background work looks at those only.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'libsql';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChangeJournal } from '../../shared/adapters/embedded/change-journal';

describe('ChangeJournal', () => {
  let dir: string;
  let file: string;
  const opened: ChangeJournal[] = [];
  const journal = () => {
    const j = new ChangeJournal(file);
    opened.push(j);
    return j;
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'journal-'));
    file = join(dir, 'change-journal.db');
  });
  afterEach(() => {
    for (const j of opened.splice(0)) j.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists what was held open or closed since a cursor, and nothing else; an unknown cursor gets "all"', () => {
    const a = journal();
    const start = a.since(undefined);
    expect(start).toMatchObject({ all: true, cursor: expect.stringMatching(/^[0-9a-f]{16}:0$/) });
    expect(a.since(start.cursor)).toEqual({ cursor: start.cursor, tenants: [] });
    a.writing('acme');
    // Held open: listed to everyone, except to the holder when it asks so (it hears its own appends).
    expect(a.since(start.cursor).tenants).toEqual(['acme']);
    expect(a.since(start.cursor, { exceptHeldHere: true }).tenants).toEqual([]);
    const b = journal();
    expect(b.since(start.cursor, { exceptHeldHere: true }).tenants).toEqual(['acme']);
    // Closed: numbered, so listed once more to every cursor taken before the close.
    a.closed('acme');
    const afterClose = a.since(start.cursor, { exceptHeldHere: true });
    expect(afterClose.tenants).toEqual(['acme']);
    expect(a.since(afterClose.cursor)).toEqual({ cursor: afterClose.cursor, tenants: [] });
    // Created (held across the claim, then closed): numbered. Destroyed: gone.
    a.writing('globex');
    a.closed('globex');
    const created = a.since(afterClose.cursor);
    expect(created.tenants).toEqual(['globex']);
    b.writing('globex');
    a.forget('globex');
    expect(a.since(afterClose.cursor).tenants).toEqual([]);
    // Cursors of another journal (the file was replaced), malformed or from the future: "all".
    expect(a.since('0123456789abcdef:1')).toMatchObject({ all: true });
    expect(a.since('junk')).toMatchObject({ all: true });
    expect(a.since(`${created.cursor.split(':')[0]}:999`)).toMatchObject({ all: true });
  });

  it('a cursor from a journal file that was lost and made anew gets "all"', () => {
    const a = journal();
    a.writing('acme');
    a.closed('acme');
    const { cursor } = a.since(undefined);
    a.dispose();
    rmSync(file);
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
    expect(journal().since(cursor)).toMatchObject({ all: true });
  });

  it('rows of an owner that is gone (a process killed while it held tenants open) are numbered at the next open, then no longer held', () => {
    // A process that held acme open and died: its row, with its pid (no longer running) and token.
    const a = journal();
    const { cursor } = a.since(undefined);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const db = new Database(file);
    db.prepare('INSERT INTO writing (id, owner) VALUES (?, ?)').run('acme', `${hostname()}:${dead}:0badc0ffee00`);
    // A live process on this host (this one) and one of another host are never taken for gone.
    db.prepare('INSERT INTO writing (id, owner) VALUES (?, ?)').run('globex', `${hostname()}:${process.pid}:${'x'.repeat(12)}`);
    db.prepare('INSERT INTO writing (id, owner) VALUES (?, ?)').run('initech', `elsewhere:${dead}:0badc0ffee00`);
    db.close();
    // Until someone opens the journal again, the rows keep them listed: never a missed write.
    expect(a.since(cursor).tenants!.sort()).toEqual(['acme', 'globex', 'initech']);
    // The next start: acme's row is numbered and removed. globex's owner has this pid but is no
    // live journal of this process (an earlier process with the same pid): numbered too.
    const b = journal();
    const after = b.since(cursor);
    expect(after.tenants!.sort()).toEqual(['acme', 'globex', 'initech']);
    expect(b.since(after.cursor).tenants).toEqual(['initech']);
    const rows = new Database(file);
    expect((rows.prepare('SELECT id FROM writing ORDER BY id').all() as Array<{ id: string }>).map((r) => r.id)).toEqual(['initech']);
    rows.close();
  });

  it('a journal of this process that is still open is not taken for gone by another one', () => {
    const a = journal();
    a.writing('acme');
    const { cursor } = journal().since(undefined);
    journal();
    expect(journal().since(cursor).tenants).toEqual(['acme']);
  });
});
