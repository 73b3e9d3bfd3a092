import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints the one plain line CI reads: `N passed, N failed, N skipped`.
 * A failing hook (beforeAll/afterAll) or a collection error is a failure too, even when
 * every test of its file passed: each such error counts once, and a file that vitest marks
 * failed without any counted failure still counts one, so the line never says "0 failed"
 * on a red run.
 * Before it, one `FAILED: file > test: first line of the error` line per failure, so the tail
 * of a long CI log names what failed (CI keeps only part of the output).
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const named: string[] = [];
    const note = (where: string, error: unknown) => named.push(`FAILED: ${where}: ${firstLine(error)}`);
    for (const mod of testModules) {
      let moduleFailures = 0;
      for (const e of mod.errors()) {
        moduleFailures++;
        note(mod.moduleId, e);
      }
      for (const suite of mod.children.allSuites()) {
        for (const e of suite.errors()) {
          moduleFailures++;
          note(`${mod.moduleId} > ${suite.fullName}`, e);
        }
      }
      for (const t of mod.children.allTests()) {
        const result = t.result();
        if (result.state === 'passed') passed++;
        else if (result.state === 'failed') {
          moduleFailures++;
          note(`${mod.moduleId} > ${t.fullName}`, result.errors?.[0]);
        } else skipped++;
      }
      if (mod.state() === 'failed' && moduleFailures === 0) {
        moduleFailures = 1;
        note(mod.moduleId, 'the file failed without a failed test');
      }
      failed += moduleFailures;
    }
    for (const e of unhandledErrors) note('unhandled error', e);
    failed += unhandledErrors.length;
    const root = `${process.cwd()}/`;
    const list = named.map((l) => `${l.replaceAll(root, '')}\n`).join('');
    process.stdout.write(`\n${list}${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}

function firstLine(error: unknown): string {
  const e = error as { name?: string; message?: string } | undefined;
  const text = typeof error === 'string' ? error : e?.message ? `${e.name ?? 'Error'}: ${e.message}` : String(error);
  const line = text.split('\n')[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
