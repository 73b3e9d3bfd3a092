import type { InvocationContext } from '@azure/functions';
import { logInActiveSpan, type LogLevel, type RunSpan } from '../shared/telemetry';

/**
 * Structured logs: one JSON object per line, written through the invocation's logger (the
 * Functions host's log stream; stdout under the local host) and, when telemetry is on, also
 * as an OpenTelemetry log record whose attributes are the line's fields. Lines carry names,
 * ids, counts and outcomes only — never query strings, headers, bodies, keys or tokens.
 */
export type LogFields = Record<string, string | number | boolean | undefined>;
export type { LogLevel };

export function logLine(context: InvocationContext, level: LogLevel, fields: LogFields, span?: RunSpan): void {
  const clean: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) clean[k] = v;
  const line = JSON.stringify(clean);
  if (level === 'error') context.error(line);
  else if (level === 'warn') context.warn(line);
  else if (level === 'debug') context.debug(line);
  else context.log(line);
  if (span) span.log(level, line, clean);
  else logInActiveSpan(level, line, clean);
}

/** The per-run logger of a timer: every line carries the function name and correlation id. */
export interface RunLog {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

export function runLog(
  context: InvocationContext,
  fn: string,
  correlationId: string,
  span: RunSpan,
  onLine: (level: LogLevel) => void,
): RunLog {
  const write =
    (level: LogLevel) =>
    (event: string, fields: LogFields = {}) => {
      onLine(level);
      logLine(context, level, { event, fn, correlationId, ...fields }, span);
    };
  return { info: write('info'), warn: write('warn'), error: write('error') };
}

export { errorMessage, redact } from '../shared/redact';
