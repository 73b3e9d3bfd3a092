/**
 * OpenTelemetry export to Azure Monitor (Application Insights), on only when configured.
 *
 * Nothing here loads an OpenTelemetry package until `startTelemetry` is called: without a
 * connection string the service runs exactly as before (structured lines on stdout only).
 * When started, `@azure/monitor-opentelemetry` (the Azure Monitor distro) exports spans and
 * log records in batches; `shutdownTelemetry` flushes them (the app calls it on terminate).
 *
 * What is exported is what the callers put into spans and log records: the function name,
 * correlation id, tenant id, HTTP method, route template and status, timer outcomes and counts,
 * and the structured log lines (their fields as properties). The distro's HTTP
 * instrumentation is switched off: incoming requests are our own spans (route template, never
 * the raw URL with its query string), and outgoing-request spans would carry full URLs.
 */
import { createRequire } from 'node:module';
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import type { AzureMonitorOpenTelemetryOptions } from '@azure/monitor-opentelemetry';

export interface TelemetryOptions {
  /** Application Insights connection string (InstrumentationKey=…;IngestionEndpoint=…). */
  connectionString: string;
  /** Entra credential for ingestion when the resource has local authentication disabled. */
  credential?: NonNullable<AzureMonitorOpenTelemetryOptions['azureMonitorExporterOptions']>['credential'];
  /** Instead of `credential`: ingest with the managed identity (user-assigned when clientId is given). */
  entra?: { clientId?: string };
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The span of one function invocation (HTTP request or timer run). */
export interface RunSpan {
  /** Runs `fn` with this span as the active span (log records and SDK spans nest under it). */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** One log record in this span: `body` is the line as written, `attributes` its fields. */
  log(level: LogLevel, body: string, attributes: Attributes): void;
  /** Ends the span with final attributes; `error` marks it failed (safe message only). */
  end(attributes: Attributes, error?: string): void;
  /** Drops a deferred span that never became visible (an idle timer run): nothing is exported. */
  discard(): void;
}

export interface RunSpanOptions {
  trigger: 'http' | 'timer';
  attributes: Attributes;
  /**
   * Create the span only once something is logged or at `end` (with the run's start time), so
   * that `discard` can drop idle runs of a frequent timer without exporting anything.
   */
  deferred?: boolean;
}

/** Minimal shape of an OpenTelemetry Logs API logger (`@opentelemetry/api-logs`). */
interface OtelLogger {
  emit(record: {
    body: string;
    severityNumber: number;
    severityText: string;
    attributes: Attributes;
    context: Context;
    timestamp: number;
  }): void;
}

interface Active {
  api: typeof import('@opentelemetry/api');
  tracer: Tracer;
  logger: OtelLogger;
  shutdown: () => Promise<void>;
}

let active: Active | undefined;

// OpenTelemetry SeverityNumber values (logs data model).
const SEVERITY: Record<LogLevel, { n: number; text: string }> = {
  debug: { n: 5, text: 'DEBUG' },
  info: { n: 9, text: 'INFO' },
  warn: { n: 13, text: 'WARN' },
  error: { n: 17, text: 'ERROR' },
};

/** Starts the Azure Monitor distro once per process. Returns false when it was already started. */
export function startTelemetry(o: TelemetryOptions): boolean {
  if (active) return false;
  const distro = require('@azure/monitor-opentelemetry') as typeof import('@azure/monitor-opentelemetry');
  let credential = o.credential;
  if (!credential && o.entra) {
    const { ManagedIdentityCredential } = require('@azure/identity') as typeof import('@azure/identity');
    credential = o.entra.clientId ? new ManagedIdentityCredential({ clientId: o.entra.clientId }) : new ManagedIdentityCredential();
  }
  distro.useAzureMonitor({
    azureMonitorExporterOptions: { connectionString: o.connectionString, ...(credential ? { credential } : {}) },
    instrumentationOptions: { http: { enabled: false } },
  });
  const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  // The logs API the distro registered its logger provider with: resolved from the distro's
  // own dependencies, so it is always the copy (and version) the distro uses.
  const logsApi = createRequire(require.resolve('@azure/monitor-opentelemetry'))('@opentelemetry/api-logs') as {
    logs: { getLogger(name: string): OtelLogger };
  };
  active = {
    api,
    tracer: api.trace.getTracer('tenant-ledger'),
    logger: logsApi.logs.getLogger('tenant-ledger'),
    shutdown: () => distro.shutdownAzureMonitor(),
  };
  return true;
}

/** Flushes and stops the exporter (idempotent; a no-op when telemetry was never started). */
export async function shutdownTelemetry(): Promise<void> {
  const a = active;
  active = undefined;
  await a?.shutdown();
}

export const telemetryEnabled = (): boolean => active !== undefined;

const NOOP: RunSpan = {
  run: (fn) => fn(),
  log: () => undefined,
  end: () => undefined,
  discard: () => undefined,
};

/**
 * A span for one invocation, named after the function. Under the Azure Functions host the
 * distro makes the host's invocation span the active (remote) parent: ours is then an
 * internal child of it, so the host's request is not counted twice. Without such a parent (the
 * local host) ours is the server span, i.e. the request itself.
 */
export function startRunSpan(name: string, o: RunSpanOptions): RunSpan {
  const a = active;
  if (!a) return NOOP;
  const { api } = a;
  const parent = api.context.active();
  const startTime = Date.now();
  const kind = api.trace.getSpanContext(parent)?.isRemote ? api.SpanKind.INTERNAL : api.SpanKind.SERVER;
  let span: Span | undefined;
  let ended = false;
  const ensure = (): Span => {
    span ??= a.tracer.startSpan(name, { kind, startTime, attributes: { 'faas.trigger': o.trigger, ...o.attributes } }, parent);
    return span;
  };
  const end = (attributes: Attributes, error?: string) => {
    if (ended) return;
    ended = true;
    const s = ensure();
    s.setAttributes(attributes);
    if (error !== undefined) s.setStatus({ code: api.SpanStatusCode.ERROR, message: error });
    s.end();
  };
  if (!o.deferred) ensure();
  return {
    run: (fn) => (span ? api.context.with(api.trace.setSpan(parent, span), fn) : fn()),
    log(level, body, attributes) {
      const s = SEVERITY[level];
      a.logger.emit({
        body,
        severityNumber: s.n,
        severityText: s.text,
        attributes,
        context: api.trace.setSpan(parent, ensure()),
        timestamp: Date.now(),
      });
    },
    end,
    discard() {
      // A span that was never created exports nothing; one that exists is ended as usual.
      if (span) end({});
      ended = true;
    },
  };
}

/** A log record in whatever span is active (e.g. a line written inside `RunSpan.run`). */
export function logInActiveSpan(level: LogLevel, body: string, attributes: Attributes): void {
  const a = active;
  if (!a) return;
  const s = SEVERITY[level];
  a.logger.emit({ body, severityNumber: s.n, severityText: s.text, attributes, context: a.api.context.active(), timestamp: Date.now() });
}
