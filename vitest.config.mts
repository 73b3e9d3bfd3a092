import { defineConfig } from 'vitest/config';

/**
 * The black-box end-to-end files that exercise the data path (tenants, identity, records,
 * asOf, projections, export, files, backups, restores, drills, and the CLI over them), and the
 * backup service's own suite. The `cosmos-e2e` project runs them a second time with every host
 * on STORE=cosmos-standin (test/support/host-process.ts) and the backup suite's directory on
 * the Cosmos adapter: both against the in-process change-feed stand-in. The offboarding story
 * (services with a clock the test moves) runs its tenant stores there too (offboardWorld in
 * test/app/offboarding/support.ts). Tests that kill the host with SIGKILL cannot: the stand-in
 * lives in the host's memory.
 */
const cosmosDataPath = [
  'test/e2e/api.test.ts',
  'test/e2e/records.test.ts',
  'test/e2e/files.test.ts',
  'test/e2e/backups.test.ts',
  'test/e2e/changes.test.ts',
  'test/e2e/webhooks.test.ts',
  'test/e2e/erasure.test.ts',
  'test/app/offboarding/offboarding.test.ts',
  'test/cli/cli.test.ts',
  'test/app/backup.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    globalSetup: ['./test/support/global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'embedded', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'cosmos-e2e', include: cosmosDataPath, env: { E2E_STORE: 'cosmos-standin' }, testTimeout: 90_000 } },
    ],
  },
});
