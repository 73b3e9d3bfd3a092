import { StatusCodes } from '@azure/cosmos';
import type { Container } from '@azure/cosmos';
import { validation } from '../../domain/errors';
import type { DeliveryLease, DeliveryPositionStore, LeaseOptions, SavedDelivery } from '../../ports/delivery-positions';
import type { OperationOptions } from '../../ports/options';
import { throwIfAborted } from '../abort';
import { cosmosStatus } from './cosmos-event-store';

/** Partition of the delivery documents in the tenant's container (not a stream id: those never start with `$`). */
const PARTITION = '$webhooks';
const SUBSCRIPTION = /^[A-Za-z0-9_-]{1,64}$/;

interface DeliveryDocument {
  id: string;
  streamId: typeof PARTITION;
  kind: 'webhook-delivery';
  subscriptionId: string;
  /** The worker's state; '' while a lease was taken before any state was saved. */
  state: string;
  holder: string | null;
  expiresAtMs: number;
  _etag?: string;
}

function docId(subscriptionId: string): string {
  if (!SUBSCRIPTION.test(subscriptionId)) throw validation('A subscription id is 1-64 letters, digits, "_" or "-".');
  return `delivery-${subscriptionId}`;
}

const conflictOrGone = (e: unknown) => {
  const s = cosmosStatus(e);
  return s === StatusCodes.PreconditionFailed || s === StatusCodes.NotFound || s === StatusCodes.Conflict;
};

/**
 * Webhook delivery positions in the tenant's own container: one document per subscription
 * (partition `$webhooks`, id `delivery-<subscription id>`, kind 'webhook-delivery'; the event
 * store's reads skip other kinds). A lease is the document's holder and expiry, taken and
 * extended by `replace` conditioned on the document's `_etag` (If-Match), so of several
 * instances exactly one wins a race (the others get 412 and nothing changes). A write
 * acknowledged by Cosmos is durable (its own replication); the token is the etag.
 */
export class CosmosDeliveryPositions implements DeliveryPositionStore {
  constructor(private readonly container: Container) {}

  private async readDoc(subscriptionId: string, abortSignal?: AbortSignal): Promise<DeliveryDocument | undefined> {
    throwIfAborted(abortSignal);
    try {
      const { resource, statusCode } = await this.container.item(docId(subscriptionId), PARTITION).read<DeliveryDocument>({ abortSignal });
      if (statusCode === StatusCodes.NotFound || !resource) return undefined;
      return resource;
    } catch (e) {
      if (cosmosStatus(e) === StatusCodes.NotFound) return undefined;
      throw e;
    }
  }

  private async replace(doc: DeliveryDocument, etag: string, abortSignal?: AbortSignal): Promise<string | undefined> {
    throwIfAborted(abortSignal);
    const { _etag: _, ...body } = doc;
    try {
      const { resource } = await this.container
        .item(doc.id, PARTITION)
        .replace<DeliveryDocument>(body, { accessCondition: { type: 'IfMatch', condition: etag }, abortSignal });
      if (!resource?._etag) throw new Error('The delivery document has no _etag.');
      return resource._etag;
    } catch (e) {
      if (conflictOrGone(e)) return undefined;
      throw e;
    }
  }

  private async insert(doc: DeliveryDocument, abortSignal?: AbortSignal): Promise<string | undefined> {
    throwIfAborted(abortSignal);
    try {
      const { resource } = await this.container.items.create<DeliveryDocument>(doc, { abortSignal });
      if (!resource?._etag) throw new Error('The delivery document has no _etag.');
      return resource._etag;
    } catch (e) {
      if (cosmosStatus(e) === StatusCodes.Conflict) return undefined;
      throw e;
    }
  }

  async acquire(subscriptionId: string, holder: string, options: LeaseOptions): Promise<DeliveryLease | undefined> {
    const id = docId(subscriptionId);
    const expiresAtMs = options.nowMs + options.leaseMs;
    const doc = await this.readDoc(subscriptionId, options.abortSignal);
    const next: DeliveryDocument = doc
      ? { ...doc, holder, expiresAtMs }
      : { id, streamId: PARTITION, kind: 'webhook-delivery', subscriptionId, state: '', holder, expiresAtMs };
    if (doc && doc.holder !== null && doc.holder !== holder && doc.expiresAtMs > options.nowMs) return undefined;
    const token = doc ? await this.replace(next, doc._etag ?? '', options.abortSignal) : await this.insert(next, options.abortSignal);
    if (token === undefined) return undefined;
    return { subscriptionId, holder, token, expiresAtMs, state: next.state === '' ? undefined : next.state };
  }

  async save(lease: DeliveryLease, state: string, options: LeaseOptions): Promise<DeliveryLease | undefined> {
    const expiresAtMs = options.nowMs + options.leaseMs;
    const doc: DeliveryDocument = {
      id: docId(lease.subscriptionId),
      streamId: PARTITION,
      kind: 'webhook-delivery',
      subscriptionId: lease.subscriptionId,
      state,
      holder: lease.holder,
      expiresAtMs,
    };
    const token = await this.replace(doc, lease.token, options.abortSignal);
    return token === undefined ? undefined : { ...lease, token, expiresAtMs, state };
  }

  async release(lease: DeliveryLease, options: OperationOptions = {}): Promise<void> {
    const doc: DeliveryDocument = {
      id: docId(lease.subscriptionId),
      streamId: PARTITION,
      kind: 'webhook-delivery',
      subscriptionId: lease.subscriptionId,
      state: lease.state ?? '',
      holder: null,
      expiresAtMs: 0,
    };
    await this.replace(doc, lease.token, options.abortSignal);
  }

  async create(subscriptionId: string, state: string, options: OperationOptions = {}): Promise<boolean> {
    const id = docId(subscriptionId);
    const doc: DeliveryDocument = {
      id,
      streamId: PARTITION,
      kind: 'webhook-delivery',
      subscriptionId,
      state,
      holder: null,
      expiresAtMs: 0,
    };
    if ((await this.insert(doc, options.abortSignal)) !== undefined) return true;
    // A lease taken before any state was saved: fill it in (its holder's lease is then lost).
    const existing = await this.readDoc(subscriptionId, options.abortSignal);
    if (existing?.state !== '') return false;
    return (await this.replace({ ...existing, state }, existing._etag ?? '', options.abortSignal)) !== undefined;
  }

  async read(subscriptionId: string, options: OperationOptions = {}): Promise<SavedDelivery | undefined> {
    const doc = await this.readDoc(subscriptionId, options.abortSignal);
    if (!doc || doc.state === '') return undefined;
    return { state: doc.state, holder: doc.holder ?? undefined, expiresAtMs: doc.expiresAtMs };
  }

  async remove(subscriptionId: string, options: OperationOptions = {}): Promise<void> {
    const id = docId(subscriptionId);
    throwIfAborted(options.abortSignal);
    try {
      await this.container.item(id, PARTITION).delete({ abortSignal: options.abortSignal });
    } catch (e) {
      if (cosmosStatus(e) !== StatusCodes.NotFound) throw e;
    }
  }
}
