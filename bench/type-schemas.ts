/**
 * Tenant type schemas, side by side in one run: the old way (one shared Ajv instance on the
 * event loop, backtracking patterns, Ajv's pairwise uniqueItems) against the sandbox
 * (shared/app/type-schemas: worker threads, one scope per type, RE2, linear uniqueItems).
 * For each: wall time, the longest event-loop stall while it ran (how long every other tenant
 * waited; on a loaded machine it includes time the OS did not schedule the process) and the
 * time the main thread was actually busy. Runs inside `npm run bench`, or alone: `node dist/bench/type-schemas.js`.
 */
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { TypeSchemaSandbox } from '../shared/app/type-schemas';
import { fmt, measure, msSince, nowNs, summarize, table, withLoopStall, type Metric, type Summary } from './lib';

export const SCHEMA_BENCH = {
  /** Properties of the wide schema (about 60 KB of JSON, inside the sandbox's bounds). */
  wideProperties: 1_400,
  compileRuns: 3,
  validations: 2_000,
  uniqueItems: 9_000,
  /** The old engine backtracks 2^n steps on `^(a+)+$`: n = 22 takes about 0.3–1 s here. */
  redosOld: 22,
  redosNew: 60,
};

interface Timed {
  ms: number;
  stallMs: number;
  /** Time the main thread's event loop was busy (performance.eventLoopUtilization), not waiting. */
  busyMs: number;
}

export interface TypeSchemaBenchResult {
  wideBytes: number;
  compileOld: Timed[];
  compileNew: Timed[];
  validateOld: Summary;
  validateNew: Summary;
  uniqueOld: Timed;
  uniqueNew: Timed;
  redosOld: Timed;
  redosNew: Timed;
}

const customer = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    email: { type: 'string', format: 'email' },
    code: { type: 'string', pattern: '^[A-Z]{2}-[0-9]{4}$' },
    vip: { type: 'boolean' },
    score: { type: 'number', minimum: 0 },
    address: { type: 'object', properties: { city: { type: 'string' }, zip: { type: 'string' } } },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 20, uniqueItems: true },
  },
  additionalProperties: false,
};
const customerRecord = {
  name: 'Novák s.r.o.',
  email: 'info@novak.example',
  code: 'CZ-1234',
  vip: true,
  score: 3,
  address: { city: 'Brno', zip: '60200' },
  tags: ['a', 'b'],
};

const wide = (n: number) => ({
  type: 'object',
  required: ['field0'],
  properties: Object.fromEntries(Array.from({ length: n }, (_, i) => [`field${i}`, { type: 'string', maxLength: 40 }])),
});

/** The pre-sandbox setup of records.ts: one instance for every tenant, compiled and run on the event loop. */
const oldShared = () => addFormats(new Ajv2020({ allErrors: true, strict: false, validateSchema: true }));

/**
 * A full GC before each timed step: the old way leaves megabytes of generated code and
 * garbage on the main heap, and its collection would otherwise land in the next step's stall.
 */
const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

async function timed(fn: () => Promise<unknown> | unknown): Promise<Timed> {
  collectGarbage();
  const elu0 = performance.eventLoopUtilization();
  const t0 = nowNs();
  const { maxStallMs } = await withLoopStall(async () => {
    await fn();
  });
  return { ms: msSince(t0), stallMs: maxStallMs, busyMs: performance.eventLoopUtilization(elu0).active };
}

export async function benchTypeSchemas(cfg = SCHEMA_BENCH): Promise<TypeSchemaBenchResult> {
  const sandbox = new TypeSchemaSandbox();
  const old = oldShared();
  try {
    // Warm both (worker start, meta-schema compile) outside the timings.
    await sandbox.checkDefinition('bench-warm', 'warm', {
      type: 'object',
      properties: { a: { type: 'string', format: 'email', pattern: '^a' } },
    });
    old.compile({ type: 'object', properties: { a: { type: 'string', format: 'email', pattern: '^a' } } });

    const wideSchema = wide(cfg.wideProperties);
    const compileOld: Timed[] = [];
    const compileNew: Timed[] = [];
    for (let i = 0; i < cfg.compileRuns; i++) {
      // A fresh object each time: Ajv caches compiled schemas by object.
      compileOld.push(await timed(() => old.compile(structuredClone(wideSchema))));
      compileNew.push(await timed(() => sandbox.checkDefinition('bench-a', `wide${i}`, structuredClone(wideSchema))));
    }

    const validateOldFn = old.compile(customer);
    const handle = sandbox.handle('bench-a', 'customer', customer);
    await sandbox.validate('bench-a', handle, customerRecord);
    const validateOld = summarize(
      await measure(cfg.validations, async () => {
        if (validateOldFn(customerRecord) !== true) throw new Error('old validator refused the bench record');
      }),
    );
    const validateNew = summarize(await measure(cfg.validations, () => sandbox.validate('bench-a', handle, customerRecord)));

    const items = Array.from({ length: cfg.uniqueItems }, (_, i) => ({ n: i, label: `item ${i}` }));
    const uniqueSchema = { type: 'array', maxItems: 1000, uniqueItems: true };
    const uniqueOldFn = old.compile(uniqueSchema);
    const uniqueOld = await timed(() => uniqueOldFn(items));
    const uh = sandbox.handle('bench-a', 'unique', uniqueSchema);
    await sandbox.validate('bench-a', uh, [1, 2]);
    const uniqueNew = await timed(() => sandbox.validate('bench-a', uh, items).catch(() => undefined));

    const redosSchema = { type: 'string', pattern: '^(a+)+$' };
    const redosOldFn = old.compile(redosSchema);
    const redosOld = await timed(() => redosOldFn(`${'a'.repeat(cfg.redosOld)}b`));
    const rh = sandbox.handle('bench-a', 'redos', redosSchema);
    await sandbox.validate('bench-a', rh, 'a');
    const redosNew = await timed(() => sandbox.validate('bench-a', rh, `${'a'.repeat(cfg.redosNew)}b`).catch(() => undefined));

    return {
      wideBytes: JSON.stringify(wideSchema).length,
      compileOld,
      compileNew,
      validateOld,
      validateNew,
      uniqueOld,
      uniqueNew,
      redosOld,
      redosNew,
    };
  } finally {
    await sandbox.close();
  }
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export function typeSchemaRows(r: TypeSchemaBenchResult, cfg = SCHEMA_BENCH): string[][] {
  const kb = fmt(r.wideBytes / 1024);
  const pair = (what: string, o: Timed, n: Timed, oldNote: string, newNote: string) => [
    [`${what}: shared Ajv on the event loop`, `${fmt(o.ms)} ms`, `loop blocked ${fmt(o.stallMs)} ms, busy ${fmt(o.busyMs)} ms${oldNote}`],
    [`${what}: sandbox worker`, `${fmt(n.ms)} ms`, `loop blocked ${fmt(n.stallMs)} ms, busy ${fmt(n.busyMs)} ms${newNote}`],
  ];
  const medOf = (xs: Timed[]) => ({
    ms: median(xs.map((x) => x.ms)),
    stallMs: median(xs.map((x) => x.stallMs)),
    busyMs: median(xs.map((x) => x.busyMs)),
  });
  return [
    ...pair(
      `compile a ${kb} KiB schema (${cfg.wideProperties} properties, median of ${r.compileOld.length})`,
      medOf(r.compileOld),
      medOf(r.compileNew),
      '',
      ' (includes the static checks and probes)',
    ),
    [
      `validate a customer record: shared Ajv in-process`,
      `${fmt(r.validateOld.p50 * 1000)} µs p50`,
      `p99 ${fmt(r.validateOld.p99 * 1000)} µs, ${fmt(r.validateOld.opsPerSec)} validations/s (${r.validateOld.ops} sequential)`,
    ],
    [
      `validate a customer record: sandbox round trip`,
      `${fmt(r.validateNew.p50 * 1000)} µs p50`,
      `p99 ${fmt(r.validateNew.p99 * 1000)} µs, ${fmt(r.validateNew.opsPerSec)} validations/s (${r.validateNew.ops} sequential)`,
    ],
    ...pair(
      `uniqueItems, ${cfg.uniqueItems.toLocaleString('en-US')} objects, maxItems 1000`,
      r.uniqueOld,
      r.uniqueNew,
      ' (pairwise, even past maxItems)',
      ' (skipped past maxItems; hashing otherwise)',
    ),
    ...pair(
      `pattern ^(a+)+$`,
      r.redosOld,
      r.redosNew,
      ` (${cfg.redosOld} a's + b; backtracking doubles per character)`,
      ` (${cfg.redosNew} a's + b; RE2, linear)`,
    ),
  ];
}

export function typeSchemaRatioRows(r: TypeSchemaBenchResult): string[][] {
  return [
    [
      'schema compile, event-loop stall: sandbox / shared Ajv',
      `${fmt(median(r.compileNew.map((x) => x.stallMs)) / median(r.compileOld.map((x) => x.stallMs)))}x`,
    ],
    ['record validation p50: sandbox round trip / in-process', `${fmt(r.validateNew.p50 / r.validateOld.p50)}x`],
  ];
}

export function typeSchemaMetrics(r: TypeSchemaBenchResult): Metric[] {
  const med = (xs: Timed[], k: keyof Timed) => median(xs.map((x) => x[k]));
  return [
    { name: 'schema_compile_wide_bytes', value: r.wideBytes, unit: 'bytes' },
    { name: 'schema_compile_shared_ajv_duration', value: med(r.compileOld, 'ms'), unit: 'ms' },
    { name: 'schema_compile_shared_ajv_event_loop_stall', value: med(r.compileOld, 'stallMs'), unit: 'ms' },
    { name: 'schema_compile_sandbox_duration', value: med(r.compileNew, 'ms'), unit: 'ms' },
    { name: 'schema_compile_sandbox_event_loop_stall', value: med(r.compileNew, 'stallMs'), unit: 'ms' },
    { name: 'schema_compile_sandbox_main_thread_busy', value: med(r.compileNew, 'busyMs'), unit: 'ms' },
    { name: 'schema_validate_shared_ajv_p50_latency', value: r.validateOld.p50, unit: 'ms' },
    { name: 'schema_validate_shared_ajv_p99_latency', value: r.validateOld.p99, unit: 'ms' },
    { name: 'schema_validate_sandbox_p50_latency', value: r.validateNew.p50, unit: 'ms' },
    { name: 'schema_validate_sandbox_p99_latency', value: r.validateNew.p99, unit: 'ms' },
    { name: 'schema_validate_sandbox_throughput', value: r.validateNew.opsPerSec, unit: 'validations/s' },
    { name: 'schema_unique_items_shared_ajv_event_loop_stall', value: r.uniqueOld.stallMs, unit: 'ms' },
    { name: 'schema_unique_items_sandbox_duration', value: r.uniqueNew.ms, unit: 'ms' },
    { name: 'schema_unique_items_sandbox_event_loop_stall', value: r.uniqueNew.stallMs, unit: 'ms' },
    { name: 'schema_redos_shared_ajv_event_loop_stall', value: r.redosOld.stallMs, unit: 'ms' },
    { name: 'schema_redos_sandbox_event_loop_stall', value: r.redosNew.stallMs, unit: 'ms' },
    { name: 'ratio_schema_validate_sandbox_over_in_process_p50', value: r.validateNew.p50 / r.validateOld.p50, unit: 'x' },
  ];
}

if (require.main === module) {
  void (async () => {
    const r = await benchTypeSchemas();
    process.stdout.write(
      `${table(['tenant type schemas (in-process, no HTTP)', 'value', 'detail'], typeSchemaRows(r))}\n\n${table(['ratio (measured in this run)', 'value'], typeSchemaRatioRows(r))}\n`,
    );
  })();
}
