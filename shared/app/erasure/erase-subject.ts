/**
 * `POST /api/t/{tenant}/subjects/{subjectId}/erase` (issue 14): an administrator erases a data
 * subject. In this order, each step idempotent, so a retry after a crash at any point finishes
 * the job:
 *
 * 1. `SubjectErased` is appended to the `erasures` stream (who, when, why, the subject's
 *    reference and the ids of the keys destroyed; never what was erased). From then on readers
 *    treat those keys as destroyed even while step 2 has not happened yet.
 * 2. The subject's key object is deleted from the keyring (and dropped from memory).
 * 3. The projections are rebuilt from the log into a new generation and the old one is dropped,
 *    so no list row or audit row keeps a plaintext copy. The new generation's checkpoint records
 *    the `erasures` stream version it was built after ({@link ProjectionCheckpoint.erasures}).
 *
 * An erase cut off after step 1 (a crash, a failed rebuild) is finished by the caller repeating
 * it, or by the service itself: {@link ErasureService.finishInterrupted}, which the
 * `finishErasures` timer runs for every ready tenant at start and hourly.
 */
import type { Author } from '../../domain/events';
import { checkReason, ERASURES_STREAM, erasureDecider } from '../../domain/erasure';
import { validation } from '../../domain/errors';
import type { Clock } from '../../ports/runtime';
import type { ProjectionCheckpoint } from '../../ports/projection-store';
import { handleCommand } from '../command-handling/handle-command';
import { ProjectionService } from '../projections';
import { type RequestInfo, TenantService, type UserPrincipal } from '../service';
import { withStores } from '../tenants/with-stores';
import type { PersonalDataVault } from './vault';
import type { TenantDirectory } from '../../ports/tenant-directory';
import { askedAbout, beginJournalRun, endJournalRun, type JournalRun } from '../changes/journal-run';
import { LogMarks } from '../changes/log-marks';

export const SUBJECT_ID_MAX = 200;

export interface ErasureReceipt {
  subjectId: string;
  /** The keyed hash that names the subject in the log and the keyring. */
  subjectRef: string;
  erasedAt: string;
  erasedBy: Author;
  reason: string;
  /** Subject keys destroyed by this call (0 on a repeat). */
  keysDestroyed: number;
  /** True when an earlier call had already erased everything there was. */
  alreadyErased: boolean;
}

export interface ErasureDeps {
  tenants: Pick<TenantService, 'tenantStores'>;
  personal: PersonalDataVault;
  clock: Clock;
  log?: (message: string) => void;
  /**
   * With a directory that fingerprints logs, `finishInterrupted` skips a tenant whose log has not
   * moved since it last found nothing pending there (marks `erasure-finish`): two stats instead
   * of opening every tenant at start and hourly (issue 11).
   */
  directory?: TenantDirectory;
}

export function checkSubjectId(subjectId: unknown): string {
  if (
    typeof subjectId !== 'string' ||
    subjectId.length === 0 ||
    subjectId.length > SUBJECT_ID_MAX ||
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    /[\u0000-\u001f\u007f]/.test(subjectId)
  )
    throw validation(`A subject id is 1-${SUBJECT_ID_MAX} printable characters.`, [{ path: 'subjectId', message: 'invalid subject id' }]);
  return subjectId;
}

export class ErasureService {
  private readonly marks: LogMarks | undefined;
  /** The run over every tenant under way (beginRun). */
  private run: JournalRun | undefined;

  constructor(private readonly d: ErasureDeps) {
    this.marks = d.directory?.logFingerprint ? new LogMarks(d.directory, 'erasure-finish', d.clock) : undefined;
  }

  /**
   * Starts a run over every tenant (the finishErasures timer): with a change journal (embedded),
   * a tenant it does not list since the last run is answered from its mark without a
   * fingerprint (shared/app/changes/journal-run.ts). End it with `saveMarks`.
   */
  async beginRun(): Promise<void> {
    this.run = undefined;
    if (!this.marks || !this.d.directory) return;
    this.run = await beginJournalRun(this.d.directory, this.marks, this.d.clock.now());
  }

  /** The run did not finish its look at the tenant (not ready, or the look failed): the next run looks again whatever the journal says. */
  async notChecked(tenantId: string): Promise<void> {
    if (this.run) await this.marks?.forget(tenantId);
  }

  /** Saves what `finishInterrupted` found (the timer calls it after a run; a lost save only costs re-checks), then the run's place in the journal. */
  async saveMarks(): Promise<void> {
    const run = this.run;
    this.run = undefined;
    if (run && this.marks) await endJournalRun(run, this.marks);
    await this.marks?.flush({ force: true });
  }

  async eraseSubject(p: UserPrincipal, subjectId: unknown, body: unknown, req: RequestInfo): Promise<ErasureReceipt> {
    TenantService.require(p, 'manage');
    const id = checkSubjectId(subjectId);
    const reason = checkReason((body as { reason?: unknown } | null)?.reason);
    // 1. and 2. under one lease of the tenant's stores (no eviction closes the log meanwhile).
    const { r, subjectRef } = await withStores(this.d.tenants.tenantStores, p.tenantId, async ({ events }) => {
      const vault = this.d.personal;
      const subjectRef = await vault.subjectRef(events, id);
      const ring = await vault.keyring(events);
      const held = await ring.entriesOf(subjectRef);
      const r = await handleCommand(
        events,
        ERASURES_STREAM,
        erasureDecider,
        { kind: 'erase', subjectRef, keyIds: held.map((e) => e.keyId), reason },
        { meta: { author: { kind: 'user', userId: p.userId, email: p.email }, correlationId: req.correlationId }, retries: 5 },
      );
      // 2. The keys themselves (also when a crash left them behind after step 1).
      await ring.destroy(subjectRef);
      return { r, subjectRef };
    });
    // 3. No projection keeps a copy: rebuilt from the log, which now opens to the marker.
    await new ProjectionService({ tenants: this.d.tenants, clock: this.d.clock, ...(this.d.log ? { log: this.d.log } : {}) }).rebuild(
      p.tenantId,
    );
    const done = r.state.get(subjectRef)!;
    return {
      subjectId: id,
      subjectRef,
      erasedAt: done.erasedAt,
      erasedBy: done.erasedBy,
      reason: done.reason,
      keysDestroyed: r.commit ? (r.newEvents[0]?.data.keyIds.length ?? 0) : 0,
      alreadyErased: !r.commit,
    };
  }

  /**
   * True when the tenant's log has not moved since `finishInterrupted` last found nothing pending
   * there (two stats, nothing opened or read): the timer then needs neither its meta nor its
   * stores. Both things compared live in the tenant's store (the erasures stream, the projection
   * checkpoint): while its fingerprint is the one taken when nothing was pending, nothing is.
   */
  async unchangedSinceNothingPending(tenantId: string): Promise<boolean> {
    const marks = this.marks;
    if (!marks) return false;
    // Not listed by the journal since the last run: its log has not moved since its mark.
    if (askedAbout(this.run, tenantId)) return (await marks.recorded()).get(tenantId) !== undefined;
    return marks.unchanged(tenantId, await marks.fingerprint(tenantId).catch(() => undefined));
  }

  /**
   * Finishes what interrupted erases left undone in one tenant: when its `erasures` stream has
   * an erasure newer than the one its active projection generation was built after
   * ({@link ProjectionCheckpoint.erasures}), destroys every keyring entry an erasure names
   * (step 2, idempotent) and rebuilds the projections (step 3). Nothing is appended. Returns
   * undefined when nothing was pending (two reads: the stream's version and the checkpoint).
   */
  async finishInterrupted(tenantId: string): Promise<{ keysDestroyed: number; generation: number } | undefined> {
    if (await this.unchangedSinceNothingPending(tenantId)) return undefined;
    const marks = this.marks;
    let fp: string | undefined;
    const pending = await this.d.tenants.tenantStores.use(
      tenantId,
      async (t) => {
        // After the open (opening can write), before the reads: a write meanwhile changes it.
        fp = await marks?.fingerprint(tenantId).catch(() => undefined);
        const version = await t.events.streamVersion(ERASURES_STREAM);
        if (version === 0) return false;
        const projections = await t.projections();
        const cp: ProjectionCheckpoint | undefined = await projections.getCheckpoint(await projections.activeGeneration());
        return (cp?.erasures ?? 0) < version;
      },
      { transient: true },
    );
    if (!pending) {
      await marks?.record(tenantId, fp);
      return undefined;
    }
    await marks?.forget(tenantId);
    const keysDestroyed = await withStores(this.d.tenants.tenantStores, tenantId, async ({ events }) => {
      const vault = this.d.personal;
      const ring = await vault.keyring(events);
      let n = 0;
      for (const [ref, erasure] of await vault.erasureSet(events)) {
        const held = (await ring.entriesOf(ref)).filter((e) => erasure.keyIds.includes(e.keyId));
        if (held.length > 0) {
          await ring.destroy(ref, { keyIds: erasure.keyIds });
          n += held.length;
        }
      }
      return n;
    });
    const { generation } = await new ProjectionService({
      tenants: this.d.tenants,
      clock: this.d.clock,
      ...(this.d.log ? { log: this.d.log } : {}),
    }).rebuild(tenantId);
    return { keysDestroyed, generation };
  }
}
