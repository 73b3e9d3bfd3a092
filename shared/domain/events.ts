/** Who caused an event: a user of the tenant, or the operator of the service. */
export type Author = { kind: 'user'; userId: string; email: string } | { kind: 'operator'; id: string } | { kind: 'system'; id: string };

/** An event as a command produces it, before the store stamps it. */
export interface NewEvent<T extends string = string, D = unknown> {
  type: T;
  data: D;
}

/** Metadata the caller passes with an append; the store adds the server timestamp. */
export interface AppendMeta {
  author: Author;
  correlationId: string;
  /** Set when the command carried an Idempotency-Key: stored with the commit, so a retry finds it. */
  idempotency?: Idempotency;
  /**
   * Only for restores from a backup: keep the commit's original server time instead of
   * stamping it now (still never earlier than the stream's previous commit).
   */
  originalTimestamp?: string;
}

export interface Idempotency {
  key: string;
  /** SHA-256 of the request (method, route, body): the same key with another body is refused. */
  requestHash: string;
}

/**
 * An event as stored. `version` is the position of its commit in the stream (1-based; a
 * commit normally holds one event, `index` orders events inside one commit).
 */
export interface StoredEvent<T extends string = string, D = unknown> {
  tenantId: string;
  streamId: string;
  version: number;
  index: number;
  type: T;
  /** Server time, UTC ISO-8601 with milliseconds. Never decreases within a stream. */
  timestamp: string;
  author: Author;
  correlationId: string;
  data: D;
}

/** One atomic append to one stream: what a single accepted command writes. */
export interface Commit {
  tenantId: string;
  streamId: string;
  version: number;
  timestamp: string;
  author: Author;
  correlationId: string;
  events: NewEvent[];
  idempotency?: Idempotency;
}

export function eventsOfCommit(c: Commit): StoredEvent[] {
  return c.events.map((e, index) => ({
    tenantId: c.tenantId,
    streamId: c.streamId,
    version: c.version,
    index,
    type: e.type,
    timestamp: c.timestamp,
    author: c.author,
    correlationId: c.correlationId,
    data: e.data,
  }));
}

export function assertNever(x: never, what = 'value'): never {
  throw new Error(`Unexpected ${what}: ${JSON.stringify(x)}`);
}
