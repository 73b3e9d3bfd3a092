/**
 * Webhooks against the real host and local HTTPS receivers made here (self-signed certificate,
 * trusted by the host through NODE_EXTRA_CA_CERTS): signature, order, retries after 500s and
 * after a timeout, parking, replay, pause, removal, authorisation, and a hanging receiver of one
 * tenant not holding up another tenant's deliveries. Private targets: webhook-target.test.ts.
 * The `cosmos-e2e` project runs it again with the host on the Cosmos adapter (change-feed
 * stand-in): delivery positions then live in the tenant's container, under leases.
 */
import { selfSignedCertificate } from '../../host/self-signed';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { verify } from '../../shared/app/webhooks/signature';
import { e2eOnCosmos, type HostProcess, startHostProcess } from '../support/host-process';
import { client } from '../support/http-client';
import { freePort } from '../support/net';

const PW = 'correct horse battery';
let host: HostProcess;
let certDir: string;
const call = client(() => host.url);
const T: Record<string, string> = {};

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  json: any;
}

/** An HTTPS receiver; `answer` decides each request's fate (status, or 'hang' until the client gives up). */
class Receiver {
  readonly got: Received[] = [];
  open = 0;
  closedUnanswered = 0;
  private server!: Server;
  url = '';
  constructor(public answer: (r: Received, n: number) => number | 'hang' = () => 200) {}

  async start(): Promise<this> {
    this.server = createServer(
      { key: readFileSync(join(certDir, 'key.pem')), cert: readFileSync(join(certDir, 'cert.pem')) },
      (req: IncomingMessage, res: ServerResponse) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const r: Received = { headers: req.headers, body, json: JSON.parse(body) };
          this.got.push(r);
          const a = this.answer(r, this.got.length);
          if (a === 'hang') {
            this.open++;
            res.on('close', () => {
              this.open--;
              this.closedUnanswered++;
            });
            return;
          }
          res.writeHead(a, { 'content-type': 'text/plain' }).end('receiver body that must not be stored');
        });
      },
    );
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
    return this;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const receivers: Receiver[] = [];
const receiver = async (answer?: Receiver['answer']) => {
  const r = await new Receiver(answer).start();
  receivers.push(r);
  return r;
};

async function login(tenant: string, email: string): Promise<string> {
  const r = await call('POST', `/api/t/${tenant}/auth/token`, { body: { email, password: PW } });
  expect(r.status, r.text).toBe(200);
  return r.json.access_token as string;
}

async function subscribe(tenant: string, url: string, extra: Record<string, unknown> = {}) {
  const r = await call('POST', `/api/t/${tenant}/subscriptions`, { token: T[tenant], body: { url, ...extra } });
  expect(r.status, r.text).toBe(201);
  return { id: r.json.subscription.id as string, secret: Buffer.from(r.json.secret as string, 'base64url') };
}

async function createRecord(tenant: string, data: unknown): Promise<string> {
  const r = await call('POST', `/api/t/${tenant}/records/item`, { token: T[tenant], body: data });
  expect(r.status, r.text).toBe(201);
  return r.json.id as string;
}

const status = async (tenant: string, id: string) => {
  const r = await call('GET', `/api/t/${tenant}/subscriptions/${id}`, { token: T[tenant] });
  expect(r.status, r.text).toBe(200);
  return r.json;
};

function expectSigned(r: Received, subscriptionId: string, secret: Buffer) {
  expect(r.headers['x-ledger-signature-algorithm']).toBe('HMAC-SHA256');
  expect(r.headers['x-ledger-subscription']).toBe(subscriptionId);
  const ts = Number(r.headers['x-ledger-timestamp']);
  expect(Number.isInteger(ts)).toBe(true);
  expect(verify(secret, ts, subscriptionId, r.body, String(r.headers['x-ledger-signature']))).toBe(true);
  // Any other secret, subscription or body fails.
  expect(verify(Buffer.alloc(32), ts, subscriptionId, r.body, String(r.headers['x-ledger-signature']))).toBe(false);
  expect(verify(secret, ts, subscriptionId, `${r.body} `, String(r.headers['x-ledger-signature']))).toBe(false);
}

const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli'];

beforeAll(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'webhook-cert-'));
  selfSignedCertificate(certDir);
  host = await startHostProcess({
    NODE_EXTRA_CA_CERTS: join(certDir, 'cert.pem'),
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'on',
    WEBHOOK_RETRY_BASE_MS: '50',
    WEBHOOK_MAX_ATTEMPTS: '4',
    WEBHOOK_TIMEOUT_SECONDS: '5',
  });
  for (const t of TENANTS) {
    const r = await call('POST', '/api/tenants', {
      token: host.operatorKey,
      body: { id: t, name: t, admin: { email: `admin@${t}.test`, password: PW } },
    });
    expect(r.status, r.text).toBe(201);
    T[t] = await login(t, `admin@${t}.test`);
    const ty = await call('PUT', `/api/t/${t}/types/item`, { token: T[t], body: { type: 'object' } });
    expect(ty.status, ty.text).toBe(201);
  }
  const u = await call('POST', '/api/t/acme/users', {
    token: T.acme,
    body: { email: 'viewer@acme.test', password: PW, roles: ['viewer'] },
  });
  expect(u.status, u.text).toBe(201);
  T.viewer = await login('acme', 'viewer@acme.test');
}, 120_000);

afterAll(async () => {
  for (const r of receivers) await r.stop();
  const code = await host?.stop();
  host?.cleanup();
  rmSync(certDir, { recursive: true, force: true });
  expect(code).toBe(0);
});

describe('webhooks', () => {
  let acme: { id: string; secret: Buffer };
  let r1: Receiver;

  it('delivers each change once, signed, in order, with its field changes', async () => {
    r1 = await receiver();
    acme = await subscribe('acme', r1.url);
    const a = await createRecord('acme', { n: 1 });
    const b = await createRecord('acme', { n: 2 });
    const p = await call('PATCH', `/api/t/acme/records/item/${a}`, { token: T.acme, body: { n: 10 }, headers: { 'if-match': '"1"' } });
    expect(p.status, p.text).toBe(200);
    await vi.waitFor(() => expect(r1.got.length).toBe(3), { timeout: 20_000 });
    const seen = r1.got.map((g) => [g.json.commit.recordId, g.json.commit.version]);
    // Embedded: the log's order. Cosmos: the change feed orders per partition-key range, so
    // only each record's own commits keep their order (README, "Change feed positions").
    if (e2eOnCosmos) {
      expect(seen.filter(([id]) => id === a)).toEqual([
        [a, 1],
        [a, 2],
      ]);
      expect(seen).toContainEqual([b, 1]);
    } else
      expect(seen).toEqual([
        [a, 1],
        [b, 1],
        [a, 2],
      ]);
    const third = r1.got.find((g) => g.json.commit.recordId === a && g.json.commit.version === 2)!;
    for (const g of r1.got) expectSigned(g, acme.id, acme.secret);
    expect(third.json).toMatchObject({
      subscriptionId: acme.id,
      tenant: 'acme',
      commit: {
        recordType: 'item',
        events: [{ type: 'RecordUpdated', changes: [{ path: '/n', old: 1, new: 10 }] }],
        position: expect.any(String),
      },
    });
    expect(r1.got[0]!.headers['x-ledger-delivery']).toBe(`${r1.got[0]!.json.commit.streamId}@1`);
    // The receiver notes a delivery before it answers; the host counts it once the answer is in.
    let s: any;
    await vi.waitFor(
      async () => {
        s = await status('acme', acme.id);
        expect(s).toMatchObject({ status: 'active', delivery: { delivered: 3, attempts: 0, parked: 0, lastError: null } });
      },
      { timeout: 20_000 },
    );
    // The secret is shown once: never in the status, the list or the audit log.
    const list = await call('GET', '/api/t/acme/subscriptions', { token: T.acme });
    await vi.waitFor(async () => {
      const audit = await call('GET', '/api/t/acme/audit?limit=500', { token: T.acme });
      expect(audit.json.items.map((e: any) => e.eventType)).toContain('WebhookRegistered');
      const changes = await call('GET', '/api/t/acme/changes?limit=500', { token: T.acme });
      for (const text of [JSON.stringify(s), list.text, audit.text, changes.text])
        expect(text).not.toContain(acme.secret.toString('base64url'));
      // Not even wrapped: the audit log and the change feed show the registration without its secret.
      expect(audit.text).not.toContain('"wrapped"');
      expect(changes.text).not.toContain('"wrapped"');
    });
  });

  it('replays from a position, and pauses and removes', async () => {
    const first = r1.got[0]!.json.commit.position as string;
    const before = r1.got.slice(1).map((g) => g.json.delivery);
    const r = await call('POST', `/api/t/acme/subscriptions/${acme.id}/replay`, { token: T.acme, body: { from: first } });
    expect(r.status, r.text).toBe(200);
    if (e2eOnCosmos) {
      // A mid-page Cosmos position may hand out again what came before it (at least once).
      await vi.waitFor(() => expect(r1.got.slice(3).map((g) => g.json.delivery)).toEqual(expect.arrayContaining(before)), {
        timeout: 20_000,
      });
    } else {
      await vi.waitFor(() => expect(r1.got.length).toBe(3 + before.length), { timeout: 20_000 });
      expect(r1.got.slice(3).map((g) => g.json.delivery)).toEqual(before);
    }
    expectProblem(await call('POST', `/api/t/acme/subscriptions/${acme.id}/replay`, { token: T.acme, body: { from: 'garbage' } }), 400);

    const paused = await call('PATCH', `/api/t/acme/subscriptions/${acme.id}`, { token: T.acme, body: { status: 'paused' } });
    expect(paused.status, paused.text).toBe(200);
    expect(paused.json.status).toBe('paused');
    const c = await createRecord('acme', { n: 3 });
    const resumed = await call('PATCH', `/api/t/acme/subscriptions/${acme.id}`, { token: T.acme, body: { status: 'active' } });
    expect(resumed.status, resumed.text).toBe(200);
    // Paused delivery resumes where it stood: the change made while paused comes after resuming.
    await vi.waitFor(() => expect(r1.got.at(-1)!.json.commit.recordId).toBe(c), { timeout: 20_000 });
    const del = await call('DELETE', `/api/t/acme/subscriptions/${acme.id}`, { token: T.acme });
    expect(del.status, del.text).toBe(204);
    expectProblem(await call('GET', `/api/t/acme/subscriptions/${acme.id}`, { token: T.acme }), 404);
    // Audited (the audit view is projected right after the command).
    await vi.waitFor(async () => {
      const audit = await call('GET', '/api/t/acme/audit?limit=500', { token: T.acme });
      const types = audit.json.items.map((e: any) => e.eventType);
      for (const t of ['WebhookReplayRequested', 'WebhookPaused', 'WebhookResumed', 'WebhookRemoved']) expect(types).toContain(t);
    });
  });

  it('retries after 500s and after a timeout, then delivers', { timeout: 90_000 }, async () => {
    const flaky = await receiver((_, n) => (n <= 2 ? 500 : n === 3 ? 'hang' : 200));
    const sub = await subscribe('globex', flaky.url);
    const id = await createRecord('globex', { n: 1 });
    await vi.waitFor(() => expect(flaky.got.length).toBe(4), { timeout: 60_000 });
    // The same commit each time, each attempt signed afresh.
    expect(new Set(flaky.got.map((g) => g.json.delivery)).size).toBe(1);
    expect(flaky.got[0]!.json.commit.recordId).toBe(id);
    for (const g of flaky.got) expectSigned(g, sub.id, sub.secret);
    expect(flaky.closedUnanswered).toBe(1);
    await vi.waitFor(async () => expect((await status('globex', sub.id)).delivery).toMatchObject({ delivered: 1, attempts: 0, parked: 0 }));
  });

  it('parks a commit after the attempt limit and goes on with the next', async () => {
    const down = await receiver((r) => (r.json.commit.recordId === parkedId ? 500 : 200));
    let parkedId = '';
    const sub = await subscribe('umbrella', down.url);
    parkedId = await createRecord('umbrella', { n: 1 });
    const next = await createRecord('umbrella', { n: 2 });
    // On Cosmos the next record's commit may come first (the feed is ordered per partition-key
    // range, not across records), so wait for both: the next delivered and the first parked.
    await vi.waitFor(
      async () => {
        expect(down.got.some((g) => g.json.commit.recordId === next)).toBe(true);
        expect((await status('umbrella', sub.id)).delivery).toMatchObject({ parked: 1 });
      },
      { timeout: 30_000 },
    );
    expect(down.got.filter((g) => g.json.commit.recordId === parkedId)).toHaveLength(4);
    // The next one is counted once the host has its answer (the receiver notes it before answering).
    await vi.waitFor(
      async () => {
        const s = await status('umbrella', sub.id);
        expect(s.delivery).toMatchObject({
          parked: 1,
          delivered: 1,
          lastError: 'HTTP 500',
          parkedItems: [{ version: 1, error: 'HTTP 500' }],
        });
        expect(JSON.stringify(s)).not.toContain('must not be stored');
      },
      { timeout: 20_000 },
    );
  });

  it("a hanging receiver of one tenant does not hold up another tenant's deliveries", async () => {
    const hanging = await receiver(() => 'hang');
    // Read when hooli's delivery arrives, not after: the host gives up on initech's delivery after
    // WEBHOOK_TIMEOUT_SECONDS, which a slow machine can reach before the test looks.
    const atArrival: Array<{ open: number; closedUnanswered: number }> = [];
    const fine = await receiver(() => {
      atArrival.push({ open: hanging.open, closedUnanswered: hanging.closedUnanswered });
      return 200;
    });
    await subscribe('initech', hanging.url);
    await subscribe('hooli', fine.url);
    await createRecord('initech', { n: 1 });
    await vi.waitFor(() => expect(hanging.open).toBe(1), { timeout: 20_000 });
    const id = await createRecord('hooli', { n: 1 });
    await vi.waitFor(() => expect(fine.got.map((g) => g.json.commit.recordId)).toEqual([id]), { timeout: 20_000 });
    // initech's first delivery was still waiting for its answer when hooli's arrived.
    expect(atArrival[0]).toEqual({ open: 1, closedUnanswered: 0 });
  });

  it("the README's 15-line receiver verifies real deliveries and refuses forged and stale ones", { timeout: 60_000 }, async () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const at = readme.indexOf('A receiver in 15 lines');
    const code = readme.slice(readme.indexOf('```js\n', at) + 6, readme.indexOf('```\n', readme.indexOf('```js\n', at) + 6));
    expect(code.trim().split('\n')).toHaveLength(15);
    const file = join(certDir, 'receiver.cjs');
    writeFileSync(file, code);
    const port = await freePort();
    const hook = await subscribe('hooli', `https://127.0.0.1:${port}/ledger`);
    const child = spawn(process.execPath, [file], {
      env: {
        PATH: process.env.PATH ?? '',
        LEDGER_SECRET: hook.secret.toString('base64url'),
        TLS_KEY: join(certDir, 'key.pem'),
        TLS_CERT: join(certDir, 'cert.pem'),
        PORT: String(port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const send = (body: string, headers: Record<string, string>) =>
        new Promise<number>((resolve, reject) => {
          const rq = httpsRequest(
            { host: '127.0.0.1', port, path: '/ledger', method: 'POST', headers, ca: readFileSync(join(certDir, 'cert.pem')) },
            (res) => resolve(res.resume() && (res.statusCode ?? 0)),
          );
          rq.on('error', reject);
          rq.end(body);
        });
      const id = await createRecord('hooli', { readme: true });
      await vi.waitFor(() => expect(out).toContain(id), { timeout: 30_000 });
      expect(out).toContain('RecordCreated');
      // Forged (another secret), stale (a good signature over a timestamp 10 minutes old), unsigned: 401.
      const body = JSON.stringify({ delivery: 'x@1', commit: { recordId: 'forged', events: [] } });
      const signed = (secret: Buffer, ts: number) => ({
        'x-ledger-timestamp': String(ts),
        'x-ledger-subscription': hook.id,
        'x-ledger-signature': createHmac('sha256', secret).update(`${ts}.${hook.id}.${body}`).digest('hex'),
      });
      const now = Math.floor(Date.now() / 1000);
      expect(await send(body, signed(Buffer.alloc(32, 7), now))).toBe(401);
      expect(await send(body, signed(hook.secret, now - 600))).toBe(401);
      expect(await send(body, {})).toBe(401);
      expect(out).not.toContain('forged');
      // The same body signed with the subscription's secret, now: accepted.
      expect(await send(body, signed(hook.secret, now))).toBe(204);
      await vi.waitFor(() => expect(out).toContain('x@1 undefined forged'));
    } finally {
      child.kill();
    }
  });

  it('only administrators manage subscriptions; bad input is refused', async () => {
    expectProblem(await call('GET', '/api/t/acme/subscriptions', { token: T.viewer }), 403);
    expectProblem(await call('POST', '/api/t/acme/subscriptions', { token: T.viewer, body: { url: 'https://example.com/x' } }), 403);
    expectProblem(await call('GET', '/api/t/acme/subscriptions', { token: T.globex }), 401);
    expectProblem(await call('GET', '/api/t/acme/subscriptions'), 401);
    expectProblem(await call('POST', '/api/t/acme/subscriptions', { token: T.acme, body: { url: 'ftp://example.com/x' } }), 400);
    expectProblem(await call('POST', '/api/t/acme/subscriptions', { token: T.acme, body: { url: 'not a url' } }), 400);
    expectProblem(await call('POST', '/api/t/acme/subscriptions', { token: T.acme, body: { url: 'https://u:p@example.com/x' } }), 400);
    expectProblem(
      await call('POST', '/api/t/acme/subscriptions', { token: T.acme, body: { url: 'https://example.com/x', extra: 1 } }),
      400,
    );
    expectProblem(await call('GET', '/api/t/acme/subscriptions/wh_nope', { token: T.acme }), 404);
  });
});

function expectProblem(r: { status: number; headers: Headers; json: any; text: string }, code: number) {
  expect(r.status, r.text).toBe(code);
  expect(r.headers.get('content-type')).toContain('application/problem+json');
}
