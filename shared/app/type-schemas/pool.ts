/**
 * A small pool of sandbox worker threads. Every task has a time budget: a worker that
 * overruns it is terminated (and replaced on demand), so a schema can cost its own tenant a
 * failed request but never the host its event loop. Tenants are served round-robin and one
 * tenant may occupy at most size−1 workers, so another tenant always finds a free one.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { SANDBOX_CACHE_ENTRIES } from './limits';
import type { Envelope, SandboxReply, SandboxRequest } from './protocol';

/** Most a worker may take to load before its first task's budget starts. */
const WORKER_START_MS = 30_000;

export type TaskOutcome = { kind: 'reply'; reply: SandboxReply } | { kind: 'timeout' } | { kind: 'crashed'; reason: string };

export interface TaskOptions {
  budgetMs: number;
  abortSignal?: AbortSignal;
}

interface Task {
  tenant: string;
  request: SandboxRequest;
  budgetMs: number;
  resolve(o: TaskOutcome): void;
  reject(e: unknown): void;
  abortSignal?: AbortSignal;
  onAbort?: () => void;
}

interface Slot {
  worker?: Worker;
  /** Schema keys this worker has compiled (it may have dropped some since; it then says "missing"). */
  keys: Set<string>;
  /** The worker said it is ready: task budgets do not include its start-up. */
  ready?: boolean;
  task?: Task;
  id: number;
  timer?: NodeJS.Timeout;
}

export interface PoolOptions {
  size: number;
  heapMb: number;
  /** Path of the compiled worker entry; default: worker.js beside this module (see workerEntry). */
  entry?: string;
}

export class SandboxPool {
  private readonly slots: Slot[];
  private readonly queues = new Map<string, Task[]>();
  private readonly running = new Map<string, number>();
  private nextId = 1;
  private closed = false;
  /** Workers started so far (tests and the bench read it). */
  started = 0;

  constructor(private readonly opts: PoolOptions) {
    this.slots = Array.from({ length: Math.max(1, opts.size) }, () => ({ id: 0, keys: new Set<string>() }));
  }

  run(tenant: string, request: SandboxRequest, options: TaskOptions): Promise<TaskOutcome> {
    if (this.closed) return Promise.reject(new Error('The schema sandbox is closed.'));
    options.abortSignal?.throwIfAborted();
    return new Promise<TaskOutcome>((resolve, reject) => {
      const task: Task = {
        tenant,
        request,
        budgetMs: options.budgetMs,
        resolve,
        reject,
        ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
      };
      if (task.abortSignal) {
        task.onAbort = () => {
          const q = this.queues.get(tenant);
          const i = q?.indexOf(task) ?? -1;
          if (i >= 0) {
            q!.splice(i, 1);
            if (q!.length === 0) this.queues.delete(tenant);
            reject(task.abortSignal!.reason);
          }
        };
        task.abortSignal.addEventListener('abort', task.onAbort, { once: true });
      }
      const q = this.queues.get(tenant) ?? [];
      q.push(task);
      this.queues.delete(tenant); // re-insert at the end: round-robin order of waiting tenants
      this.queues.set(tenant, q);
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queues.values()) for (const t of q) t.reject(new Error('The schema sandbox was closed.'));
    this.queues.clear();
    await Promise.all(
      this.slots.map(async (s) => {
        if (s.timer) clearTimeout(s.timer);
        s.task?.resolve({ kind: 'crashed', reason: 'the sandbox was closed' });
        s.task = undefined;
        const w = s.worker;
        s.worker = undefined;
        if (w) await w.terminate();
      }),
    );
  }

  private dispatch(): void {
    const perTenant = Math.max(1, this.slots.length - 1);
    for (;;) {
      const idle = this.slots.filter((s) => !s.task);
      if (idle.length === 0) return;
      const tenant = [...this.queues.entries()].find(([t, q]) => q.length > 0 && (this.running.get(t) ?? 0) < perTenant)?.[0];
      if (tenant === undefined) return;
      const q = this.queues.get(tenant)!;
      const task = q.shift()!;
      this.queues.delete(tenant);
      if (q.length > 0) this.queues.set(tenant, q); // to the back of the line
      if (task.onAbort) task.abortSignal!.removeEventListener('abort', task.onAbort);
      // Prefer the worker that already compiled this schema.
      const slot = idle.find((s) => s.keys.has(task.request.key)) ?? idle.find((s) => s.worker) ?? idle[0]!;
      this.start(slot, task);
    }
  }

  private start(slot: Slot, task: Task): void {
    // The first task starts every worker, so a second tenant never waits for a cold start.
    if (this.started === 0) for (const s of this.slots) if (s !== slot) this.spawn(s);
    const worker = slot.worker ?? this.spawn(slot);
    slot.task = task;
    slot.id = this.nextId++;
    if (slot.keys.size >= 2 * SANDBOX_CACHE_ENTRIES) slot.keys.clear();
    slot.keys.add(task.request.key);
    this.running.set(task.tenant, (this.running.get(task.tenant) ?? 0) + 1);
    worker.ref();
    // A worker still starting gets its start-up time on top (loading and warming Ajv takes ~0.3–1 s).
    this.startClock(slot, slot.ready ? 0 : WORKER_START_MS);
    const msg: Envelope<SandboxRequest> = { id: slot.id, body: task.request };
    worker.postMessage(msg);
  }

  private startClock(slot: Slot, extraMs: number): void {
    const task = slot.task;
    if (!task) return;
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = setTimeout(() => this.finish(slot, { kind: 'timeout' }, true), task.budgetMs + extraMs);
  }

  private spawn(slot: Slot): Worker {
    const worker = new Worker(this.opts.entry ?? workerEntry(), { resourceLimits: { maxOldGenerationSizeMb: this.opts.heapMb } });
    this.started++;
    slot.worker = worker;
    slot.ready = false;
    slot.keys.clear();
    worker.unref();
    worker.on('message', (m: Envelope<SandboxReply>) => {
      if (m.body.kind === 'ready') {
        if (slot.worker !== worker) return;
        slot.ready = true;
        this.startClock(slot, 0);
        return;
      }
      if (slot.worker === worker && slot.task && m.id === slot.id) this.finish(slot, { kind: 'reply', reply: m.body }, false);
    });
    const lost = (reason: string) => {
      if (slot.worker !== worker) return;
      slot.worker = undefined;
      slot.keys.clear();
      if (slot.task) this.finish(slot, { kind: 'crashed', reason }, false);
    };
    worker.on('error', (e: Error & { code?: string }) =>
      lost(e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'it ran out of memory' : `${e.name}: ${e.message}`),
    );
    worker.on('exit', (code) => lost(`the worker exited (${code})`));
    return worker;
  }

  private finish(slot: Slot, outcome: TaskOutcome, kill: boolean): void {
    const task = slot.task;
    if (!task) return;
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.task = undefined;
    const n = (this.running.get(task.tenant) ?? 1) - 1;
    if (n > 0) this.running.set(task.tenant, n);
    else this.running.delete(task.tenant);
    if (kill && slot.worker) {
      const w = slot.worker;
      slot.worker = undefined;
      slot.keys.clear();
      void w.terminate();
    } else {
      slot.worker?.unref();
    }
    task.resolve(outcome);
    if (!this.closed) this.dispatch();
  }
}

/**
 * The compiled worker script. Beside this module in the build (dist/…/worker.js); when this
 * module runs from TypeScript sources (the unit tests), the build's copy, which the test
 * setup compiles first (Node 20 cannot start a worker from a .ts file).
 */
export function workerEntry(): string {
  const beside = join(__dirname, 'worker.js');
  if (existsSync(beside)) return beside;
  return join(__dirname, '..', '..', '..', 'dist', 'shared', 'app', 'type-schemas', 'worker.js');
}
