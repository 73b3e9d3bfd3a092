import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict } from '../../domain/errors';
import { assertTenantId } from '../../domain/tenant';
import type { EventStore } from '../../ports/event-store';
import type { KeyProvider, WrappedKey } from '../../ports/key-provider';
import type { Clock } from '../../ports/runtime';
import type { TenantDirectory, TenantMeta, TenantStatus } from '../../ports/tenant-directory';
import { SqliteEventStore } from './sqlite-event-store';
import { SqliteProjectionStore } from './sqlite-projection-store';
import type { ProjectionStore } from '../../ports/projection-store';
import { TENANT_ID_PATTERN } from '../../domain/tenant';

interface StoreFile {
  /** The database encryption key, wrapped by the tenant's KEK. */
  storeKey: WrappedKey;
}

/**
 * Embedded default: each tenant is a folder `<dataDir>/tenants/<id>/` holding its own
 * encrypted libSQL database (`events.db`), its meta (`meta.json`) and its wrapped database
 * key (`store.json`). Creating the folder is the atomic claim of the id.
 */
export class EmbeddedTenantDirectory implements TenantDirectory {
  private readonly root: string;
  private readonly open = new Map<string, Promise<SqliteEventStore>>();
  private readonly projections = new Map<string, Promise<ProjectionStore>>();

  constructor(
    dataDir: string,
    private readonly keys: KeyProvider,
    private readonly clock: Clock,
  ) {
    this.root = join(dataDir, 'tenants');
  }

  private dir(id: string): string {
    assertTenantId(id);
    return join(this.root, id);
  }

  async create(meta: TenantMeta): Promise<void> {
    const dir = this.dir(meta.id);
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw conflict(`Tenant "${meta.id}" already exists.`);
      throw e;
    }
    try {
      const dbKey = randomBytes(32);
      const storeKey = await this.keys.wrapKey(meta.keyName, dbKey);
      await writeJson(join(dir, 'store.json'), { storeKey } satisfies StoreFile);
      await writeJson(join(dir, 'meta.json'), meta);
      const store = new SqliteEventStore(meta.id, join(dir, 'events.db'), dbKey.toString('hex'), this.clock);
      dbKey.fill(0);
      this.open.set(meta.id, Promise.resolve(store));
    } catch (e) {
      await this.destroy(meta.id);
      throw e;
    }
  }

  async getMeta(id: string): Promise<TenantMeta | undefined> {
    try {
      return JSON.parse(await readFile(join(this.dir(id), 'meta.json'), 'utf8')) as TenantMeta;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async setStatus(id: string, status: TenantStatus): Promise<void> {
    const meta = await this.getMeta(id);
    if (!meta) throw new Error(`Tenant ${id} has no meta`);
    await writeJson(join(this.dir(id), 'meta.json'), { ...meta, status });
  }

  openEventStore(id: string): Promise<EventStore> {
    return this.openSqlite(id);
  }

  /** The embedded store with its key/value area (used by local projections). */
  openSqlite(id: string): Promise<SqliteEventStore> {
    let p = this.open.get(id);
    if (!p) {
      p = (async () => {
        const dir = this.dir(id);
        const { storeKey } = JSON.parse(await readFile(join(dir, 'store.json'), 'utf8')) as StoreFile;
        const meta = await this.getMeta(id);
        if (!meta) throw new Error(`Tenant ${id} has no meta`);
        // Only the tenant's own key may open its database key.
        const dbKey = await this.keys.unwrapKey(meta.keyName, storeKey).then(zeroAfterCopy);
        try {
          return new SqliteEventStore(id, join(dir, 'events.db'), dbKey.toString('hex'), this.clock);
        } finally {
          dbKey.fill(0);
        }
      })();
      this.open.set(id, p);
      p.catch(() => this.open.delete(id));
    }
    return p;
  }

  async openProjectionStore(id: string): Promise<ProjectionStore> {
    let p = this.projections.get(id);
    if (!p) {
      p = this.openSqlite(id).then((s) => new SqliteProjectionStore(s.database));
      this.projections.set(id, p);
      p.catch(() => this.projections.delete(id));
    }
    return p;
  }

  async listTenantIds(): Promise<string[]> {
    try {
      return (await readdir(this.root, { withFileTypes: true })).filter((d) => d.isDirectory() && TENANT_ID_PATTERN.test(d.name)).map((d) => d.name).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  async destroy(id: string): Promise<void> {
    this.projections.delete(id);
    const p = this.open.get(id);
    this.open.delete(id);
    if (p) await p.then((s) => s.close()).catch(() => undefined);
    await rm(this.dir(id), { recursive: true, force: true });
  }

  async close(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    this.projections.clear();
    for (const p of all) await p.then((s) => s.close()).catch(() => undefined);
  }
}

async function writeJson(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(value, null, 2), { mode: 0o600 });
  await rename(tmp, file);
}

/** A copy of `bytes` (as a Buffer), with `bytes` zeroed. */
function zeroAfterCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.from(bytes);
  bytes.fill(0);
  return copy;
}
