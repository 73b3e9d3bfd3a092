/**
 * The floor for the HTTP paths in `npm run bench` (bench/goals.ts): a bare `node:http` server
 * in its own process that does what the service's storage does for one request and nothing
 * else — the same libSQL insert (an encrypted file, WAL, synchronous=FULL: one fsync per
 * commit, as DURABILITY=full) of a commit row shaped like the event store's, and the same
 * indexed read of a record's latest commit. No tenant, no token, no schema, no routing
 * table, no log line. Started by the bench with an IPC channel: it reports its port as
 * `{ listening: port }` and exits when the channel closes.
 *
 *   POST /records           body: JSON object → 201 { id, version: 1, data } (ETag "1")
 *   GET  /records/{id}      → 200 { id, version, data } (ETag) or 404
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Database from 'libsql';

const file = process.env.FLOOR_DB;
const key = process.env.FLOOR_KEY;
if (!file || !key) throw new Error('FLOOR_DB and FLOOR_KEY are required');

const db = new Database(file, { encryptionKey: key } as ConstructorParameters<typeof Database>[1]);
db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;');
db.exec(`CREATE TABLE IF NOT EXISTS commits (
  position INTEGER PRIMARY KEY AUTOINCREMENT, stream_id TEXT NOT NULL, version INTEGER NOT NULL, ts INTEGER NOT NULL,
  author TEXT NOT NULL, correlation_id TEXT NOT NULL, events TEXT NOT NULL, idem_key TEXT, idem_hash TEXT,
  UNIQUE (stream_id, version))`);
const insert = db.prepare(
  'INSERT INTO commits (stream_id, version, ts, author, correlation_id, events, idem_key, idem_hash) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)',
);
const latest = db.prepare('SELECT version, events FROM commits WHERE stream_id = ? ORDER BY version DESC LIMIT 1');
const author = JSON.stringify({ kind: 'user', userId: 'u_floorfloorfloorfloor00', email: 'floor@bench.test' });

function reply(res: ServerResponse, status: number, body: unknown, version?: number): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...(version !== undefined ? { etag: `"${version}"` } : {}),
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  if (req.method === 'POST' && url === '/records') {
    readBody(req)
      .then((text) => {
        const data = JSON.parse(text) as Record<string, unknown>;
        const id = `r_${randomBytes(16).toString('base64url').slice(0, 22)}`;
        const events = [{ type: 'RecordCreated', data: { type: 'bench', id, data } }];
        insert.run(`record:bench:${id}`, 1, Date.now(), author, randomUUID(), JSON.stringify(events));
        reply(res, 201, { id, version: 1, data }, 1);
      })
      .catch(() => reply(res, 400, { title: 'bad request' }));
    return;
  }
  if (req.method === 'GET' && url.startsWith('/records/')) {
    const id = url.slice('/records/'.length);
    const row = latest.get(`record:bench:${id}`) as { version: number; events: string } | undefined;
    if (!row) return reply(res, 404, { title: 'not found' });
    const [e] = JSON.parse(row.events) as Array<{ data: { data: unknown } }>;
    return reply(res, 200, { id, version: row.version, data: e?.data.data }, row.version);
  }
  reply(res, 404, { title: 'not found' });
});

server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ listening: typeof address === 'object' && address ? address.port : 0 });
});
process.on('disconnect', () => {
  server.close();
  server.closeAllConnections();
  db.close();
  process.exit(0);
});
