import { randomUUID } from 'node:crypto';

/** What every use case gets about the request it serves (for the log's commit metadata). */
export interface RequestInfo {
  correlationId: string;
}

export const newCorrelationId = (): string => randomUUID();
