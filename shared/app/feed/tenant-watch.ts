import type { ChangeSignal } from '../changes/change-signal';

/**
 * Watches the in-process change signal for one tenant. Start watching BEFORE reading the log,
 * then `wait`: an append that lands between the read and the wait is not missed (it has
 * already set `changed`). Nothing spins: a wait is one timer and one listener.
 */
export class TenantWatch {
  private changed = false;
  private wake: (() => void) | undefined;
  private readonly unsubscribe: () => void;

  constructor(signal: ChangeSignal, tenantId: string) {
    this.unsubscribe = signal.subscribe((id) => {
      if (id !== tenantId) return;
      this.changed = true;
      this.wake?.();
    });
  }

  /**
   * Resolves when the tenant's log moved since the watch started (or since the last wait),
   * after `ms`, or when `abortSignal` fires — whichever comes first. Never rejects.
   */
  async wait(ms: number, abortSignal?: AbortSignal): Promise<'changed' | 'timeout' | 'aborted'> {
    if (this.changed) {
      this.changed = false;
      return 'changed';
    }
    if (abortSignal?.aborted) return 'aborted';
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      return await new Promise<'changed' | 'timeout' | 'aborted'>((resolve) => {
        this.wake = () => resolve('changed');
        timer = setTimeout(() => resolve('timeout'), Math.max(0, ms));
        onAbort = () => resolve('aborted');
        abortSignal?.addEventListener('abort', onAbort, { once: true });
      });
    } finally {
      this.wake = undefined;
      this.changed = false;
      clearTimeout(timer);
      if (onAbort) abortSignal?.removeEventListener('abort', onAbort);
    }
  }

  stop(): void {
    this.unsubscribe();
    this.wake = undefined;
  }
}
