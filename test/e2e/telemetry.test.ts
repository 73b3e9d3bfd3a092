/**
 * OpenTelemetry export to Application Insights, end to end: the compiled local host runs with
 * APPLICATIONINSIGHTS_CONNECTION_STRING pointing at a local stand-in for the ingestion
 * endpoint, and the real Azure Monitor exporter (@azure/monitor-opentelemetry-exporter) posts its
 * envelopes there. Checked: HTTP requests and a timer run arrive as request envelopes with our
 * correlation id, their structured log lines as trace (message) envelopes in the same
 * operation, and no envelope carries the operator key, a password, a bearer token or a query
 * string.
 *
 * The exporter rewrites an `http://` IngestionEndpoint to `https://` (its connection-string
 * parser does), so the stand-in serves HTTPS with a throwaway self-signed certificate that
 * the host process trusts through NODE_EXTRA_CA_CERTS. Envelopes are batched (5 s); stopping
 * the host (appTerminate → shutdown) flushes them, so the test does not wait for a batch.
 */
import { selfSignedCertificate } from '../../host/self-signed';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, startHostProcess, type HostProcess } from '../support/host-process';
import { client } from '../support/http-client';

interface Envelope {
  name: string;
  time: string;
  iKey?: string;
  tags?: Record<string, string>;
  data: {
    baseType: string;
    baseData: {
      name?: string;
      message?: string;
      url?: string;
      responseCode?: string;
      success?: boolean;
      properties?: Record<string, string>;
    };
  };
}

const OPERATOR_KEY = 'op-telemetry-test-key-0123456789abcdef0123456789';
const PASSWORD = 'telemetry test horse battery';
const QUERY_SECRET = 'query-secret-7f3a9c';
const CORRELATION_ID = 'telemetry-test-0001';
const BACKUP_ID = 'telemetry-test-backup-01';

let dir: string;
let server: Server;
let host: HostProcess;
const posts: Array<{ path: string; encoding: string | undefined; body: string }> = [];
const call = client(() => host.url);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ingest-'));
  selfSignedCertificate(dir);
  server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const encoding = req.headers['content-encoding'];
      const body = (encoding === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
      posts.push({ path: req.url ?? '', encoding, body });
      const n = parseEnvelopes(body).length;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ itemsReceived: n, itemsAccepted: n, errors: [] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  host = await startHostProcess({
    OPERATOR_KEY,
    APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:${port}/`,
    NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem'),
    // Keep the test hermetic: no statsbeat to Microsoft's endpoint.
    APPLICATIONINSIGHTS_STATSBEAT_DISABLED: 'true',
    // Spans are sampled at 5 traces/s by default (log records are not sampled); the test
    // wants every span of its burst of requests.
    OTEL_TRACES_SAMPLER: 'always_on',
    // The Azure backup tier on the host's own Azurite: a backup run makes Blob SDK calls,
    // which must arrive as dependencies of that run's request.
    LOCAL_BLOB: 'azurite',
    AZURITE_BLOB_PORT: String(await freePort()),
  });
});

afterAll(async () => {
  await host?.stop();
  host?.cleanup();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
});

/** Breeze accepts a JSON array or newline-delimited envelopes. */
function parseEnvelopes(body: string): Envelope[] {
  const t = body.trim();
  if (!t) return [];
  if (t.startsWith('[')) return JSON.parse(t) as Envelope[];
  return t
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Envelope);
}

it('exports requests, a timer run and their log lines with correlation ids, and no secrets', async () => {
  const created = await call('POST', '/api/tenants', {
    token: OPERATOR_KEY,
    body: { id: 'acme', name: 'Acme', admin: { email: 'admin@acme.test', password: PASSWORD } },
  });
  expect(created.status, created.text).toBe(201);
  const login = await call('POST', '/api/t/acme/auth/token', { body: { email: 'admin@acme.test', password: PASSWORD } });
  expect(login.status, login.text).toBe(200);
  const token = login.json.access_token as string;
  const typed = await call('PUT', '/api/t/acme/types/doc', { token, body: { type: 'object' } });
  expect(typed.status, typed.text).toBeLessThan(300);
  const rec = await call('POST', '/api/t/acme/records/doc', {
    token,
    body: { city: 'Brno' },
    headers: { 'x-correlation-id': CORRELATION_ID },
  });
  expect(rec.status, rec.text).toBe(201);
  expect(rec.headers.get('x-correlation-id')).toBe(CORRELATION_ID);
  const list = await call('GET', `/api/t/acme/records/doc?limit=5&secret=${QUERY_SECRET}`, { token });
  expect(list.status, list.text).toBe(200);
  const missing = await call('GET', '/api/tenants/nobody', { token: OPERATOR_KEY });
  expect(missing.status).toBe(404);
  const backup = await call('POST', '/api/tenants/acme/backups', { token: OPERATOR_KEY, headers: { 'x-correlation-id': BACKUP_ID } });
  expect(backup.status, backup.text).toBe(200);

  // A timer run: checkStoredFiles runs at start (runOnStartup) and writes its end line. (The
  // projectFeeds timer is quiet now: this process projects its own writes on the change signal.)
  let timerId: string | undefined;
  for (let i = 0; i < 50 && !timerId; i++) {
    timerId = /\{"event":"timer","fn":"checkStoredFiles","correlationId":"([^"]+)"/.exec(host.output())?.[1];
    if (!timerId) await new Promise((r) => setTimeout(r, 200));
  }
  expect(timerId, host.output()).toBeDefined();

  // Stopping the host runs appTerminate: the exporter flushes its batches.
  expect(await host.stop()).toBe(0);

  expect(posts.length).toBeGreaterThan(0);
  for (const p of posts) expect(p.path).toBe('/v2.1/track');
  const envelopes = posts.flatMap((p) => parseEnvelopes(p.body));
  const byType: Record<string, number> = {};
  for (const e of envelopes) byType[e.data.baseType] = (byType[e.data.baseType] ?? 0) + 1;
  console.log(
    `telemetry export: ${posts.length} POSTs (content-encoding ${[...new Set(posts.map((p) => p.encoding ?? 'none'))].join(', ')}), envelopes ${JSON.stringify(byType)}`,
  );

  const requests = envelopes.filter((e) => e.data.baseType === 'RequestData');
  const messages = envelopes.filter((e) => e.data.baseType === 'MessageData');
  const props = (e: Envelope) => e.data.baseData.properties ?? {};

  // The HTTP request with our correlation id: a request named after method and route template.
  const req = requests.find((e) => props(e).correlationId === CORRELATION_ID);
  expect(req, JSON.stringify(requests.map((e) => e.data.baseData))).toBeDefined();
  expect(req!.data.baseData).toMatchObject({ name: 'POST t/{tenant}/records/{type}', responseCode: '201', success: true });
  expect(props(req!)).toMatchObject({ tenant: 'acme', 'faas.trigger': 'http' });
  // Its structured line, as a log record in the same operation (trace) and span.
  const line = messages.find((e) => props(e).correlationId === CORRELATION_ID && props(e).event === 'http');
  expect(line, JSON.stringify(messages.map((e) => e.data.baseData))).toBeDefined();
  expect(props(line!)).toMatchObject({
    fn: 'createRecord',
    method: 'POST',
    status: '201',
    tenant: 'acme',
    path: '/api/t/acme/records/doc',
  });
  expect(line!.tags?.['ai.operation.id']).toBe(req!.tags?.['ai.operation.id']);
  expect(line!.tags?.['ai.operation.parentId']).toBe((req!.data.baseData as { id?: string }).id);
  // 404 is reported with its status.
  expect(requests.find((e) => e.data.baseData.name === 'GET tenants/{tenant}')?.data.baseData).toMatchObject({
    responseCode: '404',
    success: false,
  });

  // The timer run: one request named after the function, its lines carry the same id.
  const run = requests.find((e) => props(e).correlationId === timerId);
  expect(run, JSON.stringify(requests.map((e) => e.data.baseData))).toBeDefined();
  expect(run!.data.baseData).toMatchObject({ name: 'checkStoredFiles', success: true });
  expect(props(run!)).toMatchObject({ 'faas.trigger': 'timer', outcome: 'ok' });
  const runLines = messages.filter((e) => props(e).correlationId === timerId);
  expect(runLines.map((e) => props(e).event)).toEqual(['timer']);
  expect(props(runLines[0]!)).toMatchObject({ fn: 'checkStoredFiles', outcome: 'ok' });
  for (const l of runLines) expect(l.tags?.['ai.operation.id']).toBe(run!.tags?.['ai.operation.id']);

  // The backup run's Azure SDK calls (Blob, on Azurite): dependencies in its operation.
  const backupRequest = requests.find((e) => props(e).correlationId === BACKUP_ID);
  expect(backupRequest, JSON.stringify(requests.map((e) => e.data.baseData))).toBeDefined();
  const dependencies = envelopes.filter(
    (e) => e.data.baseType === 'RemoteDependencyData' && e.tags?.['ai.operation.id'] === backupRequest!.tags?.['ai.operation.id'],
  );
  expect(dependencies.length, JSON.stringify(envelopes.map((e) => e.data.baseType))).toBeGreaterThan(0);
  expect(dependencies.some((e) => JSON.stringify(e.data.baseData).includes('127.0.0.1'))).toBe(true);

  // Nothing secret anywhere in what was sent.
  const all = posts.map((p) => p.body).join('\n');
  for (const secret of [OPERATOR_KEY, PASSWORD, token, token.split('.')[2]!, QUERY_SECRET, 'authorization', 'Bearer '])
    expect(all).not.toContain(secret);
}, 60_000);
