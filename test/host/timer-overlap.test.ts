/**
 * A timer run never overlaps the previous run of the same timer: with a run that takes longer
 * than its one-second schedule (and a startup run), the local host starts the next run only
 * after the previous one ended, says so for every tick it skipped, and says when a run went
 * past its schedule.
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startLocalHost } from '../../host/local-host';

type Slow = { runs: number; active: number; maxActive: number; finished: number };
const state = () => (globalThis as unknown as { __slowTimer: Slow }).__slowTimer;

it('runs of a slow timer never overlap; skipped ticks and overruns are logged', async () => {
  const lines: string[] = [];
  const host = await startLocalHost({
    entries: [join(__dirname, '..', 'fixtures', 'slow-timer-app.cjs')],
    port: 0,
    appRoot: join(__dirname, '..', '..'),
    log: (l) => lines.push(l),
  });
  try {
    // Wait for three whole runs (each blocks at least two one-second ticks).
    await expect.poll(() => state().finished, { timeout: 20_000, interval: 100 }).toBeGreaterThanOrEqual(3);
  } finally {
    await host.close();
  }
  expect(state().maxActive).toBe(1);
  const text = lines.join('\n');
  expect(text).toMatch(/slow warning: skipped a scheduled run: the run started at \S+ is still running/);
  expect(text).toMatch(/slow warning: the run started at \S+ ran past its next scheduled time/);
}, 30_000);
