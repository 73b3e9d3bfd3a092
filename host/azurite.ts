import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

export const AZURITE_ACCOUNT = 'devstoreaccount1';
/** Azurite's well-known development key (public, documented by Microsoft; not a secret). */
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface RunningBlob {
  url: string;
  connectionString: string;
  close(): Promise<void>;
}

/**
 * Starts Azurite's Blob service in this process, persisting under `dir`. Azurite's main
 * entry pulls in VS Code, so the server and configuration classes are deep-imported.
 * Azurite is a development dependency (it never ships to Azure): without it (an install with
 * `--omit=dev`) this fails with a message naming the fix.
 */
export async function startAzuriteBlob(dir: string, port: number, host = '127.0.0.1'): Promise<RunningBlob> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let BlobServer: new (config: unknown) => { start(): Promise<unknown>; close(): Promise<void> };
  let BlobConfiguration: new (...args: unknown[]) => unknown;
  try {
    BlobServer = require('azurite/dist/src/blob/BlobServer').default;
    BlobConfiguration = require('azurite/dist/src/blob/BlobConfiguration').default;
  } catch (e) {
    if ((e as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw e;
    throw new Error(
      'Azurite is not installed: it is a development dependency, so install with `npm install` (not --omit=dev), or set LOCAL_BLOB=off to run without the local Azure backup tier.',
    );
  }
  const config = new BlobConfiguration(
    host,
    port,
    undefined,
    join(dir, '__azurite_db_blob__.json'),
    join(dir, '__azurite_db_blob_extent__.json'),
    [{ locationId: 'Default', locationPath: join(dir, '__blobstorage__'), maxConcurrency: 10 }],
    false, // access log
    undefined,
    false, // debug log
    undefined,
    false, // loose
    true, // skipApiVersionCheck: recent SDKs send versions this Azurite does not know yet
  );
  const server = new BlobServer(config);
  await server.start();
  const url = `http://${host}:${port}/${AZURITE_ACCOUNT}`;
  return {
    url,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${url};`,
    close: () => server.close(),
  };
}
