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
import { warmUp } from './warm-up';

/** A port the host needs is taken: said in one line with the setting that changes it, no stack. */
class PortInUse extends Error {
  override readonly name = 'PortInUse';
}

/** Runs `start`; a port conflict (EADDRINUSE) becomes a PortInUse naming the port and its setting. */
async function onPort<T>(what: string, port: number, setting: string, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (e) {
    if ((e as NodeJS.ErrnoException)?.code !== 'EADDRINUSE') throw e;
    throw new PortInUse(
      `Port ${port} (${what}) is already in use by another process (another \`npm start\` or \`func start\`, or Azurite?). Stop it, or choose another port with ${setting}, e.g. ${setting}=${port + 1} npm start.`,
    );
  }
}

async function main(): Promise<void> {
  const appRoot = resolve(__dirname, '..', '..');
  const config = loadConfig();
  const log = batchedStdout();
  log(`tenant-ledger local host — data in ${config.dataDir}`);

  let blob: RunningBlob | undefined;
  if (config.localBlob.enabled) {
    const port = config.localBlob.port;
    blob = await onPort('the local Azurite Blob service', port, 'AZURITE_BLOB_PORT', () =>
      startAzuriteBlob(join(config.dataDir, 'azurite'), port),
    );
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
  const host = await onPort('the local host', config.port, 'PORT', () =>
    startLocalHost({
      entries: [join(appRoot, pkg.main)],
      port: config.port,
      appRoot,
      log,
      maxRequestBodyBytes: config.requestBodyLimitBytes,
      corsAllowedOrigins: config.corsAllowedOrigins,
      disabledFunctions: config.disabledFunctions,
    }),
  );
  // One-time costs of a fresh process (first encrypted open, first token check, the HTTP
  // pipeline) paid now, on nobody's data, rather than by the first request (warm-up.ts).
  await warmUp({ url: host.url, log });
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

/**
 * The host's log lines, written to stdout once per turn of the event loop (all the lines of
 * that turn in one write) instead of one synchronous write per line: stdout is synchronous for
 * files and pipes on Linux, so a write per request line cost every request a system call on the
 * shared loop. Lines keep their order; whatever is pending is written when the process exits
 * (process.exit and uncaught failures included). Only a kill -9 can lose the last turn's lines,
 * which are diagnostics: the audit trail is the tenant's log, written before any answer.
 */
function batchedStdout(): (line: string) => void {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    process.stdout.write(text);
  };
  process.on('exit', flush);
  return (line: string) => {
    pending.push(`${line}\n`);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

main().catch((e: unknown) => {
  if (e instanceof ConfigError || e instanceof PortInUse) process.stderr.write(`${e.message}\n`);
  else process.stderr.write(`Failed to start: ${(e as Error)?.stack ?? e}\n`);
  process.exit(1);
});
