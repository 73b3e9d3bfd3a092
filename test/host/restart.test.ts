import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, expect, it } from 'vitest';
import { freePort, startHostProcess } from '../support/host-process';

const dir = mkdtempSync(join(tmpdir(), 'restart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }));

it('npm start: Azurite starts with the host, data survives a restart, Ctrl-C stops cleanly', async () => {
  const blobPort = await freePort();
  const env = { LOCAL_BLOB: 'azurite', AZURITE_BLOB_PORT: String(blobPort) };
  const first = await startHostProcess(env, dir);
  try {
    expect(first.output()).toMatch(/Generated an operator key/);
    expect(statSync(join(dir, 'operator.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'master.key')).mode & 0o777).toBe(0o600);
    const created = await fetch(`${first.url}/api/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${first.operatorKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'persist', name: 'P', admin: { email: 'a@p.test', password: 'a long enough password' } }),
    });
    expect(created.status).toBe(201);
    const blobs = BlobServiceClient.fromConnectionString(
      `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:${blobPort}/devstoreaccount1;`,
    );
    const container = blobs.getContainerClient('restart-check');
    await container.create();
    await container.getBlockBlobClient('hello.txt').upload('hi', 2);
  } finally {
    expect(await first.stop()).toBe(0);
  }
  // The child's 'exit' can come before the last of its output has been read from the pipe.
  await expect.poll(() => first.output(), { timeout: 10_000 }).toContain('Stopped.');

  const second = await startHostProcess(env, dir);
  try {
    expect(second.output()).not.toMatch(/Generated an operator key/);
    expect(second.operatorKey).toBe(first.operatorKey);
    const login = await fetch(`${second.url}/api/t/persist/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'a@p.test', password: 'a long enough password' }),
    });
    expect(login.status).toBe(200);
    const blobs = BlobServiceClient.fromConnectionString(
      `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:${blobPort}/devstoreaccount1;`,
    );
    const text = await (await blobs.getContainerClient('restart-check').getBlockBlobClient('hello.txt').downloadToBuffer()).toString();
    expect(text).toBe('hi');
  } finally {
    expect(await second.stop()).toBe(0);
  }
});
