/**
 * `npm start`: runs the whole service on this machine with its embedded defaults (one
 * encrypted libSQL file per tenant, local keys, Azurite for Blob) — no Azure account, no
 * Docker, no Core Tools. Ctrl-C stops it cleanly.
 */
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ConfigError, loadConfig } from '../shared/config';
import { closeServices, getServices } from '../shared/config/services';
import { custodyNotice } from '../shared/app/recovery/custody-notice';
import { startAzuriteBlob, type RunningBlob } from './azurite';
import type { RunningCosmosStandin } from './cosmos-standin';
import { startLocalHost } from './local-host';

async function main(): Promise<void> {
  const appRoot = resolve(__dirname, '..', '..');
  const config = loadConfig();
  const log = (l: string) => process.stdout.write(`${l}\n`);
  log(`tenant-ledger local host — data in ${config.dataDir}`);

  let blob: RunningBlob | undefined;
  if (config.localBlob.enabled) {
    blob = await startAzuriteBlob(join(config.dataDir, 'azurite'), config.localBlob.port);
    log(`Azurite Blob service at ${blob.url}`);
  }
  let cosmos: RunningCosmosStandin | undefined;
  if (config.store.kind === 'cosmos' && config.store.standin) {
    // STORE=cosmos-standin: the Azure data path (Cosmos adapter, change feed) on this machine.
    const { startLocalCosmos } = await import('./cosmos-standin');
    cosmos = await startLocalCosmos(config.store.standin.port, config.store.database);
    log(`Cosmos DB change-feed stand-in at ${cosmos.endpoint} (in memory: its data is gone when the host stops)`);
  }
  const services = await getServices();
  if (services.generatedOperatorKeyPath) {
    const rel = relative(process.cwd(), services.generatedOperatorKeyPath);
    log(`Generated an operator key: ${rel.startsWith('..') ? services.generatedOperatorKeyPath : rel} (mode 0600)`);
  }
  const shownDataDir = relative(process.cwd(), config.dataDir);
  for (const line of custodyNotice(services.custody, shownDataDir && !shownDataDir.startsWith('..') ? shownDataDir : config.dataDir))
    log(line);
  const pkg = JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8')) as { main: string };
  const host = await startLocalHost({ entries: [join(appRoot, pkg.main)], port: config.port, appRoot, log });
  log(`Host started on ${host.url}. Press Ctrl-C to stop.`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`\n${signal} received, stopping…`);
    await host.close();
    await closeServices();
    await blob?.close();
    await cosmos?.close();
    log('Stopped.');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((e: unknown) => {
  if (e instanceof ConfigError) process.stderr.write(`${e.message}\n`);
  else process.stderr.write(`Failed to start: ${(e as Error)?.stack ?? e}\n`);
  process.exit(1);
});
