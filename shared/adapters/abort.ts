/**
 * How adapters honour `OperationOptions.abortSignal`: one error shape for every aborted call,
 * whatever aborted it (the caller, a deadline, an SDK that noticed the signal first).
 */
import { isAbortError } from './sdk-errors';

export { isAbortError };

/**
 * The error an aborted port call rejects with: an Error named 'AbortError' (what `fetch`, the
 * Azure and AWS SDKs throw too). The signal's reason, when there is one, is kept as `cause`.
 */
export function abortError(signal?: AbortSignal): Error {
  const e = new Error('The operation was aborted.', signal?.reason !== undefined ? { cause: signal.reason } : undefined);
  e.name = 'AbortError';
  return e;
}

/** Throws `abortError` if the signal has fired: called before I/O starts and between the steps of long loops. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/**
 * Turns whatever an aborted SDK call threw into `abortError` when the caller's signal fired
 * (an SDK may throw its own AbortError class, or a DOMException carrying the reason); any
 * other error is returned unchanged.
 */
export function asAbortError(e: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted && (isAbortError(e) || e === signal.reason)) return abortError(signal);
  return e;
}

/**
 * Waits for `work` unless the signal fires first (then rejects with abortError at once). For
 * work shared by several callers (a cached open), which one caller's signal must not cancel.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
