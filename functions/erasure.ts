import { app } from '@azure/functions';
import { DRILL_PREFIX } from '../shared/app/service';
import { param } from './http';
import { errorMessage } from './log';
import { type Answer, http, type OperationCtx } from './operation';
import { timer } from './timer';
import { timerEntry } from './timers';

/** Erasure of a data subject (issue 14). */

export async function eraseSubject(ctx: OperationCtx<'eraseSubject'>): Promise<Answer<'eraseSubject'>> {
  const body = await ctx.body();
  const receipt = await ctx.services.erasure.eraseSubject(ctx.principal, param(ctx.req, 'subjectId'), body, ctx);
  return { status: 200, body: receipt };
}
http('eraseSubject', eraseSubject);

/**
 * Erasures a crash (or a failed rebuild) cut off after their `SubjectErased` was appended are
 * finished without anyone repeating the request: at start (in the background) and hourly, one
 * ready tenant at a time, a tenant whose active projections were built before its newest
 * erasure gets the erased keys removed from its keyring and its projections rebuilt
 * (shared/app/erasure/erase-subject.ts, finishInterrupted). A tenant whose log has not moved
 * since nothing was pending there costs two stats (no meta read); two reads otherwise.
 */
app.timer('finishErasures', {
  ...timerEntry('finishErasures'),
  handler: timer(
    async ({ services: s, log }) => {
      const n = { finished: 0, failed: 0 };
      // With a change journal (embedded), a tenant not written since the last run is answered from its mark.
      await s.erasure.beginRun();
      for (const tenant of await s.directory.listTenantIds()) {
        if (tenant.startsWith(DRILL_PREFIX)) continue;
        try {
          // A tenant whose log has not moved since nothing was pending costs two stats (or nothing), no meta read.
          if (await s.erasure.unchangedSinceNothingPending(tenant)) continue;
          if ((await s.directory.getMeta(tenant))?.status !== 'ready') {
            await s.erasure.notChecked(tenant);
            continue;
          }
          const r = await s.erasure.finishInterrupted(tenant);
          if (!r) continue;
          n.finished++;
          log.warn('erasure.finish', {
            tenant,
            outcome: 'finished',
            keysDestroyed: r.keysDestroyed,
            generation: r.generation,
            note: 'an erase cut off by a crash or a failed rebuild: keys removed, projections rebuilt',
          });
        } catch (e) {
          n.failed++;
          await s.erasure.notChecked(tenant);
          log.warn('erasure.finish', { tenant, outcome: 'failed', error: errorMessage(e), note: 'the next run retries' });
        }
      }
      await s.erasure.saveMarks();
      return n;
    },
    { quietWhenIdle: true },
  ),
});
