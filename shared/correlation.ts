import { randomUUID } from 'node:crypto';

/** A caller's `x-correlation-id` is adopted only when it looks like an id (no injection into logs). */
const VALID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The request's correlation id: the caller's when valid, else a new UUID. */
export function correlationIdFrom(incoming: string | null | undefined): string {
  return incoming && VALID.test(incoming) ? incoming : randomUUID();
}
