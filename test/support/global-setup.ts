import { execFileSync } from 'node:child_process';

/**
 * The end-to-end tests run the compiled local host, exactly as `npm start` does. Built once
 * per run, also when several vitest projects (embedded, cosmos-e2e) each list this setup.
 */
export default function setup(): void {
  if (process.env.TENANT_LEDGER_TEST_BUILT === String(process.pid)) return;
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  process.env.TENANT_LEDGER_TEST_BUILT = String(process.pid);
}
