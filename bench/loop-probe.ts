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
const STALL_MS = 50;
let maxGapNs = 0n;
let ticks = 0;
let over = 0;
let reports = 0;
let last = process.hrtime.bigint();

const timer = setInterval(() => {
  const now = process.hrtime.bigint();
  const gap = now - last;
  if (gap > maxGapNs) maxGapNs = gap;
  if (gap > BigInt(STALL_MS) * 1_000_000n) over++;
  ticks++;
  last = now;
}, 1);
timer.unref();

process.on('SIGUSR2', () => {
  // The gap up to this moment counts too (a stall that only just ended).
  const now = process.hrtime.bigint();
  if (now - last > maxGapNs) maxGapNs = now - last;
  reports++;
  process.stderr.write(`loop-probe ${reports} ${JSON.stringify({ maxGapMs: Number(maxGapNs) / 1e6, ticks, over50: over })}\n`);
  maxGapNs = 0n;
  ticks = 0;
  over = 0;
});
export {};
