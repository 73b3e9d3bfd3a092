import type { InvocationContext, TimerHandler } from '@azure/functions';
import { newCorrelationId, type RequestInfo } from '../shared/app/service';
import { getServices, type Services } from '../shared/config/services';
import { startRunSpan } from '../shared/telemetry';
import { errorMessage, logLine, runLog, type RunLog } from './log';

/**
 * The timer edge, the counterpart of `handler` in http.ts: every run gets a correlation id
 * (also passed to service calls that store one on the events they append), writes its
 * per-tenant lines through `run.log` (structured, with that id), and ends with one line:
 *
 *   {"event":"timer","fn":"backupIncremental","correlationId":"…","outcome":"ok","ms":412,"tenants":2,…}
 *
 * `outcome` is "failed" when the run threw or logged an error line; a thrown error is logged
 * (name and message, secrets masked) and rethrown so the host records the invocation as failed.
 * With telemetry on, the run is a span named after the function and its lines are log records
 * in it.
 */
export interface TimerRun extends RequestInfo {
  services: Services;
  context: InvocationContext;
  log: RunLog;
}

/** Counts the run reports in its final line, e.g. `{ tenants: 3, commits: 12 }`. */
export type TimerCounts = Record<string, number>;

export interface TimerOptions {
  /**
   * For frequent timers: a run that did nothing (all counts zero, no lines, no failure) writes
   * no line and exports no span, so an idle service stays quiet.
   */
  quietWhenIdle?: boolean;
}

export function timer(fn: (run: TimerRun) => Promise<TimerCounts | undefined> | Promise<void>, options: TimerOptions = {}): TimerHandler {
  return async (trigger, context) => {
    const name = context.functionName;
    const correlationId = newCorrelationId();
    const started = Date.now();
    const span = startRunSpan(name, {
      trigger: 'timer',
      attributes: { correlationId, 'faas.invocation_id': context.invocationId },
      deferred: !!options.quietWhenIdle,
    });
    let lines = 0;
    let errors = 0;
    const log = runLog(context, name, correlationId, span, (level) => {
      lines++;
      if (level === 'error') errors++;
    });
    let counts: TimerCounts = {};
    let failure: { error: unknown } | undefined;
    try {
      counts = (await span.run(async () => fn({ correlationId, services: await getServices(), context, log }))) ?? {};
    } catch (e) {
      failure = { error: e };
    }
    if (options.quietWhenIdle && !failure && lines === 0 && Object.values(counts).every((n) => n === 0)) {
      span.discard();
      return;
    }
    const outcome = failure || errors > 0 ? 'failed' : 'ok';
    const error = failure ? errorMessage(failure.error) : undefined;
    // The host sets isPastDue when the run started later than scheduled (e.g. an earlier run
    // was still going): said in the end line, so a schedule that runs behind is visible.
    const pastDue = trigger?.isPastDue === true ? { pastDue: true } : {};
    logLine(
      context,
      outcome === 'ok' ? 'info' : 'error',
      { event: 'timer', fn: name, correlationId, outcome, ms: Date.now() - started, ...pastDue, ...counts, error },
      span,
    );
    span.end({ outcome, ...counts }, outcome === 'ok' ? undefined : (error ?? `${errors} error line(s)`));
    if (failure) throw failure.error;
  };
}
