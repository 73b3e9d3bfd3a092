import type { Commit } from '../domain/events';
import type { ProjectionStore } from '../ports/projection-store';

/**
 * Commits this process has projected inline (the command path, {@link noteProjectedInline}),
 * per projection store object (one per tenant in this process) and generation, not yet passed
 * by the projector's checkpoint. The projector reads the feed as always and projects every
 * commit of a page except those found here: the command path has already written their view
 * and audit rows into that very generation, so projecting them again (reading the record's
 * view version, re-inserting audit rows that are ignored) is work for nothing.
 *
 * Only ever a reason to skip work already done, never to skip a commit: an entry is added
 * after the inline projection of that commit succeeded, names the commit by stream, version,
 * timestamp and correlation id (a commit of a file replaced under the process, or of another
 * process, is not matched) and the generation it went into (a rebuild's new generation is
 * projected in full). Entries are in memory only: after a restart (or kill -9) every commit
 * after the checkpoint is projected again, as before. Bounded: past INLINE_NOTES_MAX entries
 * the oldest are forgotten (which only costs the re-projection of those commits).
 */
const inlineNotes = new WeakMap<ProjectionStore, Set<string>>();

/** Entries kept per projection store at most (about 150 bytes each). */
const INLINE_NOTES_MAX = 20_000;

function noteKey(generation: number, c: Commit): string {
  return `${generation}\u0000${c.streamId}\u0000${c.version}\u0000${c.timestamp}\u0000${c.correlationId}`;
}

/** Called by the command path after `commit` was projected into `generation` of `store` (see inlineNotes). */
export function noteProjectedInline(store: ProjectionStore, generation: number, commit: Commit): void {
  let notes = inlineNotes.get(store);
  if (!notes) {
    notes = new Set();
    inlineNotes.set(store, notes);
  }
  if (notes.size >= INLINE_NOTES_MAX) {
    const oldest = notes.values().next();
    if (!oldest.done) notes.delete(oldest.value);
  }
  notes.add(noteKey(generation, commit));
}

/** How many commits of `store` are noted as projected inline and not yet passed by the projector (tests). */
export function inlineNotesPending(store: ProjectionStore): number {
  return inlineNotes.get(store)?.size ?? 0;
}

/**
 * A page of the feed split into the commits noted as projected inline into `generation` of
 * `store` (`done`: not projected again) and the rest (`todo`: projected as always).
 */
export function splitProjectedInline(store: ProjectionStore, generation: number, commits: Commit[]): { done: Commit[]; todo: Commit[] } {
  const notes = inlineNotes.get(store);
  const done = notes?.size ? commits.filter((c) => notes.has(noteKey(generation, c))) : [];
  const todo = done.length ? commits.filter((c) => !notes?.has(noteKey(generation, c))) : commits;
  return { done, todo };
}

/** Forgets the notes of `commits` once the projector's checkpoint has passed them. */
export function dropInlineNotes(store: ProjectionStore, generation: number, commits: Commit[]): void {
  const notes = inlineNotes.get(store);
  for (const c of commits) notes?.delete(noteKey(generation, c));
}
