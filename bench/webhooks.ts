/**
 * Webhook delivery (issue 19), `npm run bench -- webhooks`. The local host runs in a child
 * process (`node dist/host/start.js`, embedded store, no blob store) and trusts a self-signed
 * certificate (NODE_EXTRA_CA_CERTS); the receiver is an HTTPS server in this bench process
 * that answers 200 at once and verifies nothing (signatures are tested in test/e2e). At 1 and
 * at 100 tenants, each with one subscription to the receiver:
 *  - latency: commands (POST record) round-robin over the tenants, one after the other; for
 *    each, the time from its 201 (accepted) to the receiver getting its delivery, p50/p99
 *    (and from sending the command, with the command's own time beside it);
 *  - throughput: every subscription paused, a backlog of commits written, then all resumed at
 *    once: deliveries per second until the receiver has them all (one subscription delivers
 *    one commit at a time; tenants deliver side by side).
 * Each delivered commit also costs the host a durable position write (fsync) in the tenant's
 * database.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedCertificate } from '../host/self-signed';
import { type Child, startChildHost, stopChild } from './files';
import { call, expectStatus } from './http';
import { fmt, type Metric, msSince, nowNs, table } from './lib';

export const WEBHOOK_BENCH = { levels: [1, 100], latencyCommands: 400, backlog: 1_000 };

const PW = 'a long enough password';

interface Level {
  tenants: number;
  /** accepted (201) → delivered, and sent → delivered, and the command's own time (ms). */
  acceptedToDelivered: number[];
  sentToDelivered: number[];
  commandMs: number[];
  backlog: number;
  backlogMs: number;
  loadAvg: number;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN;
}

/** The receiver: the time (ns) each delivery arrived, keyed by `tenant/recordId@version`. */
class Receiver {
  readonly arrived = new Map<string, bigint>();
  private waiters: Array<{ key: string; resolve: () => void }> = [];
  server!: Server;
  url = '';

  async start(dir: string): Promise<this> {
    const tls = selfSignedCertificate(dir);
    this.server = createServer({ key: tls.key, cert: tls.cert, keepAliveTimeout: 60_000 }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const at = nowNs();
        res.writeHead(200).end();
        const json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const key = `${json.tenant}/${json.commit.recordId}@${json.commit.version}`;
        if (!this.arrived.has(key)) this.arrived.set(key, at);
        const done = this.waiters.filter((w) => w.key === key);
        this.waiters = this.waiters.filter((w) => w.key !== key);
        for (const w of done) w.resolve();
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
    return this;
  }

  wait(key: string, timeoutMs: number): Promise<void> {
    if (this.arrived.has(key)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no delivery of ${key} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        key,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

async function runLevel(appRoot: string, n: number, receiver: Receiver, certPath: string, say: (l?: string) => void): Promise<Level> {
  const dir = mkdtempSync(join(tmpdir(), 'tenant-ledger-bench-webhooks-'));
  const operatorKey = `bench-${randomUUID()}`;
  let host: Child | undefined;
  try {
    host = await startChildHost(appRoot, dir, operatorKey, 60_000, {
      LOCAL_BLOB: 'off',
      AZURITE_BLOB_PORT: undefined,
      NODE_EXTRA_CA_CERTS: certPath,
      WEBHOOK_ALLOW_PRIVATE_TARGETS: 'on',
    });
    const base = host.base;
    const tenants: Array<{ id: string; token: string; sub: string }> = [];
    const t0 = nowNs();
    for (let i = 0; i < n; i++) {
      const id = `wh-${n}-${i}`;
      expectStatus(
        await call(base, 'POST', '/api/tenants', {
          token: operatorKey,
          body: { id, name: id, admin: { email: `a@${id}.test`, password: PW } },
        }),
        201,
        'create tenant',
      );
      const login = await call(base, 'POST', `/api/t/${id}/auth/token`, { body: { email: `a@${id}.test`, password: PW } });
      expectStatus(login, 200, 'login');
      const token = (login.body as { access_token: string }).access_token;
      expectStatus(await call(base, 'PUT', `/api/t/${id}/types/item`, { token, body: { type: 'object' } }), 201, 'type');
      const sub = await call(base, 'POST', `/api/t/${id}/subscriptions`, { token, body: { url: receiver.url } });
      expectStatus(sub, 201, 'subscribe');
      tenants.push({ id, token, sub: (sub.body as { subscription: { id: string } }).subscription.id });
    }
    say(`  ${n} tenant(s) with a subscription each, set up in ${fmt(msSince(t0) / 1000)} s`);

    // Latency: commands one after the other, round-robin; each delivery awaited before the next command.
    const level: Level = { tenants: n, acceptedToDelivered: [], sentToDelivered: [], commandMs: [], backlog: 0, backlogMs: 0, loadAvg: 0 };
    const total = WEBHOOK_BENCH.latencyCommands;
    for (let i = 0; i < total + 20; i++) {
      const t = tenants[i % n]!;
      const sent = nowNs();
      const r = await call(base, 'POST', `/api/t/${t.id}/records/item`, { token: t.token, body: { i } });
      const accepted = nowNs();
      expectStatus(r, 201, 'command');
      const key = `${t.id}/${(r.body as { id: string }).id}@1`;
      await receiver.wait(key, 30_000);
      const at = receiver.arrived.get(key)!;
      // The first 20 warm up (connections, caches).
      if (i < 20) continue;
      level.acceptedToDelivered.push(Number(at - accepted) / 1e6);
      level.sentToDelivered.push(Number(at - sent) / 1e6);
      level.commandMs.push(Number(accepted - sent) / 1e6);
    }

    // Throughput: a backlog written while every subscription is paused, then all resumed at once.
    for (const t of tenants)
      expectStatus(
        await call(base, 'PATCH', `/api/t/${t.id}/subscriptions/${t.sub}`, { token: t.token, body: { status: 'paused' } }),
        200,
        'pause',
      );
    const keys: string[] = [];
    const per = Math.ceil(WEBHOOK_BENCH.backlog / n);
    // Written 8 at a time (a loaded 2-CPU host times out schema checks under 100 parallel writers).
    let next = 0;
    const jobs = tenants.flatMap((t) => Array.from({ length: per }, (_, i) => ({ t, i })));
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let j = next++; j < jobs.length; j = next++) {
          const { t, i } = jobs[j]!;
          const r = await call(base, 'POST', `/api/t/${t.id}/records/item`, { token: t.token, body: { backlog: i } });
          expectStatus(r, 201, 'backlog command');
          keys.push(`${t.id}/${(r.body as { id: string }).id}@1`);
        }
      }),
    );
    const t1 = nowNs();
    await Promise.all(
      tenants.map(async (t) =>
        expectStatus(
          await call(base, 'PATCH', `/api/t/${t.id}/subscriptions/${t.sub}`, { token: t.token, body: { status: 'active' } }),
          200,
          'resume',
        ),
      ),
    );
    for (const k of keys) await receiver.wait(k, 300_000);
    level.backlog = keys.length;
    level.backlogMs = msSince(t1);
    level.loadAvg = loadavg()[0] ?? 0;
    return level;
  } finally {
    if (host) await stopChild(host);
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}

export async function benchWebhooks(appRoot: string, say: (line?: string) => void): Promise<Metric[]> {
  say(
    `[webhooks] local host in a child process (embedded store), HTTPS receiver in this process: at ${WEBHOOK_BENCH.levels.join(' and ')} subscribed tenant(s), ${WEBHOOK_BENCH.latencyCommands} commands one after the other (accepted → delivered), then a backlog of ${WEBHOOK_BENCH.backlog} commits delivered after resuming every subscription…`,
  );
  const certDir = mkdtempSync(join(tmpdir(), 'tenant-ledger-bench-webhooks-cert-'));
  const receiver = await new Receiver().start(certDir);
  const levels: Level[] = [];
  try {
    for (const n of WEBHOOK_BENCH.levels) {
      const l = await runLevel(appRoot, n, receiver, join(certDir, 'cert.pem'), say);
      levels.push(l);
      say(
        `  ${n} tenant(s): accepted→delivered p50 ${fmt(pct(l.acceptedToDelivered, 50))} ms, p99 ${fmt(pct(l.acceptedToDelivered, 99))} ms; backlog ${fmt((l.backlog * 1000) / l.backlogMs)} deliveries/s`,
      );
    }
  } finally {
    await receiver.stop();
    rmSync(certDir, { recursive: true, force: true });
  }
  const rate = (l: Level) => (l.backlog * 1000) / l.backlogMs;
  say(
    table(
      ['tenants', 'accepted→delivered p50', 'p99', 'sent→delivered p50', 'p99', 'command p50', 'deliveries/s (backlog)', 'load'],
      levels.map((l) => [
        String(l.tenants),
        `${fmt(pct(l.acceptedToDelivered, 50))} ms`,
        `${fmt(pct(l.acceptedToDelivered, 99))} ms`,
        `${fmt(pct(l.sentToDelivered, 50))} ms`,
        `${fmt(pct(l.sentToDelivered, 99))} ms`,
        `${fmt(pct(l.commandMs, 50))} ms`,
        `${fmt(rate(l))} (${l.backlog} in ${fmt(l.backlogMs / 1000)} s)`,
        fmt(l.loadAvg),
      ]),
    ),
  );
  const [one, many] = levels as [Level, Level];
  say(
    `100 vs 1 tenant: delivery throughput ${fmt(rate(many) / rate(one))}×, accepted→delivered p50 ${fmt(pct(many.acceptedToDelivered, 50) / pct(one.acceptedToDelivered, 50))}×, p99 ${fmt(pct(many.acceptedToDelivered, 99) / pct(one.acceptedToDelivered, 99))}×`,
  );
  const metrics: Metric[] = [];
  for (const l of levels) {
    const p = `webhooks_${l.tenants}t_`;
    metrics.push(
      { name: `${p}accepted_to_delivered_p50`, value: pct(l.acceptedToDelivered, 50), unit: 'ms' },
      { name: `${p}accepted_to_delivered_p99`, value: pct(l.acceptedToDelivered, 99), unit: 'ms' },
      { name: `${p}sent_to_delivered_p50`, value: pct(l.sentToDelivered, 50), unit: 'ms' },
      { name: `${p}sent_to_delivered_p99`, value: pct(l.sentToDelivered, 99), unit: 'ms' },
      { name: `${p}command_p50`, value: pct(l.commandMs, 50), unit: 'ms' },
      { name: `${p}deliveries_per_s`, value: rate(l), unit: 'deliveries/s' },
    );
  }
  metrics.push({ name: 'webhooks_ratio_throughput_100t_vs_1t', value: rate(many) / rate(one), unit: 'x' });
  return metrics;
}
