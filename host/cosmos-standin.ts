/**
 * A local Cosmos DB (NoSQL API) stand-in WITH a change feed, for tests and for `npm start`
 * with STORE=cosmos-standin. It is `@vercel/cosmosdb-server` (documents, queries, 409/412,
 * continuation tokens…) with a layer in front that the real `@azure/cosmos` 4.9.3 SDK talks to
 * exactly as it talks to the service:
 *
 * What it emulates (wire behaviour taken from the SDK's source — ChangeFeedForEpkRange,
 * changeFeedUtils.buildFeedOptions, request.getHeaders — and from Microsoft's REST reference
 * "List Documents (ReadFeed)", https://learn.microsoft.com/rest/api/cosmos-db/list-documents):
 * - Several partition key ranges per container (`GET …/pkranges`, default 3). Every document
 *   belongs to the range that holds the effective partition key (EPK) of its partition key
 *   value, hashed with the SDK's own hash for the container's partition key definition (V1 or
 *   V2), so the SDK's routing and the stand-in agree. Range boundaries are quantiles of sample
 *   hashes, so documents spread over the ranges.
 * - Every create, upsert, replace, patch and delete gets the next log sequence number (LSN) of
 *   its range (LSNs are per range, as in the service, where they are per physical partition).
 * - Change feed, latest-version ("incremental") mode: `GET …/docs` with `A-IM: Incremental
 *   Feed` and `x-ms-documentdb-partitionkeyrangeid` (optionally narrowed by `x-ms-start-epk` /
 *   `x-ms-end-epk`, or addressed by `x-ms-documentdb-partitionkey` for one partition key):
 *   - `If-None-Match` absent: from the beginning; `*`: from now; `"<lsn>"`: after that LSN;
 *     `If-Modified-Since` (no If-None-Match): changes recorded at or after that instant;
 *   - 200 with `Documents` — the latest version of each document changed after the
 *     continuation, in LSN order, each with `_lsn` — and `etag: "<lsn>"`, the LSN of the LAST
 *     document returned (so the continuation moves only past what was delivered);
 *   - at most `x-ms-max-item-count` documents per page (absent or -1: 100);
 *   - 304 Not Modified with the request's etag (or the range's current LSN when there was
 *     none) when nothing is new; a document changed twice appears once, at its newest LSN;
 *     deleted documents do not appear (latest-version mode has no deletes);
 *   - an unknown range id answers 410 Gone, substatus 1002 (PartitionKeyRangeGone).
 * - Queries and read-feeds the SDK sends to one range (cross-partition queries fan out with
 *   `x-ms-documentdb-partitionkeyrangeid`) see only that range's documents, so results are not
 *   duplicated across ranges.
 *
 * What it does NOT emulate: all-versions-and-deletes mode (answered 400), range splits and
 * merges (the ranges are fixed at container creation; 410 handling in the SDK is not
 * exercised), transactional batch atomicity (as @vercel/cosmosdb-server: not atomic), request
 * units (every answer says 1 RU), TTL, stored procedures, consistency levels and sessions,
 * multi-region, throttling (429), authentication (any key is accepted), and persistence: all
 * data lives in memory and is gone when the process ends.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';

export { EMULATOR_KEY } from '../shared/adapters/cosmos/emulator-key';

export interface CosmosStandinOptions {
  /** Partition key ranges per container (default 3). */
  ranges?: number;
  port?: number;
  host?: string;
}

export interface RunningCosmosStandin {
  /** http://host:port (plain HTTP: use `connectionPolicy: { enableEndpointDiscovery: false }`). */
  endpoint: string;
  server: Server;
  /** What the stand-in answered since start, by kind (also at GET /_standin/stats on its port). */
  stats(): StandinStats;
  close(): Promise<void>;
}

/** Requests by kind: what a cost estimate multiplies by Microsoft's published request-unit figures. */
export interface StandinStats {
  requests: number;
  /** Creates, upserts, replaces, patches and deletes of documents, and the JSON bytes written. */
  writes: number;
  writeBytes: number;
  /** Point reads of one document (GET …/docs/{id}), found or not. */
  pointReads: number;
  /** Queries (POST with x-ms-documentdb-isquery), not counting query-plan requests. */
  queries: number;
  queryPlans: number;
  /** Change-feed requests (one range each), those answered 200 and the documents they carried. */
  feedRequests: number;
  feedPages: number;
  feedDocs: number;
  /** Everything else: databases, containers, partition key ranges, account. */
  metadata: number;
}

type Doc = Record<string, unknown> & { id: string; _rid: string; _ts?: number };
interface PartitionKeyDefinition {
  paths: string[];
  kind?: string;
  version?: number;
}
interface Range {
  id: string;
  min: string;
  max: string;
  /** Last LSN given out in this range. */
  lsn: number;
  /** Append-only log of (lsn, key); an entry is current while `latest.get(key).lsn === lsn`. */
  log: { lsn: number; key: string }[];
}
interface Entry {
  lsn: number;
  doc: Doc;
  epk: string;
  range: Range;
  recordedAt: number;
}
interface CollectionLog {
  rid: string;
  definition: PartitionKeyDefinition;
  ranges: Range[];
  latest: Map<string, Entry>;
}

/* The vercel server's internals this layer drives (a pinned devDependency, 1.0.1). */
interface VercelItems {
  _data: Map<string, { read(): Doc }>;
  _getQuery(sql: string): { exec(data: Doc[], options: Record<string, unknown>): { result: unknown[]; continuation?: unknown } };
  _userDefinedFunctions(): unknown;
}
interface VercelCollection {
  read():
    | (Record<string, unknown> & { _rid: string; partitionKey?: PartitionKeyDefinition; indexingPolicy?: { compositeIndexes?: unknown } })
    | null;
  documents: VercelItems;
}
interface VercelAccount {
  database(id: string): { read(): unknown; collection(id: string): VercelCollection };
}
type VercelHandler = (
  account: VercelAccount,
  req: IncomingMessage,
  res: ServerResponse,
  params: Record<string, string>,
) => Promise<unknown> | unknown;

const DEFAULT_FEED_PAGE = 100;

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function valueAt(doc: Record<string, unknown>, path: string): unknown {
  let cur: unknown = doc;
  for (const part of path.split('/').filter(Boolean)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function unquote(etag: string): string {
  return etag.startsWith('"') && etag.endsWith('"') ? etag.slice(1, -1) : etag;
}

/** Starts the stand-in on 127.0.0.1 (a random port unless given). */
export async function startCosmosStandin(options: CosmosStandinOptions = {}): Promise<RunningCosmosStandin> {
  const rangeCount = options.ranges ?? 3;
  if (!Number.isSafeInteger(rangeCount) || rangeCount < 1 || rangeCount > 64) throw new Error('ranges must be 1–64');
  const Account = require('@vercel/cosmosdb-server/lib/account').default as new (host: string, port: number) => VercelAccount;
  const route = require('@vercel/cosmosdb-server/lib/routes').default as (
    req: IncomingMessage,
  ) => [Record<string, string>, VercelHandler] | undefined;
  // The SDK's own partition key hashing (not exported from its package entry): the stand-in
  // places documents in ranges exactly where the SDK would look for them.
  const { hashPartitionKey } = require(join(dirname(require.resolve('@azure/cosmos')), 'utils', 'hashing', 'hash.js')) as {
    hashPartitionKey(values: unknown[], definition: PartitionKeyDefinition): string;
  };

  const logs = new Map<string, CollectionLog>();
  const counters: StandinStats = {
    requests: 0,
    writes: 0,
    writeBytes: 0,
    pointReads: 0,
    queries: 0,
    queryPlans: 0,
    feedRequests: 0,
    feedPages: 0,
    feedDocs: 0,
    metadata: 0,
  };
  const epkCache = new WeakMap<Doc, string>();
  let account: VercelAccount | undefined;

  const epkOf = (definition: PartitionKeyDefinition, values: unknown[]): string =>
    hashPartitionKey(
      values.map((v) => (v === undefined ? {} : v)),
      definition,
    );

  function collectionLog(collection: VercelCollection): CollectionLog | undefined {
    const data = collection.read();
    if (!data) return undefined;
    let log = logs.get(data._rid);
    if (!log) {
      const definition: PartitionKeyDefinition = data.partitionKey ?? { paths: ['/id'] };
      // Boundaries: quantiles of the hashes of sample keys under this definition.
      const sample = Array.from({ length: 1024 }, (_, i) => epkOf(definition, [`k${i}`])).sort();
      const bounds = [''];
      for (let i = 1; i < rangeCount; i++) bounds.push(sample[Math.floor((i * sample.length) / rangeCount)]!);
      bounds.push('FF');
      const ranges: Range[] = [];
      for (let i = 0; i < rangeCount; i++) ranges.push({ id: String(i), min: bounds[i]!, max: bounds[i + 1]!, lsn: 0, log: [] });
      log = { rid: data._rid, definition, ranges, latest: new Map() };
      logs.set(data._rid, log);
    }
    return log;
  }

  function partitionValues(log: CollectionLog, doc: Record<string, unknown>): unknown[] {
    return log.definition.paths.map((p) => valueAt(doc, p));
  }
  function keyOf(values: unknown[], id: string): string {
    return `${JSON.stringify(values.map((v) => (v === undefined ? null : v)))}\u0000${id}`;
  }
  function rangeOf(log: CollectionLog, epk: string): Range {
    const r = log.ranges.find((x) => epk >= x.min && epk < x.max) ?? log.ranges.at(-1)!;
    return r;
  }

  function recordWrite(collection: VercelCollection, doc: Doc): void {
    const log = collectionLog(collection);
    if (!log) return;
    const values = partitionValues(log, doc);
    const epk = epkOf(log.definition, values);
    const range = rangeOf(log, epk);
    range.lsn += 1;
    const key = keyOf(values, doc.id);
    range.log.push({ lsn: range.lsn, key });
    log.latest.set(key, { lsn: range.lsn, doc, epk, range, recordedAt: Date.now() });
  }

  function recordDelete(collection: VercelCollection, partitionHeader: string | undefined, id: string): void {
    const log = collectionLog(collection);
    if (!log) return;
    const values = partitionHeader ? (JSON.parse(partitionHeader) as unknown[]) : [id];
    const key = keyOf(values, id);
    const entry = log.latest.get(key);
    const range = entry?.range ?? rangeOf(log, epkOf(log.definition, values));
    range.lsn += 1; // a delete takes an LSN too; latest-version mode does not show it
    log.latest.delete(key);
  }

  /** Documents of one range (optionally narrowed to [startEpk, endEpk)) currently in the collection. */
  function docsInRange(collection: VercelCollection, log: CollectionLog, range: Range, startEpk?: string, endEpk?: string): Doc[] {
    const lo = startEpk ?? range.min;
    const hi = endEpk ?? range.max;
    const out: Doc[] = [];
    for (const item of collection.documents._data.values()) {
      const doc = item.read();
      let epk = epkCache.get(doc);
      if (epk === undefined) {
        epk = epkOf(log.definition, partitionValues(log, doc));
        epkCache.set(doc, epk);
      }
      if (epk >= lo && epk < hi && rangeOf(log, epk) === range) out.push(doc);
    }
    return out;
  }

  type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

  function changeFeed(req: IncomingMessage, collection: VercelCollection): Answer {
    counters.feedRequests += 1;
    const log = collectionLog(collection);
    if (!log) return { status: 404, body: { code: 'NotFound', message: 'Resource Not Found' } };
    if (header(req, 'a-im') !== 'Incremental Feed') {
      return {
        status: 400,
        body: { code: 'BadRequest', message: 'The stand-in emulates only the latest-version (Incremental Feed) change feed.' },
      };
    }
    const pkHeader = header(req, 'x-ms-documentdb-partitionkey');
    const rangeId = header(req, 'x-ms-documentdb-partitionkeyrangeid');
    let range: Range | undefined;
    let onlyKeyPrefix: string | undefined;
    if (pkHeader !== undefined) {
      const values = JSON.parse(pkHeader) as unknown[];
      range = rangeOf(log, epkOf(log.definition, values));
      onlyKeyPrefix = `${JSON.stringify(values)}\u0000`;
    } else if (rangeId !== undefined) {
      range = log.ranges.find((r) => r.id === rangeId);
      if (!range) {
        return {
          status: 410,
          body: { code: 'Gone', message: `Partition key range ${rangeId} is gone.` },
          headers: { 'x-ms-substatus': '1002' },
        };
      }
    } else {
      return {
        status: 400,
        body: { code: 'BadRequest', message: 'A change-feed request names a partition key range or a partition key.' },
      };
    }
    const startEpk = header(req, 'x-ms-start-epk');
    const endEpk = header(req, 'x-ms-end-epk');
    const lo = startEpk ?? range.min;
    const hi = endEpk ?? range.max;

    const ifNoneMatch = header(req, 'if-none-match');
    const ifModifiedSince = header(req, 'if-modified-since');
    let after = 0;
    let since: number | undefined;
    if (ifNoneMatch === '*') after = range.lsn;
    else if (ifNoneMatch !== undefined) {
      after = Number(unquote(ifNoneMatch));
      if (!Number.isSafeInteger(after) || after < 0) {
        return { status: 400, body: { code: 'BadRequest', message: 'If-None-Match is not a change-feed continuation.' } };
      }
    } else if (ifModifiedSince !== undefined) {
      since = Date.parse(ifModifiedSince);
      if (Number.isNaN(since)) return { status: 400, body: { code: 'BadRequest', message: 'If-Modified-Since is not a date.' } };
    }
    const maxHeader = Number(header(req, 'x-ms-max-item-count') ?? '-1');
    const max = Number.isSafeInteger(maxHeader) && maxHeader > 0 ? maxHeader : DEFAULT_FEED_PAGE;

    // First log entry after `after` (binary search: LSNs in a range's log only grow).
    let i = 0;
    let j = range.log.length;
    while (i < j) {
      const m = (i + j) >> 1;
      if (range.log[m]!.lsn <= after) i = m + 1;
      else j = m;
    }
    const docs: Doc[] = [];
    let last: number | undefined;
    for (; i < range.log.length && docs.length < max; i++) {
      const { lsn, key } = range.log[i]!;
      const entry = log.latest.get(key);
      if (!entry || entry.lsn !== lsn) continue; // changed again later, or deleted
      if (entry.epk < lo || entry.epk >= hi) continue;
      if (onlyKeyPrefix !== undefined && !key.startsWith(onlyKeyPrefix)) continue;
      if (since !== undefined && entry.recordedAt < since) continue;
      docs.push({ ...entry.doc, _lsn: lsn });
      last = lsn;
    }
    if (last === undefined) {
      const etag = ifNoneMatch !== undefined && ifNoneMatch !== '*' ? ifNoneMatch : `"${range.lsn}"`;
      return { status: 304, headers: { etag, 'x-ms-item-count': '0' } };
    }
    counters.feedPages += 1;
    counters.feedDocs += docs.length;
    return {
      status: 200,
      body: { _rid: log.rid, Documents: docs, _count: docs.length },
      headers: { etag: `"${last}"`, 'x-ms-item-count': String(docs.length) },
    };
  }

  function partitionKeyRanges(collection: VercelCollection): Answer {
    const log = collectionLog(collection);
    if (!log) return { status: 404, body: { code: 'NotFound', message: 'Resource Not Found' } };
    const PartitionKeyRanges = log.ranges.map((r) => ({
      id: r.id,
      _rid: `${log.rid}-${r.id}`,
      minInclusive: r.min,
      maxExclusive: r.max,
      ridPrefix: Number(r.id),
      throughputFraction: 1 / log.ranges.length,
      status: 'online',
      parents: [],
      _etag: `"${log.rid}-${r.id}"`,
    }));
    return {
      status: 200,
      body: { _rid: log.rid, PartitionKeyRanges, _count: PartitionKeyRanges.length },
      headers: { 'x-ms-item-count': String(PartitionKeyRanges.length) },
    };
  }

  /** A query or read-feed addressed to one range: run it over that range's documents only. */
  function rangeQuery(
    req: IncomingMessage,
    collection: VercelCollection,
    rangeId: string,
    body: { query?: string; parameters?: unknown },
  ): Answer {
    const log = collectionLog(collection);
    const data = collection.read();
    if (!log || !data) return { status: 404, body: { code: 'NotFound', message: 'Resource Not Found' } };
    const range = log.ranges.find((r) => r.id === rangeId);
    if (!range)
      return {
        status: 410,
        body: { code: 'Gone', message: `Partition key range ${rangeId} is gone.` },
        headers: { 'x-ms-substatus': '1002' },
      };
    const docs = docsInRange(collection, log, range, header(req, 'x-ms-start-epk'), header(req, 'x-ms-end-epk'));
    const maxHeader = header(req, 'x-ms-max-item-count');
    const maxItemCount = maxHeader ? Number.parseInt(maxHeader, 10) : null;
    const contHeader = header(req, 'x-ms-continuation');
    let continuation: unknown = null;
    if (contHeader) {
      try {
        continuation = JSON.parse(contHeader);
      } catch {
        continuation = null;
      }
    }
    let result: { result: unknown[]; continuation?: unknown };
    try {
      result = collection.documents._getQuery(body.query ?? 'SELECT * FROM c').exec(docs, {
        parameters: body.parameters,
        udf: collection.documents._userDefinedFunctions(),
        maxItemCount,
        continuation,
        compositeIndexes: data.indexingPolicy?.compositeIndexes ?? [],
      });
    } catch (e) {
      return { status: 400, body: { code: 'BadRequest', message: (e as Error).message } };
    }
    const headers: Record<string, string> = { 'x-ms-item-count': String(result.result.length) };
    if (result.continuation) headers['x-ms-continuation'] = JSON.stringify(result.continuation);
    return { status: 200, body: { _rid: data._rid, Documents: result.result, _count: result.result.length }, headers };
  }

  function send(req: IncomingMessage, res: ServerResponse, answer: Answer): void {
    res.statusCode = answer.status;
    for (const [k, v] of Object.entries(answer.headers ?? {})) res.setHeader(k, v);
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-ms-activity-id', randomUUID());
    res.setHeader('x-ms-request-charge', '1');
    res.setHeader('connection', 'keep-alive');
    if (answer.status === 304 || answer.body === undefined) res.end();
    else res.end(JSON.stringify(answer.body));
    void req;
  }

  /** The vercel server's own request handling (index.js), with the change log recorded on success. */
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    counters.requests += 1;
    if (!account) throw new Error('stand-in not listening yet');
    if (req.method === 'GET' && req.url === '/_standin/stats') return send(req, res, { status: 200, body: counters });
    const matched = route(req);
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0]!.replace(/^\/\//, '/').replace(/\/+$/, '');
    const docsPath = /^\/dbs\/([^/]+)\/colls\/([^/]+)\/(docs|pkranges)(?:\/([^/]+))?$/.exec(path);
    const dbId = docsPath ? decodeURIComponent(docsPath[1]!) : undefined;
    const collId = docsPath ? decodeURIComponent(docsPath[2]!) : undefined;
    const collection = dbId !== undefined && collId !== undefined ? account.database(dbId).collection(collId) : undefined;

    // Requests the layer answers itself.
    if (collection && docsPath && method === 'GET' && docsPath[4] === undefined) {
      if (docsPath[3] === 'pkranges') {
        counters.metadata += 1;
        return send(req, res, partitionKeyRanges(collection));
      }
      if (header(req, 'a-im') !== undefined) return send(req, res, changeFeed(req, collection));
      const rangeId = header(req, 'x-ms-documentdb-partitionkeyrangeid');
      if (rangeId !== undefined && header(req, 'x-ms-documentdb-partitionkey') === undefined) {
        return send(req, res, rangeQuery(req, collection, rangeId, {}));
      }
    }
    const isQuery =
      method === 'POST' &&
      (header(req, 'x-ms-documentdb-isquery')?.toLowerCase() === 'true' || header(req, 'content-type') === 'application/query+json');
    if (collection && docsPath?.[3] === 'docs' && isQuery) {
      const rangeId = header(req, 'x-ms-documentdb-partitionkeyrangeid');
      if (rangeId !== undefined && header(req, 'x-ms-documentdb-partitionkey') === undefined) {
        counters.queries += 1;
        const raw = await readBody(req);
        return send(req, res, rangeQuery(req, collection, rangeId, JSON.parse(raw.toString('utf8')) as { query?: string }));
      }
    }

    // Classify what the vercel server answers (the layer's own answers count themselves).
    if (collection && docsPath?.[3] === 'docs') {
      if (header(req, 'x-ms-cosmos-is-query-plan-request') !== undefined) counters.queryPlans += 1;
      else if (isQuery) counters.queries += 1;
      else if (method === 'GET' && docsPath[4] !== undefined) counters.pointReads += 1;
      else if (method !== 'GET') {
        counters.writes += 1;
        counters.writeBytes += Number(header(req, 'content-length') ?? 0);
      } else counters.metadata += 1;
    } else counters.metadata += 1;
    let body: Record<string, unknown> | unknown[] | undefined;
    if (matched) {
      const [params, handler] = matched;
      try {
        body = (await handler(account, req, res, params)) as Record<string, unknown>;
      } catch (err) {
        body = { message: (err as Error).message };
        res.statusCode = 500;
      }
      if (res.statusCode > 399 && body && !Array.isArray(body) && !body.message) body.message = '';
    } else {
      res.statusCode = 400;
      body = { message: 'no route' };
    }
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    if (ok && collection && docsPath?.[3] === 'docs' && !isQuery) {
      if (method === 'DELETE' && docsPath[4] !== undefined) {
        recordDelete(collection, header(req, 'x-ms-documentdb-partitionkey'), decodeURIComponent(docsPath[4]));
      } else if (method === 'POST' && header(req, 'x-ms-cosmos-is-batch-request') !== undefined && Array.isArray(body)) {
        for (const op of body as { statusCode?: number; resourceBody?: Doc }[]) {
          if (op.statusCode !== undefined && op.statusCode < 300 && op.resourceBody?._rid) recordWrite(collection, op.resourceBody);
        }
        // Deletes inside a batch are not recorded (the service's batches are not emulated anyway).
      } else if (
        (method === 'POST' || method === 'PUT' || method === 'PATCH') &&
        body &&
        !Array.isArray(body) &&
        typeof body._rid === 'string'
      ) {
        recordWrite(collection, body as Doc);
      }
    }
    if (body && !Array.isArray(body) && typeof body._etag === 'string') res.setHeader('etag', body._etag);
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-ms-activity-id', randomUUID());
    res.setHeader('x-ms-request-charge', '1');
    res.setHeader('connection', 'keep-alive');
    res.end(JSON.stringify(body));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ code: 'InternalServerError', message: (err as Error).message }));
      } else res.destroy();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  account = new Account(host, port);
  return {
    endpoint: `http://${host}:${port}`,
    server,
    stats: () => ({ ...counters }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

/**
 * The stand-in as the local host runs it for STORE=cosmos-standin: on 127.0.0.1:`port`, with
 * the service's database created (in Azure, infra/ creates it).
 */
export async function startLocalCosmos(port: number, databaseId: string): Promise<RunningCosmosStandin> {
  const standin = await startCosmosStandin({ port });
  const { CosmosClient } = await import('@azure/cosmos');
  const { EMULATOR_KEY: key } = await import('../shared/adapters/cosmos/emulator-key');
  const client = new CosmosClient({ endpoint: standin.endpoint, key, connectionPolicy: { enableEndpointDiscovery: false } });
  try {
    await client.databases.createIfNotExists({ id: databaseId });
  } finally {
    client.dispose();
  }
  return standin;
}
