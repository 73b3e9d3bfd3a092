import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalHost, type LocalHost } from '../../host/local-host';
import { compileRoute, matchRoute } from '../../host/routes';

type SampleState = { ticks: number; started: number; terminated: number; lastTimer?: { isPastDue: boolean } };
const state = () => (globalThis as unknown as { __sampleApp: SampleState }).__sampleApp;

describe('local host with a sample app', () => {
  let host: LocalHost;
  const lines: string[] = [];
  beforeAll(async () => {
    host = await startLocalHost({
      entries: [join(__dirname, '..', 'fixtures', 'sample-app.cjs')],
      port: 0,
      // A folder without host.json: the Functions default routePrefix `api` (the app's own
      // host.json has an empty prefix so the console can live at /console/).
      appRoot: join(__dirname, '..', 'fixtures'),
      log: (l) => lines.push(l),
    });
  });
  afterAll(async () => {
    await host.close();
    expect(state().terminated).toBe(1);
  });

  it('receives every registration through @azure/functions with its trigger metadata', () => {
    const byName = Object.fromEntries(host.registrations.map((r) => [r.name, r.trigger]));
    expect(byName.echo).toMatchObject({ type: 'httpTrigger', route: 'echo/{name}/{*rest}', methods: ['POST'] });
    expect(byName.tick).toMatchObject({ type: 'timerTrigger', schedule: '*/1 * * * * *' });
    expect(byName.feedWatcher).toMatchObject({ type: 'cosmosDBTrigger', containerName: 'tenant-x' });
    expect(state().started).toBe(1);
    expect(lines.join('\n')).toContain('echo: [POST] http://localhost:');
    expect(lines.join('\n')).toContain('tick: timerTrigger (*/1 * * * * *)');
  });

  it('runs timers on startup and on their schedule', async () => {
    const before = state().ticks;
    expect(before).toBeGreaterThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 2200));
    expect(state().ticks).toBeGreaterThanOrEqual(before + 1);
    expect(state().lastTimer).toMatchObject({ isPastDue: false });
  });

  it('routes with parameters, catch-all and query, and returns headers', async () => {
    const res = await fetch(`${host.url}/api/echo/Alice/a/b%20c?q=1`, { method: 'POST', body: 'hello' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-echo')).toBe('yes');
    expect(await res.json()).toEqual({ name: 'Alice', rest: 'a/b c', q: '1', body: 'hello', fn: 'echo' });
  });

  it('prefers a literal route over a parameter route', async () => {
    const res = await fetch(`${host.url}/api/echo/fixed`);
    expect(await res.text()).toBe('fixed');
  });

  it('streams large request bodies to the handler and large responses back', async () => {
    const size = 32 * 1024 * 1024;
    const res = await fetch(`${host.url}/api/count`, { method: 'PUT', body: new Uint8Array(size) });
    expect(await res.json()).toEqual({ bytes: size });
    const down = await fetch(`${host.url}/api/stream/256`);
    expect((await down.arrayBuffer()).byteLength).toBe(256 * 65536);
  });

  it('keeps an idle keep-alive connection open past Node\'s 5 s default, so a client reusing it is not cut off ("other side closed")', async () => {
    // One socket (maxSockets 1), kept by the client for longer than Node's default server
    // keep-alive; the second request must go over the same socket and succeed.
    const agent = new Agent({ keepAlive: true, maxSockets: 1, timeout: 60_000 });
    const get = () =>
      new Promise<{ status: number; port: number; keepAlive: string }>((resolve, reject) => {
        const req = request(`${host.url}/api/echo/fixed`, { agent }, (res) => {
          res.resume();
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, port: req.socket?.localPort ?? -1, keepAlive: String(res.headers['keep-alive']) }),
          );
        });
        req.on('error', reject);
        req.end();
      });
    try {
      const first = await get();
      expect(first.status).toBe(200);
      expect(first.keepAlive).toBe('timeout=130');
      await new Promise((r) => setTimeout(r, 6_000));
      const second = await get();
      expect(second.status).toBe(200);
      expect(second.port).toBe(first.port);
    } finally {
      agent.destroy();
    }
  }, 20_000);

  it('writes a plain text or byte answer exactly as the same answer wrapped in an HttpResponse', async () => {
    const seen = (res: Response) => {
      const headers: Record<string, string> = {};
      res.headers.forEach((v, k) => {
        // Framing and per-answer headers differ by design (Content-Length instead of chunked).
        if (!['date', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'x-correlation-id'].includes(k)) headers[k] = v;
      });
      return headers;
    };
    for (const kind of ['text', 'json', 'bytes', 'empty', 'nocontent', 'repeated', 'cookies', 'numeric', 'badheader']) {
      for (const method of ['GET', 'HEAD']) {
        const plain = await fetch(`${host.url}/api/answer/${kind}/plain`, { method });
        const wrapped = await fetch(`${host.url}/api/answer/${kind}/wrapped`, { method });
        const label = `${method} ${kind}`;
        expect(plain.status, label).toBe(wrapped.status);
        if (kind === 'badheader') {
          // Refused before anything is written: the host's 500 (its body names the request's correlation id).
          expect(plain.status, label).toBe(500);
          continue;
        }
        const body = Buffer.from(await plain.arrayBuffer());
        expect(body.equals(Buffer.from(await wrapped.arrayBuffer())), label).toBe(true);
        expect(seen(plain), label).toEqual(seen(wrapped));
        if (method === 'GET' && kind !== 'nocontent' && kind !== 'empty')
          expect(plain.headers.get('content-length'), label).toBe(String(body.length));
      }
    }
    const text = await fetch(`${host.url}/api/answer/text/plain`);
    expect(text.headers.get('content-type')).toBe('text/plain;charset=UTF-8');
    expect(await text.text()).toBe('plain text');
    const repeated = await fetch(`${host.url}/api/answer/repeated/plain`);
    expect(repeated.headers.get('x-multi')).toBe('a, b');
    expect(repeated.headers.get('x-spaced')).toBe('padded');
    expect((await fetch(`${host.url}/api/answer/cookies/plain`)).headers.get('set-cookie')).toBe('c1=v1');
    expect((await fetch(`${host.url}/api/answer/nocontent/plain`)).headers.get('x-kept')).toBe('yes');
  });

  it('enforces route constraints and methods', async () => {
    expect((await fetch(`${host.url}/api/stream/abc`)).status).toBe(404);
    expect((await fetch(`${host.url}/api/count`, { method: 'GET' })).status).toBe(405);
    expect((await fetch(`${host.url}/elsewhere`)).status).toBe(404);
  });
});

describe('route templates', () => {
  it('matches like the Functions host', () => {
    expect(matchRoute(compileRoute('t/{tenant}/users/{id}'), '/T/acme/Users/u1')).toEqual({ tenant: 'acme', id: 'u1' });
    expect(matchRoute(compileRoute('t/{tenant}/users/{id}'), '/t/acme/users')).toBeUndefined();
    expect(matchRoute(compileRoute('t/{tenant}/users/{id?}'), '/t/acme/users')).toEqual({ tenant: 'acme' });
    expect(matchRoute(compileRoute('files/{*path}'), '/files/a/b')).toEqual({ path: 'a/b' });
    expect(matchRoute(compileRoute('n/{n:int}'), '/n/12')).toEqual({ n: '12' });
    expect(matchRoute(compileRoute('n/{n:int}'), '/n/x')).toBeUndefined();
    // Segments are decoded once: literals compare case-insensitively, an encoded slash stays in its segment.
    expect(matchRoute(compileRoute('t/{tenant}/files/{id}'), '/t/a%20b/F%69les/c%2Fd')).toEqual({ tenant: 'a b', id: 'c/d' });
    expect(matchRoute(compileRoute('files/{*path}'), '/files/a%2Fb/c')).toEqual({ path: 'a/b/c' });
  });
});
