import { AsyncLocalStorage } from 'node:async_hooks';
import { createServer, type IncomingMessage, type Server, type ServerResponse, validateHeaderName, validateHeaderValue } from 'node:http';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Cron } from 'croner';
import { correlationIdFrom } from '../shared/correlation';
import { errorMessage } from '../shared/redact';
import { installFunctionsCore, type CoreShim, type Registration } from './functions-core';
import { LocalRequest } from './local-request';
import { type CompiledRoute, compileRoute, matchSplit, splitPath } from './routes';

export interface LocalHostOptions {
  /** Module(s) that register the functions (package.json "main" by default). */
  entries: string[];
  port: number;
  /** Folder of host.json (for the route prefix). */
  appRoot: string;
  hostname?: string;
  log?: (line: string) => void;
  /**
   * Largest request body let through to a function (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT), as the
   * Functions host enforces it: a larger declared Content-Length is answered 413 before any
   * function runs, and a streamed body that grows past it ends the request with 413.
   */
  maxRequestBodyBytes?: number;
  /**
   * Browser origins allowed to call (CORS_ALLOWED_ORIGINS), as the Function App's CORS setting
   * does in Azure: a preflight from one of them gets 204 with the route's methods, from any
   * other origin 403; answers to an allowed origin carry Access-Control-Allow-Origin.
   */
  corsAllowedOrigins?: readonly string[];
  /**
   * How long an idle keep-alive connection stays open (default 130 s, Kestrel's default, which
   * the Functions host uses). Node's own default (5 s) is shorter than what clients keep idle
   * sockets for (undici/fetch: about 4 s and its server-hinted timeout, on coarse timers): a
   * client that reuses a socket just as the server closes it fails with "other side closed".
   */
  keepAliveTimeoutMs?: number;
  /**
   * Functions left out (Config.disabledFunctions: `AzureWebJobs.<name>.Disabled`), as the
   * Functions host leaves them out: a timer is not scheduled, an HTTP route answers 404.
   */
  disabledFunctions?: readonly string[];
}

/** Kestrel's default keep-alive timeout (the Functions host in Azure runs on it). */
const KEEP_ALIVE_TIMEOUT_MS = 130_000;

export interface LocalHost {
  url: string;
  registrations: Registration[];
  close(): Promise<void>;
}

/**
 * What the host knows about the invocation an asynchronous error belongs to. Every
 * invocation runs in its own AsyncLocalStorage scope, which Node carries into promises,
 * timers and callbacks the function starts, and into the process's `unhandledRejection` and
 * `uncaughtException` events they cause.
 */
interface InvocationScope {
  fn: string;
  invocationId: string;
  correlationId?: string;
  /** Set once the HTTP answer has started: a later failure can only be logged. */
  answered: boolean;
  /** Ends a pending HTTP invocation with a 500 answer. */
  fail?: (e: unknown) => void;
}

/** How long an invocation whose body overflowed may take to clean up before the host's 413. */
const OVERFLOW_CLEANUP_MS = 10_000;

/** Waits until `p` settles (either way) or `ms` pass, whichever is first. */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

/** A request body that grew past the host's limit while it streamed. */
class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`The request body exceeds ${limit} bytes.`);
  }
}

/** An HTTP invocation ended by a failure it left behind (already logged by the process handler). */
class DetachedFailure extends Error {
  constructor(override readonly cause: unknown) {
    super('The invocation failed outside its own promise chain.');
  }
}

interface HttpRoute {
  reg: Registration;
  route: CompiledRoute;
  methods: string[];
}

/**
 * Timer schedules are read in UTC, as Azure Functions reads NCRONTAB (WEBSITE_TIME_ZONE unset),
 * whatever the machine's time zone. UTC as a fixed offset: the same runs as croner's
 * `timezone: 'UTC'` without its Intl time-zone conversions, ~12 µs per next-run computation
 * against ~560 (with the 2 s projector tick that was most of an idle host's timer CPU).
 */
export const CRON_IN_UTC = { utcOffset: 0 } as const;

/**
 * Runs the function app on this machine without Core Tools: HTTP triggers on a node:http
 * server under the same routes as in Azure, timer triggers on their NCRONTAB schedules.
 */
export async function startLocalHost(options: LocalHostOptions): Promise<LocalHost> {
  const log = options.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const shim: CoreShim = installFunctionsCore((level, message) => {
    if (level !== 'debug' && level !== 'trace') log(message);
  });
  const funcs = require('@azure/functions') as typeof import('@azure/functions');
  for (const entry of options.entries) require(entry);

  const routePrefix = readRoutePrefix(options.appRoot);
  const httpRoutes: HttpRoute[] = [];
  const timers: Cron[] = [];
  const startupRuns: Promise<unknown>[] = [];

  // One invocation's failure must never end the process that serves every tenant: an
  // unhandled rejection or exception is logged (masked, with the invocation's function name and
  // correlation id) and, when its HTTP invocation has not answered yet, answered with 500.
  // Its price on Node 20: once a scope exists, every promise the process creates runs an
  // async-hook callback (about 92 promises per GET record, most of them in shared/). Running
  // without the scope cut the host's CPU per GET record from 0.73 to 0.59 ms (issue 15,
  // measured, not adopted: detached failures would lose their request). On Node >= 22.7 with
  // --experimental-async-context-frame (the default from Node 24) it added nothing measurable to
  // a micro-benchmark of awaits, and an unhandled rejection still finds its scope.
  const scopes = new AsyncLocalStorage<InvocationScope>();
  const onDetached = (origin: 'unhandledRejection' | 'uncaughtException') => (e: unknown) => {
    const scope = scopes.getStore();
    const line: Record<string, string> = { event: 'error', origin, error: errorMessage(e), note: 'the host keeps serving' };
    if (scope)
      Object.assign(line, {
        fn: scope.fn,
        invocationId: scope.invocationId,
        ...(scope.correlationId ? { correlationId: scope.correlationId } : {}),
      });
    log(`[${new Date().toISOString()}] ${scope?.fn ?? 'host'} error: ${JSON.stringify(line)}`);
    if (scope && !scope.answered) scope.fail?.(e);
  };
  const onRejection = onDetached('unhandledRejection');
  const onException = onDetached('uncaughtException');
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);

  const invoke = async (reg: Registration, input: unknown, triggerMetadata?: Record<string, unknown>, scope?: InvocationScope) => {
    const invocationId = scope?.invocationId ?? randomUUID();
    return scopes.run(scope ?? { fn: reg.name, invocationId, answered: false }, () =>
      invokeInScope(reg, invocationId, input, triggerMetadata),
    );
  };
  const invokeInScope = async (reg: Registration, invocationId: string, input: unknown, triggerMetadata?: Record<string, unknown>) => {
    const context = new funcs.InvocationContext({
      invocationId,
      functionName: reg.name,
      ...(triggerMetadata ? { triggerMetadata } : {}),
      logHandler: (level, ...args) => log(`[${new Date().toISOString()}] ${reg.name} ${level}: ${args.map(String).join(' ')}`),
    });
    for (const h of shim.hooks.preInvocation)
      await h({ invocationContext: context, inputs: [input], functionHandler: reg.handler, hookData: {} });
    const result = await reg.handler(input, context);
    for (const h of shim.hooks.postInvocation)
      await h({ invocationContext: context, inputs: [input], result, error: undefined, hookData: {} });
    return result;
  };

  const disabled = new Set((options.disabledFunctions ?? []).map((n) => n.toLowerCase()));
  const isDisabled = (reg: Registration): boolean => disabled.has(reg.name.toLowerCase());
  for (const reg of shim.registrations) {
    const type = reg.trigger.type.toLowerCase();
    if (isDisabled(reg)) continue;
    if (type === 'httptrigger') {
      httpRoutes.push({
        reg,
        route: compileRoute(reg.trigger.route ?? reg.name),
        methods: (reg.trigger.methods ?? ['GET', 'POST']).map((m) => m.toUpperCase()),
      });
    } else if (type === 'timertrigger') {
      const schedule = String(reg.trigger.schedule);
      const fire = () =>
        invoke(reg, { isPastDue: false, schedule: { adjustForDST: false } }).catch((e: unknown) =>
          log(`${reg.name} failed: ${(e as Error)?.message ?? e}`),
        );
      // A run never overlaps the previous run of the same timer: croner's `protect` sees a run
      // in progress only because the job returns the run's promise (`() => void fire()` would
      // end at once). A tick that finds a run in progress is skipped and logged, and so is a run
      // that outlasts its schedule.
      const job = new Cron(
        schedule,
        {
          ...CRON_IN_UTC,
          protect: (j) =>
            log(
              `[${new Date().toISOString()}] ${reg.name} warning: skipped a scheduled run: the run started at ${j.currentRun()?.toISOString() ?? '?'} is still running`,
            ),
        },
        async (j) => {
          const started = new Date();
          const due = j.nextRun();
          await fire();
          const ended = new Date();
          if (due && ended > due) {
            log(
              `[${ended.toISOString()}] ${reg.name} warning: the run started at ${started.toISOString()} ran past its next scheduled time (${due.toISOString()}) and ended at ${ended.toISOString()}; runs due meanwhile were skipped`,
            );
          }
        },
      );
      timers.push(job);
      // The startup run goes through the job too, so a scheduled tick cannot overlap it.
      if (reg.trigger.runOnStartup) startupRuns.push(job.trigger());
    } else {
      log(`Function ${reg.name}: ${reg.trigger.type} is not run by the local host yet.`);
    }
  }
  // More specific routes (more literal segments) first, as the Functions host orders them.
  httpRoutes.sort((a, b) => b.route.segments.filter((s) => s.literal).length - a.route.segments.filter((s) => s.literal).length);

  for (const h of shim.hooks.appStart) await h({ hookData: {}, appHookData: {} });

  const server: Server = createServer((req, res) => {
    // The caller's correlation id when valid, else a new one; passed on to the function (the
    // edge adopts it), so the host's own lines and answers carry the same id.
    const correlationId = correlationIdFrom(req.headers['x-correlation-id'] as string | undefined);
    handleHttp(req, res, correlationId).catch((e: unknown) => {
      if (e instanceof BodyTooLarge) {
        if (!res.headersSent) void tooLarge(req, res, e.limit, correlationId);
        else res.destroy();
        return;
      }
      if (!(e instanceof DetachedFailure))
        log(
          `[${new Date().toISOString()}] host error: ${JSON.stringify({ event: 'error', origin: 'invocation', error: errorMessage(e), correlationId })}`,
        );
      if (!res.headersSent)
        sendProblem(
          res,
          500,
          'Internal Server Error',
          'An unexpected error occurred. Quote the correlation id when reporting it.',
          correlationId,
        );
      else res.destroy();
    });
  });

  async function handleHttp(req: IncomingMessage, res: ServerResponse, correlationId: string): Promise<void> {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
    const method = (req.method ?? 'GET').toUpperCase();
    const prefix = routePrefix ? `/${routePrefix}` : '';
    let path = url.pathname;
    // CORS, as the platform applies it in front of the functions: every answer to an allowed
    // origin says so (and varies by Origin); a preflight is answered here, never by a function.
    const origin = req.headers.origin;
    const originAllowed = origin !== undefined && (options.corsAllowedOrigins ?? []).includes(origin);
    if (origin !== undefined) res.setHeader('vary', 'Origin');
    if (originAllowed) res.setHeader('access-control-allow-origin', origin);
    const preflight = method === 'OPTIONS' && origin !== undefined && req.headers['access-control-request-method'] !== undefined;
    if (preflight && !originAllowed) {
      req.resume();
      return sendProblem(res, 403, 'Forbidden', 'This origin may not call the API (CORS_ALLOWED_ORIGINS).', correlationId);
    }
    // The host's body limit comes first, before routing, as in Azure.
    const limit = options.maxRequestBodyBytes;
    const declared = Number(req.headers['content-length'] ?? Number.NaN);
    if (limit !== undefined && method !== 'GET' && method !== 'HEAD' && declared > limit) return tooLarge(req, res, limit, correlationId);
    if (prefix) {
      if (path !== prefix && !path.toLowerCase().startsWith(`${prefix.toLowerCase()}/`))
        return sendProblem(res, 404, 'Not Found', 'No function serves this path.');
      path = path.slice(prefix.length);
    }
    let matched: { r: HttpRoute; params: Record<string, string> } | undefined;
    let pathExists = false;
    const split = splitPath(path);
    for (const r of httpRoutes) {
      const params = matchSplit(r.route, split);
      if (!params) continue;
      pathExists = true;
      if (r.methods.includes(method) || (method === 'HEAD' && r.methods.includes('GET'))) {
        matched = { r, params };
        break;
      }
    }
    if (preflight) {
      req.resume();
      const methods = new Set<string>();
      for (const r of httpRoutes) if (matchSplit(r.route, split)) for (const m of r.methods) methods.add(m);
      if (methods.has('GET')) methods.add('HEAD');
      res.statusCode = methods.size ? 204 : 404;
      if (methods.size) {
        res.setHeader('access-control-allow-methods', [...methods].join(', '));
        const asked = req.headers['access-control-request-headers'];
        if (asked) res.setHeader('access-control-allow-headers', asked);
        res.setHeader('access-control-max-age', '600');
      }
      res.end();
      return;
    }
    if (!matched) {
      req.resume();
      return pathExists
        ? sendProblem(res, 405, 'Method Not Allowed', `${method} is not supported here.`)
        : sendProblem(res, 404, 'Not Found', 'No function serves this path.');
    }
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one);
    }
    headers.set('x-correlation-id', correlationId);
    // Like Azure's front end: append the TCP peer's address to X-Forwarded-For (the app
    // trusts only that rightmost entry; what the caller wrote stays to its left).
    const peer = req.socket.remoteAddress;
    if (peer) {
      const prior = headers.get('x-forwarded-for');
      headers.set('x-forwarded-for', prior ? `${prior}, ${peer}` : peer);
    }
    const hasBody = method !== 'GET' && method !== 'HEAD';
    let overflow: (e: BodyTooLarge) => void = () => undefined;
    const overflowed = new Promise<never>((_, reject) => (overflow = reject));
    overflowed.catch(() => undefined);
    // What HttpRequest reads of a fetch Request, without building one per call (local-request.ts).
    const href = url.href;
    const nativeRequest = new LocalRequest(href, method, headers, hasBody ? requestBody(req, limit, (e) => overflow(e)) : null);
    const request = new funcs.HttpRequest({
      method,
      url: href,
      params: matched.params,
      nativeRequest,
    } as unknown as ConstructorParameters<typeof funcs.HttpRequest>[0]);
    // A failure the function leaves behind (a rejection nobody awaits, an exception thrown in
    // a callback) before it answers ends this request with a 500 instead of leaving it hanging.
    let fail: (e: unknown) => void = () => undefined;
    const failed = new Promise<never>((_, reject) => (fail = (e) => reject(new DetachedFailure(e))));
    const scope: InvocationScope = { fn: matched.r.reg.name, invocationId: randomUUID(), correlationId, answered: false, fail };
    // A client that goes away before the answer ends what waits for it (a long poll): the
    // handler sees this signal as ctx.abortSignal (functions/http.ts).
    const gone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    const invocation = invoke(matched.r.reg, request, { abortSignal: gone.signal }, scope);
    const result = await Promise.race([invocation, failed, overflowed]).catch(async (e: unknown) => {
      // A body past the limit: the function's read has failed; let it finish its own cleanup
      // (an upload removes its unfinished blob) before the 413, so nothing it started is still
      // in flight when the caller hears the answer. Bounded: a function that ignores the
      // failed read does not hold the 413 back for long.
      if (e instanceof BodyTooLarge) await settledWithin(invocation, OVERFLOW_CLEANUP_MS);
      throw e;
    });
    scope.answered = true;
    // Text, bytes or nothing (what the API's handlers answer): written straight to the socket.
    // Anything else (a stream, JSON to serialise, an HttpResponse) goes through HttpResponse.
    if (writePlainAnswer(res, result, method, funcs.HttpResponse)) {
      if (hasBody && !req.readableEnded) req.resume();
      return;
    }
    const response =
      result instanceof funcs.HttpResponse
        ? result
        : new funcs.HttpResponse((result ?? {}) as ConstructorParameters<typeof funcs.HttpResponse>[0]);
    res.statusCode = response.status;
    for (const [key, value] of response.headers) res.setHeader(key, value);
    for (const c of response.cookies) res.appendHeader('set-cookie', `${c.name}=${c.value}`);
    if (hasBody && !req.readableEnded) req.resume();
    if (response.body && method !== 'HEAD') {
      await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), res);
    } else {
      // A body that is not sent (HEAD) is cancelled, so its source is released at once (an
      // opened file zeroes its content key and releases its blob download).
      await (response.body as import('node:stream/web').ReadableStream | null)?.cancel().catch(() => undefined);
      res.end();
    }
  }

  // Idle connections outlive the clients' own idle timeouts, so a client is never the one to
  // send on a socket the server has just closed (see keepAliveTimeoutMs). Closing the host
  // still ends idle connections at once (closeIdleConnections).
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? KEEP_ALIVE_TIMEOUT_MS;
  const hostname = options.hostname ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, hostname, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const base = `http://localhost:${port}`;

  log('\nFunctions:\n');
  for (const reg of shim.registrations) {
    const t = reg.trigger;
    const type = t.type.toLowerCase();
    if (isDisabled(reg)) {
      log(`\t${reg.name}: disabled (AzureWebJobs.${reg.name}.Disabled)`);
    } else if (type === 'httptrigger') {
      const methods = (t.methods ?? ['GET', 'POST']).map((m) => m.toUpperCase()).join(',');
      log(`\t${reg.name}: [${methods}] ${base}${routePrefix ? `/${routePrefix}` : ''}/${t.route ?? reg.name}`);
    } else if (type === 'timertrigger') {
      log(`\t${reg.name}: timerTrigger (${String(t.schedule)})`);
    } else {
      log(`\t${reg.name}: ${t.type}`);
    }
  }
  log('');

  return {
    url: base,
    registrations: shim.registrations,
    async close() {
      for (const t of timers) t.stop();
      await Promise.allSettled(startupRuns);
      server.closeIdleConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const h of shim.hooks.appTerminate) await h({ hookData: {}, appHookData: {} });
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}

/**
 * The request body as a web stream with backpressure (the socket is paused while the handler
 * is not reading). Unlike Readable.toWeb, data arriving after the handler cancelled the
 * stream (e.g. it answered 413 early and the rest is drained) is ignored instead of crashing.
 */
function requestBody(req: IncomingMessage, limit?: number, onOverflow?: (e: BodyTooLarge) => void): ReadableStream<Uint8Array> {
  let done = false;
  let received = 0;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        req.on('data', (chunk: Buffer) => {
          if (done) return;
          received += chunk.byteLength;
          if (limit !== undefined && received > limit) {
            // Past the host's limit: the function's read fails and the request ends with 413.
            done = true;
            const e = new BodyTooLarge(limit);
            controller.error(e);
            onOverflow?.(e);
            // The rest is read and dropped while the function cleans up, so a client still
            // sending is not left blocked on a full socket (and then cut off with EPIPE before
            // it could read the 413).
            req.resume();
            return;
          }
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          if ((controller.desiredSize ?? 0) <= 0) req.pause();
        });
        req.on('end', () => {
          if (done) return;
          done = true;
          controller.close();
        });
        req.on('error', (e) => {
          if (done) return;
          done = true;
          controller.error(e);
        });
        req.on('aborted', () => {
          if (done) return;
          done = true;
          controller.error(Object.assign(new Error('The client aborted the request.'), { name: 'AbortError' }));
        });
      },
      pull() {
        req.resume();
      },
      cancel() {
        done = true;
        req.resume();
      },
    },
    // Buffer up to 1 MiB of the body before pausing the socket.
    { highWaterMark: 1024 * 1024, size: (chunk) => chunk?.byteLength ?? 0 },
  );
}

/** Statuses that carry no body (the fetch spec's null body statuses that HttpResponse drops a body for). */
const NULL_BODY_STATUSES = new Set([204, 205, 304]);

/** Leading or trailing HTTP whitespace, which Headers strips from a value. */
const HEADER_VALUE_EDGES = /^[\t\n\r ]+|[\t\n\r ]+$/g;

/**
 * Writes a handler's answer that is a plain HttpResponseInit with a text or byte body (or
 * none) and headers as a plain object, the way `new HttpResponse(init)` and streaming its
 * body would, without the fetch Response, its header list and a web stream per answer (a
 * fifth of a GET's CPU time on the local host). Same result: status (default 200; outside
 * 200–599 left to HttpResponse, which refuses it), header names case-insensitive with
 * repeated names joined by ", " and values trimmed, `text/plain;charset=UTF-8` for a text
 * body without a content type, no body for 204/205/304 or HEAD, cookies as Set-Cookie.
 * The body goes out with a Content-Length instead of chunked. Returns false (nothing
 * written) for any other answer.
 */
function writePlainAnswer(
  res: ServerResponse,
  result: unknown,
  method: string,
  httpResponse: abstract new (...a: never[]) => unknown,
): boolean {
  if (result instanceof httpResponse) return false;
  const init = (result ?? {}) as {
    status?: unknown;
    headers?: unknown;
    body?: unknown;
    jsonBody?: unknown;
    cookies?: { name: string; value: string }[];
    nativeResponse?: unknown;
  };
  if (init.jsonBody !== undefined || init.nativeResponse !== undefined) return false;
  const status = init.status ?? 200;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) return false;
  const body = init.body ?? undefined;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) return false;
  const headers = init.headers;
  if (headers !== undefined && (typeof headers !== 'object' || headers === null || Object.getPrototypeOf(headers) !== Object.prototype))
    return false;
  const merged = new Map<string, string>();
  for (const [name, raw] of Object.entries((headers ?? {}) as Record<string, unknown>)) {
    if (raw === undefined) continue;
    const key = name.toLowerCase();
    const value = String(raw).replace(HEADER_VALUE_EDGES, '');
    // Checked before anything is set: a bad header fails the answer (500) as HttpResponse would.
    validateHeaderName(key);
    validateHeaderValue(key, value);
    const prior = merged.get(key);
    merged.set(key, prior === undefined ? value : `${prior}, ${value}`);
  }
  const sendBody = body !== undefined && !NULL_BODY_STATUSES.has(status);
  if (sendBody && typeof body === 'string' && !merged.has('content-type')) merged.set('content-type', 'text/plain;charset=UTF-8');
  res.statusCode = status;
  for (const [key, value] of merged) res.setHeader(key, value);
  for (const c of init.cookies ?? []) res.appendHeader('set-cookie', `${c.name}=${c.value}`);
  if (sendBody && method !== 'HEAD') res.end(body);
  else res.end();
  return true;
}

function readRoutePrefix(appRoot: string): string {
  try {
    const host = JSON.parse(readFileSync(join(appRoot, 'host.json'), 'utf8')) as { extensions?: { http?: { routePrefix?: string } } };
    const p = host.extensions?.http?.routePrefix;
    return p === undefined ? 'api' : p.replace(/^\/+|\/+$/g, '');
  } catch {
    return 'api';
  }
}

/** How long, and how many more bytes, the host reads and drops of a body past its limit before the 413. */
const DRAIN_MS = 10_000;
const DRAIN_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Reads and drops the rest of a request body until it ends, `DRAIN_MS` pass or `DRAIN_MAX_BYTES`
 * more arrive. Answering while the client still sends and then closing the connection makes
 * the client's write fail (EPIPE) before it reads the answer; a client that sends on and on is
 * cut off at the bound.
 */
function drainBody(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', done);
      req.off('close', done);
      req.off('error', done);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.byteLength;
      if (seen > DRAIN_MAX_BYTES) done();
    };
    const timer = setTimeout(done, DRAIN_MS);
    req.on('data', onData);
    req.once('end', done);
    req.once('close', done);
    req.once('error', done);
    req.resume();
  });
}

/**
 * The host's 413: the body is over FUNCTIONS_REQUEST_BODY_SIZE_LIMIT. The rest of the body is
 * read and dropped first (bounded, see drainBody), then the answer closes the connection.
 */
async function tooLarge(req: IncomingMessage, res: ServerResponse, limit: number, correlationId: string): Promise<void> {
  await drainBody(req);
  if (res.headersSent || res.destroyed) return;
  res.setHeader('connection', 'close');
  sendProblem(
    res,
    413,
    'Payload Too Large',
    `The request body exceeds ${limit} bytes, the host's limit (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT).`,
    correlationId,
  );
}

function sendProblem(res: ServerResponse, status: number, title: string, detail: string, correlationId?: string): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/problem+json');
  if (correlationId) res.setHeader('x-correlation-id', correlationId);
  res.end(
    JSON.stringify({
      type: status === 500 ? 'urn:tenant-ledger:problem:internal' : 'about:blank',
      title,
      status,
      detail,
      ...(correlationId ? { correlationId } : {}),
    }),
  );
}
