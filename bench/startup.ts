/**
 * Bench phase `startup` (`npm run bench -- startup`; also the end of a full run):
 * - cold start: `require('dist/functions/index.js')` in fresh child processes
 *   (bench/cold-start-probe.ts) with the Azure configuration of infra/app/api.bicep pointed at
 *   local stand-ins (Cosmos DB server, Azurite, an Application Insights ingestion stand-in),
 *   without and with telemetry, and side by side the same start with every adapter module
 *   required up front (what the entry point did before adapters were loaded on demand);
 *   rounds alternate between the variants;
 * - the deployment package (bench/package-size.ts): files and MiB uploaded, production
 *   dependencies as installed.
 */
import { selfSignedCertificate } from '../host/self-signed';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHttpServer } from '@vercel/cosmosdb-server';
import { startAzuriteBlob } from '../host/azurite';
import type { ProbeResult } from './cold-start-probe';
import { fmt, type Metric } from './lib';
import { measurePackage } from './package-size';
import { startStandin, type Standin } from './telemetry';

export const STARTUP_BENCH = { rounds: 7 };

const EMULATOR_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';
const MiB = 1024 * 1024;

interface Variant {
  name: string;
  env: Record<string, string>;
  args: string[];
  runs: ProbeResult[];
}

function probe(appRoot: string, env: Record<string, string>, args: string[]): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(appRoot, 'dist', 'bench', 'cold-start-probe.js'), ...args],
      { cwd: appRoot, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 120_000 },
      (error, stdout, stderr) => {
        try {
          const r = JSON.parse(stdout.trim().split('\n').pop() ?? '') as ProbeResult;
          if (r.error) throw new Error(r.error);
          resolve(r);
        } catch (e) {
          reject(new Error(`cold-start probe failed (${error?.message ?? (e as Error).message}):\n${stdout}\n${stderr}`));
        }
      },
    );
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

export async function benchStartup(appRoot: string, say: (line?: string) => void, cfg = STARTUP_BENCH): Promise<Metric[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'tenant-ledger-bench-startup-'));
  const cosmos = createHttpServer();
  let standin: Standin | undefined;
  let blob: Awaited<ReturnType<typeof startAzuriteBlob>> | undefined;
  try {
    await new Promise<void>((resolve) => cosmos.listen(0, '127.0.0.1', () => resolve()));
    const cosmosEndpoint = `http://127.0.0.1:${(cosmos.address() as AddressInfo).port}`;
    blob = await startAzuriteBlob(join(tmp, 'azurite'), await freePort());
    const tls = selfSignedCertificate(tmp);
    standin = await startStandin(appRoot, tls.keyPath, tls.certPath);
    const ingest = `https://127.0.0.1:${standin.port}/`;

    const azure: Record<string, string> = {
      DATA_DIR: join(tmp, 'data'),
      STORE: 'cosmos',
      COSMOS_ENDPOINT: cosmosEndpoint,
      COSMOS_KEY: EMULATOR_KEY,
      KEY_PROVIDER: 'keyvault',
      KEY_VAULT_URL: 'https://127.0.0.1:9/',
      BLOB_CONNECTION_STRING: blob.connectionString,
      OPERATOR_AUTH: 'oidc',
      OPERATOR_OIDC_ISSUER: 'https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0',
      OPERATOR_OIDC_AUDIENCE: 'api://tenant-ledger',
      BACKUP_LOCAL_FALLBACK: 'off',
      BACKUP_AZURE_CONNECTION_STRING: blob.connectionString,
      LOCAL_BLOB: 'off',
    };
    const telemetry = {
      ...azure,
      APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=${ingest};LiveEndpoint=${ingest}`,
      APPLICATIONINSIGHTS_STATSBEAT_DISABLED: 'true',
      NODE_EXTRA_CA_CERTS: tls.certPath,
    };
    const variants: Variant[] = [
      { name: 'azure', env: azure, args: [], runs: [] },
      { name: 'azure_eager', env: azure, args: ['--eager'], runs: [] },
      { name: 'azure_telemetry', env: telemetry, args: [], runs: [] },
      { name: 'azure_services', env: azure, args: ['--services'], runs: [] },
    ];
    say(
      `[startup] cold start: require('dist/functions/index.js') in a fresh child process, Azure settings at local stand-ins; ${cfg.rounds} alternating rounds of ${variants.map((v) => v.name).join(', ')}…`,
    );
    for (let round = 0; round < cfg.rounds; round++) {
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) v.runs.push(await probe(appRoot, v.env, v.args));
    }

    const metrics: Metric[] = [];
    const label: Record<string, string> = {
      azure: 'Azure settings, no telemetry (adapters on demand)',
      azure_eager: 'same, every adapter required up front (before)',
      azure_telemetry: 'Azure settings + Application Insights',
      azure_services: 'no telemetry, then the services created',
    };
    say('');
    say('  variant                                             require p50   min      modules  after services');
    for (const v of variants) {
      const ms = v.runs.map((r) => r.requireMs);
      const p50 = median(ms);
      const services = v.runs[0]?.servicesMs !== undefined ? median(v.runs.map((r) => r.servicesMs!)) : undefined;
      say(
        `  ${label[v.name]!.padEnd(52)} ${fmt(p50).padStart(8)} ms ${fmt(Math.min(...ms)).padStart(7)} ms ${String(v.runs[0]!.modules).padStart(8)}  ${
          services !== undefined ? `+${fmt(services)} ms, ${v.runs[0]!.servicesModules} modules` : ''
        }`,
      );
      metrics.push({ name: `startup_${v.name}_require_p50`, value: p50, unit: 'ms' });
      metrics.push({ name: `startup_${v.name}_modules`, value: v.runs[0]!.modules, unit: 'modules' });
      if (services !== undefined) {
        metrics.push({ name: `startup_${v.name}_create_p50`, value: services, unit: 'ms' });
        metrics.push({ name: `startup_${v.name}_modules_after_create`, value: v.runs[0]!.servicesModules!, unit: 'modules' });
      }
    }
    const p = (name: string) => median(variants.find((v) => v.name === name)!.runs.map((r) => r.requireMs));
    const ratios = [
      { name: 'ratio_startup_eager_vs_on_demand', value: p('azure_eager') / p('azure'), what: 'every adapter up front / on demand' },
      { name: 'ratio_startup_telemetry_vs_none', value: p('azure_telemetry') / p('azure'), what: 'with telemetry / without' },
    ];
    for (const r of ratios) {
      say(`  ratio ${r.what}: ${fmt(r.value)}×`);
      metrics.push({ name: r.name, value: r.value, unit: 'x' });
    }

    const size = measurePackage(appRoot);
    say('');
    say(
      `[startup] deployment package (.funcignore, remoteBuild): ${size.upload.files} files, ${fmt(size.upload.bytes / MiB)} MiB uploaded; production dependencies as installed: ${size.dependencies.files} files, ${fmt(size.dependencies.bytes / MiB)} MiB (largest: ${size.largest
        .slice(0, 5)
        .map((l) => `${l.name} ${fmt(l.bytes / MiB)}`)
        .join(', ')})`,
    );
    metrics.push({ name: 'startup_package_upload', value: size.upload.bytes / MiB, unit: 'MiB' });
    metrics.push({ name: 'startup_package_upload_files', value: size.upload.files, unit: 'files' });
    metrics.push({ name: 'startup_package_dependencies', value: size.dependencies.bytes / MiB, unit: 'MiB' });
    metrics.push({ name: 'startup_package_dependencies_files', value: size.dependencies.files, unit: 'files' });
    return metrics;
  } finally {
    await standin?.stop();
    await blob?.close();
    cosmos.closeAllConnections();
    await new Promise<void>((resolve) => cosmos.close(() => resolve()));
    rmSync(tmp, { recursive: true, force: true });
  }
}
