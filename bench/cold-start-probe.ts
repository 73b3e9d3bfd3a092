/**
 * One cold start, in a fresh child process (`node dist/bench/cold-start-probe.js`): provides
 * `@azure/functions-core` as the Azure Functions worker does (host/functions-core.ts), then
 * times `require('dist/functions/index.js')`, the app's entry point. The service's configuration
 * comes from the environment, as in Azure. Prints one JSON line (`ProbeResult`) on stdout.
 *
 * Arguments:
 * - --services: also create the services (getServices) and report the packages loaded by then;
 *   --list: then list the tenants through the configured store.
 * - --block=a,b: make these packages unresolvable, as when a package was built without them
 *   (e.g. `libsql`, whose Linux binary is missing from a package built elsewhere).
 * - --eager: require every adapter module before the entry point, which is what the entry
 *   point did before adapters were loaded on demand (the bench's side-by-side baseline).
 *
 * Used by `npm run bench` (bench/startup.ts) and by test/config/lazy-loading.test.ts.
 */
import Module = require('node:module');
import { join } from 'node:path';

export interface ProbeResult {
  requireMs: number;
  /** Modules in require.cache after the entry point loaded. */
  modules: number;
  /** Functions registered with @azure/functions-core. */
  functions: number;
  /** Packages (node_modules names) loaded after the entry point. */
  packages: string[];
  /** With PROBE_SERVICES: time to create the services, and the packages loaded by then. */
  servicesMs?: number;
  servicesModules?: number;
  servicesPackages?: string[];
  tenants?: number;
  error?: string;
}

const DIST = join(__dirname, '..');

/** Every adapter module (what the entry point loaded before adapters were loaded on demand). */
const ADAPTER_MODULES = [
  'shared/adapters/embedded/embedded-tenant-directory',
  'shared/adapters/embedded/local-key-provider',
  'shared/adapters/embedded/operator-key',
  'shared/adapters/embedded/folder-blob-store',
  'shared/adapters/cosmos/arm-container-admin',
  'shared/adapters/cosmos/container-admin',
  'shared/adapters/cosmos/cosmos-tenant-directory',
  'shared/adapters/keyvault/keyvault-key-provider',
  'shared/adapters/oidc/oidc-operator-auth',
  'shared/adapters/backup/blob-backup-target',
  'shared/adapters/backup/folder-backup-target',
  'shared/adapters/backup/s3-backup-target',
  'shared/adapters/blob/azure-blob-store',
];

function packagesLoaded(): string[] {
  const names = new Set<string>();
  for (const file of Object.keys(require.cache)) {
    const i = file.lastIndexOf('/node_modules/');
    if (i < 0) continue;
    const parts = file.slice(i + '/node_modules/'.length).split('/');
    names.add(parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? ''));
  }
  return [...names].sort();
}

async function main(): Promise<ProbeResult> {
  const args = process.argv.slice(2);
  const flag = (name: string) => args.includes(`--${name}`);
  const blocked = (args.find((a) => a.startsWith('--block='))?.slice('--block='.length) ?? '').split(',').filter(Boolean);
  if (blocked.length) {
    const M = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
    const original = M._resolveFilename;
    M._resolveFilename = function (request: string, ...rest: unknown[]) {
      if (blocked.some((b) => request === b || request.startsWith(`${b}/`)))
        throw Object.assign(new Error(`Cannot find module '${request}' (blocked by the probe)`), { code: 'MODULE_NOT_FOUND' });
      return original.call(this, request, ...rest);
    };
  }
  const { installFunctionsCore } = require(join(DIST, 'host/functions-core')) as typeof import('../host/functions-core');
  const shim = installFunctionsCore();

  const started = process.hrtime.bigint();
  if (flag('eager')) for (const m of ADAPTER_MODULES) require(join(DIST, m));
  require(join(DIST, 'functions/index.js'));
  const requireMs = Number(process.hrtime.bigint() - started) / 1e6;
  const result: ProbeResult = {
    requireMs,
    modules: Object.keys(require.cache).length,
    functions: shim.registrations.length,
    packages: packagesLoaded(),
  };
  if (flag('services')) {
    const services = require(join(DIST, 'shared/config/services')) as typeof import('../shared/config/services');
    const t = process.hrtime.bigint();
    try {
      const s = await services.getServices();
      result.servicesMs = Number(process.hrtime.bigint() - t) / 1e6;
      if (flag('list')) result.tenants = (await s.directory.listTenantIds()).length;
      await services.closeServices();
    } catch (e) {
      result.error = (e as Error)?.message ?? String(e);
    }
    result.servicesModules = Object.keys(require.cache).length;
    result.servicesPackages = packagesLoaded();
  }
  return result;
}

main().then(
  (r) => {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.exit(0);
  },
  (e: unknown) => {
    process.stdout.write(`${JSON.stringify({ error: (e as Error)?.stack ?? String(e) })}\n`);
    process.exit(1);
  },
);
