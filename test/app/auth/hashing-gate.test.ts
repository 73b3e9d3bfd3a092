import { describe, expect, it } from 'vitest';
import { HashingGate } from '../../../shared/app/auth/hashing-gate';

/** A job the test finishes by hand, so admission order is observed without any timing. */
function job(log: string[], name: string) {
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  return {
    fn: async () => {
      log.push(`start ${name}`);
      await done;
      log.push(`end ${name}`);
      return name;
    },
    finish: () => finish(),
  };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('HashingGate', () => {
  it("a burst from one client never holds every slot: another tenant's hash starts at once", async () => {
    const gate = new HashingGate({ slots: 2, perClientQueue: 100 });
    const log: string[] = [];
    const burst = Array.from({ length: 20 }, (_, i) => job(log, `a${i}`));
    const runs = burst.map((j) => gate.run('acme', 'attacker', j.fn));
    await tick();
    expect(log).toEqual(['start a0']);
    const victim = job(log, 'victim');
    const v = gate.run('globex', 'user', victim.fn);
    await tick();
    expect(log).toEqual(['start a0', 'start victim']);
    victim.finish();
    expect(await v).toBe('victim');
    for (const j of burst) j.finish();
    await Promise.all(runs);
    expect(gate.stats()).toEqual({ running: 0, queued: 0 });
  });

  it('admits waiting clients round-robin, so a burst delays only its own client', async () => {
    const gate = new HashingGate({ slots: 1, perClientQueue: 100 });
    const log: string[] = [];
    const a = Array.from({ length: 5 }, (_, i) => job(log, `a${i}`));
    const runsA = a.map((j) => gate.run('acme', 'attacker', j.fn));
    const b = job(log, 'b0');
    const runB = gate.run('acme', 'user', b.fn);
    await tick();
    expect(log).toEqual(['start a0']);
    a[0]!.finish();
    await runsA[0];
    await tick();
    // Next is the other client, not the attacker's second attempt.
    expect(log.filter((l) => l.startsWith('start'))).toEqual(['start a0', 'start b0']);
    b.finish();
    await runB;
    for (const j of a) j.finish();
    await Promise.all(runsA);
  });

  it("refuses at once (429, nothing run) beyond a client's queue", async () => {
    const gate = new HashingGate({ slots: 1, perClientQueue: 2 });
    const log: string[] = [];
    const jobs = Array.from({ length: 4 }, (_, i) => job(log, `a${i}`));
    const runs = jobs.map((j) => gate.run('acme', 'c', j.fn).catch((e: unknown) => e));
    await tick();
    // 1 running + 2 waiting; the 4th is refused.
    const refused = (await runs[3]) as { code?: string; details?: { retryAfterSeconds?: number } };
    expect(refused.code).toBe('too_many_requests');
    expect(refused.details?.retryAfterSeconds).toBeGreaterThan(0);
    for (const j of jobs) j.finish();
    await Promise.all(runs);
    expect(log).not.toContain('start a3');
  });

  it('releases its slot when the job throws', async () => {
    const gate = new HashingGate({ slots: 1 });
    await expect(gate.run('t', 'c', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await gate.run('t', 'c', async () => 'ok')).toBe('ok');
    expect(gate.stats()).toEqual({ running: 0, queued: 0 });
  });
});
