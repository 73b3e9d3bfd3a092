import { expect } from 'vitest';

/** A signal that has already fired, with a reason, as a caller's AbortController leaves it. */
export function abortedSignal(): AbortSignal {
  const c = new AbortController();
  c.abort(new Error('caller gave up'));
  return c.signal;
}

/** The call rejects with an Error named 'AbortError' (the one shape every adapter uses). */
export async function expectAborted(call: Promise<unknown> | (() => Promise<unknown>)): Promise<void> {
  const err = await (typeof call === 'function' ? call() : call).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the call should have been refused').toBeInstanceOf(Error);
  expect((err as Error).name).toBe('AbortError');
}

/** Consumes an async iterable, so a refusal that surfaces on the first `next()` is seen. */
export async function drain(items: AsyncIterable<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const x of items) out.push(x);
  return out;
}
