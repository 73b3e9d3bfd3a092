import { AppError } from '../../domain/errors';

/**
 * Fair admission to CPU-heavy password hashing (scrypt runs on libuv's thread pool, about
 * 30-100 ms of one core each). Without it, a burst of sign-ins against one tenant queues in
 * the thread pool in arrival order and every other tenant's sign-in waits behind the whole
 * burst.
 *
 *  - At most `slots` hashes run at once in this process.
 *  - One tenant holds at most `perTenant` of them and one client at most `perClient`, so
 *    with the defaults (slots 2, perTenant 1, perClient 1) a burst never occupies every
 *    slot: another tenant's sign-in starts as soon as it arrives.
 *  - Waiting hashes are admitted round-robin over tenants, and within a tenant round-robin
 *    over clients: a burst from one client delays only that client's own attempts.
 *  - One client may have at most `perClientQueue` attempts waiting (per tenant), and the
 *    whole gate at most `maxQueue`; beyond that the attempt is refused at once with 429,
 *    before any hashing.
 */
export interface HashingGateOptions {
  slots?: number;
  perTenant?: number;
  perClient?: number;
  perClientQueue?: number;
  maxQueue?: number;
}

interface Waiter {
  start: () => void;
}

interface ClientQueue {
  running: number;
  waiting: Waiter[];
  /** Sequence number of its last admission (0 = never): the longest-unserved goes first. */
  served: number;
}

interface TenantQueue {
  running: number;
  clients: Map<string, ClientQueue>;
  served: number;
}

export class HashingGate {
  private readonly o: Required<HashingGateOptions>;
  private running = 0;
  private queued = 0;
  private seq = 0;
  private readonly tenants = new Map<string, TenantQueue>();

  constructor(options: HashingGateOptions = {}) {
    const slots = Math.max(1, options.slots ?? 2);
    this.o = {
      slots,
      perTenant: Math.max(1, Math.min(slots, options.perTenant ?? Math.max(1, slots - 1))),
      perClient: Math.max(1, Math.min(slots, options.perClient ?? 1)),
      perClientQueue: options.perClientQueue ?? 4,
      maxQueue: options.maxQueue ?? 1000,
    };
  }

  /** Runs `fn` when the gate admits it; throws 429 (nothing run) when this client's queue is full. */
  async run<T>(tenantId: string, client: string, fn: () => Promise<T>): Promise<T> {
    const t = this.tenant(tenantId);
    const c = this.client(t, client);
    if (c.waiting.length >= this.o.perClientQueue || this.queued >= this.o.maxQueue) {
      this.prune(tenantId, client);
      throw new AppError('too_many_requests', 'Too many sign-in attempts at once from your address. Try again shortly.', {
        retryAfterSeconds: 1,
      });
    }
    await new Promise<void>((start) => {
      c.waiting.push({ start });
      this.queued++;
      this.dispatch();
    });
    try {
      return await fn();
    } finally {
      this.running--;
      t.running--;
      c.running--;
      this.prune(tenantId, client);
      this.dispatch();
    }
  }

  /** For tests and the bench: what runs and waits now. */
  stats(): { running: number; queued: number } {
    return { running: this.running, queued: this.queued };
  }

  private dispatch(): void {
    while (this.running < this.o.slots) {
      const next = this.pick();
      if (!next) return;
      const [t, c] = next;
      const w = c.waiting.shift()!;
      this.queued--;
      this.running++;
      t.running++;
      c.running++;
      // Round-robin: the served tenant and client go to the back of their lines.
      t.served = c.served = ++this.seq;
      w.start();
    }
  }

  /** The longest-unserved tenant with room and a client ready, and its longest-unserved ready client. */
  private pick(): [TenantQueue, ClientQueue] | undefined {
    let best: [TenantQueue, ClientQueue] | undefined;
    for (const t of this.tenants.values()) {
      if (t.running >= this.o.perTenant || (best && t.served >= best[0].served)) continue;
      let client: ClientQueue | undefined;
      for (const c of t.clients.values()) {
        if (c.waiting.length > 0 && c.running < this.o.perClient && (!client || c.served < client.served)) client = c;
      }
      if (client) best = [t, client];
    }
    return best;
  }

  private tenant(id: string): TenantQueue {
    let t = this.tenants.get(id);
    if (!t) {
      t = { running: 0, clients: new Map(), served: 0 };
      this.tenants.set(id, t);
    }
    return t;
  }

  private client(t: TenantQueue, id: string): ClientQueue {
    let c = t.clients.get(id);
    if (!c) {
      c = { running: 0, waiting: [], served: 0 };
      t.clients.set(id, c);
    }
    return c;
  }

  /** Forgets idle clients and tenants so the maps stay as small as the current load. */
  private prune(tenantId: string, clientId: string): void {
    const t = this.tenants.get(tenantId);
    if (!t) return;
    const c = t.clients.get(clientId);
    if (c && c.running === 0 && c.waiting.length === 0) t.clients.delete(clientId);
    if (t.running === 0 && t.clients.size === 0) this.tenants.delete(tenantId);
  }
}
