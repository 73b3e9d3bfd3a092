/**
 * Personal data (issue 14), side by side in one run through the in-process local host: the same
 * type shape without marks (`plain`) and with `name` and `email` marked `"x-personal": true`
 * (`personal`, each record its own subject: a new subject key per create). Alternating rounds of
 * creates, reads (GET) and patches on each; records/s and the personal/plain ratio (goal ≤ 1.5×
 * the time). Then one erase of a subject in a tenant holding all those records (it rebuilds the
 * projections). Alone: `npm run bench -- personal`.
 */
import { call, expectStatus } from './http';
import { fmt, measure, type Metric, type Series, summarize } from './lib';
import type { TenantCtx } from './records';

export const PERSONAL_BENCH = { warmup: 50, rounds: 6, opsPerRound: 150 };

const shape = (personal: boolean) => ({
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', ...(personal ? { 'x-personal': true } : {}) },
    email: { type: 'string', ...(personal ? { 'x-personal': true } : {}) },
    tier: { type: 'string' },
    score: { type: 'number' },
  },
});
const body = (i: number) => ({ name: `Person ${i}`, email: `person${i}@example.test`, tier: i % 2 ? 'gold' : 'silver', score: i });

interface Side {
  create: Series[];
  read: Series[];
  patch: Series[];
}

export interface PersonalBenchResult {
  plain: Side;
  personal: Side;
  records: number;
  eraseMs: number;
}

export async function benchPersonal(base: string, t: TenantCtx, cfg = PERSONAL_BENCH): Promise<PersonalBenchResult> {
  for (const [type, personal] of [
    ['plain', false],
    ['personal', true],
  ] as const) {
    const r = await call(base, 'PUT', `/api/t/${t.id}/types/${type}`, { token: t.token, body: shape(personal) });
    expectStatus(r, 201, `define type ${type}`);
  }
  let n = 0;
  const round = async (type: string, ops: number) => {
    const ids: string[] = [];
    const create = await measure(ops, async () => {
      const r = await call(base, 'POST', `/api/t/${t.id}/records/${type}`, { token: t.token, body: body(n++) });
      expectStatus(r, 201, `create ${type}`);
      ids.push((r.body as { id: string }).id);
    });
    const read = await measure(ops, async (i) => {
      const r = await call(base, 'GET', `/api/t/${t.id}/records/${type}/${ids[i]}`, { token: t.token });
      expectStatus(r, 200, `read ${type}`);
    });
    const patch = await measure(ops, async (i) => {
      const r = await call(base, 'PATCH', `/api/t/${t.id}/records/${type}/${ids[i]}`, {
        token: t.token,
        body: { email: `changed${i}@example.test` },
        headers: { 'if-match': '"1"' },
      });
      expectStatus(r, 200, `patch ${type}`);
    });
    return { create, read, patch, ids };
  };
  await round('plain', cfg.warmup);
  const warm = await round('personal', cfg.warmup);
  const out: PersonalBenchResult = {
    plain: { create: [], read: [], patch: [] },
    personal: { create: [], read: [], patch: [] },
    records: 2 * cfg.warmup,
    eraseMs: 0,
  };
  for (let r = 0; r < cfg.rounds; r++) {
    // Alternate which side goes first, so drift on the machine hits both.
    const order = r % 2 ? (['personal', 'plain'] as const) : (['plain', 'personal'] as const);
    for (const side of order) {
      const s = await round(side, cfg.opsPerRound);
      out[side].create.push(s.create);
      out[side].read.push(s.read);
      out[side].patch.push(s.patch);
      out.records += cfg.opsPerRound;
    }
  }
  const t0 = performance.now();
  const e = await call(base, 'POST', `/api/t/${t.id}/subjects/${warm.ids[0]}/erase`, { token: t.token, body: { reason: 'bench' } });
  expectStatus(e, 200, 'erase');
  out.eraseMs = performance.now() - t0;
  return out;
}

/** Records per second over all rounds of one kind. */
function perSec(series: Series[]): number {
  const ops = series.reduce((a, s) => a + s.samplesMs.length, 0);
  const ms = series.reduce((a, s) => a + s.totalMs, 0);
  return ops / (ms / 1000);
}

function p50(series: Series[]): number {
  return summarize({ samplesMs: series.flatMap((s) => s.samplesMs), totalMs: series.reduce((a, s) => a + s.totalMs, 0) }).p50;
}

export function personalRows(r: PersonalBenchResult): string[][] {
  return (['create', 'read', 'patch'] as const).map((k) => {
    const plain = perSec(r.plain[k]);
    const personal = perSec(r.personal[k]);
    return [k, fmt(plain), fmt(personal), `${fmt(plain / personal)}×`, fmt(p50(r.plain[k])), fmt(p50(r.personal[k]))];
  });
}

export function personalMetrics(r: PersonalBenchResult): Metric[] {
  const m: Metric[] = [];
  for (const k of ['create', 'read', 'patch'] as const) {
    const plain = perSec(r.plain[k]);
    const personal = perSec(r.personal[k]);
    m.push({ name: `personal_${k}_plain_per_s`, value: plain, unit: 'records/s' });
    m.push({ name: `personal_${k}_marked_per_s`, value: personal, unit: 'records/s' });
    m.push({ name: `ratio_personal_${k}_time`, value: plain / personal, unit: '×' });
  }
  m.push({ name: 'personal_erase_ms', value: r.eraseMs, unit: 'ms' });
  m.push({ name: 'personal_erase_tenant_records', value: r.records, unit: 'records' });
  return m;
}
