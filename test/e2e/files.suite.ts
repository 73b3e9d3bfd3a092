import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobServiceClient } from '@azure/storage-blob';
import { AzureBlobStoreFactory, containerNameFor } from '../../shared/adapters/blob/azure-blob-store';
import { FolderBlobStoreFactory } from '../../shared/adapters/embedded/folder-blob-store';
import type { BlobInfo, BlobStore } from '../../shared/ports/blob-store';
import { startAzurite, type AzuriteTestServer } from '../support/azurite';
import { startHostProcess, type HostProcess } from '../support/host-process';
import { client, type CallResult } from '../support/http-client';

const MiB = 1024 * 1024;
const REGION = 4 * MiB;
let MODE: 'folder' | 'azure' = 'folder';
let azurite: AzuriteTestServer | undefined;
let host: HostProcess;
const call = client(() => host.url);
const PW = 'correct horse battery';
const T: Record<string, string> = {};
let recordId: string;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function expectProblem(r: CallResult, status: number) {
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get('content-type')).toContain('application/problem+json');
}

async function upload(
  path: string,
  body: Uint8Array,
  opts: { token?: string; name?: string; type?: string; method?: string; headers?: Record<string, string> } = {},
) {
  const res = await fetch(`${host.url}${path}`, {
    method: opts.method ?? 'POST',
    headers: {
      authorization: `Bearer ${opts.token ?? T.editor}`,
      'content-type': opts.type ?? 'application/pdf',
      'x-file-name': encodeURIComponent(opts.name ?? 'smlouva č.1.pdf'),
      ...opts.headers,
    },
    body,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text ? JSON.parse(text) : undefined };
}

async function download(path: string, headers: Record<string, string> = {}, token = T.viewer) {
  const res = await fetch(`${host.url}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

/** What the host's file storage holds, read through the same port (a second view of its folder, or the Azurite it uses). */
let storage: BlobStore;
/** Any tenant's storage, the same way. */
let storageOf: (tenant: string) => Promise<BlobStore>;
async function stored(): Promise<BlobInfo[]> {
  const out: BlobInfo[] = [];
  for await (const b of storage.list()) out.push(b);
  return out;
}
async function storedBytes(name: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of await storage.download(name)) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}
/** Replaces a stored blob's bytes behind the service's back (metadata kept): tampering. */
async function overwrite(info: BlobInfo, bytes: Buffer): Promise<void> {
  await storage.delete(info.name);
  await storage.upload(
    info.name,
    (async function* () {
      yield bytes;
    })(),
    { metadata: info.metadata },
  );
}

/**
 * What uploads in progress (or cut off) have written to acme's storage and not committed: temp
 * files (folder store), names with staged blocks only (Azure). Read-only, unlike sweepUnfinished.
 */
async function unfinished(): Promise<string[]> {
  if (!azurite) return readdirSync(join(host.dataDir, 'files', 'acme', 'tmp'));
  const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(containerNameFor('acme'));
  const committed = new Set<string>();
  for await (const b of container.listBlobsFlat()) committed.add(b.name);
  const out: string[] = [];
  for await (const b of container.listBlobsFlat({ includeUncommitedBlobs: true })) if (!committed.has(b.name)) out.push(b.name);
  return out;
}

async function login(tenant: string, email: string) {
  const r = await call('POST', `/api/t/${tenant}/auth/token`, { body: { email, password: PW } });
  return r.json.access_token as string;
}

const file10 = randomBytes(10 * MiB + 123);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * The files end-to-end suite, run twice (files.test.ts, files-azure.test.ts): on the embedded
 * default (folder store) and on the Azure Blob adapter against Azurite (BLOB_CONNECTION_STRING).
 * Each test file loads its own copy of this module, so the state above is per run.
 */
export function filesSuite(mode: 'folder' | 'azure'): void {
  MODE = mode;
  beforeAll(async () => {
    if (MODE === 'azure') azurite = await startAzurite();
    host = await startHostProcess({
      MAX_FILE_BYTES: String(20 * MiB),
      ...(azurite ? { BLOB_CONNECTION_STRING: azurite.connectionString } : {}),
    });
    const factory = azurite
      ? AzureBlobStoreFactory.fromConnectionString(azurite.connectionString)
      : new FolderBlobStoreFactory(join(host.dataDir, 'files'));
    storageOf = (tenant) => factory.forTenant(tenant);
    storage = await storageOf('acme');
    for (const t of ['acme', 'globex']) {
      await call('POST', '/api/tenants', {
        token: host.operatorKey,
        body: { id: t, name: t, admin: { email: `admin@${t}.test`, password: PW } },
      });
      T[`${t}-admin`] = await login(t, `admin@${t}.test`);
      await call('PUT', `/api/t/${t}/types/doc`, { token: T[`${t}-admin`], body: { type: 'object' } });
    }
    for (const role of ['editor', 'viewer']) {
      await call('POST', '/api/t/acme/users', {
        token: T['acme-admin'],
        body: { email: `${role}@acme.test`, password: PW, roles: [role] },
      });
      T[role] = await login('acme', `${role}@acme.test`);
    }
    T.globexEditor = T['globex-admin']!;
    const r = await call('POST', '/api/t/acme/records/doc', { token: T.editor, body: { title: 'Contract' } });
    recordId = r.json.id;
  });

  afterAll(async () => {
    await host?.stop();
    host?.cleanup();
    await azurite?.close();
  });

  describe(`encrypted files (${MODE === 'azure' ? 'Azure Blob adapter against Azurite' : 'embedded folder store'})`, () => {
    let fileId: string;
    const base = () => `/api/t/acme/records/doc/${recordId}/files`;

    it('uploads a file: 201 with size and SHA-256; storage holds only ciphertext in the v2 layout', async () => {
      const r = await upload(base(), file10);
      expect(r.status, r.text).toBe(201);
      fileId = r.json.fileId;
      expect(r.json).toMatchObject({
        name: 'smlouva č.1.pdf',
        contentType: 'application/pdf',
        size: file10.length,
        sha256: sha(file10),
        recordVersion: 2,
      });
      const list: string[] = [];
      for (const b of await stored()) {
        list.push(b.name);
        const ed = JSON.parse(b.metadata.encryptiondata!);
        expect(Object.keys(ed)).toEqual([
          'WrappedContentKey',
          'EncryptionAgent',
          'EncryptedRegionInfo',
          'KeyWrappingMetadata',
          'EncryptionMode',
        ]);
        expect(ed.EncryptionAgent).toEqual({ Protocol: '2.0', EncryptionAlgorithm: 'AES_GCM_256' });
        expect(b.size).toBe(file10.length + 3 * 28);
        const bytes = await storedBytes(b.name);
        expect(bytes.includes(file10.subarray(1000, 1064))).toBe(false);
      }
      expect(list).toHaveLength(1);
      const rec = await call('GET', `/api/t/acme/records/doc/${recordId}`, { token: T.viewer });
      expect(rec.json.files).toEqual([expect.objectContaining({ fileId, size: file10.length, sha256: sha(file10) })]);
      const h = await call('GET', `/api/t/acme/records/doc/${recordId}/history`, { token: T.viewer });
      expect(h.json.items[1].events[0]).toMatchObject({
        type: 'FileAttached',
        changes: [{ path: `/files/${fileId}`, new: { name: 'smlouva č.1.pdf', size: file10.length } }],
      });
    });

    it('downloads the plaintext with type, length and name; Range reads decrypt only what is needed', async () => {
      const d = await download(`${base()}/${fileId}`);
      expect(d.status).toBe(200);
      expect(d.headers.get('content-type')).toBe('application/pdf');
      expect(Number(d.headers.get('content-length'))).toBe(file10.length);
      expect(d.headers.get('content-disposition')).toContain("filename*=UTF-8''smlouva%20%C4%8D.1.pdf");
      expect(d.headers.get('x-content-type-options')).toBe('nosniff');
      expect(sha(d.bytes)).toBe(sha(file10));
      const ranges: Array<[number, number]> = [
        [0, 0],
        [REGION - 1, REGION - 1],
        [REGION - 1, REGION],
        [REGION, REGION],
        [REGION - 10, 2 * REGION + 10],
        [file10.length - 1, file10.length - 1],
        [0, file10.length - 1],
      ];
      for (const [a, b] of ranges) {
        const r = await download(`${base()}/${fileId}`, { range: `bytes=${a}-${b}` });
        expect(r.status, `${a}-${b}`).toBe(206);
        expect(r.headers.get('content-range')).toBe(`bytes ${a}-${b}/${file10.length}`);
        expect(r.bytes.equals(file10.subarray(a, b + 1)), `${a}-${b}`).toBe(true);
      }
      const open = await download(`${base()}/${fileId}`, { range: `bytes=${2 * REGION}-` });
      expect(open.bytes.equals(file10.subarray(2 * REGION))).toBe(true);
      const suffix = await download(`${base()}/${fileId}`, { range: 'bytes=-100' });
      expect(suffix.bytes.equals(file10.subarray(file10.length - 100))).toBe(true);
      const bad = await download(`${base()}/${fileId}`, { range: `bytes=${file10.length}-` });
      expect(bad.status).toBe(416);
      expect(bad.headers.get('content-range')).toBe(`bytes */${file10.length}`);
    });

    it('replacing keeps the old version (history, ?version=, asOf); deleting is an event', async () => {
      const before = await call('GET', `/api/t/acme/records/doc/${recordId}`, { token: T.viewer });
      const v2 = randomBytes(3000);
      await sleep(5);
      const r = await upload(`${base()}/${fileId}`, v2, { method: 'PUT', name: 'smlouva v2.pdf' });
      expect(r.status, r.text).toBe(200);
      expect(r.json).toMatchObject({ fileId, size: 3000, recordVersion: 3 });
      expect(sha((await download(`${base()}/${fileId}`)).bytes)).toBe(sha(v2));
      expect(sha((await download(`${base()}/${fileId}?version=2`)).bytes)).toBe(sha(file10));
      expect(sha((await download(`${base()}/${fileId}?asOf=${before.json.updatedAt}`)).bytes)).toBe(sha(file10));
      const asOf = await call('GET', `/api/t/acme/records/doc/${recordId}?asOf=${before.json.updatedAt}`, { token: T.viewer });
      expect(asOf.json.files[0].size).toBe(file10.length);
      const del = await fetch(`${host.url}${base()}/${fileId}`, { method: 'DELETE', headers: { authorization: `Bearer ${T.editor}` } });
      expect(del.status).toBe(204);
      expectProblem(await call('GET', `${base()}/${fileId}`, { token: T.viewer }), 404);
      expect(sha((await download(`${base()}/${fileId}?version=3`)).bytes)).toBe(sha(v2));
      const h = await call('GET', `/api/t/acme/records/doc/${recordId}/history`, { token: T.viewer });
      expect(h.json.items.map((i: { events: Array<{ type: string }> }) => i.events[0]!.type)).toEqual([
        'RecordCreated',
        'FileAttached',
        'FileAttached',
        'FileDeleted',
      ]);
    });

    it('zero-byte files work', async () => {
      const r = await upload(base(), new Uint8Array(0), { name: 'empty.txt', type: 'text/plain' });
      expect(r.status, r.text).toBe(201);
      const d = await download(`${base()}/${r.json.fileId}`);
      expect(d.status).toBe(200);
      expect(d.bytes.length).toBe(0);
    });

    it('tenant isolation and roles: another tenant, no token, viewer upload, wrong path', async () => {
      const up = await upload(base(), randomBytes(100), { name: 'iso.bin', type: 'application/octet-stream' });
      const fid = up.json.fileId;
      expect((await download(`${base()}/${fid}`, {}, T['globex-admin']!)).status).toBe(401);
      expect((await download(`/api/t/globex/records/doc/${recordId}/files/${fid}`, {}, T['globex-admin']!)).status).toBe(404);
      expect((await fetch(`${host.url}${base()}/${fid}`)).status).toBe(401);
      expect((await upload(base(), randomBytes(10), { token: T.viewer })).status).toBe(403);
      expect((await upload(base(), randomBytes(10), { token: T['globex-admin'] })).status).toBe(401);
      expect((await download(`${base()}/f_${'x'.repeat(22)}`)).status).toBe(404);
      expect((await download(`${base()}/not-a-file`)).status).toBe(404);
    });

    it('bad input: no name → 400, bad media type → 400, too large → 413 with nothing left behind', async () => {
      const noName = await fetch(`${host.url}${base()}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${T.editor}`, 'content-type': 'application/pdf' },
        body: 'x',
      });
      expect(noName.status).toBe(400);
      expect((await upload(base(), randomBytes(10), { type: 'not a type' })).status).toBe(400);
      const count = async () => (await stored()).length;
      const blobsBefore = await count();
      const versionBefore = (await call('GET', `/api/t/acme/records/doc/${recordId}`, { token: T.viewer })).json.version;
      const big = await upload(base(), randomBytes(21 * MiB), { name: 'big.bin' });
      expect(big.status).toBe(413);
      // Chunked upload without Content-Length: the limit is enforced while streaming.
      const chunked = await fetch(`${host.url}${base()}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${T.editor}`, 'content-type': 'application/octet-stream', 'x-file-name': 'stream.bin' },
        body: new ReadableStream({
          start(c) {
            for (let i = 0; i < 22; i++) c.enqueue(randomBytes(MiB));
            c.close();
          },
        }),
        duplex: 'half',
      } as RequestInit);
      expect(chunked.status).toBe(413);
      expect(await count()).toBe(blobsBefore);
      expect(await storage.sweepUnfinished({ olderThan: new Date(Date.now() + 60_000) })).toEqual({ removed: 0, bytes: 0 });
      expect((await call('GET', `/api/t/acme/records/doc/${recordId}`, { token: T.viewer })).json.version).toBe(versionBefore);
    });

    it('an aborted upload leaves no event and no blob', async () => {
      const versionBefore = (await call('GET', `/api/t/acme/records/doc/${recordId}`, { token: T.viewer })).json.version;
      const before = (await stored()).length;
      const u = new URL(`${host.url}${base()}`);
      const req = request({
        host: '127.0.0.1',
        port: u.port,
        path: u.pathname,
        method: 'POST',
        headers: {
          authorization: `Bearer ${T.editor}`,
          'content-type': 'application/octet-stream',
          'x-file-name': 'abort.bin',
          'content-length': String(12 * MiB),
        },
      });
      req.on('error', () => undefined);
      req.write(randomBytes(6 * MiB));
      // Cut off once the host is writing it (a fixed delay could come before it started), then
      // wait until the host has removed what it wrote: it does so on its own time after the
      // abort, and a fixed wait could end before it did (the sweep below would then find it).
      await expect.poll(async () => (await unfinished()).length, { timeout: 20_000 }).toBeGreaterThan(0);
      req.destroy();
      await expect.poll(unfinished, { timeout: 20_000 }).toEqual([]);
      expect((await stored()).length).toBe(before);
      // Nothing unfinished is left either: no temp file (folder), no staged blocks (Azure).
      expect(await storage.sweepUnfinished({ olderThan: new Date(Date.now() + 60_000) })).toEqual({ removed: 0, bytes: 0 });
      if (MODE === 'folder') expect(readdirSync(join(host.dataDir, 'files', 'acme', 'tmp'))).toEqual([]);
      expect((await call('GET', `/api/t/acme/records/doc/${recordId}`, { token: T.viewer })).json.version).toBe(versionBefore);
    });

    it('tampered ciphertext or a swapped region is refused with a problem, never plaintext', async () => {
      const data = randomBytes(2 * REGION + 10);
      const r = await upload(base(), data, { name: 'tamper.bin', type: 'application/octet-stream' });
      const f = r.json.fileId as string;
      const info = (await stored()).find((b) => b.metadata.tlrecord?.endsWith(f) && b.name.includes(f))!;
      const original = await storedBytes(info.name);
      const flipped = Buffer.from(original);
      flipped[100] = flipped[100]! ^ 1;
      await overwrite(info, flipped);
      const bad = await call('GET', `${base()}/${f}`, { token: T.viewer });
      expectProblem(bad, 502);
      expect(bad.text).not.toContain(data.subarray(0, 16).toString('latin1'));
      // Regions 1 and 2 are intact: a range inside them still works.
      const ok = await download(`${base()}/${f}`, { range: `bytes=${REGION}-${REGION + 99}` });
      expect(ok.bytes.equals(data.subarray(REGION, REGION + 100))).toBe(true);
      // Swap regions 0 and 1 (each region carries its index in its nonce).
      const regionBytes = REGION + 28;
      const swapped = Buffer.concat([
        original.subarray(regionBytes, 2 * regionBytes),
        original.subarray(0, regionBytes),
        original.subarray(2 * regionBytes),
      ]);
      await overwrite(info, swapped);
      expectProblem(await call('GET', `${base()}/${f}`, { token: T.viewer }), 502);
      // Truncated: refused by the size recorded in the event.
      await overwrite(info, original.subarray(0, original.length - 1));
      expectProblem(await call('GET', `${base()}/${f}`, { token: T.viewer }), 502);
    });

    it("another tenant's blob and metadata copied over a file: 502 problem at the edge, never the other tenant's plaintext", async () => {
      const mine = randomBytes(3000);
      const theirs = randomBytes(3000);
      const f = (await upload(base(), mine, { name: 'mine.bin', type: 'application/octet-stream' })).json.fileId as string;
      const g = await call('POST', '/api/t/globex/records/doc', { token: T.globexEditor, body: { title: 'G' } });
      const gf = (
        await upload(`/api/t/globex/records/doc/${g.json.id}/files`, theirs, {
          token: T.globexEditor,
          name: 'theirs.bin',
          type: 'application/octet-stream',
        })
      ).json.fileId as string;
      const globex = await storageOf('globex');
      const find = async (store: BlobStore, fileId: string) => {
        for await (const b of store.list()) if (b.name.includes(`/${fileId}/`)) return b;
        throw new Error(`no blob for ${fileId}`);
      };
      const src = await find(globex, gf);
      const srcBytes = await (async () => {
        const parts: Buffer[] = [];
        for await (const c of await globex.download(src.name)) parts.push(Buffer.from(c));
        return Buffer.concat(parts);
      })();
      const dst = await find(storage, f);
      const original = await storedBytes(dst.name);
      await overwrite({ ...dst, metadata: src.metadata }, srcBytes);
      const r = await download(`${base()}/${f}`);
      expect(r.status).toBe(502);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      expect(JSON.parse(r.bytes.toString('utf8')).detail).toMatch(/not wrapped by this tenant's own key/);
      expect(r.bytes.includes(theirs.subarray(0, 16))).toBe(false);
      await overwrite(dst, original);
      expect((await download(`${base()}/${f}`)).bytes.equals(mine)).toBe(true);
    });

    it("key rotation re-wraps every file's content key (metadata only) and files stay readable", async () => {
      const data = randomBytes(5000);
      const r = await upload(base(), data, { name: 'rot.bin', type: 'application/octet-stream' });
      const keyIds = async () => {
        const ids = new Set<string>();
        for (const b of await stored()) ids.add(JSON.parse(b.metadata.encryptiondata!).WrappedContentKey.KeyId);
        return ids;
      };
      const before = await keyIds();
      expect(before.size).toBe(1);
      const rot = await call('POST', '/api/tenants/acme/keys/rotate', { token: host.operatorKey });
      expect(rot.status, rot.text).toBe(200);
      expect(rot.json.rewrapped).toBe(rot.json.checked);
      const after = await keyIds();
      expect(after).toEqual(new Set([rot.json.keyId]));
      expect([...before][0]).not.toBe(rot.json.keyId);
      expect(sha((await download(`${base()}/${r.json.fileId}`)).bytes)).toBe(sha(data));
      const again = await call('POST', '/api/tenants/acme/keys/rotate?resume=true', { token: host.operatorKey });
      expect(again.json).toMatchObject({ keyId: rot.json.keyId, rewrapped: 0 });
      expectProblem(await call('POST', '/api/tenants/acme/keys/rotate', { token: T['acme-admin'] }), 401);
    });

    it('Idempotency-Key: a retried upload, replacement or delete answers as the first did and keeps one file, also when the retry races the first', async () => {
      const rec = await call('POST', '/api/t/acme/records/doc', { token: T.editor, body: { title: 'idem' } });
      const b = `/api/t/acme/records/doc/${rec.json.id}/files`;
      const data = randomBytes(5 * MiB + 7);
      const key = { 'idempotency-key': `up-${randomBytes(4).toString('hex')}` };
      const first = await upload(b, data, { name: 'idem.bin', headers: key });
      expect(first.status, first.text).toBe(201);
      expect(first.headers.get('idempotency-replayed')).toBeNull();
      const retry = await upload(b, data, { name: 'idem.bin', headers: key });
      expect(retry.status).toBe(201);
      expect(retry.headers.get('idempotency-replayed')).toBe('true');
      expect(retry.json).toEqual(first.json);
      expect(retry.headers.get('etag')).toBe(first.headers.get('etag'));
      // The same key with another request (here another name) is refused and changes nothing.
      expectProblem(
        await call('POST', b, {
          token: T.editor,
          headers: { ...key, 'x-file-name': 'other.bin' },
          raw: 'x',
          contentType: 'application/pdf',
        }),
        422,
      );
      const after = await call('GET', `/api/t/acme/records/doc/${rec.json.id}`, { token: T.viewer });
      expect(after.json.version).toBe(2);
      expect(after.json.files).toHaveLength(1);
      expect((await stored()).filter((x) => x.name.startsWith(`doc/${rec.json.id}/`))).toHaveLength(1);

      // Two attempts with one key at once: one file, both answers equal, one blob.
      const raceKey = { 'idempotency-key': `race-${randomBytes(4).toString('hex')}` };
      const racing = await Promise.all([1, 2].map(() => upload(b, data, { name: 'race.bin', headers: raceKey })));
      expect(racing.map((r) => r.status)).toEqual([201, 201]);
      expect(racing[0]!.json).toEqual(racing[1]!.json);
      expect(racing.filter((r) => r.headers.get('idempotency-replayed') === 'true').length).toBe(1);
      const files = (await call('GET', `/api/t/acme/records/doc/${rec.json.id}`, { token: T.viewer })).json.files;
      expect(files).toHaveLength(2);
      expect((await stored()).filter((x) => x.name.startsWith(`doc/${rec.json.id}/`))).toHaveLength(2);

      // A replacement and a delete, each retried.
      const fid = first.json.fileId as string;
      const v2 = randomBytes(1000);
      const repKey = { 'idempotency-key': `rep-${randomBytes(4).toString('hex')}` };
      const rep1 = await upload(`${b}/${fid}`, v2, { method: 'PUT', name: 'idem v2.bin', headers: repKey });
      const rep2 = await upload(`${b}/${fid}`, v2, { method: 'PUT', name: 'idem v2.bin', headers: repKey });
      expect([rep1.status, rep2.status]).toEqual([200, 200]);
      expect(rep2.json).toEqual(rep1.json);
      expect(rep2.headers.get('idempotency-replayed')).toBe('true');
      const delKey = { authorization: `Bearer ${T.editor}`, 'idempotency-key': `del-${randomBytes(4).toString('hex')}` };
      const del1 = await fetch(`${host.url}${b}/${fid}`, { method: 'DELETE', headers: delKey });
      const del2 = await fetch(`${host.url}${b}/${fid}`, { method: 'DELETE', headers: delKey });
      expect([del1.status, del2.status]).toEqual([204, 204]);
      expect(del2.headers.get('etag')).toBe(del1.headers.get('etag'));
      const h = await call('GET', `/api/t/acme/records/doc/${rec.json.id}/history`, { token: T.viewer });
      expect(h.json.items.map((i: { events: Array<{ type: string }> }) => i.events[0]!.type)).toEqual([
        'RecordCreated',
        'FileAttached',
        'FileAttached',
        'FileAttached',
        'FileDeleted',
      ]);
      expect(sha((await download(`${b}/${fid}?version=4`)).bytes)).toBe(sha(v2));
    });

    it('Idempotency-Key on user creation: a retry gets the first answer (201), not 409; another password with the key → 422', async () => {
      const key = { 'idempotency-key': `user-${randomBytes(4).toString('hex')}` };
      const body = { email: `idem-${randomBytes(3).toString('hex')}@acme.test`, password: PW, roles: ['viewer'] };
      const first = await call('POST', '/api/t/acme/users', { token: T['acme-admin'], headers: key, body });
      expect(first.status, first.text).toBe(201);
      const retry = await call('POST', '/api/t/acme/users', { token: T['acme-admin'], headers: key, body });
      expect(retry.status, retry.text).toBe(201);
      expect(retry.headers.get('idempotency-replayed')).toBe('true');
      expect(retry.json).toEqual(first.json);
      expect((await call('POST', '/api/t/acme/users', { token: T['acme-admin'], body })).status).toBe(409);
      expectProblem(
        await call('POST', '/api/t/acme/users', {
          token: T['acme-admin'],
          headers: key,
          body: { ...body, password: 'some other long password' },
        }),
        422,
      );
    });

    it('every file endpoint: no token / another tenant → 401, viewer writes → 403, nothing changes', async () => {
      const up = await upload(base(), randomBytes(50), { name: 'matrix.bin', type: 'application/octet-stream' });
      const fid = up.json.fileId as string;
      const before = (await call('GET', `/api/t/acme/records/doc/${recordId}`, { token: T.viewer })).json;
      const eps: Array<{ method: string; path: string; body?: Uint8Array; write: boolean }> = [
        { method: 'POST', path: base(), body: randomBytes(10), write: true },
        { method: 'PUT', path: `${base()}/${fid}`, body: randomBytes(10), write: true },
        { method: 'DELETE', path: `${base()}/${fid}`, write: true },
        { method: 'GET', path: `${base()}/${fid}`, write: false },
      ];
      for (const ep of eps) {
        const send = (token?: string) =>
          fetch(`${host.url}${ep.path}`, {
            method: ep.method,
            headers: {
              ...(token ? { authorization: `Bearer ${token}` } : {}),
              'content-type': 'application/octet-stream',
              'x-file-name': 'm.bin',
            },
            ...(ep.body ? { body: ep.body } : {}),
          });
        for (const token of [undefined, 'x.y.z', T['globex-admin']]) {
          const r = await send(token);
          expect(r.status, `${ep.method} ${token ? 'bad token' : 'no token'}`).toBe(401);
          expect(r.headers.get('content-type')).toContain('application/problem+json');
        }
        if (ep.write) expect((await send(T.viewer)).status, `${ep.method} as viewer`).toBe(403);
      }
      const after = (await call('GET', `/api/t/acme/records/doc/${recordId}`, { token: T.viewer })).json;
      expect(after.version).toBe(before.version);
      expect(after.files).toEqual(before.files);
    });
  });
}
