import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { SqliteEventStore } from '../../shared/adapters/embedded/sqlite-event-store';
import { systemClock } from '../../shared/ports/runtime';
import { eventStoreContract } from '../contracts/event-store.contract';

eventStoreContract(
  'embedded (libSQL)',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'es-'));
    const store = new SqliteEventStore('t-test', join(dir, 'events.db'), randomBytes(32).toString('hex'), systemClock);
    return {
      store,
      cleanup: async () => {
        store.close();
        rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
      },
    };
  },
  { feed: true },
);

it('embedded store file is encrypted at rest and unreadable with another key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'es-'));
  const file = join(dir, 'events.db');
  const key = randomBytes(32).toString('hex');
  const store = new SqliteEventStore('t-enc', file, key, systemClock);
  await store.append('s', 0, [{ type: 'E', data: { secret: 'PLAINTEXT-MARKER-42' } }], {
    author: { kind: 'operator', id: 'op' },
    correlationId: 'c',
  });
  store.close();
  for (const f of [file, `${file}-wal`]) {
    try {
      expect(readFileSync(f).includes('PLAINTEXT-MARKER-42')).toBe(false);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  expect(() => new SqliteEventStore('t-enc', file, randomBytes(32).toString('hex'), systemClock)).toThrow();
  const reopened = new SqliteEventStore('t-enc', file, key, systemClock);
  expect(await reopened.streamVersion('s')).toBe(1);
  reopened.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});
