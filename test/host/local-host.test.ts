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
      appRoot: join(__dirname, '..', '..'),
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
  });
});
