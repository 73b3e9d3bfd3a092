/** How the projector reads its pages of the feed (shared/app/projector.ts). */
import type { EventStore, FeedPage } from '../ports/event-store';
import { yieldToEventLoop } from './yield';

/**
 * Feed commits read per call at most: one synchronous read on the embedded store (about 5 ms
 * here), so a larger page (BULK_BATCH) is read in several calls with a yield between them.
 */
export const FEED_READ = 500;

/**
 * Commits per page for a rebuild and a restore's projection pass (issue 15): a record changed
 * several times within a page has its view written once per page instead of once per 500
 * commits, and the page's writes and checkpoint are shared by more commits. Both build a
 * generation nobody reads yet and start it over after a failure or a crash.
 */
export const BULK_BATCH = 5_000;

/** Up to `max` commits of the feed after `checkpoint`, read FEED_READ at a time with yields between. */
export async function readFeedInSlices(events: EventStore, checkpoint: string | undefined, max: number): Promise<FeedPage> {
  let want = Math.min(max, FEED_READ);
  let page = await events.readFeed(checkpoint, { maxCount: want });
  const commits = page.commits.slice();
  while (page.commits.length === want && commits.length < max) {
    await yieldToEventLoop();
    want = Math.min(max - commits.length, FEED_READ);
    page = await events.readFeed(page.checkpoint, { maxCount: want });
    for (const c of page.commits) commits.push(c);
  }
  return { commits, checkpoint: page.checkpoint };
}
