import { createHash } from 'node:crypto';
import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { Idempotency } from '../shared/domain/events';
import type { ValidateFunction } from 'ajv/dist/2020';
import { AppError, cancelled, isAbortError, isAppError, validation, type FieldError } from '../shared/domain/errors';
import type { RequestInfo } from '../shared/app/service';
import { correlationIdFrom } from '../shared/correlation';
import { resourceLimitFault } from '../shared/app/resource-limits';
import { getServices, type Services } from '../shared/config/services';
import { startRunSpan, telemetryEnabled } from '../shared/telemetry';
import { parseJsonBody } from './json-body';
import { errorMessage, logLine } from './log';
import { operations } from './operations';
import { schemas, type SchemaName } from './schemas';

/**
 * The HTTP edge: correlation ids, JSON bodies with limits and schema validation, ETags,
 * and the one mapping from AppError to application/problem+json. Handlers stay thin.
 */
export interface Ctx extends RequestInfo {
  req: HttpRequest;
  services: Services;
  context: InvocationContext;
  /** See EdgeCtx.abortSignal. */
  abortSignal?: AbortSignal;
}

// Request validators are compiled on first use of each schema (and Ajv loaded with the
// first), not while the app loads: compiling them all took a large share of the cold start.
let ajv: import('ajv/dist/2020').default | undefined;
const validators = new Map<SchemaName, ValidateFunction>();
function validatorOf(name: SchemaName): ValidateFunction {
  let v = validators.get(name);
  if (!v) {
    const Ajv2020 = (require('ajv/dist/2020') as typeof import('ajv/dist/2020')).default;
    ajv ??= new Ajv2020({ allErrors: true, strict: true });
    v = ajv.compile(schemas[name]);
    validators.set(name, v);
  }
  return v;
}

/**
 * The path prefix of every API function (`/api/…`). host.json's routePrefix is empty so that
 * the web console can be served at `/console/` by the same app (console.ts); the API keeps
 * its prefix by registering its routes under this one.
 */
export const API_PREFIX = 'api';

/** What every HTTP function gets from the edge, with or without the services. */
export interface EdgeCtx extends RequestInfo {
  req: HttpRequest;
  context: InvocationContext;
  /** Fires when the client goes away before the answer (where the host tells: the local host does). */
  abortSignal?: AbortSignal;
}

/**
 * The part of the HTTP edge every function goes through, even those that must answer while
 * the configuration is broken (health, the API document): correlation id, span, one
 * structured log line, problem+json for thrown errors, and the common response headers.
 */
export function edge(fn: (ctx: EdgeCtx) => Promise<HttpResponseInit>): HttpHandler {
  return async (req, context) => {
    // The local host already put a valid one there, so its own log lines about this invocation match.
    const correlationId = correlationIdFrom(req.headers.get('x-correlation-id'));
    const started = Date.now();
    const tenant = req.params.tenant;
    // With telemetry on, the request is a span: function name, method, route template (never
    // the URL with its query string), status, correlation id and tenant.
    const span = startRunSpan(context.functionName, {
      trigger: 'http',
      attributes: {
        correlationId,
        'faas.invocation_id': context.invocationId,
        'http.request.method': req.method,
        ...(telemetryEnabled() ? { 'http.route': routeTemplate(context.functionName) } : {}),
        ...(tenant ? { tenant } : {}),
      },
    });
    const res: HttpResponseInit = await span.run(async () => {
      try {
        const gone = context.triggerMetadata?.abortSignal;
        return await fn({ req, context, correlationId, ...(gone instanceof AbortSignal ? { abortSignal: gone } : {}) });
      } catch (e) {
        return problemResponse(e, correlationId, context);
      }
    });
    const status = res.status ?? 200;
    // One structured line per request; never the query string, headers or bodies, which may
    // carry secrets.
    logLine(
      context,
      'info',
      {
        event: 'http',
        fn: context.functionName,
        method: req.method,
        path: new URL(req.url).pathname,
        status,
        ms: Date.now() - started,
        correlationId,
        tenant,
      },
      span,
    );
    span.end({ 'http.response.status_code': status }, status >= 500 ? `HTTP ${status}` : undefined);
    // nosniff: a stored file or JSON answer is never reinterpreted by a browser as HTML.
    return {
      ...res,
      headers: {
        ...(res.headers as Record<string, string> | undefined),
        'x-correlation-id': correlationId,
        'x-content-type-options': 'nosniff',
        // Browser clients (CORS, allowed origins only) may read these: ETag for If-Match, etc.
        'access-control-expose-headers': 'ETag, Location, Retry-After, Content-Disposition, Content-Range, X-Correlation-Id',
      },
    };
  };
}

/** The edge plus the process-wide services: what every API function uses. */
export function handler(fn: (ctx: Ctx) => Promise<HttpResponseInit>): HttpHandler {
  return edge(async (ctx) => {
    const services = await getServices();
    try {
      return await fn({ ...ctx, services });
    } catch (e) {
      // Out of file descriptors (the whole instance, not the tenant) → 503 naming the limit, logged.
      const atLimit = resourceLimitFault(e, services.config.scale.resourceWarnPercent, (line) => console.warn(line));
      if (atLimit) throw atLimit;
      // A storage fault of the tenant in the route (damaged file, full disk…) → 503 with a clear detail.
      throw services.tenants.asTenantFault(ctx.req.params.tenant, e);
    }
  });
}

export function problemResponse(error: unknown, correlationId: string, context: InvocationContext): HttpResponseInit {
  // An aborted operation (its abortSignal fired) is a 503 that can be retried, not an unexpected failure.
  const e = !isAppError(error) && isAbortError(error) ? cancelled() : error;
  const err: AppError = isAppError(e) ? e : new AppError('unavailable', 'The service could not complete the request.');
  if (!isAppError(e)) logLine(context, 'error', { event: 'error', fn: context.functionName, correlationId, error: errorMessage(e) });
  const status = isAppError(e) ? err.status : 500;
  const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
  if (status === 401) headers['www-authenticate'] = 'Bearer realm="tenant-ledger"';
  if (err.details.retryAfterSeconds) headers['retry-after'] = String(err.details.retryAfterSeconds);
  if (status === 416 && err.details.size !== undefined) headers['content-range'] = `bytes */${err.details.size}`;
  return {
    status,
    headers,
    body: JSON.stringify({
      type: `urn:tenant-ledger:problem:${isAppError(e) ? err.code : 'internal'}`,
      title: titles[status] ?? 'Error',
      status,
      detail: isAppError(e) ? err.message : 'An unexpected error occurred. Quote the correlation id when reporting it.',
      correlationId,
      ...(err.details.errors ? { errors: err.details.errors } : {}),
    }),
  };
}

/** The route template a function was registered with (`t/{tenant}/records/{type}`), for the request span. */
function routeTemplate(fn: string): string {
  return (operations as Readonly<Record<string, { route: string }>>)[fn]?.route ?? fn;
}

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** Reads and validates a JSON body: 415 wrong type, 413 too large, 400 malformed, too deep, non-finite numbers or invalid. */
export async function readJson<T>(ctx: Ctx, schema: SchemaName): Promise<T> {
  const { req } = ctx;
  const type = (req.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json' && !/^application\/[a-z0-9.+-]*\+json$/.test(type)) {
    throw new AppError('unsupported_media_type', 'Send the request body as application/json.');
  }
  const limit = ctx.services.config.maxJsonBodyBytes;
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    const reader = req.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel().catch(() => undefined);
        throw tooLarge(limit);
      }
      chunks.push(value);
    }
  }
  const body = parseJsonBody(Buffer.concat(chunks));
  const validate = validatorOf(schema);
  if (!validate(body)) {
    const errors: FieldError[] = (validate.errors ?? []).map((e) => ({
      path:
        e.keyword === 'required' ? `${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}` : e.instancePath || '',
      message:
        e.keyword === 'additionalProperties'
          ? `unknown property "${(e.params as { additionalProperty: string }).additionalProperty}"`
          : (e.message ?? 'is invalid'),
    }));
    throw validation('The request body does not match the expected shape.', errors);
  }
  return body as T;
}

const tooLarge = (limit: number) => new AppError('payload_too_large', `The request body exceeds ${limit} bytes.`);

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

export const etag = (version: number) => `"${version}"`;

/** Parses `If-Match: "3"` (or W/"3", or 3); undefined when absent or `*`. */
export function ifMatch(req: HttpRequest): number | undefined {
  const h = req.headers.get('if-match');
  if (h === null || h.trim() === '*') return undefined;
  const m = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(h);
  if (!m) throw validation('If-Match must be an ETag returned by this service, e.g. "3".');
  return Number(m[1]);
}

export function param(req: HttpRequest, name: string): string {
  const v = req.params[name];
  if (v === undefined) throw validation(`Missing route parameter ${name}.`);
  return v;
}

/** `Idempotency-Key` with a hash of what the request asks for (same key + other body → 422). */
export function idempotency(req: HttpRequest, body: unknown): Idempotency | undefined {
  const key = req.headers.get('idempotency-key');
  if (key === null) return undefined;
  if (!/^[\x21-\x7e]{1,200}$/.test(key)) throw validation('Idempotency-Key must be 1-200 visible ASCII characters.');
  const url = new URL(req.url);
  const requestHash = createHash('sha256')
    .update(`${req.method} ${url.pathname}\n${req.headers.get('if-match') ?? ''}\n${JSON.stringify(body ?? null)}`)
    .digest('base64url');
  return { key, requestHash };
}

/** `?asOf=` as an instant; 400 for anything that is not an ISO-8601 date-time. */
export function asOfParam(req: HttpRequest): Date | undefined {
  const v = req.query.get('asOf');
  if (v === null) return undefined;
  return instant(v, 'asOf');
}

export function instant(v: string, name: string): Date {
  const ok = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(v);
  const d = new Date(v);
  if (!ok || Number.isNaN(d.getTime()))
    throw validation(`${name} must be an ISO-8601 instant such as 2026-11-20T10:00:00Z.`, [
      { path: name, message: 'is not a valid date-time' },
    ]);
  return d;
}

export function limitParam(req: HttpRequest, def: number, max: number): number {
  const v = req.query.get('limit');
  if (v === null) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max) throw validation(`limit must be an integer from 1 to ${max}.`);
  return n;
}

/**
 * Streams an async iterable (text lines or bytes) as the response body, pulling only as fast
 * as the client reads. If the source fails mid-way (e.g. a damaged file region), the stream
 * errors and the response is aborted: nothing after the failure is sent.
 */
export function streamBody(src: AsyncIterable<string | Uint8Array>): ReadableStream<Uint8Array> {
  const it = src[Symbol.asyncIterator]();
  const enc = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await it.next();
        if (done) controller.close();
        else controller.enqueue(typeof value === 'string' ? enc.encode(value) : value);
      } catch (e) {
        controller.error(e);
      }
    },
    async cancel() {
      await it.return?.();
    },
  });
}

/** Operator endpoints about one existing tenant: the tenant in the route, checked to exist (404 otherwise). */
export async function existingTenant(ctx: Ctx): Promise<string> {
  const tenant = param(ctx.req, 'tenant');
  await ctx.services.tenants.getTenantStatus(tenant);
  return tenant;
}
