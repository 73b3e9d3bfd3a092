import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, startHostProcess, type HostProcess } from '../support/host-process';
import { client } from '../support/http-client';

/**
 * A 1 GiB upload and download through the local host (what `npm start` runs), with the
 * host's peak memory growth reported. The plaintext is generated and hashed on the fly, so
 * neither side ever holds the file.
 */
const GiB = 1024 * 1024 * 1024;
const CHUNK = 1024 * 1024;
let host: HostProcess;
const call = client(() => host.url);

function rssKiB(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { rss: get('VmRSS'), hwm: get('VmHWM') };
}

/** Deterministic pseudo-random chunk i (cheap to regenerate, not compressible). */
function chunk(i: number): Buffer {
  const seed = createHash('sha256').update(String(i)).digest();
  const b = Buffer.allocUnsafe(CHUNK);
  for (let o = 0; o < CHUNK; o += 32) {
    seed.copy(b, o, 0, Math.min(32, CHUNK - o));
    seed[0] = (seed[0]! + 1) & 255;
  }
  return b;
}

beforeAll(async () => {
  const blobPort = await freePort();
  host = await startHostProcess({ LOCAL_BLOB: 'azurite', AZURITE_BLOB_PORT: String(blobPort) });
}, 60_000);
afterAll(async () => {
  await host?.stop();
  host?.cleanup();
});

it('streams a 1 GiB file up and down with flat memory', async () => {
  const PW = 'correct horse battery';
  await call('POST', '/api/tenants', {
    token: host.operatorKey,
    body: { id: 'big', name: 'big', admin: { email: 'a@big.test', password: PW } },
  });
  const token = (await call('POST', '/api/t/big/auth/token', { body: { email: 'a@big.test', password: PW } })).json.access_token as string;
  await call('PUT', '/api/t/big/types/doc', { token, body: { type: 'object' } });
  const rec = await call('POST', '/api/t/big/records/doc', { token, body: { t: 1 } });
  const baseline = rssKiB(host.pid);

  const upHash = createHash('sha256');
  let i = 0;
  const started = Date.now();
  const up = await fetch(`${host.url}/api/t/big/records/doc/${rec.json.id}/files`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/octet-stream',
      'x-file-name': 'big.bin',
      'content-length': String(GiB),
    },
    body: new ReadableStream({
      pull(c) {
        if (i === GiB / CHUNK) return c.close();
        const b = chunk(i++);
        upHash.update(b);
        c.enqueue(b);
      },
    }),
    duplex: 'half',
  } as RequestInit);
  const upMs = Date.now() - started;
  const body = (await up.json()) as { fileId: string; size: number; sha256: string };
  expect(up.status, JSON.stringify(body)).toBe(201);
  const expected = upHash.digest('hex');
  expect(body).toMatchObject({ size: GiB, sha256: expected });
  const afterUp = rssKiB(host.pid);

  const t2 = Date.now();
  const down = await fetch(`${host.url}/api/t/big/records/doc/${rec.json.id}/files/${body.fileId}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(down.status).toBe(200);
  const downHash = createHash('sha256');
  let n = 0;
  for await (const part of down.body as unknown as AsyncIterable<Uint8Array>) {
    downHash.update(part);
    n += part.byteLength;
  }
  const downMs = Date.now() - t2;
  const afterDown = rssKiB(host.pid);
  expect(n).toBe(GiB);
  expect(downHash.digest('hex')).toBe(expected);

  const growthMiB = (afterDown.hwm - baseline.rss) / 1024;
  console.log(
    `1 GiB through the local host: upload ${upMs} ms (${((1024 / upMs) * 1000).toFixed(0)} MiB/s), download ${downMs} ms (${((1024 / downMs) * 1000).toFixed(0)} MiB/s); ` +
      `host RSS ${(baseline.rss / 1024).toFixed(0)} MiB before, peak ${(afterDown.hwm / 1024).toFixed(0)} MiB (growth ${growthMiB.toFixed(0)} MiB; after upload ${(afterUp.hwm / 1024).toFixed(0)} MiB)`,
  );
  // A memory bound, not a timing: the file is 1024 MiB; buffering it would show here.
  expect(growthMiB).toBeLessThan(256);
}, 600_000);
