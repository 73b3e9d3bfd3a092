/**
 * One operation of the table (`operations.ts`): the types its handler works with, all read off
 * the table and its schemas, and `http()`, which registers the handler with the Functions host
 * under the route and methods of its entry and enforces the entry's `caller` before the
 * handler runs. A module by area (records.ts, users.ts, …) holds named handlers, each followed
 * by its registration:
 *
 *   export async function getRecord(ctx: OperationCtx<'getRecord'>): Promise<Answer<'getRecord'>> { … }
 *   http('getRecord', getRecord);
 */
import { app, type HttpResponseInit } from '@azure/functions';
import type { FromSchema } from 'json-schema-to-ts';
import type { ProgressSink } from '../shared/app/progress';
import type { Services } from '../shared/config/services';
import { forbidden } from '../shared/domain/errors';
import { assertNever } from '../shared/domain/events';
import { type Permission, rolesAllow } from '../shared/domain/identity';
import type { OperatorPrincipal } from '../shared/ports/operator-auth';
import { API_PREFIX, type Ctx, type EdgeCtx, edge, handler, json, param, readJson, streamBody } from './http';
import type { OperationSpec, Role } from './openapi-document';
import { type OperationName, operations } from './operations';
import { withProgress } from './progress';
import type { ResponseBody, ResponseSchemaName } from './response-schemas';
import type { SchemaName, schemas } from './schemas';

type Spec<N extends OperationName> = (typeof operations)[N];
type Responses<N extends OperationName> = Spec<N>['responses'];

/** A signed-in user of the tenant in the route. */
export type Principal = Awaited<ReturnType<Services['tenants']['authenticate']>>;

/** A streamed body (lines or bytes), pulled only as fast as the client reads. */
export type BodyStream = AsyncIterable<string | Uint8Array>;

type BodyOf<R> = R extends { schema: infer S extends ResponseSchemaName }
  ? ResponseBody<S>
  : R extends { content: object }
    ? string | BodyStream
    : undefined;

type ReplyFor<S, R> = { status: S; headers?: Record<string, string> } & (BodyOf<R> extends undefined
  ? { body?: undefined }
  : { body: BodyOf<R> });

/** What a handler answers: one of the operation's documented responses, its body typed by that response's schema. */
export type Reply<N extends OperationName> = {
  [S in keyof Responses<N>]: S extends number ? ReplyFor<S, Responses<N>[S]> : never;
}[keyof Responses<N>];

/** A long operation's work, run after the handler's checks: answered at once with progress lines when the client asks (progress.ts). */
export interface Progressive<R> {
  progress: (report: ProgressSink) => Promise<R>;
}
export const progressive = <R>(progress: (report: ProgressSink) => Promise<R>): Progressive<R> => ({ progress });

/** A handler's answer: a reply, or — for operations marked `progressStream` — work that reports progress. */
export type Answer<N extends OperationName> = Spec<N> extends { progressStream: true } ? Reply<N> | Progressive<Reply<N>> : Reply<N>;

/** The request body, typed by the operation's request schema (read and validated when called). */
export type RequestBody<N extends OperationName> =
  Spec<N> extends { body: { schema: infer S extends SchemaName } } ? FromSchema<(typeof schemas)[S]> : never;

type CallerCtx<N extends OperationName> = Spec<N>['caller'] extends { auth: 'tenant' }
  ? { principal: Principal }
  : Spec<N>['caller'] extends { auth: 'operator' }
    ? { operator: OperatorPrincipal }
    : unknown;
type BodyCtx<N extends OperationName> = Spec<N> extends { body: { schema: SchemaName } } ? { body(): Promise<RequestBody<N>> } : unknown;

/** What a handler gets: the request, the services (unless standalone), the authenticated caller and a typed body reader. */
export type OperationCtx<N extends OperationName> = (Spec<N> extends { standalone: true } ? EdgeCtx : Ctx) & CallerCtx<N> & BodyCtx<N>;

export type OperationHandler<N extends OperationName> = (ctx: OperationCtx<N>) => Promise<Answer<N>>;
type Handlers = { [N in OperationName]: OperationHandler<N> };

/** The permission a table role stands for: viewer ⊂ editor ⊂ admin. */
const permissionOf: Record<Role, Permission> = { viewer: 'read', editor: 'write', admin: 'manage' };

/**
 * Registers `fn` as the HTTP function `name`, with the route and methods of its table entry.
 * Before `fn` runs, the entry's caller is enforced: `operator` → the operator credential;
 * `tenant` → a token of the tenant in the route whose roles include the entry's role (401 /
 * 403 otherwise). So what the document says about who may call an operation is what is
 * checked.
 */
export function http<N extends OperationName>(name: N, fn: NoInfer<Handlers[N]>): void {
  const spec: OperationSpec = operations[name];
  const call = fn as unknown as (ctx: Record<string, unknown>) => Promise<AnyAnswer>;
  app.http(name, {
    // host.json's routePrefix is empty so that the console can live at /console/ (console.ts);
    // every API function keeps its /api/ prefix here instead.
    route: `${API_PREFIX}/${spec.route}`,
    methods: [...spec.methods],
    authLevel: 'anonymous',
    handler: spec.standalone
      ? edge(async (ctx) => respond(ctx, spec, await call({ ...ctx })))
      : handler(async (ctx) => respond(ctx, spec, await call({ ...ctx, ...(await caller(ctx, spec)), ...bodyReader(ctx, spec) }))),
  });
}

async function caller(ctx: Ctx, spec: OperationSpec): Promise<{ principal?: Principal; operator?: OperatorPrincipal }> {
  const c = spec.caller;
  const authorization = ctx.req.headers.get('authorization');
  switch (c.auth) {
    case 'none':
      return {};
    case 'operator':
      return { operator: await ctx.services.operatorAuth.authenticate(authorization) };
    case 'tenant': {
      const principal = await ctx.services.tenants.authenticate(param(ctx.req, 'tenant'), authorization);
      if (!rolesAllow(principal.roles, permissionOf[c.role])) throw forbidden();
      return { principal };
    }
    default:
      return assertNever(c);
  }
}

function bodyReader(ctx: Ctx, spec: OperationSpec): { body?: () => Promise<unknown> } {
  const b = spec.body;
  return b && 'schema' in b ? { body: () => readJson(ctx, b.schema) } : {};
}

interface AnyReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}
type AnyAnswer = AnyReply | Progressive<AnyReply>;

/** Turns a handler's answer into the HTTP response its table entry documents. */
async function respond(ctx: EdgeCtx, spec: OperationSpec, answer: AnyAnswer): Promise<HttpResponseInit> {
  if ('progress' in answer) {
    if (!spec.progressStream) throw new Error(`${ctx.context.functionName} is not a progress operation`);
    const { progress } = answer;
    return withProgress(ctx as Ctx, async (report) => {
      const r = await progress(report);
      return { status: r.status, body: r.body, ...(r.headers ? { headers: r.headers } : {}) };
    });
  }
  const documented = spec.responses[answer.status];
  if (!documented) throw new Error(`${ctx.context.functionName} answered an undocumented status ${answer.status}`);
  if (documented.schema !== undefined) return json(answer.status, answer.body, answer.headers);
  if (documented.content !== undefined) {
    const body = answer.body as string | BodyStream;
    return {
      status: answer.status,
      headers: { 'content-type': documented.content.mediaType, ...answer.headers },
      body: typeof body === 'string' ? body : streamBody(body),
    };
  }
  return { status: answer.status, ...(answer.headers ? { headers: answer.headers } : {}) };
}
