/**
 * Readiness: can this instance serve requests now? Each dependency the configuration uses
 * (the tenant store, the key store, the file store, each backup tier) is asked one cheap
 * question under its own time limit, all at once; the instance is ready when every one
 * answered in time. Liveness (GET /api/health) is separate: it only says the process answers
 * and its configuration loads, so a slow dependency never gets a healthy instance restarted.
 *
 * The checks themselves are built by the composition root (shared/config/services.ts), which
 * knows which adapters are configured. Nothing here reveals an error to the caller: the
 * answer names each dependency with ok/failed, whether it timed out, and how long it took;
 * the messages go to the log only.
 */
import type { OperationOptions } from '../../ports/options';
import { errorMessage } from '../../redact';

/** One dependency to check: a cheap read that proves it is reachable and lets us in. */
export interface DependencyCheck {
  /** Stable name in the answer, e.g. `tenant-store`, `keys`, `files`, `backup:azure`. */
  name: string;
  /** What answers it, e.g. `cosmos`, `keyvault`, `blob`, `s3`, `folder` (no endpoint or secret). */
  kind: string;
  check(options: OperationOptions): Promise<void>;
}

export interface CheckResult {
  name: string;
  kind: string;
  ok: boolean;
  /** True when the check did not answer within the time limit. */
  timedOut: boolean;
  ms: number;
}

export interface ReadinessReport {
  ready: boolean;
  checks: CheckResult[];
}

export interface ReadinessOptions {
  /** Time limit of each check (they run at once). */
  timeoutMs: number;
  /** Monotonic milliseconds (performance.now in production); passed in for tests. */
  now?: () => number;
  /** Where failures are told, with their (masked) message: never in the answer. */
  log?: (line: string) => void;
}

class CheckTimeout extends Error {
  override readonly name = 'CheckTimeout';
}

/** Runs every check at once, each under `timeoutMs` (its abortSignal fires then). */
export async function checkReadiness(checks: readonly DependencyCheck[], o: ReadinessOptions): Promise<ReadinessReport> {
  const now = o.now ?? (() => performance.now());
  const results = await Promise.all(
    checks.map(async (c): Promise<CheckResult> => {
      const started = now();
      const abort = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const e = new CheckTimeout(`no answer within ${o.timeoutMs} ms`);
          abort.abort(e);
          reject(e);
        }, o.timeoutMs);
      });
      try {
        // A check that ignores its abortSignal still ends the wait at the time limit.
        await Promise.race([c.check({ abortSignal: abort.signal }), timeout]);
        return { name: c.name, kind: c.kind, ok: true, timedOut: false, ms: Math.round(now() - started) };
      } catch (e) {
        const timedOut = e instanceof CheckTimeout;
        o.log?.(`${c.name} (${c.kind}) ${timedOut ? 'timed out' : 'failed'}: ${errorMessage(e)}`);
        return { name: c.name, kind: c.kind, ok: false, timedOut, ms: Math.round(now() - started) };
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: results.every((r) => r.ok), checks: results };
}
