/**
 * CORS in the local host, as the Function App's CORS setting does it in Azure: browsers from
 * CORS_ALLOWED_ORIGINS get their preflights answered and may read the answers; any other
 * origin is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHostProcess, type HostProcess } from '../support/host-process';

const ALLOWED = 'https://app.example.com';
const LOCAL_DEV = 'http://localhost:5173';
let host: HostProcess;

beforeAll(async () => {
  host = await startHostProcess({ CORS_ALLOWED_ORIGINS: `${ALLOWED}, ${LOCAL_DEV}`, BACKUP_LOCAL_FALLBACK: 'off' });
});

afterAll(async () => {
  await host?.stop();
  host?.cleanup();
});

function preflight(path: string, origin: string, method: string, headers = 'authorization, content-type, if-match'): Promise<Response> {
  return fetch(`${host.url}${path}`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
  });
}

describe('CORS (CORS_ALLOWED_ORIGINS)', () => {
  it('answers a preflight from an allowed origin with 204, the origin, the route methods and the asked headers', async () => {
    const res = await preflight('/api/t/acme/records/invoice', ALLOWED, 'POST');
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(res.headers.get('vary')).toContain('Origin');
    const methods = (res.headers.get('access-control-allow-methods') ?? '').split(/,\s*/);
    expect(methods).toEqual(expect.arrayContaining(['GET', 'POST']));
    expect(res.headers.get('access-control-allow-headers')).toBe('authorization, content-type, if-match');
    // The second configured origin is allowed too.
    const dev = await preflight('/api/health', LOCAL_DEV, 'GET');
    expect(dev.status).toBe(204);
    expect(dev.headers.get('access-control-allow-origin')).toBe(LOCAL_DEV);
  });

  it('refuses a preflight from any other origin (403, no CORS headers), and gives it nothing to read', async () => {
    for (const origin of ['https://evil.example', 'https://app.example.com.evil.example', 'http://app.example.com']) {
      const res = await preflight('/api/t/acme/records/invoice', origin, 'POST');
      expect(res.status, origin).toBe(403);
      expect(res.headers.get('access-control-allow-origin'), origin).toBeNull();
      expect(res.headers.get('access-control-allow-methods'), origin).toBeNull();
    }
    const get = await fetch(`${host.url}/api/health`, { headers: { origin: 'https://evil.example' } });
    expect(get.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('lets an allowed origin read the answer and the headers a client needs (ETag, correlation id)', async () => {
    const res = await fetch(`${host.url}/api/health`, { headers: { origin: ALLOWED } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase();
    for (const h of ['etag', 'location', 'x-correlation-id']) expect(exposed).toContain(h);
    // Errors the host answers itself carry it too, so the browser can show them.
    const missing = await fetch(`${host.url}/api/no-such-function`, { headers: { origin: ALLOWED } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('access-control-allow-origin')).toBe(ALLOWED);
  });
});
