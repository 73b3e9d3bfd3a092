import { AsyncLocalStorage } from 'node:async_hooks';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Cron } from 'croner';
import { correlationIdFrom } from '../shared/correlation';
import { errorMessage } from '../shared/redact';
import { installFunctionsCore, type CoreShim, type Registration } from './functions-core';
import { compileRoute, matchRoute, type CompiledRoute } from './routes';

export interface LocalHostOptions {
  /** Module(s) that register the functions (package.json "main" by default). */
  entries: string[];
  port: number;
  /** Folder of host.json (for the route prefix). */
  appRoot: string;
  hostname?: string;
  log?: (line: string) => void;
}

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

  for (const reg of shim.registrations) {
    const type = reg.trigger.type.toLowerCase();
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
          timezone: 'UTC',
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
    if (prefix) {
      if (path !== prefix && !path.toLowerCase().startsWith(`${prefix.toLowerCase()}/`))
        return sendProblem(res, 404, 'Not Found', 'No function serves this path.');
      path = path.slice(prefix.length);
    }
    let matched: { r: HttpRoute; params: Record<string, string> } | undefined;
    let pathExists = false;
    for (const r of httpRoutes) {
      const params = matchRoute(r.route, path);
      if (!params) continue;
      pathExists = true;
      if (r.methods.includes(method) || (method === 'HEAD' && r.methods.includes('GET'))) {
        matched = { r, params };
        break;
      }
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
    const nativeRequest = new Request(url, {
      method,
      headers,
      ...(hasBody ? { body: requestBody(req), duplex: 'half' } : {}),
    } as RequestInit);
    const request = new funcs.HttpRequest({
      method,
      url: url.toString(),
      params: matched.params,
      nativeRequest,
    } as ConstructorParameters<typeof funcs.HttpRequest>[0]);
    // A failure the function leaves behind (a rejection nobody awaits, an exception thrown in
    // a callback) before it answers ends this request with a 500 instead of leaving it hanging.
    let fail: (e: unknown) => void = () => undefined;
    const failed = new Promise<never>((_, reject) => (fail = (e) => reject(new DetachedFailure(e))));
    const scope: InvocationScope = { fn: matched.r.reg.name, invocationId: randomUUID(), correlationId, answered: false, fail };
    const result = await Promise.race([invoke(matched.r.reg, request, undefined, scope), failed]);
    scope.answered = true;
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
    if (type === 'httptrigger') {
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
function requestBody(req: IncomingMessage): ReadableStream<Uint8Array> {
  let done = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        req.on('data', (chunk: Buffer) => {
          if (done) return;
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

function readRoutePrefix(appRoot: string): string {
  try {
    const host = JSON.parse(readFileSync(join(appRoot, 'host.json'), 'utf8')) as { extensions?: { http?: { routePrefix?: string } } };
    const p = host.extensions?.http?.routePrefix;
    return p === undefined ? 'api' : p.replace(/^\/+|\/+$/g, '');
  } catch {
    return 'api';
  }
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
