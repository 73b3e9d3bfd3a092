/**
 * An event-loop stall probe for a child host in `npm run bench`, preloaded with
 * `NODE_OPTIONS=--require <this file>` (it needs no change to the host).
 *
 * A 1 ms interval timer records the longest gap between two of its ticks: how long the
 * loop served nothing else. On SIGUSR2 it writes one line to stderr,
 *   loop-probe <n> {"maxGapMs":…,"ticks":…,"over50":…}
 * (n counts the reports, from 1) and starts a new window. perf_hooks.monitorEventLoopDelay
 * missed these stalls on Node 20 (see bench/lib.ts withLoopStall), hence the plain timer.
 */
import { readFileSync } from 'node:fs';

const STALL_MS = 50;
let maxGapNs = 0n;
let ticks = 0;
let over = 0;
let reports = 0;
let last = process.hrtime.bigint();

/**
 * CPU time of this (the main) thread in ns, from /proc/thread-self/schedstat (Linux), or
 * undefined elsewhere. On a busy machine a wall-clock gap also counts time the thread sat
 * runnable but descheduled; the CPU the thread used during the gap is what the host itself
 * spent holding the loop.
 */
function threadCpuNs(): bigint | undefined {
  try {
    return BigInt(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]!);
  } catch {
    return undefined;
  }
}
let lastCpu = threadCpuNs();
let maxCpuGapNs = 0n;

const timer = setInterval(() => {
  const now = process.hrtime.bigint();
  const gap = now - last;
  if (gap > maxGapNs) maxGapNs = gap;
  if (gap > BigInt(STALL_MS) * 1_000_000n) over++;
  const cpu = threadCpuNs();
  if (cpu !== undefined && lastCpu !== undefined && cpu - lastCpu > maxCpuGapNs) maxCpuGapNs = cpu - lastCpu;
  lastCpu = cpu;
  ticks++;
  last = process.hrtime.bigint();
}, 1);
timer.unref();

process.on('SIGUSR2', () => {
  // The gap up to this moment counts too (a stall that only just ended).
  const now = process.hrtime.bigint();
  if (now - last > maxGapNs) maxGapNs = now - last;
  reports++;
  const cpuMs = lastCpu === undefined ? null : Number(maxCpuGapNs) / 1e6;
  process.stderr.write(
    `loop-probe ${reports} ${JSON.stringify({ maxGapMs: Number(maxGapNs) / 1e6, maxCpuGapMs: cpuMs, ticks, over50: over })}\n`,
  );
  maxGapNs = 0n;
  maxCpuGapNs = 0n;
  ticks = 0;
  over = 0;
});
