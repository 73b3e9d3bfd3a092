import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../../shared/adapters/embedded/sqlite-event-store';
import { SqliteProjectionStore } from '../../shared/adapters/embedded/sqlite-projection-store';
import { systemClock } from '../../shared/ports/runtime';
import { projectionStoreContract } from '../contracts/projection-store.contract';

projectionStoreContract('embedded (libSQL)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'proj-'));
  const events = new SqliteEventStore('t-proj', join(dir, 'events.db'), randomBytes(32).toString('hex'), systemClock);
  return {
    store: new SqliteProjectionStore(events.database),
    cleanup: async () => {
      events.close();
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
});
