import { describe, expect, it } from 'vitest';
import { checkReadiness, type DependencyCheck } from '../../shared/app/readiness/readiness';

const never = () => new Promise<void>(() => undefined);

describe('checkReadiness', () => {
  it('is ready when every check answers; each result names the dependency and its kind', async () => {
    const r = await checkReadiness(
      [
        { name: 'tenant-store', kind: 'cosmos', check: async () => undefined },
        { name: 'keys', kind: 'keyvault', check: async () => undefined },
      ],
      { timeoutMs: 1000 },
    );
    expect(r.ready).toBe(true);
    expect(r.checks.map((c) => [c.name, c.kind, c.ok, c.timedOut])).toEqual([
      ['tenant-store', 'cosmos', true, false],
      ['keys', 'keyvault', true, false],
    ]);
  });

  it('a failing or hanging dependency makes it not ready, each under its own limit, and the others still answer', async () => {
    const seen: AbortSignal[] = [];
    const log: string[] = [];
    const checks: DependencyCheck[] = [
      { name: 'files', kind: 'blob', check: async () => undefined },
      {
        name: 'keys',
        kind: 'keyvault',
        check: async () => {
          throw new Error('403 Forbidden: caller lacks keys/list; token=eyJabc.def.ghi');
        },
      },
      {
        name: 'backup:eu-cloud',
        kind: 's3',
        check: (o) => {
          seen.push(o.abortSignal!);
          return never(); // ignores its signal: the limit still ends the wait
        },
      },
    ];
    const r = await checkReadiness(checks, { timeoutMs: 50, log: (l) => log.push(l) });
    expect(r.ready).toBe(false);
    const byName = Object.fromEntries(r.checks.map((c) => [c.name, c]));
    expect(byName.files).toMatchObject({ ok: true, timedOut: false });
    expect(byName.keys).toMatchObject({ ok: false, timedOut: false });
    expect(byName['backup:eu-cloud']).toMatchObject({ ok: false, timedOut: true });
    // The check was told to stop.
    expect(seen[0]?.aborted).toBe(true);
    // Messages go to the log (masked), never into the answer.
    expect(JSON.stringify(r)).not.toContain('Forbidden');
    expect(log.some((l) => l.startsWith('keys (keyvault) failed: Error: 403 Forbidden'))).toBe(true);
    expect(log.join('\n')).not.toContain('eyJabc.def.ghi');
    expect(log.some((l) => l.startsWith('backup:eu-cloud (s3) timed out'))).toBe(true);
  });

  it('no configured dependency at all is trivially ready', async () => {
    expect(await checkReadiness([], { timeoutMs: 10 })).toEqual({ ready: true, checks: [] });
  });
});
