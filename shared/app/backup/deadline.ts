/**
 * Deadlines for work on a backup tier. A tier can accept connections and never answer; the
 * adapters bound each request with their own timeouts, and the engine bounds each tier run with
 * a deadline on top: the run's abort signal fires and the caller stops waiting at once, even
 * when something inside ignores the signal (the abandoned work is still bounded by the
 * adapters' request timeouts and ends on its own).
 */

/** Runs `fn` with an abort signal that fires after `ms` (or when `parent` aborts). */
export async function withDeadline<T>(ms: number, what: string, fn: (signal: AbortSignal) => Promise<T>, parent?: AbortSignal): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onParentAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const e = deadlineError(`${what} did not finish within ${seconds(ms)}`);
      controller.abort(e);
      reject(e);
    }, ms);
    if (parent) {
      onParentAbort = () => {
        controller.abort(parent.reason);
        reject(parent.reason instanceof Error ? parent.reason : deadlineError(`${what} was cancelled`));
      };
      if (parent.aborted) onParentAbort();
      else parent.addEventListener('abort', onParentAbort, { once: true });
    }
  });
  stopped.catch(() => undefined);
  try {
    return await Promise.race([fn(controller.signal), stopped]);
  } finally {
    clearTimeout(timer);
    if (parent && onParentAbort) parent.removeEventListener('abort', onParentAbort);
  }
}

/** An error named 'TimeoutError' (what AbortSignal.timeout also uses). */
export function deadlineError(message: string): Error {
  const e = new Error(message);
  e.name = 'TimeoutError';
  return e;
}

/**
 * Whether a failure message says the tier did not answer in time (deadline, abort, socket or
 * try timeouts of the SDKs): such a tier is skipped for the rest of a run.
 */
export function isTimeoutMessage(message: string | undefined): boolean {
  return !!message && /TimeoutError|AbortError|ETIMEDOUT|did not finish within|timed? ?out/i.test(message);
}

export function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
