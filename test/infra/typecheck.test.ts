import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const root = join(__dirname, '..', '..');

// vitest strips types without checking them; this is where the tests themselves (and the
// code they import) are type-checked, with the same strict options as the service.
it('the tests type-check (tsconfig.test.json: the service plus test/)', () => {
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.test.json'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 240_000,
  });
  expect(r.stdout + r.stderr).toBe('');
  expect(r.status).toBe(0);
}, 240_000);
