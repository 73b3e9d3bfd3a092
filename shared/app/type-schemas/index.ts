/**
 * Tenant type schemas are untrusted code: this is the only place that compiles or runs them.
 *
 * - Compiled and run in worker threads (pool.ts) with a time budget and a heap limit, so a
 *   64 KB schema compile or a slow record never holds the shared event loop.
 * - One Ajv instance per type (engine.ts): `$id`/`$ref` resolve only inside that type.
 * - Strict vocabulary, bounds, no `$async`, RE2 patterns, no `$ref` loops (rules.ts).
 * - A validator answer other than true/false is an error, never "valid".
 */
import { createHash } from 'node:crypto';
import { type AppError, conflict, unprocessable, type FieldError } from '../../domain/errors';
import { DEFINE_COMPILE_BUDGET_MS, SANDBOX_WORKER_HEAP_MB, SANDBOX_WORKERS, STORED_COMPILE_BUDGET_MS, VALIDATE_BUDGET_MS } from './limits';
import { type DefinitionCheck, definitionRefusal } from '../../domain/type-set';
import { recordSchemaRefusal, type SchemaCheck } from '../../domain/records';
import { SandboxPool, type TaskOutcome } from './pool';
import type { SchemaProblem } from './rules';

/** A stored type schema as the sandbox knows it: its cache key (tenant, type and content). */
export interface SchemaHandle {
  readonly key: string;
  readonly type: string;
  readonly schema: Record<string, unknown>;
  /** The schema as JSON text (what the worker compiles). */
  readonly json: string;
}

/** Time budgets of sandbox tasks (the constants in limits.ts; tests pass smaller ones). */
export interface Budgets {
  defineMs: number;
  validateMs: number;
  storedCompileMs: number;
}

export class TypeSchemaSandbox {
  private readonly pool: SandboxPool;
  private readonly budgets: Budgets;

  constructor(opts: { workers?: number; heapMb?: number; entry?: string; budgets?: Partial<Budgets> } = {}) {
    this.budgets = {
      defineMs: DEFINE_COMPILE_BUDGET_MS,
      validateMs: VALIDATE_BUDGET_MS,
      storedCompileMs: STORED_COMPILE_BUDGET_MS,
      ...opts.budgets,
    };
    this.pool = new SandboxPool({
      size: opts.workers ?? SANDBOX_WORKERS,
      heapMb: opts.heapMb ?? SANDBOX_WORKER_HEAP_MB,
      ...(opts.entry ? { entry: opts.entry } : {}),
    });
  }

  /** Workers started so far. */
  get workersStarted(): number {
    return this.pool.started;
  }

  /** The handle of a schema of a tenant's type (cheap; computed once per type version). */
  handle(tenantId: string, type: string, schema: Record<string, unknown>): SchemaHandle {
    const json = JSON.stringify(schema);
    const key = createHash('sha256').update(`${tenantId}\u0000${type}\u0000${json}`).digest('base64url');
    return { key, type, schema, json };
  }

  /** Checks a schema an administrator defines: 422 naming every problem, else resolves. */
  async checkDefinition(tenantId: string, type: string, schema: unknown, opts: { abortSignal?: AbortSignal } = {}): Promise<void> {
    const check = await this.inspectDefinition(tenantId, type, schema, opts);
    if (check.outcome === 'refused') throw definitionRefusal(check.problems);
  }

  /**
   * Compiles a schema an administrator defines under the define budget: `refused` with every
   * problem found, or `accepted`. Throws (422) when it is not an object, or when compiling
   * timed out or crashed the worker.
   */
  async inspectDefinition(
    tenantId: string,
    type: string,
    schema: unknown,
    opts: { abortSignal?: AbortSignal } = {},
  ): Promise<Exclude<DefinitionCheck, { outcome: 'unchecked' }>> {
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema))
      throw unprocessable('A type schema is a JSON Schema object.');
    const h = this.handle(tenantId, type, schema as Record<string, unknown>);
    // JSON text is cheaper to hand over than a structured clone, but turns 1e400 (Infinity) into
    // null: a schema whose text has a null goes as an object, so the worker can name the number.
    const body = h.json.includes('null') ? { schema } : { schemaJson: h.json };
    const out = await this.pool.run(tenantId, { op: 'define', key: h.key, ...body }, { budgetMs: this.budgets.defineMs, ...opts });
    const reply = replyOf(out, {
      timeout: () => unprocessable(`The schema did not compile within ${this.budgets.defineMs / 1000} s; make it smaller or simpler.`),
      crashed: (why) => unprocessable(`The schema could not be compiled: ${why}.`),
    });
    if (reply.kind !== 'defined') throw new Error(`unexpected sandbox reply ${reply.kind}`);
    if (reply.problems.length === 0) return { outcome: 'accepted' };
    return { outcome: 'refused', problems: reply.problems.map((p): FieldError => ({ path: p.path, message: p.message })) };
  }

  /** Validates a record's data against its type's stored schema: resolves when valid, 422 when not. */
  async validate(tenantId: string, h: SchemaHandle, data: unknown, opts: { abortSignal?: AbortSignal } = {}): Promise<void> {
    const check = await this.check(tenantId, h, data, opts);
    if (check.outcome === 'invalid') throw recordSchemaRefusal(check.errors);
  }

  /**
   * Validates a record's data against its type's stored schema: `valid`, or `invalid` with the
   * errors (the record decider decides what that means). Throws when validation could not run:
   * timed out, crashed, failed inside the validator (422) or a schema that cannot run safely (409).
   */
  async check(
    tenantId: string,
    h: SchemaHandle,
    data: unknown,
    opts: { abortSignal?: AbortSignal } = {},
  ): Promise<Exclude<SchemaCheck, { outcome: 'unchecked' }>> {
    const dataJson = JSON.stringify(data) ?? 'null';
    let out = await this.pool.run(tenantId, { op: 'validate', key: h.key, dataJson }, { budgetMs: this.budgets.validateMs, ...opts });
    if (out.kind === 'reply' && out.reply.kind === 'missing') {
      // First use on this worker: it compiles the stored schema, then validates.
      out = await this.pool.run(
        tenantId,
        { op: 'validate', key: h.key, schemaJson: h.json, dataJson },
        { budgetMs: this.budgets.storedCompileMs + this.budgets.validateMs, ...opts },
      );
    }
    const reply = replyOf(out, {
      timeout: () => unprocessable(`Validating this record against the schema of type "${h.type}" took too long and was stopped.`),
      crashed: (why) => unprocessable(`Validating this record against the schema of type "${h.type}" failed: ${why}.`),
    });
    switch (reply.kind) {
      case 'verdict': {
        const v = reply.verdict;
        if ('failed' in v) throw unprocessable(`The schema of type "${h.type}" could not validate this record: ${v.failed}.`);
        return v.valid ? { outcome: 'valid' } : { outcome: 'invalid', errors: v.errors };
      }
      case 'unusable':
        throw conflict(
          `The schema of type "${h.type}" was accepted by an earlier version of the service but cannot run safely: ${first(reply.problems)}. ` +
            `Its records can still be read; to write them again an administrator redefines the type (PUT …/types/${h.type}).`,
        );
      case 'missing':
      case 'defined':
      case 'ready':
        throw new Error(`unexpected sandbox reply ${reply.kind}`);
      default: {
        const never: never = reply;
        throw new Error(`unknown sandbox reply ${JSON.stringify(never)}`);
      }
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

function replyOf(out: TaskOutcome, on: { timeout(): AppError; crashed(why: string): AppError }) {
  switch (out.kind) {
    case 'reply':
      return out.reply;
    case 'timeout':
      throw on.timeout();
    case 'crashed':
      throw on.crashed(out.reason);
    default: {
      const never: never = out;
      throw new Error(`unknown sandbox outcome ${JSON.stringify(never)}`);
    }
  }
}

const first = (problems: SchemaProblem[]) => (problems[0] ? `${problems[0].path || '(root)'}: ${problems[0].message}` : 'unknown problem');

let shared: TypeSchemaSandbox | undefined;
/** The process's sandbox for callers that do not wire their own (its workers never keep a process alive). */
export function sharedSandbox(): TypeSchemaSandbox {
  shared ??= new TypeSchemaSandbox();
  return shared;
}
