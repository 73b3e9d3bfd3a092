/**
 * A host near its file-descriptor limit says so before it fails, and fails clearly (issue 11):
 * the real host (`node dist/host/start.js`) gets a low RLIMIT_NOFILE (`prlimit --pid`), then
 * this test holds idle TCP connections to it (one descriptor each in the host) until it nears
 * the limit: GET /api/health turns "degraded" (still 200) and the host's log names the limit
 * while tenant creation still works; at the limit, creating a tenant answers 503 problem+json
 * naming the limit (not 500) and leaves no tenant behind; with the connections gone, health is
 * "ok" again and the same tenant is created.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHostProcess, type HostProcess } from '../support/host-process';

let host: HostProcess;
/** One kept-alive connection, opened before the limit is near, for every request of the test. */
const agent = new Agent({ keepAlive: true, maxSockets: 1, keepAliveMsecs: 1000 });
const fillers: Socket[] = [];

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: any;
  text: string;
}

function call(method: string, path: string, body?: unknown): Promise<Reply> {
  const url = new URL(path, host.url);
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent,
        headers: {
          authorization: `Bearer ${host.operatorKey}`,
          ...(data ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => {
          let json: any;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json, text });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const fds = () => readdirSync(`/proc/${host.pid}/fd`).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Opens idle connections to the host until it holds `target` descriptors (or no more are accepted). */
async function fillTo(target: number): Promise<void> {
  const port = Number(new URL(host.url).port);
  let stuck = 0;
  while (fds() < target && stuck < 5) {
    const before = fds();
    const s = connect({ port, host: '127.0.0.1' });
    s.on('error', () => undefined);
    fillers.push(s);
    await new Promise<void>((r) => {
      s.once('connect', () => r());
      s.once('error', () => r());
      setTimeout(r, 1000);
    });
    // Wait until the host has accepted it (its descriptor count moves).
    let moved = false;
    for (let i = 0; i < 20 && !moved; i++) {
      if (fds() > before) moved = true;
      else await sleep(25);
    }
    stuck = moved ? 0 : stuck + 1;
  }
}

const body = (id: string) => ({ id, name: id, admin: { email: `admin@${id}.test`, password: 'correct horse battery' } });

beforeAll(async () => {
  host = await startHostProcess({ RESOURCE_WARN_PERCENT: '80', OPERATOR_KEY: randomBytes(32).toString('base64url') });
}, 60_000);

afterAll(async () => {
  for (const s of fillers) s.destroy();
  agent.destroy();
  await host?.stop();
  host?.cleanup();
});

it('health turns degraded before creation fails; at the limit creation answers 503 naming the limit, not 500', async () => {
  expect((await call('GET', '/api/health')).json).toMatchObject({ status: 'ok' });
  expect((await call('POST', '/api/tenants', body('first'))).status).toBe(201);
  // Settle (start-up work, closes after the creation), then a limit well above what the host holds now.
  await sleep(3000);
  const base = fds();
  const limit = Math.max(base + 60, Math.ceil(base * 1.6));
  execFileSync('prlimit', [`--pid=${host.pid}`, `--nofile=${limit}:${limit}`]);
  expect((await call('GET', '/api/health')).json).toMatchObject({ status: 'ok', checks: { resources: { ok: true } } });

  // Near the limit (80 %): degraded, still 200, the log names the limit; creation still works.
  await fillTo(Math.ceil(limit * 0.8) + 2);
  const near = await call('GET', '/api/health');
  expect(near.status, near.text).toBe(200);
  expect(near.json).toMatchObject({ status: 'degraded', checks: { resources: { ok: false } } });
  await expect.poll(() => host.output(), { timeout: 10_000 }).toContain(`RLIMIT_NOFILE=${limit}`);
  const whileDegraded = await call('POST', '/api/tenants', body('while-degraded'));
  expect(whileDegraded.status, whileDegraded.text).toBe(201);

  // At the limit: creation cannot open its files.
  await fillTo(limit);
  const refused = await call('POST', '/api/tenants', body('at-limit'));
  expect(refused.status, `${refused.text}\n${host.output().slice(-3000)}`).toBe(503);
  expect(String(refused.headers['content-type'])).toContain('application/problem+json');
  expect(refused.json).toMatchObject({ status: 503, type: 'urn:tenant-ledger:problem:unavailable' });
  expect(refused.json.detail).toContain(`RLIMIT_NOFILE=${limit}`);
  expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  await expect
    .poll(() => host.output(), { timeout: 10_000 })
    .toMatch(/resource limit: a request failed with (EMFILE|ENFILE|SQLITE_CANTOPEN)/);

  // The connections go: health is ok again, nothing was left of the refused creation, and it can be made now.
  for (const s of fillers.splice(0)) s.destroy();
  for (let i = 0; i < 100 && fds() > base + 10; i++) await sleep(50);
  expect((await call('GET', '/api/health')).json).toMatchObject({ status: 'ok' });
  expect((await call('GET', '/api/tenants/at-limit')).status).toBe(404);
  const again = await call('POST', '/api/tenants', body('at-limit'));
  expect(again.status, again.text).toBe(201);
  await expect.poll(() => host.output(), { timeout: 10_000 }).toContain('resource limit: open file descriptors back to');
}, 120_000);
