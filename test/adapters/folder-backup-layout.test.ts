/**
 * The folder backup target keeps each tenant's objects in a folder of their own (issue 11: one
 * flat folder made every list read every tenant's objects), and still reads, lists, refuses to
 * overwrite and deletes objects that older versions wrote into the flat root folder.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FolderBackupTarget } from '../../shared/adapters/backup/folder-backup-target';

let root: string;
let target: FolderBackupTarget;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'folder-layout-'));
  target = new FolderBackupTarget('own-cloud', root);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const bytes = (s: string) => Buffer.from(s);
async function keys(prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of target.list(prefix)) out.push(o.key);
  return out;
}

it("puts a tenant's objects in that tenant's folder, short keys in the root", async () => {
  await target.put('tenants/acme/chains/000001/manifests/000000000001.json', bytes('m1'));
  await target.put('tenants/globex/escrow/k.json', bytes('e'));
  await target.put('marker', bytes('x'));
  expect(readdirSync(root).sort()).toEqual(['%gtenants', 'marker']);
  expect(readdirSync(join(root, '%gtenants')).sort()).toEqual(['%gacme', '%gglobex']);
  expect(readdirSync(join(root, '%gtenants', '%gacme'))).toEqual([
    encodeURIComponent('tenants/acme/chains/000001/manifests/000000000001.json'),
  ]);
  expect(await keys('tenants/acme/')).toEqual(['tenants/acme/chains/000001/manifests/000000000001.json']);
  expect(await keys('tenants/a')).toEqual(['tenants/acme/chains/000001/manifests/000000000001.json']);
  expect(await keys('tenants/')).toEqual(['tenants/acme/chains/000001/manifests/000000000001.json', 'tenants/globex/escrow/k.json']);
  expect(await keys('')).toEqual(['marker', 'tenants/acme/chains/000001/manifests/000000000001.json', 'tenants/globex/escrow/k.json']);
  expect(await keys('tenants/acme/chains/000002/')).toEqual([]);
});

it('reads, lists, refuses to overwrite and deletes objects in the flat layout of older versions', async () => {
  const old = 'tenants/acme/chains/000001/segments/000000000001.bin';
  writeFileSync(join(root, encodeURIComponent(old)), bytes('old segment'));
  await target.put('tenants/acme/chains/000001/segments/000000000002.bin', bytes('new segment'));

  expect(Buffer.from((await target.get(old))!).toString()).toBe('old segment');
  const chunks: Buffer[] = [];
  for await (const c of (await target.getStream(old))!) chunks.push(Buffer.from(c));
  expect(Buffer.concat(chunks).toString()).toBe('old segment');
  expect(await keys('tenants/acme/')).toEqual([old, 'tenants/acme/chains/000001/segments/000000000002.bin']);
  // Write-once holds across layouts: the old object is not shadowed by a new one.
  await expect(target.put(old, bytes('other'))).rejects.toMatchObject({ code: 'conflict' });
  expect(Buffer.from((await target.get(old))!).toString()).toBe('old segment');

  await target.delete(old);
  expect(await target.get(old)).toBeUndefined();
  expect(await keys('tenants/acme/')).toEqual(['tenants/acme/chains/000001/segments/000000000002.bin']);
});
