import { expect } from 'vitest';

/** The error `p` rejects with; fails the test when it resolves instead. */
export async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  let value: unknown;
  try {
    value = await p;
  } catch (e) {
    return e;
  }
  return expect.fail(`expected a rejection, got a value (${value === undefined ? 'undefined' : typeof value})`);
}
