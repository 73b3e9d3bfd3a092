/**
 * Small helpers for `npm run bench`: timing with process.hrtime.bigint(), percentiles,
 * summaries and a plain-text table. No assertions on timings anywhere: benches report.
 */

export interface Metric {
  name: string;
  value: number;
  unit: string;
}

/** Latency samples (ms) and wall time of one measured series. */
export interface Series {
  /** Per-operation latencies in milliseconds, in the order they were taken. */
  samplesMs: number[];
  /** Wall time of the whole series in milliseconds. */
  totalMs: number;
}

export interface Summary {
  ops: number;
  opsPerSec: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  max: number;
}

export const nowNs = (): bigint => process.hrtime.bigint();
export const msSince = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;

/** Nearest-rank percentile (p in [0, 100]) of unsorted samples; NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  const i = Math.min(sorted.length - 1, Math.max(0, rank - 1));
  return sorted[i]!;
}

/** Runs `op(i)` sequentially `count` times and records each latency and the total. */
export async function measure(count: number, op: (i: number) => Promise<unknown>): Promise<Series> {
  const samplesMs: number[] = new Array<number>(count);
  const t0 = nowNs();
  for (let i = 0; i < count; i++) {
    const s = nowNs();
    await op(i);
    samplesMs[i] = msSince(s);
  }
  return { samplesMs, totalMs: msSince(t0) };
}

/**
 * Runs `fn` while a 1 ms interval timer watches the event loop: the longest gap between its
 * ticks is the longest stretch the loop was blocked (client and server share this process,
 * so that is how long the host served nothing else). (perf_hooks.monitorEventLoopDelay
 * missed these stalls on Node 20, hence the plain timer.)
 */
export async function withLoopStall<T>(fn: () => Promise<T>): Promise<{ result: T; maxStallMs: number }> {
  let maxGapNs = 0n;
  let last = nowNs();
  const tick = setInterval(() => {
    const now = nowNs();
    if (now - last > maxGapNs) maxGapNs = now - last;
    last = now;
  }, 1);
  try {
    const result = await fn();
    // One more tick after the last blocking stretch.
    await new Promise((r) => setTimeout(r, 5));
    return { result, maxStallMs: Number(maxGapNs) / 1e6 };
  } finally {
    clearInterval(tick);
  }
}

export function summarize(series: Series): Summary {
  const s = series.samplesMs;
  const sum = s.reduce((a, b) => a + b, 0);
  return {
    ops: s.length,
    opsPerSec: s.length / (series.totalMs / 1000),
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    mean: s.length ? sum / s.length : Number.NaN,
    max: s.length ? Math.max(...s) : Number.NaN,
  };
}

/** Formats a number for the table: few significant digits, thousands grouped. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 10 ? 2 : 3;
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Renders rows as a left/right aligned text table. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), sep, ...rows.map(line)].join('\n');
}
