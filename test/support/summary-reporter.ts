import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints the one plain line CI reads: `N passed, N failed, N skipped`.
 * A failing hook (beforeAll/afterAll) or a collection error is a failure too, even when
 * every test of its file passed: each such error counts once, and a file that vitest marks
 * failed without any counted failure still counts one, so the line never says "0 failed"
 * on a red run.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const mod of testModules) {
      let moduleFailures = mod.errors().length;
      for (const suite of mod.children.allSuites()) moduleFailures += suite.errors().length;
      for (const t of mod.children.allTests()) {
        const state = t.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') moduleFailures++;
        else skipped++;
      }
      if (mod.state() === 'failed' && moduleFailures === 0) moduleFailures = 1;
      failed += moduleFailures;
    }
    failed += unhandledErrors.length;
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
