/**
 * A local stand-in for the Application Insights ingestion endpoint, run by the telemetry phase
 * of `npm run bench` as its own child process (`node dist/bench/ingest-standin.js <key.pem>
 * <cert.pem>`), so that unpacking the exporter's batches costs neither the measuring client
 * nor the host under test any time on their event loops.
 *
 * Same approach as test/e2e/telemetry.test.ts: HTTPS with a throwaway self-signed certificate
 * (the exporter turns http:// endpoints into https://); POST /v2.1/track bodies (gzip or
 * plain, a JSON array or newline-delimited envelopes) are counted by `data.baseType` and
 * answered with 200 `{"itemsReceived":n,"itemsAccepted":n,"errors":[]}`. Anything else (the
 * live-metrics pings when the connection string's LiveEndpoint points here) is counted by
 * path and answered with 200 `{}`.
 *
 * Protocol with the parent (IPC): it sends `{ listening: port }` once; on `'counts'` it answers
 * with the current `StandinCounts`.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface StandinCounts {
  /** POST /v2.1/track requests. */
  trackPosts: number;
  /** Envelopes in those posts. */
  envelopes: number;
  /** Envelopes by data.baseType (RequestData, MessageData, …). */
  byType: Record<string, number>;
  /** RequestData envelopes of HTTP invocations (custom dimension faas.trigger = http). */
  httpRequests: number;
  /** Requests to any other path, by method and path without query (e.g. live-metrics pings). */
  other: Record<string, number>;
  /** Track bodies that could not be parsed (answered 400). */
  badBodies: number;
}

interface Envelope {
  data?: { baseType?: string; baseData?: { properties?: Record<string, string> } };
}

function parseEnvelopes(body: string): Envelope[] {
  const t = body.trim();
  if (!t) return [];
  if (t.startsWith('[')) return JSON.parse(t) as Envelope[];
  return t
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Envelope);
}

function main(): void {
  const [keyPath, certPath] = process.argv.slice(2);
  if (!keyPath || !certPath || !process.send) throw new Error('usage: node ingest-standin.js <key.pem> <cert.pem> (with an IPC channel)');
  const counts: StandinCounts = { trackPosts: 0, envelopes: 0, byType: {}, httpRequests: 0, other: {}, badBodies: 0 };
  const server = createServer({ key: readFileSync(keyPath), cert: readFileSync(certPath) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!;
      res.setHeader('content-type', 'application/json');
      if (req.method !== 'POST' || path !== '/v2.1/track') {
        const k = `${req.method} ${path}`;
        counts.other[k] = (counts.other[k] ?? 0) + 1;
        res.end('{}');
        return;
      }
      counts.trackPosts++;
      let envelopes: Envelope[];
      try {
        const raw = Buffer.concat(chunks);
        envelopes = parseEnvelopes((req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8'));
      } catch {
        counts.badBodies++;
        res.statusCode = 400;
        res.end(JSON.stringify({ itemsReceived: 0, itemsAccepted: 0, errors: [] }));
        return;
      }
      counts.envelopes += envelopes.length;
      for (const e of envelopes) {
        const t = e.data?.baseType ?? '?';
        counts.byType[t] = (counts.byType[t] ?? 0) + 1;
        if (t === 'RequestData' && e.data?.baseData?.properties?.['faas.trigger'] === 'http') counts.httpRequests++;
      }
      const n = envelopes.length;
      res.end(JSON.stringify({ itemsReceived: n, itemsAccepted: n, errors: [] }));
    });
  });
  server.listen(0, '127.0.0.1', () => process.send!({ listening: (server.address() as AddressInfo).port }));
  process.on('message', (m) => {
    if (m === 'counts') process.send!({ counts });
  });
  // The parent going away (or closing the channel) ends the stand-in.
  process.on('disconnect', () => {
    server.closeAllConnections();
    server.close();
    process.exit(0);
  });
}

if (require.main === module) main();
