/**
 * What durability costs: single-event appends to the embedded store with DURABILITY=full
 * (SQLite synchronous=FULL: every commit fsynced before it is acknowledged) and
 * DURABILITY=fast (synchronous=NORMAL: fsync at WAL checkpoints only), measured side by side
 * in alternating rounds on the same disk, each in its own encrypted database file.
 *
 * Part of `npm run bench` ([1/13]); also runs alone: `npm run build && node dist/bench/durability.js`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore, type Durability } from '../shared/adapters/embedded/sqlite-event-store';
import type { AppendMeta, NewEvent } from '../shared/domain/events';
import { systemClock } from '../shared/ports/runtime';
import { fmt, measure, summarize, type Series, type Summary } from './lib';

export const DURABILITY_BENCH = { warmup: 100, rounds: 4, opsPerRound: 500, streams: 100 };

export interface DurabilityResult {
  full: Summary;
  fast: Summary;
  /** full appends/s over fast appends/s (≤ 1: what the fsync per commit costs). */
  ratio: number;
}

const author: AppendMeta['author'] = { kind: 'user', userId: 'u_benchAuthor0000000000000', email: 'bench@bench.test' };
const event = (i: number): NewEvent[] => [
  { type: 'UserRolesChanged', data: { userId: `u_bench${String(i).padStart(17, '0')}`, old: ['viewer'], new: ['editor'] } },
];

class Appender {
  private readonly versions: number[];
  private n = 0;
  constructor(
    readonly store: SqliteEventStore,
    private readonly streams: number,
  ) {
    this.versions = new Array<number>(streams).fill(0);
  }
  async one(): Promise<void> {
    const i = this.n++;
    const s = i % this.streams;
    const r = await this.store.append(`bench-${s}`, this.versions[s]!, event(i), { author, correlationId: randomUUID() });
    this.versions[s] = r.version;
  }
}

export async function benchDurability(tmp: string, cfg = DURABILITY_BENCH): Promise<DurabilityResult> {
  const open = (d: Durability) => {
    const dir = join(tmp, `durability-${d}`);
    mkdirSync(dir, { recursive: true });
    return new Appender(
      new SqliteEventStore('bench', join(dir, 'events.db'), randomBytes(32).toString('hex'), systemClock, { durability: d }),
      cfg.streams,
    );
  };
  const sides = { full: open('full'), fast: open('fast') };
  try {
    for (const a of Object.values(sides)) for (let i = 0; i < cfg.warmup; i++) await a.one();
    const series: Record<Durability, Series[]> = { full: [], fast: [] };
    for (let r = 0; r < cfg.rounds; r++) {
      // Alternate which side goes first, so neither always runs on a warmer disk cache.
      const order: Durability[] = r % 2 === 0 ? ['full', 'fast'] : ['fast', 'full'];
      for (const d of order) series[d].push(await measure(cfg.opsPerRound, () => sides[d].one()));
    }
    const merge = (s: Series[]): Series => ({ samplesMs: s.flatMap((x) => x.samplesMs), totalMs: s.reduce((a, x) => a + x.totalMs, 0) });
    const full = summarize(merge(series.full));
    const fast = summarize(merge(series.fast));
    return { full, fast, ratio: full.opsPerSec / fast.opsPerSec };
  } finally {
    for (const a of Object.values(sides)) a.store.close();
  }
}

if (require.main === module) {
  const tmp = mkdtempSync(join(tmpdir(), 'tenant-ledger-durability-'));
  benchDurability(tmp)
    .then((r) => {
      const line = (name: string, s: Summary) =>
        `${name}: ${fmt(s.opsPerSec)} appends/s, p50 ${fmt(s.p50)} ms, p99 ${fmt(s.p99)} ms (${s.ops} appends)`;
      process.stdout.write(
        `${line('DURABILITY=full', r.full)}\n${line('DURABILITY=fast', r.fast)}\nfull / fast throughput: ${fmt(r.ratio)}\n`,
      );
    })
    .finally(() => rmSync(tmp, { recursive: true, force: true }));
}
