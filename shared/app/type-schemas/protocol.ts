/** Messages between the main thread and a sandbox worker (structured-clone safe). */
import type { FieldError } from '../../domain/errors';
import type { Verdict } from './engine';
import type { SchemaProblem } from './rules';

export type SandboxRequest =
  /** Compile a new definition with every rule; cache the validator under `key`. */
  | { op: 'define'; key: string; schema?: unknown; schemaJson?: string }
  /**
   * Validate the record with the validator cached under `key`; compile the schema (stored mode)
   * if sent. Both travel as JSON text: copying a string is cheaper for the event loop than a
   * structured clone of the object (and they came from JSON, so nothing is lost).
   */
  | { op: 'validate'; key: string; schemaJson?: string; dataJson: string };

export type SandboxReply =
  /** The worker loaded and warmed its compiler (sent once, id 0). */
  | { kind: 'ready' }
  | { kind: 'defined'; problems: SchemaProblem[] }
  /** The worker has no validator under this key: send the request again with the schema. */
  | { kind: 'missing' }
  /** The stored schema cannot run (hard problems). */
  | { kind: 'unusable'; problems: SchemaProblem[] }
  | { kind: 'verdict'; verdict: Verdict };

export interface Envelope<T> {
  id: number;
  body: T;
}

export type { FieldError };
