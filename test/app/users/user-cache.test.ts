/**
 * The cached user state behind authentication (shared/app/users/user-cache.ts): every load
 * still asks the log (the stream's version, or the stream from the cached version on), so role changes, disabling and password
 * changes appended by anyone (another process, another store object) count on the next load,
 * and a log that is not the one the state came from is folded from the start.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { SqliteEventStore } from '../../../shared/adapters/embedded/sqlite-event-store';
import type { NewEvent } from '../../../shared/domain/events';
import { userIdForEmail, userStreamId } from '../../../shared/domain/identity';
import { loadUser } from '../../../shared/app/users/load-user';
import { forgetCachedUsers } from '../../../shared/app/users/user-cache';
import { systemClock } from '../../../shared/ports/runtime';
import { CountingEventStore } from '../../projections/support';

const dirs: string[] = [];
const stores: SqliteEventStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

function openStore(tenantId: string, file?: string, key = randomBytes(32).toString('hex')) {
  let f = file;
  if (!f) {
    const dir = mkdtempSync(join(tmpdir(), 'user-cache-'));
    dirs.push(dir);
    f = join(dir, 'events.db');
  }
  const store = new SqliteEventStore(tenantId, f, key, systemClock);
  stores.push(store);
  return { store, file: f, key };
}

const author = { kind: 'operator', id: 'op' } as const;
const userId = userIdForEmail('salt', 'a@x.test');
const stream = userStreamId(userId);
const created = (roles: string[]): NewEvent => ({
  type: 'UserCreated',
  data: { userId, email: 'a@x.test', displayName: null, roles, passwordHash: 'h1' },
});
const rolesChanged = (old: string[], next: string[]): NewEvent => ({ type: 'UserRolesChanged', data: { userId, old, new: next } });
const append = (s: SqliteEventStore, v: number, e: NewEvent) => s.append(stream, v, [e], { author, correlationId: randomUUID() });

it('a change appended through another store object on the same file counts on the next load', async () => {
  const tenant = `t-${randomUUID()}`;
  const a = openStore(tenant);
  const b = openStore(tenant, a.file, a.key); // as another process would see the file
  await append(a.store, 0, created(['viewer']));
  expect((await loadUser(a.store, userId))?.roles).toEqual(['viewer']);
  await append(b.store, 1, rolesChanged(['viewer'], ['admin']));
  expect((await loadUser(a.store, userId))?.roles).toEqual(['admin']);
  await append(b.store, 2, { type: 'UserDisabled', data: { userId } });
  const s = await loadUser(a.store, userId);
  expect(s?.disabled).toBe(true);
  expect(s?.credentialEpoch).toBe(1);
  await append(b.store, 3, { type: 'UserEnabled', data: { userId } });
  await append(b.store, 4, { type: 'UserPasswordChanged', data: { userId, passwordHash: 'h2' } });
  const s2 = await loadUser(a.store, userId);
  expect(s2).toMatchObject({ disabled: false, credentialEpoch: 2, passwordHash: 'h2', version: 5 });
});

it('a cached load reads only the commit the state is at plus the newer ones, whatever the history length', async () => {
  const tenant = `t-${randomUUID()}`;
  const { store } = openStore(tenant);
  await append(store, 0, created(['viewer']));
  let roles = ['viewer'];
  for (let v = 1; v < 1_000; v++) {
    const next = roles[0] === 'viewer' ? ['editor'] : ['viewer'];
    await append(store, v, rolesChanged(roles, next));
    roles = next;
  }
  const counting = new CountingEventStore(store);
  expect((await loadUser(counting, userId))?.version).toBe(1_000); // first load: the whole stream
  expect(counting.replayed).toBe(1_000);
  counting.reset();
  // Same store object, stream not moved: only its version is looked up, no commit decoded.
  expect((await loadUser(counting, userId))?.roles).toEqual(roles);
  expect(counting.replayed).toBe(0);
  // Another store object on the same log: the commit the state is at is read to recognise the log.
  const other = new CountingEventStore(store);
  expect((await loadUser(other, userId))?.roles).toEqual(roles);
  expect(other.replayed).toBe(1);
  counting.reset();
  await append(store, 1_000, rolesChanged(roles, ['admin']));
  expect((await loadUser(counting, userId))?.roles).toEqual(['admin']);
  expect(counting.replayed).toBe(2);
});

it('a different log under the same tenant id (removed and created again) is folded from the start, never served from the cache', async () => {
  const tenant = `t-${randomUUID()}`;
  const first = openStore(tenant);
  await append(first.store, 0, created(['admin']));
  await append(first.store, 1, rolesChanged(['admin'], ['viewer']));
  expect((await loadUser(first.store, userId))?.roles).toEqual(['viewer']);
  // Same tenant id, same user id, a new log with as many commits.
  const second = openStore(tenant);
  await append(second.store, 0, created(['editor']));
  await append(second.store, 1, rolesChanged(['editor'], ['admin']));
  expect((await loadUser(second.store, userId))?.roles).toEqual(['admin']);
  // Shorter and empty logs too.
  const third = openStore(tenant);
  await append(third.store, 0, created(['viewer']));
  expect((await loadUser(third.store, userId))?.roles).toEqual(['viewer']);
  const empty = openStore(tenant);
  expect(await loadUser(empty.store, userId)).toBeUndefined();
});

it('forgetting a tenant drops its cached users (the next load folds the whole stream)', async () => {
  const tenant = `t-${randomUUID()}`;
  const { store } = openStore(tenant);
  await append(store, 0, created(['viewer']));
  await append(store, 1, rolesChanged(['viewer'], ['editor']));
  const counting = new CountingEventStore(store);
  await loadUser(counting, userId);
  counting.reset();
  forgetCachedUsers(tenant);
  expect((await loadUser(counting, userId))?.roles).toEqual(['editor']);
  expect(counting.replayed).toBe(2);
});
