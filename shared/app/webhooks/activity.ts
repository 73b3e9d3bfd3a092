/** What the worker did for a tenant (observe(): tests count runs and attempts instead of waiting). */
export interface WebhookActivity {
  tenantId: string;
  /**
   * `run`: a subscription's run started; `attempt`: a delivery is being sent; `standby`: a look
   * found the tenant not served (suspended, scheduled for deletion, being created) and started
   * nothing; `dropped`: the tenant is gone (shredded, removed) and everything held for it was let go.
   */
  kind: 'run' | 'attempt' | 'standby' | 'dropped';
  subscriptionId?: string;
}

/** The worker's observers: each is told every activity; one that throws breaks nothing. */
export class Observers {
  private readonly all = new Set<(a: WebhookActivity) => void>();

  observe(listener: (a: WebhookActivity) => void): () => void {
    this.all.add(listener);
    return () => this.all.delete(listener);
  }

  tell(a: WebhookActivity): void {
    for (const o of this.all) {
      try {
        o(a);
      } catch {
        // An observer never breaks delivery.
      }
    }
  }
}
