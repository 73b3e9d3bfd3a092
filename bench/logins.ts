/**
 * Bench phase "sign-in fairness": does a burst of sign-ins against one tenant slow another
 * tenant's sign-ins? In-process TenantService on the embedded store (two tenants, scrypt at
 * the default cost 2^15), measured side by side in one run:
 *
 *   idle        the victim (tenant B, its own client) signs in sequentially, nothing else runs;
 *   gate on     the same while 24 concurrent loops sign in to tenant A from one client,
 *               through the fair hashing gate as wired in production (one slot per core);
 *   gate off    the same burst with an unlimited gate (what the service did before).
 *
 * The throttle is given very high limits here so that only the hashing gate is measured (the
 * burst uses the right password; real throttling would refuse a wrong-password burst after
 * five tries). Attempts the gate refuses (429, its per-client queue is full) are retried after
 * 20 ms and counted. Run alone: `npm run build && node dist/bench/logins.js`. Reports only;
 * asserts nothing about timings.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedTenantDirectory } from '../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../shared/adapters/embedded/local-key-provider';
import { HashingGate } from '../shared/app/auth/hashing-gate';
import { LoginThrottle } from '../shared/app/auth/login-throttle';
import { TenantService } from '../shared/app/service';
import { systemClock } from '../shared/ports/runtime';
import { fmt, msSince, nowNs, percentile, table, type Metric } from './lib';

export const LOGINS = { victimLogins: 20, burstLoops: 24, warmup: 3, logN: 15 };

export interface LoginPhase {
  name: 'idle' | 'gate_on' | 'gate_off';
  victimMs: number[];
  burstDone: number;
  burstRefused: number;
}

async function runPhase(name: LoginPhase['name'], gate: HashingGate, cfg: typeof LOGINS): Promise<LoginPhase> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-logins-'));
  const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
  const directory = new EmbeddedTenantDirectory(dir, keys, systemClock);
  const unlimited = new LoginThrottle(systemClock, { pairFree: 1e9, accountFree: 1e9, clientFree: 1e9 });
  const svc = new TenantService({
    directory,
    keys,
    clock: systemClock,
    tokenTtlSeconds: 600,
    passwordLogN: cfg.logN,
    throttle: unlimited,
    hashingGate: gate,
  });
  const PW = 'a bench password of some length';
  try {
    for (const id of ['burst-a', 'victim-b'])
      await svc.createTenant(
        { id: 'bench' },
        { id, name: id, admin: { email: `admin@${id}.test`, password: PW } },
        { correlationId: 'bench' },
      );
    for (let i = 0; i < cfg.warmup; i++)
      await svc.login({ tenantId: 'victim-b', email: 'admin@victim-b.test', password: PW, client: '198.51.100.1' });

    let stop = false;
    let burstDone = 0;
    let burstRefused = 0;
    const loops =
      name === 'idle'
        ? []
        : Array.from({ length: cfg.burstLoops }, async () => {
            while (!stop) {
              try {
                await svc.login({ tenantId: 'burst-a', email: 'admin@burst-a.test', password: PW, client: '203.0.113.66' });
                burstDone++;
              } catch {
                burstRefused++;
                await new Promise((r) => setTimeout(r, 20));
              }
            }
          });
    // Let the burst fill the queues first.
    if (loops.length) await new Promise((r) => setTimeout(r, 300));
    const victimMs: number[] = [];
    for (let i = 0; i < cfg.victimLogins; i++) {
      const t = nowNs();
      await svc.login({ tenantId: 'victim-b', email: 'admin@victim-b.test', password: PW, client: '198.51.100.1' });
      victimMs.push(msSince(t));
    }
    stop = true;
    await Promise.all(loops);
    return { name, victimMs, burstDone, burstRefused };
  } finally {
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchLogins(cfg = LOGINS): Promise<LoginPhase[]> {
  const slots = Math.max(2, availableParallelism());
  const out: LoginPhase[] = [];
  out.push(await runPhase('idle', new HashingGate({ slots }), cfg));
  out.push(await runPhase('gate_on', new HashingGate({ slots }), cfg));
  out.push(
    await runPhase('gate_off', new HashingGate({ slots: 1e6, perTenant: 1e6, perClient: 1e6, perClientQueue: 1e6, maxQueue: 1e6 }), cfg),
  );
  return out;
}

export function loginMetrics(phases: readonly LoginPhase[]): Metric[] {
  const by = (n: LoginPhase['name']) => phases.find((p) => p.name === n)!;
  const p = (n: LoginPhase['name'], q: number) => percentile(by(n).victimMs, q);
  return [
    ...phases.flatMap((ph) => [
      { name: `login_victim_${ph.name}_p50_latency`, value: percentile(ph.victimMs, 50), unit: 'ms' },
      { name: `login_victim_${ph.name}_p99_latency`, value: percentile(ph.victimMs, 99), unit: 'ms' },
      { name: `login_victim_${ph.name}_max_latency`, value: Math.max(...ph.victimMs), unit: 'ms' },
      { name: `login_burst_${ph.name}_completed`, value: ph.burstDone, unit: 'logins' },
      { name: `login_burst_${ph.name}_refused`, value: ph.burstRefused, unit: 'logins' },
    ]),
    { name: 'ratio_login_victim_p50_gate_on_over_idle', value: p('gate_on', 50) / p('idle', 50), unit: 'x' },
    { name: 'ratio_login_victim_p50_gate_off_over_idle', value: p('gate_off', 50) / p('idle', 50), unit: 'x' },
    { name: 'ratio_login_victim_p99_gate_off_over_gate_on', value: p('gate_off', 99) / p('gate_on', 99), unit: 'x' },
  ];
}

export function loginRows(phases: readonly LoginPhase[]): string[][] {
  return phases.map((ph) => [
    ph.name.replace('_', ' '),
    fmt(percentile(ph.victimMs, 50)),
    fmt(percentile(ph.victimMs, 99)),
    fmt(Math.max(...ph.victimMs)),
    String(ph.burstDone),
    String(ph.burstRefused),
  ]);
}

export const LOGIN_HEADER = ['sign-in fairness (victim tenant, sequential)', 'p50 ms', 'p99 ms', 'max ms', 'burst done', 'burst 429'];

if (require.main === module) {
  benchLogins()
    .then((phases) => {
      process.stdout.write(`${table(LOGIN_HEADER, loginRows(phases))}\n`);
      for (const m of loginMetrics(phases).filter((x) => x.name.startsWith('ratio'))) process.stdout.write(`${m.name}: ${fmt(m.value)}\n`);
    })
    .catch((e: unknown) => {
      process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
      process.exitCode = 1;
    });
}
