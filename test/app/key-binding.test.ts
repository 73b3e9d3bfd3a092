/**
 * Keys belong to exactly one tenant, and files and backup segments are bound to their tenant
 * and object. Played as a hostile storage administrator would: blobs and their metadata are
 * copied and swapped below the service — plain file writes in the embedded folder store's
 * layout, or the raw Azure SDK on Azurite — and backup objects are rewritten on disk (the
 * folder backup target). Each case runs on the embedded defaults (local keys, folder store),
 * on the Azure adapters' stand-ins (Key Vault stand-in, Azurite), and with local keys on Azurite.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureBlobStoreFactory, containerNameFor } from '../../shared/adapters/blob/azure-blob-store';
import { FolderBackupTarget } from '../../shared/adapters/backup/folder-backup-target';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { FolderBlobStoreFactory } from '../../shared/adapters/embedded/folder-blob-store';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { KeyVaultKeyProvider } from '../../shared/adapters/keyvault/keyvault-key-provider';
import { BackupService, type Manifest } from '../../shared/app/backup';
import { FileService } from '../../shared/app/files';
import { RecordService } from '../../shared/app/records';
import { TenantService, type UserPrincipal } from '../../shared/app/service';
import { isAppError } from '../../shared/domain/errors';
import type { KeyProvider, WrappedKey } from '../../shared/ports/key-provider';
import type { Clock } from '../../shared/ports/runtime';
import { startAzurite } from '../support/azurite';
import { startKeyVaultStandIn, type KeyVaultStandIn } from '../support/keyvault-standin';
import { rejectionOf } from '../support/rejection';
import { tierFile, tierKeys, tierObjects } from '../support/folder-tier';

const PW = 'a long enough password';
const req = { correlationId: 'c' };
const op = { id: 'operator-key:test' };
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const V2_PREFIX = Buffer.from('2.0\0\0\0\0\0', 'latin1');

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let kv: KeyVaultStandIn;
beforeAll(async () => {
  azurite = await startAzurite();
  kv = await startKeyVaultStandIn();
});
afterAll(async () => {
  await kv?.close();
  await azurite?.close();
});

/**
 * Wraps a KeyProvider and keeps every v2 content-key payload it is handed to wrap and every one
 * it returns from an unwrap, so a test can check that the service zeroed them all.
 */
class RecordingKeys implements KeyProvider {
  readonly payloads: Uint8Array[] = [];
  constructor(private readonly inner: KeyProvider) {}
  createKey(name: string) {
    return this.inner.createKey(name);
  }
  rotateKey(name: string) {
    return this.inner.rotateKey(name);
  }
  deleteKey(name: string) {
    return this.inner.deleteKey(name);
  }
  destroyKey(name: string) {
    return this.inner.destroyKey(name);
  }
  async wrapKey(name: string, key: Uint8Array): Promise<WrappedKey> {
    if (isPayload(key)) this.payloads.push(key);
    return this.inner.wrapKey(name, key);
  }
  async unwrapKey(name: string, wrapped: WrappedKey): Promise<Uint8Array> {
    const out = await this.inner.unwrapKey(name, wrapped);
    if (isPayload(out)) this.payloads.push(out);
    return out;
  }
  /** Payloads seen so far that still hold non-zero bytes. */
  live(): number {
    return this.payloads.filter((p) => p.some((b) => b !== 0)).length;
  }
}
const isPayload = (b: Uint8Array) => b.length === 40 && Buffer.from(b.subarray(0, 8)).equals(V2_PREFIX);

interface World {
  kind: string;
  admin: StorageAdmin;
  keys: RecordingKeys;
  tenants: TenantService;
  records: RecordService;
  files: FileService;
  backups: BackupService;
  logs: string[];
  dir: string;
  /** Tenant ids of this world: A (the victim's neighbour) and E (the victim). */
  A: string;
  E: string;
  p: Record<string, UserPrincipal>;
  rec: Record<string, string>;
  dispose(): Promise<void>;
}

type KeysKind = 'local' | 'keyvault';
type StoreKind = 'folder' | 'azurite';

/**
 * What a storage administrator does to stored files, below the service: the raw Azure SDK on
 * Azurite, or plain file writes in the folder store's layout on disk.
 */
interface StorageAdmin {
  names(tenant: string): Promise<string[]>;
  read(tenant: string, name: string): Promise<{ bytes: Buffer; metadata: Record<string, string> }>;
  /** Writes `bytes` and `metadata` as blob `name` (created or overwritten). */
  write(tenant: string, name: string, bytes: Buffer, metadata: Record<string, string>): Promise<void>;
  delete(tenant: string, name: string): Promise<void>;
}

function azuriteAdmin(): StorageAdmin {
  const container = (tenant: string) =>
    BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(containerNameFor(tenant));
  return {
    async names(tenant) {
      const out: string[] = [];
      for await (const b of container(tenant).listBlobsFlat()) out.push(b.name);
      return out;
    },
    async read(tenant, name) {
      const b = container(tenant).getBlockBlobClient(name);
      return { bytes: await b.downloadToBuffer(), metadata: (await b.getProperties()).metadata ?? {} };
    },
    async write(tenant, name, bytes, metadata) {
      await container(tenant).getBlockBlobClient(name).upload(bytes, bytes.length, { metadata });
    },
    async delete(tenant, name) {
      await container(tenant).getBlockBlobClient(name).delete();
    },
  };
}

/** The folder store's layout (shared/adapters/embedded/folder-blob-store.ts): objects/<h2>/<h>.json index + its .data file. */
function folderAdmin(root: string): StorageAdmin {
  const objects = (tenant: string) => join(root, tenant, 'objects');
  const indexOf = (tenant: string, name: string) => {
    const h = createHash('sha256').update(name, 'utf8').digest('hex');
    return { folder: join(objects(tenant), h.slice(0, 2)), file: join(objects(tenant), h.slice(0, 2), `${h}.json`), h };
  };
  const entry = (tenant: string, name: string) =>
    JSON.parse(readFileSync(indexOf(tenant, name).file, 'utf8')) as {
      name: string;
      size: number;
      metadata: Record<string, string>;
      data: string;
    };
  return {
    async names(tenant) {
      const out: string[] = [];
      for (const d of readdirSync(objects(tenant)))
        for (const f of readdirSync(join(objects(tenant), d)))
          if (f.endsWith('.json')) out.push((JSON.parse(readFileSync(join(objects(tenant), d, f), 'utf8')) as { name: string }).name);
      return out;
    },
    async read(tenant, name) {
      const e = entry(tenant, name);
      return { bytes: readFileSync(join(indexOf(tenant, name).folder, e.data)), metadata: e.metadata };
    },
    async write(tenant, name, bytes, metadata) {
      const { folder, file, h } = indexOf(tenant, name);
      mkdirSync(folder, { recursive: true });
      const data = `${h}.admin${randomBytes(4).toString('hex')}.data`;
      writeFileSync(join(folder, data), bytes);
      writeFileSync(
        file,
        JSON.stringify({
          v: 1,
          name,
          size: bytes.length,
          createdOn: new Date().toISOString(),
          etag: `"0xADMIN${randomBytes(4).toString('hex').toUpperCase()}"`,
          metadata,
          data,
        }),
      );
    },
    async delete(tenant, name) {
      rmSync(indexOf(tenant, name).file);
    },
  };
}

async function world(kind: KeysKind, tag: string, store: StoreKind = 'azurite'): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'kb-'));
  const clock: Clock & { t: number } = {
    t: Date.now(),
    now() {
      return new Date(this.t);
    },
  };
  const inner: KeyProvider =
    kind === 'local'
      ? new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) })
      : new KeyVaultKeyProvider({ vaultUrl: kv.vaultUrl, credential: kv.credential, clientOptions: kv.clientOptions });
  const keys = new RecordingKeys(inner);
  const directory = new EmbeddedTenantDirectory(dir, keys, clock);
  const tenants = new TenantService({ directory, keys, clock, tokenTtlSeconds: 3600, passwordLogN: 14 });
  const records = new RecordService(tenants, clock);
  const blobs =
    store === 'azurite'
      ? AzureBlobStoreFactory.fromConnectionString(azurite.connectionString)
      : new FolderBlobStoreFactory(join(dir, 'files'));
  const admin = store === 'azurite' ? azuriteAdmin() : folderAdmin(join(dir, 'files'));
  const logs: string[] = [];
  const files = new FileService({ tenants, records, keys, blobs, clock, maxFileBytes: 1 << 30, log: (m) => logs.push(m) });
  const backups = new BackupService({
    stores: tenants.tenantStores,
    tenants,
    directory,
    keys,
    clock,
    records,
    blobs,
    log: (m) => logs.push(m),
  });
  const A = `kb-${tag}-a`;
  const E = `kb-${tag}-e`;
  const p: Record<string, UserPrincipal> = {};
  const rec: Record<string, string> = {};
  for (const t of [A, E]) {
    await tenants.createTenant(op, { id: t, name: t, admin: { email: 'a@a.test', password: PW } }, req);
    p[t] = await tenants.authenticate(t, `Bearer ${(await tenants.login({ tenantId: t, email: 'a@a.test', password: PW })).access_token}`);
    await records.defineType(p[t]!, { type: 'doc', schema: { type: 'object' } }, req);
    rec[t] = (await records.createRecord(p[t]!, { type: 'doc', data: { title: t } }, req)).record.id;
  }
  return {
    kind,
    admin,
    keys,
    tenants,
    records,
    files,
    backups,
    logs,
    dir,
    A,
    E,
    p,
    rec,
    async dispose() {
      await tenants.close();
      for (const t of [A, E]) await blobs.deleteTenant(t).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
}

async function* once(b: Uint8Array) {
  yield b;
}

/** The storage administrator of the current world (set by each describe's beforeAll). */
let admin: StorageAdmin;

async function blobNameOf(tenant: string, fileId: string): Promise<string> {
  const names = (await admin.names(tenant)).filter((n) => n.includes(`/${fileId}/`));
  expect(names).toHaveLength(1);
  return names[0]!;
}

/** Copies blob `from` (bytes and metadata) of tenant `ft` over blob `to` of tenant `tt`, as an administrator can. */
async function copyBlob(
  ft: string,
  from: string,
  tt: string,
  to: string,
  editMetadata?: (m: Record<string, string>) => Record<string, string>,
): Promise<void> {
  const { bytes, metadata } = await admin.read(ft, from);
  await admin.write(tt, to, bytes, editMetadata ? editMetadata(metadata) : metadata);
}
const metadataOf = async (tenant: string, name: string) => (await admin.read(tenant, name)).metadata;

async function readAll(it: AsyncIterable<Uint8Array>): Promise<{ bytes: Buffer; error: unknown }> {
  const parts: Buffer[] = [];
  try {
    for await (const c of it) parts.push(Buffer.from(c));
  } catch (e) {
    return { bytes: Buffer.concat(parts), error: e };
  }
  return { bytes: Buffer.concat(parts), error: undefined };
}

function expect502(e: unknown, detail: RegExp): void {
  expect(isAppError(e), String(e)).toBe(true);
  expect((e as { status: number }).status).toBe(502);
  expect((e as Error).message).toMatch(detail);
}

/** The embedded defaults (local keys, folder store), the Azure adapters' stand-ins (Key Vault stand-in, Azurite), and local keys on Azurite. */
const COMBOS = [
  { kind: 'local', store: 'folder', tag: 'l', label: 'local keys, folder store' },
  { kind: 'keyvault', store: 'azurite', tag: 'k', label: 'Key Vault stand-in, Azurite' },
  { kind: 'local', store: 'azurite', tag: 'a', label: 'local keys, Azurite' },
] as const;

for (const { kind, store, tag, label } of COMBOS) {
  describe(`files are bound to their tenant and object (${label})`, () => {
    let w: World;
    beforeAll(async () => {
      w = await world(kind, `${tag}f`, store);
      admin = w.admin;
    });
    afterAll(async () => {
      await w?.dispose();
    });

    const upload = (t: string, data: Uint8Array, name = 'x.bin') =>
      w.files.upload(w.p[t]!, { type: 'doc', id: w.rec[t]!, name, contentType: 'application/octet-stream', body: once(data) }, req);
    const open = (t: string, fileId: string, range?: { start?: number; end?: number }) =>
      w.files.open(w.p[t]!, { type: 'doc', id: w.rec[t]!, fileId, range });

    it("tenant A's blob and metadata copied over tenant E's blob: E's download is refused (502), never A's plaintext", async () => {
      const a = randomBytes(70_000);
      const e = randomBytes(70_000);
      const fa = (await upload(w.A, a)).file.fileId;
      const fe = (await upload(w.E, e)).file.fileId;
      expect(sha((await readAll((await open(w.E, fe)).body)).bytes)).toBe(sha(e));
      const eName = await blobNameOf(w.E, fe);
      await copyBlob(w.A, await blobNameOf(w.A, fa), w.E, eName);
      const err = await rejectionOf(open(w.E, fe));
      expect502(err, /not wrapped by this tenant's own key/);
      expect((err as Error).message).not.toContain(a.subarray(0, 8).toString('hex'));
      expect(w.logs.some((l) => l.includes(fe) && l.includes('refused'))).toBe(true);
      // A range read is refused the same way (the key is checked before any region is read).
      expect502(await rejectionOf(open(w.E, fe, { start: 0, end: 9 })), /own key/);

      // The same, with the metadata's key id rewritten to name E's own key version: the wrapped
      // bytes are A's, so E's key cannot unwrap them.
      const eKeyId = JSON.parse((await metadataOf(w.E, await blobNameOf(w.E, (await upload(w.E, e, 'y.bin')).file.fileId))).encryptiondata!)
        .WrappedContentKey.KeyId as string;
      await copyBlob(w.A, await blobNameOf(w.A, fa), w.E, eName, (m) => {
        const d = JSON.parse(m.encryptiondata!);
        d.WrappedContentKey.KeyId = eKeyId;
        return { ...m, encryptiondata: JSON.stringify(d) };
      });
      expect502(await rejectionOf(open(w.E, fe)), /own key/);
    });

    it('another file of the same tenant copied over a file (blob and metadata, same size): refused before a byte is sent', async () => {
      const one = randomBytes(200_000);
      const two = randomBytes(200_000);
      const f1 = (await upload(w.E, one, 'one.bin')).file.fileId;
      const f2 = (await upload(w.E, two, 'two.bin')).file.fileId;
      const n1 = await blobNameOf(w.E, f1);
      const n2 = await blobNameOf(w.E, f2);
      const { bytes: original, metadata: originalMeta } = await admin.read(w.E, n1);
      await copyBlob(w.E, n2, w.E, n1);
      expect502(await rejectionOf(open(w.E, f1)), /not the one recorded for this file/);
      expect502(await rejectionOf(open(w.E, f1, { start: 100, end: 199 })), /not the one recorded/);
      // Only the content of file two under file one's metadata: GCM refuses it (wrong key).
      await admin.write(w.E, n1, (await admin.read(w.E, n2)).bytes, originalMeta);
      expect502(await rejectionOf(open(w.E, f1)), /integrity check \(tampered\)/);
      // Tampered ciphertext (one flipped bit): refused.
      const flipped = Buffer.from(original);
      flipped[50] = flipped[50]! ^ 1;
      await admin.write(w.E, n1, flipped, originalMeta);
      expect502(await rejectionOf(open(w.E, f1)), /integrity check \(tampered\)/);
      // Put back, it reads again.
      await admin.write(w.E, n1, original, originalMeta);
      expect((await readAll((await open(w.E, f1)).body)).bytes.equals(one)).toBe(true);
    });

    it('files attached before keyCheck existed: a foreign key is still refused; a same-tenant swap breaks the transfer before its end', async () => {
      const one = randomBytes(300_000);
      const two = randomBytes(300_000);
      const small = randomBytes(1000);
      const smallTwo = randomBytes(1000);
      const up = async (data: Uint8Array, name: string) => (await upload(w.E, data, name)).file.fileId;
      const f1 = await up(one, 'one.bin');
      const f2 = await up(two, 'two.bin');
      const s1 = await up(small, 's1.bin');
      const s2 = await up(smallTwo, 's2.bin');
      // A legacy FileAttached (no keyCheck) pointing at a copy of file one's blob, as an event
      // written before this change would.
      const legacy = async (fromFile: string, data: Uint8Array) => {
        const fileId = `f_${randomBytes(16).toString('base64url').slice(0, 22)}`;
        const blobName = `doc/${w.rec[w.E]}/${fileId}/legacy`;
        await copyBlob(w.E, await blobNameOf(w.E, fromFile), w.E, blobName);
        const keyId = JSON.parse((await metadataOf(w.E, blobName)).encryptiondata!).WrappedContentKey.KeyId as string;
        await w.records.fileCommand(
          w.p[w.E]!,
          {
            type: 'doc',
            id: w.rec[w.E]!,
            command: {
              kind: 'attachFile',
              file: {
                fileId,
                name: 'legacy.bin',
                contentType: 'application/octet-stream',
                size: data.length,
                sha256: sha(data),
                blobName,
                keyId,
              },
              replace: false,
            },
          },
          req,
        );
        return { fileId, blobName };
      };
      const big = await legacy(f1, one);
      const tiny = await legacy(s1, small);
      expect((await readAll((await open(w.E, big.fileId)).body)).bytes.equals(one)).toBe(true);

      // Same tenant, same size, blob and metadata of file two: the whole-file download starts
      // (nothing in the log can tell the key) but stops before its last piece.
      await copyBlob(w.E, await blobNameOf(w.E, f2), w.E, big.blobName);
      const opened = await open(w.E, big.fileId);
      expect(opened.status).toBe(200);
      const got = await readAll(opened.body);
      expect(got.error).toMatchObject({ name: 'FileBindingError' });
      expect(got.bytes.length).toBeLessThan(one.length);
      expect(w.logs.some((l) => l.includes(big.fileId) && l.includes('aborted'))).toBe(true);
      // A file that fits in one piece is refused outright (502).
      await copyBlob(w.E, await blobNameOf(w.E, s2), w.E, tiny.blobName);
      expect502(await rejectionOf(open(w.E, tiny.fileId)), /SHA-256 differs/);
      // Another tenant's blob over a legacy file: refused by the key, as for new files.
      const fa = (await upload(w.A, two, 'a.bin')).file.fileId;
      await copyBlob(w.A, await blobNameOf(w.A, fa), w.E, big.blobName);
      expect502(await rejectionOf(open(w.E, big.fileId)), /own key/);
    });

    it('key rotation keeps the binding (same content key, new wrapping) and leaves a planted foreign blob alone', async () => {
      const data = randomBytes(5000);
      const f = (await upload(w.E, data, 'rot.bin')).file.fileId;
      const fa = (await upload(w.A, data, 'a-rot.bin')).file.fileId;
      const planted = `doc/${w.rec[w.E]}/f_${'p'.repeat(22)}/planted`;
      await copyBlob(w.A, await blobNameOf(w.A, fa), w.E, planted);
      const r = await w.files.rotateKey(w.E, { newVersion: true });
      // The planted blob, and the foreign blobs the earlier cases copied over E's files.
      expect(r.refused).toBeGreaterThanOrEqual(1);
      expect(r.rewrapped + r.refused!).toBe(r.checked);
      const meta = await metadataOf(w.E, await blobNameOf(w.E, f));
      expect(JSON.parse(meta.encryptiondata!).WrappedContentKey.KeyId).toBe(r.keyId);
      expect((await readAll((await open(w.E, f)).body)).bytes.equals(data)).toBe(true);
      expect(w.logs.some((l) => l.includes(planted))).toBe(true);
      // The planted blob was not re-wrapped into E's key.
      const plantedMeta = await metadataOf(w.E, planted);
      expect(JSON.parse(plantedMeta.encryptiondata!).WrappedContentKey.KeyId).not.toBe(r.keyId);
      await admin.delete(w.E, planted);
    });

    it('every content key payload the service wrapped or unwrapped was zeroed (uploads, replacements, downloads, rotation)', async () => {
      const data = randomBytes(9000);
      const f = (await upload(w.E, data, 'z.bin')).file.fileId;
      await w.files.upload(
        w.p[w.E]!,
        {
          type: 'doc',
          id: w.rec[w.E]!,
          name: 'z.bin',
          contentType: 'application/octet-stream',
          replaceFileId: f,
          body: once(randomBytes(100)),
        },
        req,
      );
      await readAll((await open(w.E, f)).body);
      await readAll((await open(w.E, f, { start: 1, end: 5 })).body);
      await w.files.rotateKey(w.E, { newVersion: true });
      expect(w.keys.payloads.length).toBeGreaterThan(4);
      expect(w.keys.live()).toBe(0);
    });
  });

  describe(`backup segments and restores are bound to their tenant (${label})`, () => {
    let w: World;
    let target: FolderBackupTarget;
    let root: string;
    const fileOf = (key: string) => tierFile(root, key);
    const readJson = (key: string) => JSON.parse(readFileSync(fileOf(key), 'utf8')) as Manifest;
    const writeJson = (key: string, m: unknown) => writeFileSync(fileOf(key), JSON.stringify(m, null, 1));
    const keysUnder = (prefix: string) => tierKeys(root, prefix);
    const manifests = (t: string) => keysUnder(`tenants/${t}/chains/000001/manifests/`);
    const data: Record<string, Buffer> = {};
    const fileIds: Record<string, string[]> = {};

    beforeAll(async () => {
      w = await world(kind, `${tag}b`, store);
      admin = w.admin;
      root = join(w.dir, 'backup');
      target = new FolderBackupTarget('own-cloud', root);
      for (const t of [w.A, w.E]) {
        fileIds[t] = [];
        for (const n of ['1', '2']) {
          data[t + n] = randomBytes(4000);
          fileIds[t]!.push(
            (
              await w.files.upload(
                w.p[t]!,
                { type: 'doc', id: w.rec[t]!, name: `${n}.bin`, contentType: 'application/octet-stream', body: once(data[t + n]!) },
                req,
              )
            ).file.fileId,
          );
        }
        expect((await w.backups.backupTenant(t, target)).ok).toBe(true);
        await w.records.createRecord(w.p[t]!, { type: 'doc', data: { more: 1 } }, req);
        expect((await w.backups.backupTenant(t, target)).ok).toBe(true);
      }
    });
    afterAll(async () => {
      await w?.dispose();
    });

    /** Runs `fn` on a copy of the backup folder's state and puts the original back afterwards. */
    async function tampered(fn: () => void | Promise<void>, check: () => Promise<void>): Promise<void> {
      const saved = new Map(tierObjects(root).map((o) => [o.file, readFileSync(o.file)]));
      try {
        await fn();
        await check();
      } finally {
        for (const o of tierObjects(root)) if (!saved.has(o.file)) rmSync(o.file);
        for (const [f, b] of saved) {
          mkdirSync(dirname(f), { recursive: true });
          writeFileSync(f, b);
        }
      }
    }

    async function expectRestoreRefused(detail: RegExp): Promise<void> {
      const into = `${w.E}-r${randomBytes(2).toString('hex')}`;
      const err = await rejectionOf(
        w.backups.restore(op, { tenant: w.E, target, asOf: new Date(Date.now() + 60_000), into }, { ...req, acceptPartial: true }),
      );
      expect(isAppError(err) && err.code, String(err)).toBe('unprocessable');
      expect((err as Error).message).toMatch(detail);
      expect(await w.tenants.directory.getMeta(into)).toBeUndefined();
    }

    it('a bound backup verifies without warnings, restores, and the restored files read back (binding survives the re-wrap)', async () => {
      const v = await w.backups.verify(w.E, target);
      expect(v).toMatchObject({ ok: true, manifests: 2, problems: [] });
      expect(v.warnings).toBeUndefined();
      expect(readJson(manifests(w.E)[0]!)).toMatchObject({ format: 'tenant-ledger-backup/2', mac: expect.any(String) });
      const into = `${w.E}-ok`;
      await w.backups.restore(op, { tenant: w.E, target, asOf: new Date(Date.now() + 60_000), into }, { ...req, acceptPartial: true });
      const p = await w.tenants.authenticate(
        into,
        `Bearer ${(await w.tenants.login({ tenantId: into, email: 'a@a.test', password: PW })).access_token}`,
      );
      for (const [i, f] of fileIds[w.E]!.entries()) {
        const o = await w.files.open(p, { type: 'doc', id: w.rec[w.E]!, fileId: f });
        expect((await readAll(o.body)).bytes.equals(data[w.E + String(i + 1)]!)).toBe(true);
      }
      expect(w.keys.live()).toBe(0);
    });

    it("a segment of tenant A copied into E's backup (manifest rewritten to fit E's chain) is rejected by verify and restore", async () => {
      const aKey = manifests(w.A).at(-1)!;
      const eKeys = manifests(w.E);
      const last = eKeys.at(-1)!;
      await tampered(
        () => {
          const m = readJson(aKey);
          const seq = eKeys.length + 1;
          const segKey = `tenants/${w.E}/chains/000001/segments/${String(seq).padStart(12, '0')}-forged.bin`;
          writeFileSync(fileOf(segKey), readFileSync(fileOf(m.segment.key)));
          writeJson(`tenants/${w.E}/chains/000001/manifests/${String(seq).padStart(12, '0')}.json`, {
            ...m,
            tenant: w.E,
            seq,
            previous: sha(readFileSync(fileOf(last))),
            segment: { ...m.segment, key: segKey },
          });
        },
        async () => {
          const v = await w.backups.verify(w.E, target);
          expect(v.ok).toBe(false);
          expect(v.problems.join()).toMatch(/not encrypted with a key of tenant/);
          await expectRestoreRefused(/not encrypted with a key of tenant/);
        },
      );
      // Keeping E's own wrapped key and MAC but pointing the manifest at A's segment: the MAC fails.
      await tampered(
        () => {
          const m = readJson(last);
          const a = readJson(aKey);
          writeFileSync(fileOf(m.segment.key), readFileSync(fileOf(a.segment.key)));
          writeJson(last, { ...m, segment: { ...m.segment, sha256: a.segment.sha256, size: a.segment.size } });
        },
        async () => {
          expect((await w.backups.verify(w.E, target)).problems.join()).toMatch(/failed its MAC/);
          await expectRestoreRefused(/failed its MAC/);
        },
      );
      // E's own two segments swapped (manifests relinked): the MAC fails too.
      await tampered(
        () => {
          const [k1, k2] = eKeys as [string, string];
          const m1 = readJson(k1);
          const m2 = readJson(k2);
          writeJson(k1, { ...m2, seq: 1, previous: null });
          writeJson(k2, { ...m1, seq: 2, previous: sha(readFileSync(fileOf(k1))) });
        },
        async () => {
          expect((await w.backups.verify(w.E, target)).problems.join()).toMatch(/failed its MAC/);
        },
      );
      expect((await w.backups.verify(w.E, target)).ok).toBe(true);
    });

    it("a restore rejects a backed-up file whose key is not the source tenant's, or that is another file of the same tenant", async () => {
      const fileKey = async (t: string, i: number) => `tenants/${t}/files/${encodeURIComponent(await blobNameOf(t, fileIds[t]![i]!))}`;
      const e0 = await fileKey(w.E, 0);
      const e1 = await fileKey(w.E, 1);
      const a0 = await fileKey(w.A, 0);
      const copyFile = (from: string, to: string) => {
        writeFileSync(fileOf(to), readFileSync(fileOf(from)));
        const meta = JSON.parse(readFileSync(fileOf(`${from}.meta.json`), 'utf8'));
        writeJson(`${to}.meta.json`, { ...meta, name: JSON.parse(readFileSync(fileOf(`${to}.meta.json`), 'utf8')).name });
      };
      await tampered(
        () => copyFile(a0, e0),
        () => expectRestoreRefused(/not wrapped by a key of tenant/),
      );
      await tampered(
        () => copyFile(e1, e0),
        () => expectRestoreRefused(/does not hold the content key its FileAttached event recorded/),
      );
    });

    it('a restore refuses a backed-up file whose .meta.json or encryptiondata is garbage with a clear 422, never a crash', async () => {
      const e0 = `tenants/${w.E}/files/${encodeURIComponent(await blobNameOf(w.E, fileIds[w.E]![0]!))}.meta.json`;
      const meta = readJson(e0) as unknown as { metadata: Record<string, string> };
      const ed = meta.metadata.encryptiondata!;
      const cases: Array<[() => void, RegExp]> = [
        [() => writeFileSync(fileOf(e0), '{"name": '), /\.meta\.json that is not JSON/],
        [() => writeJson(e0, null), /without string metadata/],
        [() => writeJson(e0, { ...meta, metadata: { ...meta.metadata, other: 42 } }), /without string metadata/],
        [() => writeJson(e0, { ...meta, metadata: { ...meta.metadata, encryptiondata: 'not json' } }), /invalid encryption metadata/],
        [
          () => writeJson(e0, { ...meta, metadata: { ...meta.metadata, encryptiondata: ed.replace('"2.0"', '"7.0"') } }),
          /invalid encryption metadata/,
        ],
        [() => writeJson(e0, { ...meta, metadata: { ...meta.metadata, EncryptionData: '{}' } }), /invalid encryption metadata/],
      ];
      for (const [tamper, detail] of cases) await tampered(tamper, () => expectRestoreRefused(detail));
    });

    it('backups written before the binding (format /1) verify as legacy unbound segments, still refuse foreign keys, and cannot follow bound ones', async () => {
      const asLegacy = (key: string, previous: string | null) => {
        const { mac: _mac, ...m } = readJson(key);
        writeJson(key, { ...m, format: 'tenant-ledger-backup/1', previous });
      };
      const eKeys = manifests(w.E);
      await tampered(
        () => {
          let previous: string | null = null;
          for (const k of eKeys) {
            asLegacy(k, previous);
            previous = sha(readFileSync(fileOf(k)));
          }
        },
        async () => {
          const v = await w.backups.verify(w.E, target);
          expect(v).toMatchObject({ ok: true, manifests: 2 });
          expect(v.warnings?.join()).toMatch(/2 legacy unbound segment/);
          const into = `${w.E}-legacy`;
          await w.backups.restore(op, { tenant: w.E, target, asOf: new Date(Date.now() + 60_000), into }, { ...req, acceptPartial: true });
          // A legacy segment of tenant A appended to E's legacy chain: refused by the key.
          const a = readJson(manifests(w.A).at(-1)!);
          const seq = eKeys.length + 1;
          const segKey = `tenants/${w.E}/chains/000001/segments/${String(seq).padStart(12, '0')}-forged.bin`;
          writeFileSync(fileOf(segKey), readFileSync(fileOf(a.segment.key)));
          const { mac: _m, ...rest } = a;
          writeJson(`tenants/${w.E}/chains/000001/manifests/${String(seq).padStart(12, '0')}.json`, {
            ...rest,
            format: 'tenant-ledger-backup/1',
            tenant: w.E,
            seq,
            previous: sha(readFileSync(fileOf(eKeys.at(-1)!))),
            segment: { ...a.segment, key: segKey },
          });
          expect((await w.backups.verify(w.E, target)).problems.join()).toMatch(/not encrypted with a key of tenant/);
        },
      );
      // A downgrade: the last manifest turned into /1 after a bound one.
      await tampered(
        () => asLegacy(eKeys.at(-1)!, sha(readFileSync(fileOf(eKeys[0]!)))),
        async () => {
          expect((await w.backups.verify(w.E, target)).problems.join()).toMatch(/downgrade/);
        },
      );
      expect(w.keys.live()).toBe(0);
    });
  });
}

it('content keys are wrapped and unwrapped only through the key-zeroing functions shared/crypto exports', () => {
  // Everything outside shared/crypto imports the folder (its index), never an inner module, and
  // uses withNewContentKey / wrapContentKey / withContentKey, which zero every copy of the key
  // on every path. The raw payload helpers and bare key generation exist only in content-key.ts;
  // unwrapContentKey (the caller zeroes its result) only where a key outlives one call: the
  // streamed download's openFileKey in file-binding.ts.
  const root = join(__dirname, '..', '..');
  const crypto = join(root, 'shared', 'crypto');
  const offenders: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const f = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'dist') walk(f);
        continue;
      }
      if (!f.endsWith('.ts') || f.startsWith(crypto + sep) || f === __filename) continue;
      const text = readFileSync(f, 'utf8');
      if (/\b(wrapPayload|unwrapPayload|newContentKey)\b/.test(text)) offenders.push(`${f}: raw key helper`);
      if (/from '[./]*(shared\/)?crypto\/[a-z-]+'/.test(text)) offenders.push(`${f}: imports an inner module of shared/crypto`);
      if (f.startsWith(join(root, 'shared') + sep) && !f.endsWith(join('app', 'file-binding.ts')) && /\bunwrapContentKey\b/.test(text))
        offenders.push(`${f}: unwrapContentKey`);
    }
  };
  for (const d of ['shared', 'functions', 'host', 'cli', 'bench', 'test']) walk(join(root, d));
  expect(offenders).toEqual([]);
});
