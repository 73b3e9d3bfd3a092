import { randomUUID } from 'node:crypto';
import type { Idempotency } from '../domain/events';
import type { OperationOptions } from '../ports/options';

/** What every use case gets about the request it serves (for the log's commit metadata). */
export interface RequestInfo {
  correlationId: string;
}

/**
 * The options bag of a command use case (the last parameter, after the principal and the
 * command's `input`): the request it serves, its Idempotency-Key, and `abortSignal`.
 */
export interface CommandOptions extends RequestInfo, OperationOptions {
  /** The request's Idempotency-Key and hash: a retried command appends nothing new. */
  idempotency?: Idempotency | undefined;
}

export const newCorrelationId = (): string => randomUUID();
