/**
 * Cooperative time slicing for long work on the one event loop that every tenant shares.
 *
 * The embedded store (libSQL) is synchronous and replaying or scanning long logs is CPU
 * work, so a long read, scan, restore or rebuild would otherwise hold every other request
 * and timer. Such work runs in slices of at most {@link SLICE_MS} and yields in between.
 *
 * Yields go through one process-wide queue that hands out ONE slice per turn of the event
 * loop (a setImmediate that schedules the next one from inside the check phase, which Node
 * runs on the next turn). So however many long operations run at once, from however many
 * tenants, each turn of the loop runs at most about one slice of them before it polls for
 * I/O again: other requests wait for one slice, not for one slice per long operation. Long
 * operations share the remaining time round-robin (first come, first served per yield).
 */

/** Longest stretch (ms) long work runs before it lets the loop serve others. */
export const SLICE_MS = 5;

const waiting: Array<() => void> = [];
let scheduled = false;

function runNext(): void {
  scheduled = false;
  const next = waiting.shift();
  if (waiting.length > 0) {
    scheduled = true;
    // Scheduled from inside the check phase: runs on the next turn of the loop, after I/O.
    setImmediate(runNext);
  }
  // The continuation runs as a microtask right after this callback: that is the slice.
  next?.();
}

/** Resumes on a later turn of the event loop, after pending I/O, in turn with other long work. */
export const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => {
    waiting.push(resolve);
    if (!scheduled) {
      scheduled = true;
      setImmediate(runNext);
    }
  });

/**
 * A time budget for one long operation: call {@link TimeSlice.maybeYield} between small units
 * of work (a page of commits, one record); it yields once the current slice has run
 * `sliceMs` or longer, and is a cheap clock read otherwise.
 */
export class TimeSlice {
  private start = performance.now();
  /** Times this operation yielded (for tests and diagnostics). */
  yields = 0;

  constructor(private readonly sliceMs = SLICE_MS) {}

  /** True when the current slice has used its budget. */
  get due(): boolean {
    return performance.now() - this.start >= this.sliceMs;
  }

  async maybeYield(): Promise<void> {
    if (!this.due) return;
    await yieldToEventLoop();
    this.yields++;
    this.start = performance.now();
  }
}
