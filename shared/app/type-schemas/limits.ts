/**
 * Bounds on tenant type schemas. They are constants, not settings: they protect the host and
 * the other tenants, not a deployment choice, and a schema that fits them on one instance
 * fits them on every instance. (The time budgets are generous multiples of what a schema at
 * the static bounds was measured to need on a 2-CPU VM; see README, "Tenant schemas".)
 */

/** Largest schema, as UTF-8 JSON. The request body limit defaults to the same 64 KiB. */
export const MAX_SCHEMA_BYTES = 64 * 1024;

/** Most keywords (keys of schema objects, summed over every subschema) in one schema. */
export const MAX_KEYWORDS = 3_000;

/** Deepest nesting of subschemas (properties → items → …). */
export const MAX_SCHEMA_DEPTH = 32;

/** Deepest nesting of any JSON value inside a schema (const, enum, default, examples). */
export const MAX_JSON_DEPTH = 128;

/** `uniqueItems: true` needs a `maxItems` of at most this in the same subschema. */
export const MAX_UNIQUE_ITEMS = 1_000;

/**
 * Largest compiled RE2 program of one `pattern` / `patternProperties` key (RE2's rough
 * measure of a pattern's cost; `[a-z]{100}` is 102). Matching is linear in the input times this.
 */
export const MAX_PATTERN_PROGRAM = 1_000;

/** A new schema must compile (in the sandbox worker) within this; else 422. */
export const DEFINE_COMPILE_BUDGET_MS = 5_000;

/**
 * A stored schema (defined earlier, possibly under older rules) gets more time: a busy
 * instance must not turn an accepted type into a broken one. Past it the write answers 422.
 */
export const STORED_COMPILE_BUDGET_MS = 10_000;

/** Validating one record; past it the worker is stopped and the write answers 422. */
export const VALIDATE_BUDGET_MS = 1_000;

/** Worker threads that compile and run tenant schemas (each tenant uses at most size−1 of them at once while others wait). */
export const SANDBOX_WORKERS = 2;

/** Heap of one sandbox worker; a schema or record that needs more stops that worker only. */
export const SANDBOX_WORKER_HEAP_MB = 256;

/** Compiled validators kept per worker (least recently used are dropped). */
export const SANDBOX_CACHE_ENTRIES = 500;

/** Errors reported for one record (a large array can otherwise produce thousands). */
export const MAX_REPORTED_ERRORS = 50;
