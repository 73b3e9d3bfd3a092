import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { warmUp } from '../../host/warm-up';

/**
 * The host's start-up warm-up (issue 11): the one-time costs of a fresh process are paid before
 * "Host started", on material that belongs to no tenant, and nothing is left behind.
 */
describe('host warm-up', () => {
  let scratch: string;
  let server: Server;
  let url: string;
  let seen: string[];

  beforeEach(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'warm-up-test-'));
    seen = [];
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.setHeader('content-type', 'application/json');
      res.end('{"status":"ok"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(scratch, { recursive: true, force: true });
  });

  it('runs every step once (an encrypted throwaway store, a token, the ciphers, one GET /api/health) and leaves no file behind', async () => {
    const logged: string[] = [];
    const report = await warmUp({ url, scratchDir: scratch, log: (l) => logged.push(l) });
    expect(report).toEqual([
      { step: 'store', ok: true },
      { step: 'tokens', ok: true },
      { step: 'ciphers', ok: true },
      { step: 'http', ok: true },
    ]);
    expect(logged).toEqual([]);
    expect(seen).toEqual(['GET /api/health']);
    // The throwaway database's folder is gone.
    expect(readdirSync(scratch)).toEqual([]);
  });

  it('a step that fails is reported and the others still run: the host starts anyway', async () => {
    const logged: string[] = [];
    const report = await warmUp({ url, scratchDir: join(scratch, 'missing'), log: (l) => logged.push(l) });
    expect(report).toEqual([
      { step: 'store', ok: false },
      { step: 'tokens', ok: true },
      { step: 'ciphers', ok: true },
      { step: 'http', ok: true },
    ]);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/Warm-up step "store" failed/);
  });
});
