import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

/**
 * The end-to-end tests run the compiled local host, exactly as `npm start` does. Built once
 * per run, also when several vitest projects (embedded, cosmos-e2e) each list this setup.
 * dist/ is emptied first: a module that became a folder (shared/app/records.ts →
 * records/index.ts) would otherwise still resolve to its stale compiled file.
 */
export default function setup(): void {
  if (process.env.TENANT_LEDGER_TEST_BUILT === String(process.pid)) return;
  rmSync('dist', { recursive: true, force: true });
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  process.env.TENANT_LEDGER_TEST_BUILT = String(process.pid);
}
