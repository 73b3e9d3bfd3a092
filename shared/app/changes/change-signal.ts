import type { AppendResult, BulkImport, EventStore } from '../../ports/event-store';
import type { TenantDirectory } from '../../ports/tenant-directory';
import { ForwardingDirectory } from '../tenants/forwarding-directory';

/**
 * The command path's signal to background work in the same process: "tenant X's log moved"
 * (or its status changed).
 * Every event store the service opens goes through `SignallingDirectory`, so every append
 * (records, users, files, suspensions, restores) notifies, whoever made it. Writes made by
 * another process are not seen here: the projector's slow sweep catches those
 * (shared/app/changes/change-driven-projector.ts).
 */
export class ChangeSignal {
  private readonly listeners = new Set<(tenantId: string) => void>();

  /** Calls `listener` after every append in this process; returns the unsubscribe function. */
  subscribe(listener: (tenantId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  notify(tenantId: string): void {
    for (const l of this.listeners) {
      try {
        l(tenantId);
      } catch {
        // A listener never breaks the command that notified it.
      }
    }
  }
}

/**
 * A tenant directory whose event stores notify `signal` after each append (succeeded or not).
 * Everything else passes through (rest parameters: options bags included).
 */
export class SignallingDirectory extends ForwardingDirectory {
  constructor(
    inner: TenantDirectory,
    private readonly signal: ChangeSignal,
  ) {
    super(inner);
  }

  /** A status change (suspended, resumed, scheduled for deletion, cancelled, restored) notifies too: the webhook worker stands a tenant's deliveries by or resumes them. */
  override async setStatus(...a: Parameters<TenantDirectory['setStatus']>): Promise<void> {
    try {
      await this.inner.setStatus(...a);
    } finally {
      this.signal.notify(a[0]);
    }
  }
  override async openEventStore(...a: Parameters<TenantDirectory['openEventStore']>): Promise<EventStore> {
    return signalling(await this.inner.openEventStore(...a), this.signal);
  }
}

function signalling(events: EventStore, signal: ChangeSignal): EventStore {
  // Rest parameters: whatever the port's methods take (options bags included) passes through.
  return {
    tenantId: events.tenantId,
    // The store's subject-key table passes through (the keyring writes rows with commits, issue 14).
    ...(events.subjectKeys ? { subjectKeys: events.subjectKeys } : {}),
    async append(...args: Parameters<EventStore['append']>): Promise<AppendResult> {
      try {
        return await events.append(...args);
      } finally {
        // Also after a failure: an append can fail after its commit (e.g. a lost answer).
        signal.notify(events.tenantId);
      }
    },
    ...(events.appendMany
      ? {
          async appendMany(...args: Parameters<NonNullable<EventStore['appendMany']>>): Promise<AppendResult[]> {
            try {
              return await events.appendMany!(...args);
            } finally {
              signal.notify(events.tenantId);
            }
          },
        }
      : {}),
    // A restore's bulk import passes through too (without it the import falls back to appendMany).
    ...(events.beginImport
      ? {
          async beginImport(...args: Parameters<NonNullable<EventStore['beginImport']>>): Promise<BulkImport> {
            const bulk = await events.beginImport!(...args);
            return {
              async append(...a: Parameters<BulkImport['append']>): Promise<void> {
                try {
                  await bulk.append(...a);
                } finally {
                  signal.notify(events.tenantId);
                }
              },
              end: () => bulk.end(),
            };
          },
        }
      : {}),
    readStream: (...a: Parameters<EventStore['readStream']>) => events.readStream(...a),
    streamVersion: (...a: Parameters<EventStore['streamVersion']>) => events.streamVersion(...a),
    listStreams: (...a: Parameters<EventStore['listStreams']>) => events.listStreams(...a),
    readFeed: (...a: Parameters<EventStore['readFeed']>) => events.readFeed(...a),
    feedLag: (...a: Parameters<EventStore['feedLag']>) => events.feedLag(...a),
    ...(events.endCheckpoint
      ? { endCheckpoint: (...a: Parameters<NonNullable<EventStore['endCheckpoint']>>) => events.endCheckpoint!(...a) }
      : {}),
    findByIdempotencyKey: (...a: Parameters<EventStore['findByIdempotencyKey']>) => events.findByIdempotencyKey(...a),
    readSnapshot: (...a: Parameters<EventStore['readSnapshot']>) => events.readSnapshot(...a),
    writeSnapshot: (...a: Parameters<EventStore['writeSnapshot']>) => events.writeSnapshot(...a),
  };
}
