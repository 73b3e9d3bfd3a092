/**
 * Webhook delivery through kill -9 of the real host (node dist/host/start.js): positions are
 * saved durably in the tenant's store after each delivered commit, so after a restart the
 * receiver gets every commit that was acknowledged before the kill, in order per record, and at
 * most the one commit that was in flight at the kill is delivered twice.
 *  1. killed while the receiver holds a delivery unanswered and later commits wait behind it;
 *  2. killed right after the receiver answered 200 (before or after the host saved the position).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { selfSignedCertificate } from '../../host/self-signed';
import { verify } from '../../shared/app/webhooks/signature';
import { type HostProcess, startHostProcess } from '../support/host-process';

const dir = mkdtempSync(join(tmpdir(), 'crash-webhooks-'));
const certDir = mkdtempSync(join(tmpdir(), 'crash-webhooks-cert-'));
const T = 'hooks';
const PW = 'a long enough password';
let host: HostProcess;
let server: Server;
let url = '';
let secret: Buffer;
let subscriptionId = '';

/** Every request the receiver got, in arrival order: `recordId@version`. */
const got: string[] = [];
/** What the receiver does with the n-th request (1-based): answer, hold it open, or answer and then kill the host. */
let fate: (n: number) => 'ok' | 'hold' | 'ok-then-kill' = () => 'ok';
const held: ServerResponse[] = [];

const env = () => ({
  NODE_EXTRA_CA_CERTS: join(certDir, 'cert.pem'),
  WEBHOOK_ALLOW_PRIVATE_TARGETS: 'on',
  WEBHOOK_RETRY_BASE_MS: '50',
  // Longer than the test holds a delivery: no retry of the held one before the kill.
  WEBHOOK_TIMEOUT_SECONDS: '60',
});

async function call(method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(`${host.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : undefined, text };
}

async function adminToken(): Promise<string> {
  const r = await call('POST', `/api/t/${T}/auth/token`, '', { email: `admin@${T}.test`, password: PW });
  expect(r.status, r.text).toBe(200);
  return r.json.access_token as string;
}

/** Appends `n` commits (creates, then patches of those records); pushes each acknowledged one's key to `acked`. */
async function write(token: string, ids: string[], versions: Map<string, number>, n: number, acked: string[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    if (ids.length < 4) {
      const r = await call('POST', `/api/t/${T}/records/item`, token, { n: i });
      expect(r.status, r.text).toBe(201);
      ids.push(r.json.id);
      versions.set(r.json.id, 1);
      acked.push(`${r.json.id}@1`);
    } else {
      const id = ids[i % ids.length]!;
      const v = versions.get(id)!;
      const r = await call('PATCH', `/api/t/${T}/records/item/${id}`, token, { n: i }, { 'if-match': `"${v}"` });
      expect(r.status, r.text).toBe(200);
      versions.set(id, v + 1);
      acked.push(`${id}@${v + 1}`);
    }
  }
}

/** Per record, the versions received never go back (re-delivery repeats only the last one). */
function expectOrderedPerRecord(received: string[]) {
  const last = new Map<string, number>();
  for (const k of received) {
    const [id, v] = [k.slice(0, k.lastIndexOf('@')), Number(k.slice(k.lastIndexOf('@') + 1))];
    expect(v, `${k} after version ${last.get(id)}`).toBeGreaterThanOrEqual(last.get(id) ?? 0);
    last.set(id, v);
  }
}

const duplicates = (received: string[]) => received.length - new Set(received).size;

beforeAll(async () => {
  selfSignedCertificate(certDir);
  server = createServer(
    { key: readFileSync(join(certDir, 'key.pem')), cert: readFileSync(join(certDir, 'cert.pem')) },
    (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const ts = Number(req.headers['x-ledger-timestamp']);
        // Only signed deliveries count.
        if (!verify(secret, ts, subscriptionId, body, String(req.headers['x-ledger-signature']))) {
          res.writeHead(401).end();
          return;
        }
        const json = JSON.parse(body);
        got.push(`${json.commit.recordId}@${json.commit.version}`);
        const f = fate(got.length);
        if (f === 'hold') {
          held.push(res);
          return;
        }
        res.writeHead(200).end();
        if (f === 'ok-then-kill') res.on('finish', () => void host.kill9());
      });
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  host?.cleanup();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  rmSync(certDir, { recursive: true, force: true });
});

it('kill -9 mid-delivery: after a restart every acknowledged commit arrives, in order per record, at most one twice', {
  timeout: 240_000,
}, async () => {
  host = await startHostProcess(env(), dir);
  const created = await call('POST', '/api/tenants', host.operatorKey, {
    id: T,
    name: T,
    admin: { email: `admin@${T}.test`, password: PW },
  });
  expect(created.status, created.text).toBe(201);
  let token = await adminToken();
  expect((await call('PUT', `/api/t/${T}/types/item`, token, { type: 'object' })).status).toBe(201);
  const sub = await call('POST', `/api/t/${T}/subscriptions`, token, { url, types: ['item'] });
  expect(sub.status, sub.text).toBe(201);
  subscriptionId = sub.json.subscription.id;
  secret = Buffer.from(sub.json.secret, 'base64url');

  // 1. The 6th delivery is held unanswered; 20 commits are acknowledged meanwhile.
  fate = (n) => (n >= 6 ? 'hold' : 'ok');
  const ids: string[] = [];
  const versions = new Map<string, number>();
  const acked: string[] = [];
  await write(token, ids, versions, 20, acked);
  await vi.waitFor(() => expect(held).toHaveLength(1), { timeout: 30_000 });
  expect(got).toHaveLength(6);
  await host.kill9();
  for (const r of held.splice(0)) r.destroy();

  fate = () => 'ok';
  host = await startHostProcess(env(), dir);
  token = await adminToken();
  await vi.waitFor(() => expect(new Set(got)).toEqual(new Set(acked)), { timeout: 60_000 });
  expectOrderedPerRecord(got);
  // Only the delivery in flight at the kill came twice.
  expect(duplicates(got)).toBeLessThanOrEqual(1);
  expect(got.slice(0, acked.length + duplicates(got)).filter((k) => !acked.includes(k))).toEqual([]);

  // 2. Killed right after the receiver answered the 5th delivery of a new burst.
  const before = got.length;
  fate = (n) => (n === before + 5 ? 'ok-then-kill' : 'ok');
  // The kill may come while commits are still being written: those acknowledged before it count.
  const acked2: string[] = [];
  await write(token, ids, versions, 15, acked2).catch(() => undefined);
  await vi.waitFor(() => expect(got.length).toBeGreaterThanOrEqual(before + 5), { timeout: 30_000 });
  await host.kill9();
  expect(acked2.length).toBeGreaterThanOrEqual(5);
  fate = () => 'ok';
  host = await startHostProcess(env(), dir);
  token = await adminToken();
  await vi.waitFor(() => expect(acked2.filter((k) => !got.includes(k))).toEqual([]), { timeout: 60_000 });
  expectOrderedPerRecord(got.slice(before));
  expect(duplicates(got.slice(before))).toBeLessThanOrEqual(1);

  const s = await call('GET', `/api/t/${T}/subscriptions/${subscriptionId}`, token);
  expect(s.status, s.text).toBe(200);
  expect(s.json.delivery).toMatchObject({ parked: 0, attempts: 0 });
  expect(await host.stop()).toBe(0);
});
