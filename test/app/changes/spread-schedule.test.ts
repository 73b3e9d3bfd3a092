/**
 * Timer work spread over its period (shared/app/changes/spread.ts SpreadSchedule: the restore
 * drills over a day, the orphan-file sweep over an hour): counted per run, never timed. Each
 * run takes a share of the tenants; over one period every tenant comes exactly once; a missed
 * run is made up by the next; a restart continues from the saved mark; the first run without a
 * mark takes every tenant once.
 */
import { describe, expect, it } from 'vitest';
import { dueInWindow, SpreadSchedule } from '../../../shared/app/changes/spread';
import { DRILL_PERIOD_MS, ORPHAN_SWEEP_PERIOD_MS } from '../../../shared/config/services';
import { TIMERS } from '../../../functions/timers';

const ids = Array.from({ length: 2000 }, (_, i) => `t${String(i).padStart(5, '0')}`);

function memoryMarks() {
  const saved = new Map<string, Record<string, string>>();
  return {
    saved,
    loadMarks: async (purpose: string) => ({ ...(saved.get(purpose) ?? {}) }),
    saveMarks: async (purpose: string, marks: Record<string, string>) => void saved.set(purpose, { ...marks }),
  };
}

/** Runs the schedule `runs` times, `tickMs` apart, starting at `startMs`; returns each run's due ids. */
async function runTicks(schedule: SpreadSchedule, clock: { ms: number }, tickMs: number, runs: number): Promise<string[][]> {
  const out: string[][] = [];
  for (let i = 0; i < runs; i++) {
    clock.ms += tickMs;
    const { due, untilMs } = await schedule.due(ids);
    out.push(due);
    await schedule.finished(untilMs);
  }
  return out;
}

describe('SpreadSchedule', () => {
  const hour = 3600_000;
  const start = Date.parse('2026-12-06T00:00:00Z');

  it('the first run without a mark takes every tenant once; then each run (every 5 min of an hour) takes about a twelfth, each tenant once per hour', async () => {
    const clock = { ms: start, now: () => new Date(clock.ms) };
    const marks = memoryMarks();
    const schedule = new SpreadSchedule({ purpose: 'sweep', periodMs: hour, clock, marks });
    const first = await schedule.due(ids);
    expect(first.due).toHaveLength(ids.length);
    await schedule.finished(first.untilMs);

    const runs = await runTicks(schedule, clock, 5 * 60_000, 24);
    const perRun = runs.map((r) => r.length);
    // 2000 tenants over 12 runs: ~167 each (hash places: allow a wide band, never all or none).
    for (const n of perRun) {
      expect(n).toBeGreaterThan(100);
      expect(n).toBeLessThan(240);
    }
    // Over each hour every tenant exactly once.
    for (const hourRuns of [runs.slice(0, 12), runs.slice(12, 24)]) {
      const all = hourRuns.flat();
      expect(all).toHaveLength(ids.length);
      expect(new Set(all).size).toBe(ids.length);
    }
    // The same tenant comes in the same run of each hour (a fixed place, not creation order).
    expect(runs[3]).toEqual(runs[15]);
  });

  it('a missed run is made up by the next one, and a restart continues from the saved mark', async () => {
    const clock = { ms: start, now: () => new Date(clock.ms) };
    const marks = memoryMarks();
    const a = new SpreadSchedule({ purpose: 'sweep', periodMs: hour, clock, marks });
    await a.finished((await a.due(ids)).untilMs);
    const before = await runTicks(a, clock, 5 * 60_000, 2);
    // Two runs missed (the host was down): the next run (in a new process) takes all three windows.
    clock.ms += 10 * 60_000;
    const b = new SpreadSchedule({ purpose: 'sweep', periodMs: hour, clock, marks });
    const [caughtUp] = await runTicks(b, clock, 5 * 60_000, 1);
    const rest = await runTicks(b, clock, 5 * 60_000, 7);
    expect(caughtUp!.length).toBeGreaterThan(350);
    expect(caughtUp!.length).toBeLessThan(650);
    const hourAll = [...before.flat(), ...caughtUp!, ...rest.flat()];
    expect(hourAll).toHaveLength(ids.length);
    expect(new Set(hourAll).size).toBe(ids.length);
  });

  it('a run that did not finish is made up: its tenants come again in the next run', async () => {
    const clock = { ms: start, now: () => new Date(clock.ms) };
    const schedule = new SpreadSchedule({ purpose: 'drill', periodMs: 24 * hour, clock, marks: memoryMarks() });
    await schedule.finished((await schedule.due(ids)).untilMs);
    clock.ms += 15 * 60_000;
    const cut = await schedule.due(ids);
    // (no finished: the run was cut off)
    clock.ms += 15 * 60_000;
    const next = await schedule.due(ids);
    expect(next.due).toEqual(expect.arrayContaining(cut.due));
    expect(next.due.length).toBeGreaterThan(cut.due.length);
  });

  it('drills: a day of 15-minute runs drills each of 2,000 tenants once, about 21 per run', async () => {
    expect(TIMERS.backupDrill.schedule).toBe('0 10,25,40,55 * * * *');
    expect(TIMERS.sweepOrphanFiles.schedule).toBe('0 */5 * * * *');
    const clock = { ms: start, now: () => new Date(clock.ms) };
    const schedule = new SpreadSchedule({ purpose: 'drill', periodMs: DRILL_PERIOD_MS, clock, marks: memoryMarks() });
    await schedule.finished((await schedule.due(ids)).untilMs);
    const runs = await runTicks(schedule, clock, 15 * 60_000, 96);
    expect(Math.max(...runs.map((r) => r.length))).toBeLessThan(60);
    expect(runs.flat()).toHaveLength(ids.length);
    expect(new Set(runs.flat()).size).toBe(ids.length);
    expect(ORPHAN_SWEEP_PERIOD_MS).toBe(hour);
  });

  it('dueInWindow: a window of a whole period or more holds every place; an empty window none', () => {
    expect(ids.every((id) => dueInWindow(id, hour, 0, hour))).toBe(true);
    expect(ids.some((id) => dueInWindow(id, hour, 5000, 5000))).toBe(false);
  });
});
