/**
 * Disaster recovery from the backup tiers alone. A source host (the real `node
 * dist/host/start.js`) escrows its tenant keys to the tiers under the operator's recovery
 * public key while it backs up; then `tenant-ledger recovery drill` starts a fresh instance on
 * an empty data folder with only the tiers' location and the recovery private key, restores
 * the tenant (records and files) and compares its state hash with the source's. A host started
 * on that folder then serves the tenant: its admin signs in, the export and the file match.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { tierObjects } from '../support/folder-tier';
import { freePort, startHostProcess, type HostProcess } from '../support/host-process';

const repo = resolve(__dirname, '..', '..');
const root = mkdtempSync(join(tmpdir(), 'dr-'));
afterAll(() => rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }));

const PW = 'a long enough password';
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [join(repo, 'dist/cli/main.js'), ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => res({ code, out, err }));
  });
}

async function call(
  host: HostProcess,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; json: any; text: string }> {
  const r = await fetch(`${host.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.status, json, text };
}

async function login(host: HostProcess): Promise<string> {
  const r = await call(host, 'POST', '/api/t/acme/auth/token', '', { email: 'admin@acme.test', password: PW });
  expect(r.status, r.text).toBe(200);
  return r.json.access_token as string;
}

it('recovery drill: a fresh instance on an empty data folder restores a tenant from one tier with the recovery key alone', {
  timeout: 300_000,
}, async () => {
  const offline = join(root, 'offline');
  const tiers = join(root, 'tiers');
  const src = join(root, 'src');
  const fresh = join(root, 'fresh');

  // 1. The operator makes the recovery key pair (the private half would then go offline).
  const keygen = await cli(['recovery', 'keygen', '--out', offline], {});
  expect(keygen.code, keygen.err).toBe(0);
  expect(keygen.err).toMatch(/KEEP IT OFFLINE/);
  expect(keygen.err + keygen.out).not.toMatch(/PRIVATE KEY-----/);
  expect(statSync(join(offline, 'recovery-private.pem')).mode & 0o777).toBe(0o600);
  const again = await cli(['recovery', 'keygen', '--out', offline], {});
  expect(again.code).toBe(2); // never overwrites the only copy of a recovery key

  // 2. The source service: a tenant with records and a file, backed up and drilled.
  const tierEnv = { BACKUP_LOCAL_DIR: tiers };
  const source = await startHostProcess(
    {
      ...tierEnv,
      LOCAL_BLOB: 'azurite',
      AZURITE_BLOB_PORT: String(await freePort()),
      RECOVERY_PUBLIC_KEY: join(offline, 'recovery-public.pem'),
    },
    src,
  );
  const file = randomBytes(300_000);
  let sourceExport: string;
  let drillAsOf: string;
  try {
    await expect.poll(() => source.output(), { timeout: 10_000 }).toMatch(/escrowed to every backup tier under recovery key [0-9a-f]{16}/);
    expect(
      (
        await call(source, 'POST', '/api/tenants', source.operatorKey, {
          id: 'acme',
          name: 'ACME',
          admin: { email: 'admin@acme.test', password: PW },
        })
      ).status,
    ).toBe(201);
    const token = await login(source);
    expect((await call(source, 'PUT', '/api/t/acme/types/doc', token, { type: 'object' })).status).toBe(201);
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await call(source, 'POST', '/api/t/acme/records/doc', token, { n: i })).json.id);
    const up = await fetch(`${source.url}/api/t/acme/records/doc/${ids[0]}/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'x-file-name': 'contract.bin' },
      body: file,
    });
    expect(up.status, await up.clone().text()).toBe(201);
    const backup = await call(source, 'POST', '/api/tenants/acme/backups', source.operatorKey);
    expect(backup.status, backup.text).toBe(200);
    const drill = await call(source, 'POST', '/api/tenants/acme/backups/drill', source.operatorKey);
    expect(drill.status, drill.text).toBe(200);
    drillAsOf = drill.json.drills.find((d: { tier: string }) => d.tier === 'own-cloud').asOf;
    sourceExport = (await call(source, 'GET', `/api/t/acme/export?asOf=${encodeURIComponent(drillAsOf)}`, token)).text;
  } finally {
    expect(await source.stop()).toBe(0);
  }
  // The tiers hold the tenant key only sealed under its escrow key, and that escrow key only
  // encrypted to the recovery key (on tiers that allow deletion, so shredding can remove it).
  const escrowed = tierObjects(join(tiers, 'own-cloud'), 'tenants/acme/escrow/');
  expect(escrowed.length).toBeGreaterThanOrEqual(1);
  const escrow = JSON.parse(readFileSync(escrowed[0]!.file, 'utf8'));
  expect(escrow).toMatchObject({ format: 'tenant-ledger-key-escrow/2', algorithm: 'A256GCM' });
  expect(Buffer.from(escrow.sealedKey, 'base64')).toHaveLength(12 + 32 + 16);
  const escrowKeys = tierObjects(join(tiers, 'own-cloud'), 'tenants/acme/escrow-key/');
  expect(escrowKeys).toHaveLength(1);
  const escrowKey = JSON.parse(readFileSync(escrowKeys[0]!.file, 'utf8'));
  expect(escrowKey).toMatchObject({ format: 'tenant-ledger-escrow-key/1', algorithm: 'RSA-OAEP-256' });
  expect(Buffer.from(escrowKey.encryptedKey, 'base64')).toHaveLength(512);

  // 3. Another recovery key cannot open the escrow, and nothing is restored.
  expect((await cli(['recovery', 'keygen', '--out', join(root, 'other')], {})).code).toBe(0);
  const wrong = await cli(
    ['recovery', 'drill', 'acme', '--tier', 'own-cloud', '--recovery-key', join(root, 'other', 'recovery-private.pem')],
    tierEnv,
  );
  expect(wrong.code, wrong.err).toBe(1);
  expect(wrong.err).toMatch(/escrowed to another recovery key/);

  // 4. The drill: an empty data folder, the tiers' location, the recovery key — nothing else.
  mkdirSync(fresh);
  const dr = await cli(
    [
      '--json',
      'recovery',
      'drill',
      'acme',
      '--tier',
      'own-cloud',
      '--recovery-key',
      join(offline, 'recovery-private.pem'),
      '--data-dir',
      fresh,
    ],
    tierEnv,
  );
  expect(dr.code, dr.err).toBe(0);
  const report = JSON.parse(dr.out);
  expect(report).toMatchObject({ ok: true, tenant: 'acme', tier: 'own-cloud', asOf: drillAsOf, files: 1, keysImported: 1 });
  expect(report.restoredHash).toBe(report.sourceHash);
  expect(dr.err + dr.out).not.toMatch(/PRIVATE KEY/);

  // 5. That folder is a working instance: a host on it serves the restored tenant.
  const restored = await startHostProcess({ ...tierEnv, LOCAL_BLOB: 'azurite', AZURITE_BLOB_PORT: String(await freePort()) }, fresh);
  try {
    const token = await login(restored);
    expect((await call(restored, 'GET', '/api/t/acme/export', token)).text).toBe(sourceExport);
    const rec = (await call(restored, 'GET', '/api/t/acme/records/doc?limit=500', token)).json.items.find(
      (r: { data: { n: number } }) => r.data.n === 0,
    );
    const full = await call(restored, 'GET', `/api/t/acme/records/doc/${rec.id}`, token);
    const fileId = full.json.files[0].fileId as string;
    const dl = await fetch(`${restored.url}/api/t/acme/records/doc/${rec.id}/files/${fileId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(dl.status).toBe(200);
    expect(sha(Buffer.from(await dl.arrayBuffer()))).toBe(sha(file));
  } finally {
    expect(await restored.stop()).toBe(0);
  }
});
