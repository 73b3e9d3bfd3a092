/**
 * Files through crashes: kill -9 of the real host process (`node dist/host/start.js`, what
 * `npm start` runs) in the middle of a stream of uploads, right after 201s, and in the middle
 * of a large upload. After each restart every acknowledged file downloads with its bytes,
 * nothing is duplicated, no id is blocked, and what the crash left unfinished is swept.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config';
import { createServices } from '../../shared/config/services';
import { startHostProcess, type HostProcess } from '../support/host-process';

const MiB = 1024 * 1024;
const PW = 'a long enough password';
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), 'crash-files-'));
let host: HostProcess | undefined;
afterAll(() => {
  host?.cleanup();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

async function start(): Promise<HostProcess> {
  host = await startHostProcess({}, dir);
  return host;
}

function kill9(h: HostProcess): void {
  process.kill(h.pid, 'SIGKILL');
}

async function waitForExit(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(25);
  }
  throw new Error(`process ${pid} did not exit`);
}

async function api(h: HostProcess, method: string, path: string, opts: { token?: string; body?: unknown } = {}) {
  const res = await fetch(`${h.url}${path}`, {
    method,
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text ? JSON.parse(text) : undefined };
}

async function login(h: HostProcess, email: string): Promise<string> {
  return (await api(h, 'POST', '/api/t/acme/auth/token', { body: { email, password: PW } })).json.access_token;
}

async function uploadFile(h: HostProcess, token: string, recordId: string, bytes: Buffer, key: string) {
  const res = await fetch(`${h.url}/api/t/acme/records/doc/${recordId}/files`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/octet-stream',
      'x-file-name': `${key}.bin`,
      'idempotency-key': key,
    },
    body: bytes,
  });
  const text = await res.text();
  return { status: res.status, replayed: res.headers.get('idempotency-replayed') === 'true', json: text ? JSON.parse(text) : undefined };
}

async function downloadFile(h: HostProcess, token: string, recordId: string, fileId: string) {
  const res = await fetch(`${h.url}/api/t/acme/records/doc/${recordId}/files/${fileId}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
}

/** Bytes of every file under a folder. */
function bytesUnder(d: string): number {
  if (!existsSync(d)) return 0;
  return readdirSync(d).reduce((n, f) => n + statSync(join(d, f)).size, 0);
}

interface Attempt {
  recordId: string;
  key: string;
  bytes: Buffer;
  fileId?: string;
}

describe('files survive kill -9 of the host', () => {
  let admin: string;
  const records: string[] = [];

  beforeAll(async () => {
    const h = await start();
    expect(
      (
        await api(h, 'POST', '/api/tenants', {
          token: h.operatorKey,
          body: { id: 'acme', name: 'A', admin: { email: 'admin@acme.test', password: PW } },
        })
      ).status,
    ).toBe(201);
    admin = await login(h, 'admin@acme.test');
    expect((await api(h, 'PUT', '/api/t/acme/types/doc', { token: admin, body: { type: 'object' } })).status).toBe(201);
    for (let i = 0; i < 4; i++) records.push((await api(h, 'POST', '/api/t/acme/records/doc', { token: admin, body: { n: i } })).json.id);
  });

  it('in the middle of a stream of uploads, right after 201s: every acknowledged file is there with its bytes; retries keep one copy; nothing is blocked', async () => {
    let h = host!;
    const acked: Attempt[] = [];
    const unacked: Attempt[] = [];
    let killed = false;
    const KILL_AFTER = 40;
    // One worker per record (files of one record would otherwise contend for its version).
    const workers = records.map(async (recordId, w) => {
      for (let i = 0; !killed; i++) {
        const a: Attempt = { recordId, key: `w${w}-${i}`, bytes: randomBytes(1 + Math.floor(Math.random() * 300 * 1024)) };
        try {
          const r = await uploadFile(h, admin, recordId, a.bytes, a.key);
          if (r.status !== 201) throw new Error(`upload answered ${r.status}`);
          a.fileId = r.json.fileId;
          acked.push(a);
          // Right after a 201: the answer is in hand, the host dies now.
          if (acked.length === KILL_AFTER && !killed) {
            killed = true;
            kill9(h);
          }
        } catch {
          unacked.push(a);
        }
      }
    });
    await Promise.all(workers);
    await waitForExit(h.pid);
    expect(acked.length).toBeGreaterThanOrEqual(KILL_AFTER);

    h = await start();
    for (const a of acked) {
      const d = await downloadFile(h, admin, a.recordId, a.fileId!);
      expect(d.status, `${a.key}`).toBe(200);
      expect(sha(d.bytes), a.key).toBe(sha(a.bytes));
    }
    // The uploads cut off by the kill are retried with their keys: each lands once (or is
    // answered from the log if it had been appended before the kill), never twice.
    for (const a of unacked) {
      const r = await uploadFile(h, admin, a.recordId, a.bytes, a.key);
      expect(r.status, a.key).toBe(201);
      a.fileId = r.json.fileId;
    }
    // The acknowledged ones, retried, are answered from the log.
    for (const a of acked.slice(0, 5)) {
      const r = await uploadFile(h, admin, a.recordId, a.bytes, a.key);
      expect([r.status, r.replayed, r.json.fileId]).toEqual([201, true, a.fileId]);
    }
    const all = [...acked, ...unacked];
    for (const recordId of records) {
      const rec = await api(h, 'GET', `/api/t/acme/records/doc/${recordId}`, { token: admin });
      const mine = all.filter((a) => a.recordId === recordId);
      expect(rec.json.files.length, recordId).toBe(mine.length);
      expect(new Set(rec.json.files.map((f: { fileId: string }) => f.fileId))).toEqual(new Set(mine.map((a) => a.fileId)));
    }
    for (const a of unacked) expect(sha((await downloadFile(h, admin, a.recordId, a.fileId!)).bytes)).toBe(sha(a.bytes));
    // The record and the tenant still take writes (no id blocked).
    const current = await api(h, 'GET', `/api/t/acme/records/doc/${records[0]}`, { token: admin });
    const patched = await fetch(`${h.url}/api/t/acme/records/doc/${records[0]}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', 'if-match': current.headers.get('etag')! },
      body: JSON.stringify({ after: true }),
    });
    expect(patched.status).toBe(200);
    expect((await api(h, 'POST', '/api/t/acme/records/doc', { token: admin, body: { after: true } })).status).toBe(201);

    // The start-up check reached the tenant and found every attached file.
    let files: { checkedAt: string | null; attached: number; missing: number } | undefined;
    for (let i = 0; i < 100 && !files?.checkedAt; i++) {
      files = (await api(h, 'GET', '/api/t/acme/status', { token: admin })).json.files;
      if (!files?.checkedAt) await sleep(100);
    }
    expect(files).toMatchObject({ missing: 0 });
    expect(files!.attached).toBeGreaterThanOrEqual(acked.length);
  });

  it('in the middle of a large upload: no partial file is visible after restart, and the sweeper removes the temp data', async () => {
    let h = host!;
    const recordId = records[1]!;
    const before = (await api(h, 'GET', `/api/t/acme/records/doc/${recordId}`, { token: admin })).json;
    const tmp = join(dir, 'files', 'acme', 'tmp');
    const TOTAL = 64 * MiB;
    const u = new URL(h.url);
    const req = request({
      host: '127.0.0.1',
      port: u.port,
      path: `/api/t/acme/records/doc/${recordId}/files`,
      method: 'POST',
      headers: {
        authorization: `Bearer ${admin}`,
        'content-type': 'application/octet-stream',
        'x-file-name': 'big.bin',
        'content-length': String(TOTAL),
      },
    });
    req.on('error', () => undefined);
    let sent = 0;
    // Send until the host has written a good part of it to disk, then kill it mid-write.
    while (sent < 48 * MiB && bytesUnder(tmp) < 24 * MiB) {
      const chunk = randomBytes(MiB);
      sent += chunk.length;
      if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
    }
    expect(bytesUnder(tmp)).toBeGreaterThan(0);
    kill9(h);
    req.destroy();
    await waitForExit(h.pid);
    const left = bytesUnder(tmp);
    expect(left).toBeGreaterThan(8 * MiB); // what the crash left behind

    h = await start();
    const after = (await api(h, 'GET', `/api/t/acme/records/doc/${recordId}`, { token: admin })).json;
    expect(after.version).toBe(before.version);
    expect(after.files).toEqual(before.files);
    expect(await h.stop()).toBe(0);

    // The sweeper (the service's own sweep, as the hourly timer runs it) once the leftovers are
    // older than its one-hour margin: the clock is two hours on.
    const later = { now: () => new Date(Date.now() + 2 * 3600_000) };
    const services = await createServices(loadConfig({ DATA_DIR: dir, LOCAL_BLOB: 'off' }), later);
    try {
      const swept = await services.files.sweepOrphans('acme');
      expect(swept.unfinished).toBeGreaterThanOrEqual(1);
      // At least the temp data of this upload; uploads cut off by the first test's kill may
      // have left bytes too (renamed into place, never committed).
      expect(swept.unfinishedBytes).toBeGreaterThanOrEqual(left);
      // `deleted` counts orphans: blobs committed by an upload the first kill cut off between
      // its blob and its event (never acknowledged). Every acknowledged file is checked below.
    } finally {
      await services.close();
    }
    expect(bytesUnder(tmp)).toBe(0);
    // Every attached file is still there after the sweep.
    h = await start();
    for (const rid of records) {
      const still = (await api(h, 'GET', `/api/t/acme/records/doc/${rid}`, { token: admin })).json;
      for (const f of still.files as Array<{ fileId: string; sha256: string }>) {
        expect(sha((await downloadFile(h, admin, rid, f.fileId)).bytes)).toBe(f.sha256);
      }
    }
    expect(await h.stop()).toBe(0);
  });

  it('at start, an acknowledged file whose object is gone is reported in the log and in tenant status', async () => {
    // Remove one stored object behind the service's back (as a store that lost it would).
    const rec = records[2]!;
    let h = await start();
    const file = (await api(h, 'GET', `/api/t/acme/records/doc/${rec}`, { token: admin })).json.files[0] as { fileId: string };
    expect(await h.stop()).toBe(0);
    const objects = join(dir, 'files', 'acme', 'objects');
    let removed = 0;
    for (const sub of readdirSync(objects)) {
      for (const f of readdirSync(join(objects, sub))) {
        if (!f.endsWith('.json')) continue;
        const entry = JSON.parse(readFileSync(join(objects, sub, f), 'utf8')) as { name: string };
        if (entry.name.includes(`/${rec}/${file.fileId}/`)) {
          unlinkSync(join(objects, sub, f));
          removed++;
        }
      }
    }
    expect(removed).toBe(1);

    h = await start();
    let status: { files: { checkedAt: string | null; missing: number; missingFiles: Array<{ id: string; fileId: string }> } } | undefined;
    for (let i = 0; i < 100 && !status?.files.checkedAt; i++) {
      status = (await api(h, 'GET', '/api/t/acme/status', { token: admin })).json;
      if (!status?.files.checkedAt) await sleep(100);
    }
    expect(status!.files.missing).toBe(1);
    expect(status!.files.missingFiles).toEqual([expect.objectContaining({ id: rec, fileId: file.fileId })]);
    const op = await api(h, 'GET', '/api/tenants/acme', { token: h.operatorKey });
    expect(op.json.files).toMatchObject({ missing: 1, checkedAt: expect.any(String) });
    expect(JSON.stringify(op.json)).not.toContain(file.fileId); // the operator sees counts only
    await expect.poll(() => h.output(), { timeout: 10_000 }).toMatch(new RegExp(`"event":"files.check".*"missing":1.*${file.fileId}`));
    expect((await downloadFile(h, admin, rec, file.fileId)).status).toBe(502);
    expect(await h.stop()).toBe(0);
  });
});
