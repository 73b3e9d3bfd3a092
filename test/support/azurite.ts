import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startAzuriteBlob } from '../../host/azurite';
import { freePort } from './net';

export interface AzuriteTestServer {
  connectionString: string;
  /** http://127.0.0.1:PORT/devstoreaccount1 */
  url: string;
  /** Stops the server and removes its temp folder. */
  close(): Promise<void>;
}

/**
 * Azurite's Blob service in this process, on 127.0.0.1 and a free port, persisting in a
 * fresh temp folder (removed on close). Another process may take the port between the probe
 * and Azurite's listen: that is retried with a new port.
 */
export async function startAzurite(): Promise<AzuriteTestServer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'azurite-'));
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    try {
      const blob = await startAzuriteBlob(path.join(dir, 'data'), port);
      return {
        connectionString: blob.connectionString,
        url: blob.url,
        close: async () => {
          try {
            await blob.close();
          } finally {
            await fs.rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
          }
        },
      };
    } catch (e) {
      lastError = e;
      if ((e as { code?: unknown }).code !== 'EADDRINUSE') break;
    }
  }
  await fs.rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  throw lastError;
}
