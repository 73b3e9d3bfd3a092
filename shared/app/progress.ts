/**
 * What a long operation (restore, backup, drill, projection rebuild, key rotation, revert) reports while it works:
 * its phase, how far it is, and how far it will go when that is known. Reporting is cheap
 * and synchronous; whoever listens throttles.
 */
export interface Progress {
  phase: string;
  done: number;
  /** Known upper bound of `done` for this phase (omitted when it cannot be known up front). */
  total?: number;
}

export type ProgressSink = (p: Progress) => void;
