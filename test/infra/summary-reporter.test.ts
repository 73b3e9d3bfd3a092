import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
const fixtures = join(root, 'test', 'fixtures', 'reporter');

/** Runs vitest on one fixture file with only the summary reporter; returns its last line, the FAILED lines and exit code. */
function runFixture(file: string): { line: string; named: string[]; status: number | null } {
  const res = spawnSync(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', file], {
    cwd: fixtures,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const lines = res.stdout.trim().split('\n');
  return { line: lines[lines.length - 1] ?? '', named: lines.filter((l) => l.startsWith('FAILED: ')), status: res.status };
}

describe('the CI summary line', () => {
  it('counts a failing afterAll as a failure even when every test passed', () => {
    const { line, named, status } = runFixture('hook-fails.fixture.ts');
    expect(line).toBe('1 passed, 1 failed, 1 skipped');
    expect(named).toEqual([
      expect.stringMatching(/^FAILED: hook-fails\.fixture\.ts > a suite whose afterAll throws: Error: cleanup failed$/),
    ]);
    expect(status).not.toBe(0);
  });

  it('names each failed test and the first line of its error just before the summary, so a cut log still shows them', () => {
    const { line, named, status } = runFixture('test-fails.fixture.ts');
    expect(line).toBe('1 passed, 1 failed, 0 skipped');
    expect(named).toEqual([
      expect.stringMatching(/^FAILED: test-fails\.fixture\.ts > a suite with a failing test > fails: AssertionError: one is not two/),
    ]);
    expect(status).not.toBe(0);
  });

  it('says 0 failed and exits 0 on a green file', () => {
    const { line, named, status } = runFixture('all-pass.fixture.ts');
    expect(line).toBe('1 passed, 0 failed, 0 skipped');
    expect(named).toEqual([]);
    expect(status).toBe(0);
  });
});
