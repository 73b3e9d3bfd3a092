import type { HttpResponseInit } from '@azure/functions';
import type { Progress, ProgressSink } from '../shared/app/progress';
import { json, problemResponse, streamBody, type Ctx } from './http';
import { logLine } from './log';

/** The media type of a progress stream: one JSON object per line. */
export const PROGRESS_MEDIA_TYPE = 'application/x-ndjson';
/** At most one progress line this often (the last one before the answer is always sent); also how often the stream looks. */
const PROGRESS_INTERVAL_MS = 250;
/** A line at least this often while nothing moves, so proxies never see an idle connection. */
const HEARTBEAT_MS = 10_000;

export interface Outcome {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/**
 * Long operations (restore, backup, drill, projection rebuild, key rotation, tenant revert). By default the
 * answer comes when the work is done, as usual. A client that sends
 * `Accept: application/x-ndjson` instead gets 200 at once and a stream of lines:
 *
 *   {"progress":{"phase":"import","done":1200,"total":5000}}   (throttled, plus heartbeats)
 *   {"status":201,"body":{…the usual answer…}}                  (always the last line)
 *
 * A failure after the stream has started ends it with `{"status":4xx/5xx,"body":{problem}}`.
 * Authentication and input checks run before `work`, so they still answer with their own
 * status. Answering at once also keeps a restore longer than a front end's idle limit
 * (230 s in Azure) from being cut off. A client that goes away does not stop the work.
 */
export async function withProgress(ctx: Ctx, work: (report: ProgressSink) => Promise<Outcome>): Promise<HttpResponseInit> {
  // Each phase is logged when it starts (with the previous phase's final count), streamed or not.
  let loggedPhase: Progress | undefined;
  let latest: Progress | undefined;
  const log = (p: Progress, previous?: Progress) =>
    logLine(ctx.context, 'info', {
      event: 'progress',
      fn: ctx.context.functionName,
      correlationId: ctx.correlationId,
      tenant: ctx.req.params.tenant,
      phase: p.phase,
      ...(previous ? { previousPhase: previous.phase, previousDone: previous.done } : {}),
      ...(p.total !== undefined ? { total: p.total } : {}),
    });
  /** The final state of each phase that ended: streamed even when a phase lasted less than one interval. */
  const ended: Progress[] = [];
  const report: ProgressSink = (p) => {
    if (p.phase !== loggedPhase?.phase) {
      log(p, latest);
      loggedPhase = p;
      if (latest && ended.length < 100) ended.push(latest);
    }
    latest = p;
  };

  const accept = ctx.req.headers.get('accept') ?? '';
  if (!accept.toLowerCase().includes(PROGRESS_MEDIA_TYPE)) {
    const r = await work(report);
    return json(r.status, r.body, r.headers);
  }

  let sentAt = Date.now();
  let wake: (() => void) | undefined;
  let outcome: Outcome | undefined;
  const finished = work(report).then(
    (r) => {
      outcome = r;
    },
    (e: unknown) => {
      const p = problemResponse(e, ctx.correlationId, ctx.context);
      outcome = { status: p.status ?? 500, body: JSON.parse(String(p.body)) };
    },
  );
  void finished.then(() => wake?.());

  async function* lines(): AsyncGenerator<string> {
    let last: Progress | undefined;
    while (!outcome) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, PROGRESS_INTERVAL_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
      if (outcome) break;
      for (const p of ended.splice(0)) if (p !== last) yield `${JSON.stringify({ progress: p })}\n`;
      if (latest !== last || Date.now() - sentAt >= HEARTBEAT_MS) {
        last = latest;
        sentAt = Date.now();
        yield `${JSON.stringify({ progress: latest ?? { phase: 'start', done: 0 } })}\n`;
      }
    }
    for (const p of ended.splice(0)) if (p !== last) yield `${JSON.stringify({ progress: p })}\n`;
    if (latest && latest !== last) yield `${JSON.stringify({ progress: latest })}\n`;
    const o = outcome!;
    yield `${JSON.stringify({ status: o.status, body: o.body, ...(o.headers?.location ? { location: o.headers.location } : {}) })}\n`;
  }

  return { status: 200, headers: { 'content-type': PROGRESS_MEDIA_TYPE, 'cache-control': 'no-store' }, body: streamBody(lines()) };
}
