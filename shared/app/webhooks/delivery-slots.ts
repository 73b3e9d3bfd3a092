/**
 * The delivery slots of one instance: at most `tenantMax` deliveries in flight per tenant and
 * `instanceMax` in all (each delivery is one outgoing socket, bounded by the timeout). So a
 * thousand tenants with a slow receiver each hold at most `instanceMax` sockets, not a thousand.
 *
 * Fair between tenants: when the instance is at its cap, a freed slot goes to the tenants
 * waiting in turn (round robin: the tenant served last goes to the back), not to whoever asked
 * first, so a tenant with many subscriptions or a big backlog cannot crowd the others out; within
 * a tenant, its waiters are served in the order they asked.
 */
export class DeliverySlots {
  private inFlight = 0;
  /** Per tenant: deliveries in flight and waiters (a tenant with neither has no entry). */
  private readonly tenants = new Map<string, { inFlight: number; waiting: Waiter[] }>();
  /** Tenants with waiters, in turn order (Map: insertion order; re-inserted to go to the back). */
  private readonly turn = new Map<string, true>();

  constructor(
    private readonly tenantMax: number,
    private readonly instanceMax: number,
  ) {}

  /**
   * A slot for one delivery of `tenantId`; call the returned release exactly once when it ends.
   * Rejects (and waits no more) when `abortSignal` fires while waiting.
   */
  acquire(tenantId: string, abortSignal?: AbortSignal): Promise<() => void> {
    abortSignal?.throwIfAborted();
    let t = this.tenants.get(tenantId);
    if (!t) {
      t = { inFlight: 0, waiting: [] };
      this.tenants.set(tenantId, t);
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        grant: () => {
          abortSignal?.removeEventListener('abort', onAbort);
          resolve(this.releaser(tenantId));
        },
      };
      const onAbort = () => {
        const e = this.tenants.get(tenantId);
        if (e) {
          e.waiting = e.waiting.filter((x) => x !== w);
          if (e.waiting.length === 0) this.turn.delete(tenantId);
          this.tidy(tenantId);
        }
        reject(abortSignal?.reason ?? new Error('aborted'));
      };
      abortSignal?.addEventListener('abort', onAbort, { once: true });
      t.waiting.push(w);
      if (!this.turn.has(tenantId)) this.turn.set(tenantId, true);
      this.grant();
    });
  }

  /** Deliveries in flight now: on the instance, or of one tenant. */
  active(tenantId?: string): number {
    return tenantId === undefined ? this.inFlight : (this.tenants.get(tenantId)?.inFlight ?? 0);
  }

  /** Deliveries waiting for a slot now (all tenants). */
  waiting(): number {
    let n = 0;
    for (const t of this.tenants.values()) n += t.waiting.length;
    return n;
  }

  /** Whether anything is held for the tenant (a slot in use or a waiter). */
  holds(tenantId: string): boolean {
    return this.tenants.has(tenantId);
  }

  private releaser(tenantId: string): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inFlight--;
      const t = this.tenants.get(tenantId);
      if (t) t.inFlight--;
      this.tidy(tenantId);
      this.grant();
    };
  }

  /** Hands free slots to waiting tenants in turn. */
  private grant(): void {
    while (this.inFlight < this.instanceMax) {
      let next: string | undefined;
      for (const id of this.turn.keys()) {
        const t = this.tenants.get(id);
        if (t && t.waiting.length > 0 && t.inFlight < this.tenantMax) {
          next = id;
          break;
        }
      }
      if (next === undefined) return;
      const t = this.tenants.get(next)!;
      const w = t.waiting.shift()!;
      t.inFlight++;
      this.inFlight++;
      // Served: to the back of the turn (or out of it when nothing of it waits).
      this.turn.delete(next);
      if (t.waiting.length > 0) this.turn.set(next, true);
      w.grant();
    }
  }

  private tidy(tenantId: string): void {
    const t = this.tenants.get(tenantId);
    if (t && t.inFlight === 0 && t.waiting.length === 0) this.tenants.delete(tenantId);
  }
}

interface Waiter {
  grant(): void;
}
