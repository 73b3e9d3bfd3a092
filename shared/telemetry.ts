/**
 * OpenTelemetry export to Azure Monitor (Application Insights), on only when configured.
 *
 * Nothing here loads an OpenTelemetry package until `startTelemetry` is called: without a
 * connection string the service runs exactly as before (structured lines on stdout only).
 * When started, the Azure Monitor exporter (`@azure/monitor-opentelemetry-exporter`) is wired
 * to the minimal OpenTelemetry SDK pieces this service uses, instead of the whole Azure
 * Monitor distro (`@azure/monitor-opentelemetry`, ~1,700 modules, most of a 4 s cold start):
 *   - traces: a tracer provider with a batch span processor and the trace exporter, sampled
 *     like the distro's default (at most 5 traces/s, RateLimitedSampler) unless
 *     OTEL_TRACES_SAMPLER says otherwise (read by the SDK itself);
 *   - logs: a logger provider with a batch processor and the log exporter;
 *   - context: AsyncLocalStorage, W3C trace context; under the Functions host the host's
 *     invocation (traceparent) becomes the active remote parent, as the distro did;
 *   - Azure SDK calls (Cosmos DB, Blob, Key Vault) become dependency spans through
 *     `@azure/opentelemetry-instrumentation-azure-sdk`, as in the distro.
 * Not taken from the distro: HTTP instrumentation (off already: incoming requests are our own
 * spans, with the route template, never the raw URL; outgoing-request spans would carry full
 * URLs), metrics (performance counters), live metrics and statsbeat.
 * `shutdownTelemetry` flushes both batches (the app calls it on terminate).
 *
 * What is exported is what the callers put into spans and log records: the function name,
 * correlation id, tenant id, HTTP method, route template and status, timer outcomes and counts,
 * and the structured log lines (their fields as properties).
 */
import { hostname } from 'node:os';
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import type { AzureMonitorExporterOptions } from '@azure/monitor-opentelemetry-exporter';

export interface TelemetryOptions {
  /** Application Insights connection string (InstrumentationKey=…;IngestionEndpoint=…). */
  connectionString: string;
  /** Entra credential for ingestion when the resource has local authentication disabled. */
  credential?: AzureMonitorExporterOptions['credential'];
  /** Instead of `credential`: ingest with the managed identity (user-assigned when clientId is given). */
  entra?: { clientId?: string };
  /** Cloud role name and instance (service.name, service.instance.id); default: the app's name and the host name. */
  role?: { name?: string; instance?: string };
  /** Let the SDK sample as OTEL_TRACES_SAMPLER says; otherwise at most 5 traces/s. */
  samplerFromEnvironment?: boolean;
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

/** Traces per second kept by default, as the distro's default sampler (RateLimitedSampler). */
const DEFAULT_TRACES_PER_SECOND = 5;

/** Starts the export once per process. Returns false when it was already started. */
export function startTelemetry(o: TelemetryOptions): boolean {
  if (active) return false;
  const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  const { AzureMonitorTraceExporter, AzureMonitorLogExporter, RateLimitedSampler } =
    require('@azure/monitor-opentelemetry-exporter') as typeof import('@azure/monitor-opentelemetry-exporter');
  const { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler } =
    require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs') as typeof import('@opentelemetry/sdk-logs');
  const { AsyncLocalStorageContextManager } =
    require('@opentelemetry/context-async-hooks') as typeof import('@opentelemetry/context-async-hooks');
  const { W3CTraceContextPropagator } = require('@opentelemetry/core') as typeof import('@opentelemetry/core');
  const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');

  let credential = o.credential;
  if (!credential && o.entra) {
    const { ManagedIdentityCredential } = require('@azure/identity') as typeof import('@azure/identity');
    credential = o.entra.clientId ? new ManagedIdentityCredential({ clientId: o.entra.clientId }) : new ManagedIdentityCredential();
  }
  const exporterOptions: AzureMonitorExporterOptions = { connectionString: o.connectionString, ...(credential ? { credential } : {}) };
  // Cloud role (service.name) and instance, as Application Insights shows them: the Function
  // App's name and instance in Azure (the host sets WEBSITE_* variables), else the app's name.
  const resource = resourceFromAttributes({
    'service.name': o.role?.name ?? 'tenant-ledger',
    'service.instance.id': o.role?.instance ?? hostname(),
  });

  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  api.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const tracerProvider = new BasicTracerProvider({
    resource,
    // OTEL_TRACES_SAMPLER set: the SDK reads it; otherwise the distro's default rate limit.
    ...(o.samplerFromEnvironment ? {} : { sampler: new ParentBasedSampler({ root: new RateLimitedSampler(DEFAULT_TRACES_PER_SECOND) }) }),
    spanProcessors: [new BatchSpanProcessor(new AzureMonitorTraceExporter(exporterOptions))],
  });
  api.trace.setGlobalTracerProvider(tracerProvider);
  const loggerProvider = new LoggerProvider({
    resource,
    processors: [new BatchLogRecordProcessor(new AzureMonitorLogExporter(exporterOptions))],
  });

  // Azure SDK calls → dependency spans: the instrumentation gives @azure/core-tracing an
  // OpenTelemetry instrumenter. Applied at once to the copy the SDKs share (it may be loaded
  // already: the local host creates its services before it loads the app), and by the
  // instrumentation's require hook to any other copy loaded later.
  const { AzureSdkInstrumentation } =
    require('@azure/opentelemetry-instrumentation-azure-sdk') as typeof import('@azure/opentelemetry-instrumentation-azure-sdk');
  const azureSdk = new AzureSdkInstrumentation({ enabled: false });
  azureSdk.setTracerProvider(tracerProvider);
  for (const d of azureSdk.getModuleDefinitions()) if (d.name === '@azure/core-tracing') d.patch?.(require('@azure/core-tracing'));
  azureSdk.enable();

  const hook = functionsInvocationContext(api);
  active = {
    api,
    tracer: api.trace.getTracer('tenant-ledger'),
    logger: loggerProvider.getLogger('tenant-ledger') as OtelLogger,
    shutdown: async () => {
      hook?.dispose();
      azureSdk.disable();
      await Promise.all([tracerProvider.shutdown(), loggerProvider.shutdown()]);
    },
  };
  return true;
}

/**
 * Under a Functions host, every invocation runs in the context of the host's own invocation
 * span (its traceparent), so ours becomes its child and the request is not counted twice;
 * this is what the distro's Azure Functions hook did. Nothing when `@azure/functions-core`
 * (provided by the host, or by host/functions-core.ts locally) is not there.
 */
function functionsInvocationContext(api: typeof import('@opentelemetry/api')): { dispose(): void } | undefined {
  interface TraceContext {
    traceParent?: string | null;
    traceparent?: string | null;
    traceState?: string | null;
    tracestate?: string | null;
  }
  interface PreInvocation {
    invocationContext: { traceContext?: TraceContext };
    functionCallback: (...args: unknown[]) => unknown;
  }
  let core: { registerHook(name: 'preInvocation', cb: (c: PreInvocation) => void): { dispose(): void } };
  try {
    core = require('@azure/functions-core') as typeof core;
  } catch {
    return undefined;
  }
  return core.registerHook('preInvocation', (c) => {
    const t = c.invocationContext.traceContext;
    const parent = t?.traceParent ?? t?.traceparent;
    const ctx = parent
      ? api.propagation.extract(api.context.active(), { traceparent: parent, tracestate: t?.traceState ?? t?.tracestate ?? '' })
      : api.context.active();
    c.functionCallback = api.context.bind(ctx, c.functionCallback);
  });
}

/** Flushes and stops the export (idempotent; a no-op when telemetry was never started). */
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
