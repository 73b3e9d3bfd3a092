import type { OperationOptions } from './options';

/**
 * Where one webhook subscription's delivery stands, kept durably in the tenant's own store
 * (embedded: a table in the tenant's database, fsynced like its commits; Cosmos: one document
 * per subscription in the tenant's container), with a lease so that of several instances only
 * one delivers a subscription at a time.
 *
 * The state is opaque to the store (the webhook worker's JSON: feed position, counters, last
 * error; never tenant data, never the secret). Leases are compare-and-set on a token the store
 * changes with every write (Cosmos: the document's etag): a write with a stale token changes
 * nothing. A lease held by a crashed instance expires at `expiresAtMs`; times are the callers'
 * clocks (`nowMs`), so instances' clocks must agree to well within a lease (NTP does that).
 */
export interface DeliveryLease {
  readonly subscriptionId: string;
  readonly holder: string;
  /** The store's version of the document this lease was taken or last saved at. */
  readonly token: string;
  readonly expiresAtMs: number;
  /** The saved state when the lease was taken (undefined: nothing saved yet). */
  readonly state: string | undefined;
}

export interface SavedDelivery {
  state: string;
  /** Who holds the lease (undefined: nobody, or it was released). */
  holder: string | undefined;
  expiresAtMs: number;
}

export interface LeaseOptions extends OperationOptions {
  /** The caller's clock now (epoch ms). */
  nowMs: number;
  /** How long the lease lasts from `nowMs`. */
  leaseMs: number;
}

/** The delivery positions of ONE tenant's webhook subscriptions. */
export interface DeliveryPositionStore {
  /**
   * Takes the subscription's lease for `holder` when nobody holds it, its lease expired, or
   * `holder` holds it already; undefined (nothing changed) while another holder's lease is
   * live or when another taker won the race.
   */
  acquire(subscriptionId: string, holder: string, options: LeaseOptions): Promise<DeliveryLease | undefined>;
  /**
   * Saves `state` and extends the lease, only while `lease` is current; durable when it
   * resolves. Undefined (nothing written) when the lease was lost: another holder took it
   * after it expired, or the subscription's position was removed.
   */
  save(lease: DeliveryLease, state: string, options: LeaseOptions): Promise<DeliveryLease | undefined>;
  /** Gives a current lease up (the state stays); a lost lease is left alone. */
  release(lease: DeliveryLease, options?: OperationOptions): Promise<void>;
  /**
   * Writes a subscription's first state (a new subscription's start), unless one is saved
   * already; durable when it resolves. Returns whether it wrote.
   */
  create(subscriptionId: string, state: string, options?: OperationOptions): Promise<boolean>;
  /** The saved state, whoever holds the lease (status views). */
  read(subscriptionId: string, options?: OperationOptions): Promise<SavedDelivery | undefined>;
  /** Forgets a removed subscription's position (a later save of its lease changes nothing). Idempotent. */
  remove(subscriptionId: string, options?: OperationOptions): Promise<void>;
}
