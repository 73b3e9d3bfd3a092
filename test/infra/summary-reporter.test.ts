import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
const fixtures = join(root, 'test', 'fixtures', 'reporter');

/** Runs vitest on one fixture file with only the summary reporter; returns its last line and exit code. */
function runFixture(file: string): { line: string; status: number | null } {
  const res = spawnSync(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', file], {
    cwd: fixtures,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const lines = res.stdout.trim().split('\n');
  return { line: lines[lines.length - 1] ?? '', status: res.status };
}

describe('the CI summary line', () => {
  it('counts a failing afterAll as a failure even when every test passed', () => {
    const { line, status } = runFixture('hook-fails.fixture.ts');
    expect(line).toBe('1 passed, 1 failed, 1 skipped');
    expect(status).not.toBe(0);
  });

  it('says 0 failed and exits 0 on a green file', () => {
    const { line, status } = runFixture('all-pass.fixture.ts');
    expect(line).toBe('1 passed, 0 failed, 0 skipped');
    expect(status).toBe(0);
  });
});
