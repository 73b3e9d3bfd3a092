/**
 * The OpenAPI 3.1 document of the HTTP API and the HTML reference rendered from it.
 *
 * Request bodies are the JSON Schemas of `./schemas` — the very objects `readJson` validates
 * with — referenced as components, never re-typed. Response bodies are described here (they
 * are outputs of the service, not inputs). Which operations exist comes from the table of
 * registered functions in `./openapi` (an e2e test proves it matches what the host serves).
 *
 * Pure: no @azure/functions, no services, no I/O — so it can be built and rendered anywhere.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ROLES } from '../shared/domain/identity';
import { FILE_ID, RECORD_ID, TYPE_NAME } from '../shared/domain/records';
import { TENANT_ID_PATTERN } from '../shared/domain/tenant';
import { type ResponseSchemaName, responseSchemas } from './response-schemas';
import { schemas as requestSchemas, type SchemaName } from './schemas';

// ------------------------------------------------------------------ the table's vocabulary

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type Role = (typeof ROLES)[number];

/** Who may call an operation; becomes `security`, `x-role` and the "who" line of the docs. */
export type Caller = { auth: 'none' } | { auth: 'operator' } | { auth: 'tenant'; role: Role; who?: string };

export type ProblemStatus = 400 | 401 | 403 | 404 | 409 | 410 | 412 | 413 | 415 | 416 | 422 | 428 | 429;

interface ResponseBase {
  description: string;
  headers?: readonly ResponseHeaderName[];
}
/** A JSON answer described by a component of `responseSchemas` (its TypeScript type is derived from it). */
export interface JsonResponse extends ResponseBase {
  schema: ResponseSchemaName;
  content?: never;
  /** An example answer, shown by /api/docs (a test checks it against the schema). */
  example?: unknown;
}
/** Another media type: a stream (NDJSON, file bytes) or text the handler renders itself. */
export interface ContentResponse extends ResponseBase {
  schema?: never;
  example?: never;
  content: {
    mediaType: string;
    schema: JsonSchema;
    /** For streamed line formats (NDJSON): the schema of one line. */
    itemSchema?: ResponseSchemaName;
  };
}
/** No body. */
export interface EmptyResponse extends ResponseBase {
  schema?: never;
  example?: never;
  content?: never;
}
/** A successful (or otherwise non-problem) answer of an operation. */
export type SuccessResponse = JsonResponse | ContentResponse | EmptyResponse;

export type RequestBody =
  | { schema: SchemaName; mediaTypes?: readonly string[]; description: string; example?: unknown }
  | { binary: true; description: string };

export interface OperationSpec {
  /** The route exactly as registered with app.http (without the host's route prefix). */
  route: string;
  methods: readonly HttpMethod[];
  summary: string;
  description?: string;
  tags: readonly string[];
  caller: Caller;
  /** Query parameters: `params.*` references, or an inline one such as `limit(50, 500)`. */
  query?: readonly JsonSchema[];
  /** Request headers (If-Match, Idempotency-Key, Range, X-File-Name, …): `params.*`. */
  headers?: readonly JsonSchema[];
  body?: RequestBody;
  responses: Readonly<Record<number, SuccessResponse>>;
  /**
   * Answers without the services, so it works while the configuration is broken (health,
   * this document): its handler gets no services.
   */
  standalone?: true;
  /** Long operation: `Accept: application/x-ndjson` gets 200 at once with progress lines, then the answer (functions/progress.ts). */
  progressStream?: true;
  /**
   * application/problem+json answers this operation can give, with what they mean here.
   * 401 (authenticated callers), 400/413/415 (JSON bodies) and 5XX are added automatically.
   */
  errors?: Readonly<Partial<Record<ProblemStatus, string>>>;
}

export type JsonSchema = { [k: string]: unknown };

const str = { type: 'string' } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;
const ref = (kind: 'schemas' | 'parameters' | 'headers' | 'responses', name: string) => ({ $ref: `#/components/${kind}/${name}` });

// ------------------------------------------------------------------ parameters and headers

const routeSegment = (pattern: RegExp, description: string) => ({ type: 'string', pattern: pattern.source, description });

/** Path parameters by the name routes give them. */
const pathParameters: Record<string, JsonSchema> = {
  tenant: routeSegment(TENANT_ID_PATTERN, 'The tenant id.'),
  type: routeSegment(TYPE_NAME, 'An entity type of the tenant.'),
  id: routeSegment(RECORD_ID, 'A record id.'),
  fileId: routeSegment(FILE_ID, 'A file id.'),
  userId: { type: 'string', description: 'A user id (`u_…`, as returned when the user was created).' },
  subscriptionId: { type: 'string', pattern: '^wh_[A-Za-z0-9_-]{22}$', description: 'A webhook subscription id (`wh_…`).' },
};

const queryParam = (name: string, schema: JsonSchema, description: string, extra: JsonSchema = {}) => ({
  name,
  in: 'query',
  required: false,
  schema,
  description,
  ...extra,
});
const headerParam = (name: string, required: boolean, schema: JsonSchema, description: string) => ({
  name,
  in: 'header',
  required,
  schema,
  description,
});

const parameters = {
  asOf: queryParam('asOf', dateTime, 'Answer as of this instant (ISO-8601, e.g. 2026-11-20T10:00:00Z) instead of now.'),
  continuation: queryParam(
    'continuation',
    str,
    'The `continuation` of the previous page, unchanged (valid only for the same query of the same tenant; otherwise 400).',
  ),
  sort: queryParam(
    'sort',
    { type: 'string', pattern: '^-?[A-Za-z_][A-Za-z0-9_]{0,63}(\\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,7}$' },
    'A field path to sort by (dotted for nested fields); a leading `-` sorts descending. Not combinable with asOf.',
  ),
  filters: queryParam(
    'filters',
    { type: 'object', additionalProperties: { type: 'string' } },
    'Equality filters: any other query parameter is a field path (dotted for nested fields) and a value compared as JSON — `?vip=true`, `?score=3`, `?address.city=Brno`, `?code="123"` (quoted = string). `limit`, `continuation`, `sort` and `asOf` are reserved.',
    { style: 'form', explode: true },
  ),
  email: queryParam(
    'email',
    { type: 'string', format: 'email', maxLength: 254 },
    'Find this user (case does not matter): the answer is the user rather than a page. Not combinable with `limit` or `continuation`.',
  ),
  from: queryParam('from', dateTime, 'Only changes at or after this instant.'),
  to: queryParam('to', dateTime, 'Only changes before this instant.'),
  author: queryParam('author', str, 'Only changes by this user (user id or email).'),
  auditType: queryParam('type', { type: 'string', pattern: TYPE_NAME.source }, 'Only changes of records of this type.'),
  version: queryParam('version', { type: 'integer', minimum: 1 }, 'The file as attached at this record version.'),
  after: queryParam(
    'after',
    { type: 'string', maxLength: 16384 },
    "A `position` from an earlier page or commit of this feed, unchanged; absent = from the beginning of the log. Another tenant's or a changed position → 400.",
  ),
  wait: queryParam(
    'wait',
    { type: 'integer', minimum: 0, maximum: 120, default: 0 },
    'Seconds to wait for a change when nothing is new (long poll); capped by the service (FEED_MAX_WAIT_SECONDS). The answer comes as soon as there is something to show.',
  ),

  resume: queryParam(
    'resume',
    { type: 'boolean', default: false },
    'true: finish an interrupted rotation (re-wrap with the current key version) instead of creating a new key version.',
  ),
  full: queryParam(
    'full',
    { type: 'boolean', default: false },
    'true: start a new chain on every tier (a fresh base that rechecks every file the log references), as the daily full run does.',
  ),
  ifMatch: headerParam(
    'If-Match',
    true,
    { type: 'string', examples: ['"3"'] },
    'The ETag of the version being changed (e.g. `"3"`). Missing → 428, stale → 412.',
  ),
  ifMatchOptional: headerParam(
    'If-Match',
    false,
    { type: 'string', examples: ['"3"'] },
    'Optional ETag of the version being changed (e.g. `"3"`); when sent and stale → 412.',
  ),
  idempotencyKey: headerParam(
    'Idempotency-Key',
    false,
    { type: 'string', pattern: '^[\\x21-\\x7e]{1,200}$' },
    'A retry with the same key and the same request returns the first answer (with `Idempotency-Replayed: true`) and changes nothing; the same key with another request → 422.',
  ),
  range: headerParam(
    'Range',
    false,
    { type: 'string', examples: ['bytes=0-1023', 'bytes=1024-', 'bytes=-500'] },
    'One byte range; answered with 206 and Content-Range. Other or multiple ranges get the whole file.',
  ),
  fileName: headerParam(
    'X-File-Name',
    false,
    { type: 'string', examples: ['faktura%202026.pdf'] },
    'The file name, percent-encoded UTF-8 (1-255 characters; no "/", "\\", control characters or bidirectional formatting characters U+202A–U+202E, U+2066–U+2069). Either this or Content-Disposition is required.',
  ),
  contentDisposition: headerParam(
    'Content-Disposition',
    false,
    { type: 'string', examples: ["attachment; filename*=UTF-8''faktura%202026.pdf"] },
    'Alternative to X-File-Name: `attachment; filename="…"` or `filename*=UTF-8\'\'…` (RFC 8187; bad percent-encoding → 400).',
  ),
  correlationId: headerParam(
    'X-Correlation-Id',
    false,
    { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' },
    'Your own id to trace the request; echoed in the response and in problem documents (a new one is made otherwise).',
  ),
} satisfies Record<string, JsonSchema>;

/** `?limit=` with the operation's own default and maximum (inline: they differ per operation). */
export function limit(def: number, max: number): JsonSchema {
  return queryParam('limit', { type: 'integer', minimum: 1, maximum: max, default: def }, `Page size, 1 to ${max}.`);
}

/** References to the shared parameters, for the operations table. */
export const params = Object.fromEntries(Object.keys(parameters).map((k) => [k, ref('parameters', k)])) as unknown as Record<
  keyof typeof parameters,
  JsonSchema
>;

const header = (description: string, schema: JsonSchema = str) => ({ description, schema });
const responseHeaders = {
  ETag: header('The version of the resource, e.g. `"3"`; send it back as If-Match to change it.'),
  Location: header('The path of the created resource.'),
  'Idempotency-Replayed': header('`true` when this is the stored answer to an earlier request with the same Idempotency-Key.', {
    const: 'true',
  }),
  'X-Correlation-Id': header('The id of this request (yours if you sent a valid one); also in problem documents.'),
  'Content-Range': header('The byte range sent (`bytes a-b/size`), or `bytes */size` on 416.'),
  'Accept-Ranges': header('Single byte ranges are supported.', { const: 'bytes' }),
  'Content-Disposition': header("`attachment; filename*=UTF-8''…` with the file's name."),
  'Content-Length': header('Bytes of the body.', { type: 'integer', minimum: 0 }),
  'X-Content-SHA256': header('SHA-256 (hex) of the whole plaintext file, as recorded when it was attached.'),
  'Retry-After': header('Seconds to wait before trying again.', { type: 'integer', minimum: 1 }),
  'WWW-Authenticate': header('`Bearer realm="tenant-ledger"`.'),
  'Cache-Control': header('Caching directive.'),
} satisfies Record<string, JsonSchema>;
export type ResponseHeaderName = keyof typeof responseHeaders;
const headerComponentName = (h: string) => h.replace(/-/g, '');

// ------------------------------------------------------------------ problem responses

const problemResponses: Record<ProblemStatus | '5XX', { name: string; description: string; headers?: ResponseHeaderName[] }> = {
  400: {
    name: 'BadRequest',
    description: 'Malformed JSON, a body that does not match the schema (see `errors`), or an invalid parameter or header.',
  },
  401: {
    name: 'Unauthorized',
    description: 'Missing, invalid or expired credentials, or a token of another tenant.',
    headers: ['WWW-Authenticate'],
  },
  403: { name: 'Forbidden', description: "The caller's role does not allow this." },
  404: { name: 'NotFound', description: 'The resource does not exist.' },
  409: { name: 'Conflict', description: 'The resource already exists.' },
  410: { name: 'Gone', description: 'The record was deleted (its history and earlier states remain readable).' },
  412: { name: 'PreconditionFailed', description: 'If-Match does not match the current version; reload and retry.' },
  413: { name: 'PayloadTooLarge', description: 'The request body is larger than allowed.' },
  415: { name: 'UnsupportedMediaType', description: 'The body must be application/json (or another application/*+json).' },
  416: { name: 'RangeNotSatisfiable', description: 'The range lies outside the file.', headers: ['Content-Range'] },
  422: { name: 'UnprocessableContent', description: 'Well-formed, but not acceptable (see `detail` and `errors`).' },
  428: { name: 'PreconditionRequired', description: 'Send If-Match with the ETag of the version you are changing.' },
  429: { name: 'TooManyRequests', description: 'Too many attempts; wait for Retry-After seconds.', headers: ['Retry-After'] },
  '5XX': {
    name: 'ServerError',
    description:
      "The service could not complete the request (500), a stored file failed its integrity check (502), or a dependency is unavailable (503: e.g. this tenant's key or database cannot be used right now, with Retry-After; other tenants are not affected). Quote the correlation id.",
  },
};

function responseHeaderRefs(names: readonly ResponseHeaderName[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const h of [...names, 'X-Correlation-Id' as const]) out[h] = ref('headers', headerComponentName(h));
  return out;
}

// ------------------------------------------------------------------ the document

export const securitySchemes = {
  tenantBearer: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      "A token issued by `POST /t/{tenant}/auth/token`, signed with that tenant's own key: it is valid only for that tenant's endpoints. What it allows depends on the user's roles (admin ⊇ editor ⊇ viewer).",
  },
  operatorBearer: {
    type: 'http',
    scheme: 'bearer',
    description:
      'The operator of the service: the operator key (locally `.data/operator.key`), or a Microsoft Entra ID access token carrying the operator app role (OPERATOR_AUTH=oidc). It manages tenants but never reads tenant data.',
  },
} as const;

const roleWho: Record<Role, string> = {
  viewer: 'Any signed-in user of the tenant (viewer, editor or admin)',
  editor: 'Users of the tenant with role editor or admin',
  admin: 'Administrators of the tenant',
};

export function whoMayCall(c: Caller): string {
  if (c.auth === 'none') return 'Anyone (no credentials)';
  if (c.auth === 'operator') return 'The operator of the service';
  return c.who ?? roleWho[c.role];
}

/** OpenAPI path of a Functions route: `{name:constraint}`, `{name?}`, `{*name}` → `{name}`. */
export function openApiPath(route: string): string {
  return `/${route.replace(/^\/+/, '').replace(/\{\*?([A-Za-z0-9_]+)(?::[^}]*)?\??\}/g, '{$1}')}`;
}

export interface DocumentOptions {
  /** Where the API is served, e.g. `/api` (the host's route prefix). */
  serverUrl: string;
  version: string;
}

export type OpenApiDocument = {
  openapi: string;
  info: { title: string; version: string; description?: string };
  servers: Array<{ url: string; description?: string }>;
  tags: Array<{ name: string; description?: string }>;
  paths: Record<string, Record<string, unknown>>;
  components: {
    schemas: Record<string, JsonSchema>;
    parameters: Record<string, JsonSchema>;
    headers: Record<string, JsonSchema>;
    responses: Record<string, JsonSchema>;
    securitySchemes: Record<string, JsonSchema>;
  };
  [k: string]: unknown;
};

const METHODS_ORDER: readonly HttpMethod[] = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH'];

export function buildOpenApiDocument(
  operations: Readonly<Record<string, OperationSpec>>,
  tags: ReadonlyArray<{ name: string; description: string }>,
  options: DocumentOptions,
): OpenApiDocument {
  for (const name of Object.keys(requestSchemas)) {
    if (name in responseSchemas) throw new Error(`schema name ${name} is used for a request and a response`);
  }
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [name, spec] of Object.entries(operations)) {
    const path = openApiPath(spec.route);
    paths[path] ??= {
      parameters: [...path.matchAll(/\{([^}]+)\}/g)].map((m) =>
        m[1]! in pathParameters ? ref('parameters', `path_${m[1]}`) : { name: m[1], in: 'path', required: true, schema: str },
      ),
    };
    const item = paths[path];
    for (const method of spec.methods) {
      const key = method.toLowerCase();
      if (item[key]) throw new Error(`${method} ${path} is registered twice`);
      item[key] = operation(name, spec, method);
    }
  }
  for (const item of Object.values(paths)) {
    // A stable, conventional order of methods inside each path.
    const ordered = Object.entries(item).sort(([a], [b]) => order(a) - order(b));
    for (const k of Object.keys(item)) delete item[k];
    Object.assign(item, Object.fromEntries(ordered));
  }

  const componentParameters: Record<string, JsonSchema> = { ...parameters };
  for (const [n, schema] of Object.entries(pathParameters)) {
    componentParameters[`path_${n}`] = {
      name: n,
      in: 'path',
      required: true,
      schema: { type: schema.type, ...(schema.pattern ? { pattern: schema.pattern } : {}) },
      description: schema.description,
    };
  }
  const components = {
    schemas: {
      ...structuredClone(requestSchemas as unknown as Record<string, JsonSchema>),
      ...structuredClone(responseSchemas as Record<string, JsonSchema>),
    },
    parameters: componentParameters,
    headers: Object.fromEntries(Object.entries(responseHeaders).map(([h, v]) => [headerComponentName(h), v])),
    responses: Object.fromEntries(
      Object.entries(problemResponses).map(([status, p]) => [
        p.name,
        {
          description: p.description,
          'x-status': status,
          headers: responseHeaderRefs(p.headers ?? []),
          content: { 'application/problem+json': { schema: ref('schemas', 'Problem') } },
        },
      ]),
    ),
    securitySchemes: securitySchemes as unknown as Record<string, JsonSchema>,
  };
  return {
    openapi: '3.1.1',
    info: {
      title: 'tenant-ledger',
      version: options.version,
      description:
        'A multi-tenant, event-sourced business-data API: every change is an event (when, who, what), each tenant is its own island with its own users, roles and keys. ' +
        'Errors are application/problem+json with a correlationId. Request bodies are validated against the schemas below before anything is written.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: options.serverUrl, description: 'This service' }],
    tags: tags.map((t) => ({ ...t })),
    paths,
    components,
  };
}

function order(key: string): number {
  const i = METHODS_ORDER.indexOf(key.toUpperCase() as HttpMethod);
  return i === -1 ? -1 : i;
}

function operation(name: string, spec: OperationSpec, method: HttpMethod): Record<string, unknown> {
  const caller = spec.caller;
  const security = caller.auth === 'none' ? [] : [{ [caller.auth === 'tenant' ? 'tenantBearer' : 'operatorBearer']: [] }];
  const responses: Record<string, unknown> = {};
  for (const [status, r] of Object.entries(spec.responses)) responses[status] = successResponse(r);
  if (spec.progressStream) {
    const stream = {
      'application/x-ndjson': {
        schema: { type: 'string', description: 'One JSON object per line.' },
        'x-item-schema': ref('schemas', 'ProgressLine'),
      },
    };
    const ok = responses['200'] as { description: string; content?: Record<string, unknown> } | undefined;
    const text =
      'With `Accept: application/x-ndjson`: answered at once, then one ProgressLine per line while the work runs; the last line carries the answer.';
    responses['200'] = ok
      ? { ...ok, description: `${ok.description} ${text}`, content: { ...ok.content, ...stream } }
      : { description: text, content: stream };
  }

  const errors = new Map<ProblemStatus, string | undefined>();
  if (spec.body && 'schema' in spec.body) for (const s of [400, 413, 415] as const) errors.set(s, undefined);
  if (caller.auth !== 'none') errors.set(401, undefined);
  if (caller.auth === 'operator') errors.set(403, 'The operator credential lacks the operator role.');
  for (const [s, d] of Object.entries(spec.errors ?? {})) errors.set(Number(s) as ProblemStatus, d);
  for (const s of [...errors.keys()].sort((a, b) => a - b)) {
    const d = errors.get(s);
    responses[String(s)] = { ...ref('responses', problemResponses[s].name), ...(d ? { description: d } : {}) };
  }
  responses['5XX'] = ref('responses', problemResponses['5XX'].name);

  const who = whoMayCall(caller);
  return {
    operationId: spec.methods.length === 1 ? name : `${name}_${method.toLowerCase()}`,
    summary: spec.summary,
    description: [spec.description, `**Who may call it:** ${who}.`].filter(Boolean).join('\n\n'),
    tags: [...spec.tags],
    'x-function': name,
    'x-who': who,
    ...(caller.auth === 'tenant' ? { 'x-role': caller.role } : {}),
    security,
    parameters: [...(spec.query ?? []), ...(spec.headers ?? []), params.correlationId],
    ...(spec.body ? { requestBody: requestBody(spec.body) } : {}),
    responses,
  };
}

function requestBody(b: RequestBody): Record<string, unknown> {
  if ('binary' in b) {
    return {
      required: true,
      description: b.description,
      content: { '*/*': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } },
    };
  }
  const media = b.mediaTypes ?? ['application/json'];
  return {
    required: true,
    description: b.description,
    content: Object.fromEntries(
      media.map((m) => [m, { schema: ref('schemas', b.schema), ...(b.example === undefined ? {} : { example: b.example }) }]),
    ),
  };
}

function successResponse(r: SuccessResponse): Record<string, unknown> {
  const headers = responseHeaderRefs(r.headers ?? []);
  if (r.schema !== undefined) {
    const example = r.example === undefined ? {} : { example: r.example };
    return { description: r.description, headers, content: { 'application/json': { schema: ref('schemas', r.schema), ...example } } };
  }
  if (r.content !== undefined) {
    const { mediaType, schema, itemSchema } = r.content;
    return {
      description: r.description,
      headers,
      content: { [mediaType]: { schema, ...(itemSchema ? { 'x-item-schema': ref('schemas', itemSchema) } : {}) } },
    };
  }
  return { description: r.description, headers };
}

// ------------------------------------------------------------------ the HTML reference

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Escapes text for HTML element content and quoted attribute values. */
export const esc = (v: unknown): string => String(v ?? '').replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);

/** `code` spans and **bold** of the short descriptions, applied to already escaped text. */
const inline = (text: unknown): string =>
  esc(text)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');

const anchor = (kind: string, name: string) => `${kind}-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function deref(doc: OpenApiDocument, v: unknown): Obj {
  let cur = v;
  for (let i = 0; i < 8 && isObj(cur) && typeof cur.$ref === 'string'; i++) {
    const [, kind, name] = /^#\/components\/([^/]+)\/(.+)$/.exec(cur.$ref) ?? [];
    const target = (doc.components as unknown as Record<string, Record<string, unknown>>)[kind ?? '']?.[name ?? ''];
    // A Reference Object's own summary/description override the target's (OpenAPI 3.1).
    const { $ref: _r, ...overrides } = cur;
    cur = isObj(target) ? { ...target, ...overrides } : overrides;
  }
  return isObj(cur) ? cur : {};
}

/** A one-line summary of a schema: a link for a component, else type, format and bounds. */
function schemaText(s: unknown): string {
  if (!isObj(s)) return '';
  if (typeof s.$ref === 'string') {
    const name = s.$ref.split('/').pop()!;
    return `<a href="#${esc(anchor('schema', name))}">${esc(name)}</a>`;
  }
  const parts: string[] = [];
  if (s.const !== undefined) parts.push(`<code>${esc(JSON.stringify(s.const))}</code>`);
  if (Array.isArray(s.enum)) parts.push(`one of ${s.enum.map((e) => `<code>${esc(JSON.stringify(e))}</code>`).join(', ')}`);
  if (s.type !== undefined) parts.push(esc(Array.isArray(s.type) ? s.type.join(' | ') : s.type));
  if (s.type === 'object' && isObj(s.additionalProperties)) parts.push(`of ${schemaText(s.additionalProperties)}`);
  if (s.type === 'array' && s.items) parts.push(`of ${schemaText(s.items)}`);
  if (s.format) parts.push(`(${esc(s.format)})`);
  if (s.contentMediaType) parts.push(`(${esc(s.contentMediaType)})`);
  const bounds: string[] = [];
  if (s.minimum !== undefined) bounds.push(`≥ ${esc(s.minimum)}`);
  if (s.maximum !== undefined) bounds.push(`≤ ${esc(s.maximum)}`);
  if (s.default !== undefined) bounds.push(`default ${esc(JSON.stringify(s.default))}`);
  if (s.pattern) bounds.push(`pattern <code>${esc(s.pattern)}</code>`);
  if (bounds.length) parts.push(`— ${bounds.join(', ')}`);
  return parts.join(' ');
}

function pre(value: unknown): string {
  return `<pre>${esc(JSON.stringify(value, null, 2))}</pre>`;
}

/**
 * The page around the reference: functions/docs/page.html (placeholders `{{name}}`) and its
 * stylesheet functions/docs/docs.css, plain files shipped with the sources (.funcignore keeps
 * functions/). Read once, from functions/docs beside this module when run from source, or from
 * the app root's functions/docs when run from dist/functions.
 */
let page: { html: string; css: string } | undefined;
function docsPage(): { html: string; css: string } {
  if (page) return page;
  for (const dir of [join(__dirname, 'docs'), join(__dirname, '..', '..', 'functions', 'docs')]) {
    try {
      page = { html: readFileSync(join(dir, 'page.html'), 'utf8'), css: readFileSync(join(dir, 'docs.css'), 'utf8') };
      return page;
    } catch {
      // try the next place
    }
  }
  throw new Error('functions/docs/page.html and docs.css were not found beside the app');
}

/** Fills `{{name}}` placeholders in one pass (what is filled in is not looked at again). */
function fillPage(html: string, values: Record<string, string>): string {
  return html.replace(/\{\{(\w+)\}\}/g, (whole, name: string) => values[name] ?? whole);
}

interface OpRef {
  path: string;
  method: string;
  op: Obj;
}

/** The human-readable API reference: plain, self-contained HTML (no scripts, no external resources). */
export function renderDocsHtml(doc: OpenApiDocument, links: { openApiHref: string } = { openApiHref: 'openapi.json' }): string {
  const server = doc.servers[0]?.url ?? '';
  const byTag = new Map<string, OpRef[]>();
  for (const t of doc.tags) byTag.set(t.name, []);
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (method === 'parameters' || !isObj(op)) continue;
      const tag = (Array.isArray(op.tags) && typeof op.tags[0] === 'string' ? op.tags[0] : 'Other') as string;
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag)!.push({ path, method, op });
    }
  }
  const fullPath = (p: string) => `${server.replace(/\/$/, '')}${p}`;
  const opAnchor = (o: OpRef) => anchor('op', String(o.op.operationId));
  const methodBadge = (m: string) => `<span class="m ${esc(m)}">${esc(m.toUpperCase())}</span>`;

  const nav: string[] = [
    '<h2>Contents</h2>',
    '<ul><li><a href="#authentication">Authentication</a></li><li><a href="#errors">Errors</a></li></ul>',
  ];
  for (const [tag, ops] of byTag) {
    if (!ops.length) continue;
    nav.push(`<h3><a href="#${esc(anchor('tag', tag))}">${esc(tag)}</a></h3><ul>`);
    for (const o of ops) nav.push(`<li><a href="#${esc(opAnchor(o))}">${methodBadge(o.method)} ${esc(o.op.summary)}</a></li>`);
    nav.push('</ul>');
  }
  nav.push('<h3><a href="#schemas">Schemas</a></h3><ul>');
  for (const name of Object.keys(doc.components.schemas)) nav.push(`<li><a href="#${esc(anchor('schema', name))}">${esc(name)}</a></li>`);
  nav.push('</ul>');

  const body: string[] = [];
  body.push(`<h1>${esc(doc.info.title)} API <small>version ${esc(doc.info.version)} · OpenAPI ${esc(doc.openapi)}</small></h1>`);
  body.push(`<p>${inline(doc.info.description)}</p>`);
  body.push(
    `<p>Base URL: <code>${esc(server)}</code> · Machine-readable document: <a href="${esc(links.openApiHref)}">${esc(links.openApiHref)}</a></p>`,
  );

  body.push('<h2 class="tag" id="authentication">Authentication</h2><dl>');
  for (const [name, s] of Object.entries(doc.components.securitySchemes)) {
    body.push(
      `<dt><code>${esc(name)}</code></dt><dd>HTTP ${esc(s.scheme)}${s.bearerFormat ? ` (${esc(s.bearerFormat)})` : ''}: <code>Authorization: Bearer …</code>. ${inline(s.description)}</dd>`,
    );
  }
  body.push('</dl>');
  body.push('<h2 class="tag" id="errors">Errors</h2>');
  body.push(
    `<p>Every 4xx and 5xx answer is <code>application/problem+json</code> (<a href="#${esc(anchor('schema', 'Problem'))}">Problem</a>) with a <code>correlationId</code>, also sent as the <code>X-Correlation-Id</code> header.</p>`,
  );
  body.push('<table><thead><tr><th>Status</th><th>Name</th><th>Meaning</th></tr></thead><tbody>');
  for (const [name, r] of Object.entries(doc.components.responses)) {
    body.push(`<tr><td>${esc(r['x-status'])}</td><td><code>${esc(name)}</code></td><td>${inline(r.description)}</td></tr>`);
  }
  body.push('</tbody></table>');

  for (const [tag, ops] of byTag) {
    if (!ops.length) continue;
    const tagInfo = doc.tags.find((t) => t.name === tag);
    body.push(`<h2 class="tag" id="${esc(anchor('tag', tag))}">${esc(tag)}</h2>`);
    if (tagInfo?.description) body.push(`<p>${inline(tagInfo.description)}</p>`);
    for (const o of ops) body.push(renderOperation(doc, o, fullPath(o.path), methodBadge(o.method), opAnchor(o)));
  }

  body.push('<h2 class="tag" id="schemas">Schemas</h2>');
  body.push('<p>JSON Schema (draft 2020-12). Request schemas are the very objects the service validates requests with.</p>');
  for (const [name, s] of Object.entries(doc.components.schemas)) {
    body.push(`<h3 id="${esc(anchor('schema', name))}">${esc(name)}</h3>`);
    if (s.description) body.push(`<p>${inline(s.description)}</p>`);
    body.push(pre(s));
  }

  return fillPage(docsPage().html, {
    title: esc(doc.info.title),
    style: `<style>\n${docsPage().css}</style>`,
    nav: nav.join('\n'),
    main: body.join('\n'),
  });
}

function renderOperation(doc: OpenApiDocument, o: OpRef, path: string, badge: string, id: string): string {
  const { op } = o;
  const out: string[] = [];
  out.push(`<section class="op" id="${esc(id)}">`);
  out.push(`<h3>${badge} <code>${esc(path)}</code></h3>`);
  out.push(
    `<p><strong>${esc(op.summary)}</strong> <span class="fn">— function <code>${esc(op['x-function'])}</code>, operation <code>${esc(op.operationId)}</code></span></p>`,
  );
  const description = String(op.description ?? '').replace(/\n*\*\*Who may call it:\*\*[^\n]*$/, '');
  for (const para of description.split(/\n\n+/).filter(Boolean)) out.push(`<p>${inline(para)}</p>`);

  const security = Array.isArray(op.security) ? (op.security as Obj[]).flatMap((s) => Object.keys(s)) : [];
  out.push('<dl>');
  out.push(`<dt>Who may call it</dt><dd>${esc(op['x-who'])}</dd>`);
  out.push(
    `<dt>Credentials</dt><dd>${security.length ? security.map((s) => `<a href="#authentication"><code>${esc(s)}</code></a>`).join(' or ') : 'none'}</dd>`,
  );
  out.push('</dl>');

  const pathItem = doc.paths[o.path] ?? {};
  const params = [
    ...(Array.isArray(pathItem.parameters) ? pathItem.parameters : []),
    ...(Array.isArray(op.parameters) ? op.parameters : []),
  ].map((p) => deref(doc, p));
  if (params.length) {
    out.push(
      '<h4>Parameters</h4><table><thead><tr><th>Name</th><th>In</th><th>Required</th><th>Schema</th><th>Description</th></tr></thead><tbody>',
    );
    for (const p of params) {
      out.push(
        `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${p.required ? 'yes' : 'no'}</td><td>${schemaText(p.schema)}</td><td>${inline(p.description)}</td></tr>`,
      );
    }
    out.push('</tbody></table>');
  }

  if (isObj(op.requestBody)) {
    const rb = op.requestBody;
    out.push('<h4>Request body</h4>');
    if (rb.description) out.push(`<p>${inline(rb.description)}</p>`);
    out.push('<table><thead><tr><th>Media type</th><th>Schema</th></tr></thead><tbody>');
    const content = isObj(rb.content) ? rb.content : {};
    for (const [media, m] of Object.entries(content))
      out.push(`<tr><td><code>${esc(media)}</code></td><td>${schemaText(isObj(m) ? m.schema : undefined)}</td></tr>`);
    out.push('</tbody></table>');
    const first = Object.values(content)[0];
    if (isObj(first) && isObj(first.schema) && typeof first.schema.$ref === 'string') {
      out.push(`<details><summary>Request schema</summary>${pre(deref(doc, first.schema))}</details>`);
    }
    if (isObj(first) && first.example !== undefined) out.push(`<details open><summary>Example</summary>${pre(first.example)}</details>`);
  }

  out.push('<h4>Responses</h4><table><thead><tr><th>Status</th><th>Description</th><th>Content</th><th>Headers</th></tr></thead><tbody>');
  for (const [status, raw] of Object.entries(isObj(op.responses) ? op.responses : {})) {
    const r = deref(doc, raw);
    const content = isObj(r.content) ? r.content : {};
    const contentText = Object.entries(content)
      .map(([media, m]) => {
        const mo = isObj(m) ? m : {};
        const item = mo['x-item-schema'] ? ` — each line: ${schemaText(mo['x-item-schema'])}` : '';
        return `<code>${esc(media)}</code> ${schemaText(mo.schema)}${item}`;
      })
      .join('<br>');
    const headers = Object.keys(isObj(r.headers) ? r.headers : {})
      .map((h) => `<code>${esc(h)}</code>`)
      .join(' ');
    out.push(
      `<tr><td>${esc(status)}</td><td>${inline(r.description)}</td><td>${contentText || '<span class="muted">empty</span>'}</td><td>${headers}</td></tr>`,
    );
  }
  out.push('</tbody></table>');
  for (const [status, raw] of Object.entries(isObj(op.responses) ? op.responses : {})) {
    const content = deref(doc, raw).content;
    for (const m of Object.values(isObj(content) ? content : {})) {
      if (isObj(m) && m.example !== undefined)
        out.push(`<details><summary>Example answer (${esc(status)})</summary>${pre(m.example)}</details>`);
    }
  }
  out.push('</section>');
  return out.join('\n');
}
