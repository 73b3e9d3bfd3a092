import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { buildOpenApiDocument, esc, renderDocsHtml, type OpenApiDocument } from '../../functions/openapi-document';
import { schemas as requestSchemas } from '../../functions/schemas';
import { startHostProcess, type HostProcess } from '../support/host-process';
import { client, type CallResult } from '../support/http-client';

/**
 * GET /api/openapi.json and GET /api/docs, against the compiled local host:
 * - the document is valid OpenAPI 3.1 (the official schema, via @seriousme/openapi-schema-validator);
 * - its operations are exactly the HTTP functions the host registers (routes and methods);
 * - request bodies are the very schemas the service validates with;
 * - real answers of the service match the response schemas and headers it documents;
 * - the HTML reference covers every operation and interpolates nothing unescaped.
 */

let host: HostProcess;
let doc: OpenApiDocument;
let docRes: CallResult;
const call = client(() => host.url);
const PW = 'correct horse battery';

type Obj = Record<string, any>;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

interface OperationRef {
  fn: string;
  method: string;
  path: string;
  op: Obj;
}

function operations(d: OpenApiDocument): OperationRef[] {
  const out: OperationRef[] = [];
  for (const [path, item] of Object.entries(d.paths)) {
    for (const [method, op] of Object.entries(item))
      if (METHODS.includes(method)) out.push({ fn: (op as Obj)['x-function'], method: method.toUpperCase(), path, op: op as Obj });
  }
  return out;
}

function resolve(d: OpenApiDocument, v: Obj): Obj {
  let cur = v;
  while (cur && typeof cur.$ref === 'string') {
    const [, kind, name] = /^#\/components\/([^/]+)\/(.+)$/.exec(cur.$ref)!;
    cur = (d.components as Obj)[kind!][name!];
    expect(cur, `${v.$ref} resolves`).toBeTruthy();
  }
  return cur;
}

/** `\tname: [GET,POST] http://localhost:PORT/api/route` lines of the host's function list. */
function registeredHttpFunctions(output: string): Array<{ name: string; methods: string[]; path: string }> {
  const out: Array<{ name: string; methods: string[]; path: string }> = [];
  for (const m of output.matchAll(/^\t([A-Za-z0-9_-]+): \[([A-Z,]+)\] https?:\/\/[^/\s]+(\/\S*)$/gm)) {
    out.push({ name: m[1]!, methods: m[2]!.split(','), path: m[3]! });
  }
  return out;
}

/** Every object schema that lists its properties gets additionalProperties: false, so undocumented fields fail. */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Obj = {};
  for (const [k, v] of Object.entries(schema))
    out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Obj).map(([p, s]) => [p, closed(s)])) : closed(v);
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

const SCHEMA_BASE = 'https://tenant-ledger.test/schemas/';
function withAbsoluteRefs(schema: unknown): unknown {
  return JSON.parse(JSON.stringify(schema), (k, v) =>
    k === '$ref' && typeof v === 'string' ? v.replace('#/components/schemas/', SCHEMA_BASE) : v,
  );
}

/** Ajv (draft 2020-12, strict) over the document's component schemas; `strictShape` closes the response ones. */
function schemaValidator(d: OpenApiDocument, strictShape: boolean) {
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
  addFormats(ajv);
  for (const [name, s] of Object.entries(d.components.schemas)) {
    ajv.addSchema({ ...(withAbsoluteRefs(strictShape ? closed(s) : s) as Obj), $id: SCHEMA_BASE + name });
  }
  const cache = new Map<string, ValidateFunction>();
  return (schema: Obj): ValidateFunction => {
    const key = JSON.stringify(schema);
    let v = cache.get(key);
    if (!v) {
      v = ajv.compile(withAbsoluteRefs(strictShape ? closed(schema) : schema) as Obj);
      cache.set(key, v);
    }
    return v;
  };
}

beforeAll(async () => {
  host = await startHostProcess({ LOCAL_BLOB: 'off' });
  docRes = await call('GET', '/api/openapi.json');
  expect(docRes.status, docRes.text).toBe(200);
  doc = docRes.json;
});

afterAll(async () => {
  const code = await host?.stop();
  host?.cleanup();
  expect(code).toBe(0);
});

describe('GET /api/openapi.json', () => {
  it('is an OpenAPI 3.1 document that validates against the OpenAPI 3.1 schema', async () => {
    expect(docRes.headers.get('content-type')).toMatch(/^application\/json/);
    expect(docRes.headers.get('x-correlation-id')).toBeTruthy();
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as Record<string, unknown>);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 2)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('has exactly the HTTP functions the host registers, with their routes and methods', () => {
    // The web console's file server (functions/console.ts) is not an API operation.
    const registered = registeredHttpFunctions(host.output()).filter((r) => r.name !== 'console');
    expect(registered.length).toBeGreaterThan(20);
    const server = doc.servers[0]!.url.replace(/\/$/, '');
    expect(server).toBe('/api');
    const fromHost = registered
      .flatMap((r) => r.methods.map((m) => `${r.name} ${m} ${r.path.replace(/\{\*?([A-Za-z0-9_]+)(?::[^}]*)?\??\}/g, '{$1}')}`))
      .sort();
    const fromDoc = operations(doc)
      .map((o) => `${o.fn} ${o.method} ${server}${o.path}`)
      .sort();
    expect(fromDoc).toEqual(fromHost);
    // one function per operationId, and the documentation endpoints document themselves
    const ids = operations(doc).map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(fromDoc).toEqual(expect.arrayContaining(['openApi GET /api/openapi.json', 'apiDocs GET /api/docs']));
  });

  it('declares every route parameter as a required path parameter, and nothing else in the path', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      const inTemplate = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      for (const o of operations({ ...doc, paths: { [path]: item } })) {
        const ps = [...((item.parameters as Obj[]) ?? []), ...((o.op.parameters as Obj[]) ?? [])].map((p) => resolve(doc, p));
        const inPath = ps.filter((p) => p.in === 'path');
        expect(inPath.map((p) => p.name).sort(), `${o.method} ${path}`).toEqual(inTemplate);
        expect(inPath.every((p) => p.required === true)).toBe(true);
      }
    }
  });

  it('references the request schemas the service validates with, unchanged', () => {
    for (const [name, s] of Object.entries(requestSchemas)) expect(doc.components.schemas[name]).toEqual(s);
    const bodies = operations(doc).flatMap((o) =>
      Object.values((o.op.requestBody?.content ?? {}) as Obj).map((m) => m.schema?.$ref as string | undefined),
    );
    for (const name of Object.keys(requestSchemas)) expect(bodies).toContain(`#/components/schemas/${name}`);
  });

  it('uses tenantBearer / operatorBearer / no security as the functions do', () => {
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['operatorBearer', 'tenantBearer']);
    expect(doc.components.securitySchemes.tenantBearer).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    expect(doc.components.securitySchemes.operatorBearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    const schemeOf = (o: OperationRef) => (o.op.security as Obj[]).flatMap((s) => Object.keys(s)).join(',') || 'none';
    const by = Object.fromEntries(operations(doc).map((o) => [o.fn, schemeOf(o)]));
    for (const fn of ['createTenant', 'getTenant', 'rebuildProjections', 'rotateTenantKey']) expect(by[fn], fn).toBe('operatorBearer');
    for (const fn of ['issueToken', 'openApi', 'apiDocs']) expect(by[fn], fn).toBe('none');
    for (const o of operations(doc)) if (o.path.startsWith('/t/') && o.fn !== 'issueToken') expect(by[o.fn], o.fn).toBe('tenantBearer');
  });

  it('answers every 4xx/5xx with application/problem+json and documents the headers and query parameters', () => {
    // Four answers are not problems on purpose: a backup or drill run that failed on some tier
    // (502 with the per-tier results), health and readiness when not ready (503 with the checks).
    const ownBodies: string[] = [];
    for (const o of operations(doc)) {
      expect(Object.keys(o.op.responses)).toContain('5XX');
      for (const [status, r] of Object.entries(o.op.responses as Obj)) {
        if (!/^[45]/.test(status)) continue;
        const media = Object.keys(resolve(doc, r).content);
        if (media[0] === 'application/json') ownBodies.push(`${o.fn} ${status}`);
        else expect(media, `${o.fn} ${status}`).toEqual(['application/problem+json']);
      }
    }
    expect(ownBodies.sort()).toEqual(['health 503', 'ready 503', 'runBackup 502', 'runRestoreDrill 502']);
    const names = (fn: string, where: string) => {
      const o = operations(doc).find((x) => x.fn === fn)!;
      return (o.op.parameters as Obj[])
        .map((p) => resolve(doc, p))
        .filter((p) => p.in === where)
        .map((p) => p.name);
    };
    const responseHeaders = (fn: string, status: string) =>
      Object.keys(operations(doc).find((x) => x.fn === fn)!.op.responses[status].headers);
    expect(names('patchRecord', 'header')).toEqual(expect.arrayContaining(['If-Match', 'Idempotency-Key']));
    expect(names('deleteRecord', 'header')).toEqual(expect.arrayContaining(['If-Match', 'Idempotency-Key']));
    expect(names('downloadFile', 'header')).toContain('Range');
    expect(names('uploadFile', 'header')).toContain('X-File-Name');
    expect(responseHeaders('downloadFile', '206')).toContain('Content-Range');
    expect(responseHeaders('createRecord', '201')).toEqual(expect.arrayContaining(['ETag', 'Location']));
    expect(names('listRecords', 'query')).toEqual(expect.arrayContaining(['asOf', 'limit', 'continuation', 'sort']));
    expect(names('getAudit', 'query')).toEqual(expect.arrayContaining(['from', 'to', 'author', 'type', 'limit', 'continuation']));
    expect(names('downloadFile', 'query')).toEqual(expect.arrayContaining(['asOf', 'version']));
    const problem = doc.components.schemas.Problem as Obj;
    expect(Object.keys(problem.properties).sort()).toEqual(['correlationId', 'detail', 'errors', 'status', 'title', 'type']);
  });

  it('has component schemas that compile as JSON Schema 2020-12 (Ajv strict)', () => {
    const compile = schemaValidator(doc, false);
    for (const name of Object.keys(doc.components.schemas))
      expect(() => compile({ $ref: `#/components/schemas/${name}` }), name).not.toThrow();
  });

  it('has request and response examples that match their schemas', () => {
    const compile = schemaValidator(doc, true);
    const examples: string[] = [];
    for (const o of operations(doc)) {
      const media = [
        ...Object.values((o.op.requestBody?.content ?? {}) as Obj).map((m) => ['request', m] as const),
        ...Object.entries(o.op.responses as Obj).flatMap(([status, r]) =>
          Object.values((resolve(doc, r).content ?? {}) as Obj).map((m) => [status, m] as const),
        ),
      ];
      for (const [where, m] of media) {
        if (m.example === undefined) continue;
        const v = compile(m.schema);
        expect(v(m.example) ? [] : v.errors, `${o.fn} ${where} example`).toEqual([]);
        examples.push(`${o.fn} ${where}`);
      }
    }
    expect(examples).toEqual(
      expect.arrayContaining(['createRecord request', 'createRecord 201', 'createTenant request', 'putType request']),
    );
  });

  it('answers If-None-Match with 304', async () => {
    const etag = docRes.headers.get('etag')!;
    expect(etag).toMatch(/^".+"$/);
    const r = await call('GET', '/api/openapi.json', { headers: { 'if-none-match': etag } });
    expect(r.status).toBe(304);
    expect(r.text).toBe('');
  });
});

describe('what the service answers matches what the document says', () => {
  const compile = () => schemaValidator(doc, true);
  let validate: ReturnType<typeof schemaValidator>;
  const checked = new Set<string>();

  /** Finds the documented response of `fn` for the answer's status and checks media type, body and headers. */
  function conforms(fn: string, r: CallResult): void {
    validate ??= compile();
    const o = operations(doc).find((x) => x.fn === fn);
    expect(o, `${fn} is documented`).toBeTruthy();
    const documented = o!.op.responses[String(r.status)] ?? (r.status >= 500 ? o!.op.responses['5XX'] : undefined);
    expect(documented, `${fn} documents status ${r.status}: ${r.text}`).toBeTruthy();
    const resp = resolve(doc, documented);
    for (const h of Object.keys(resp.headers ?? {})) {
      if (['Idempotency-Replayed', 'Content-Range', 'Retry-After'].includes(h) && r.status < 400) continue;
      expect(r.headers.get(h), `${fn} ${r.status} sends ${h}`).not.toBeNull();
    }
    if (!resp.content) {
      expect(r.text, `${fn} ${r.status} has no body`).toBe('');
    } else {
      const [media, m] = Object.entries(resp.content as Obj)[0]!;
      expect(r.headers.get('content-type') ?? '', `${fn} ${r.status}`).toContain(media);
      if (media.includes('json') && !media.includes('ndjson')) {
        const v = validate(m.schema);
        expect(v(r.json) ? [] : v.errors, `${fn} ${r.status} body: ${r.text.slice(0, 500)}`).toEqual([]);
      }
    }
    checked.add(`${fn} ${r.status}`);
  }

  it('for tenants, users, types, records, audit, export and projections', async () => {
    const op = host.operatorKey;
    let r = await call('POST', '/api/tenants', {
      token: op,
      body: { id: 'acme', name: 'ACME', admin: { email: 'admin@acme.test', password: PW } },
    });
    conforms('createTenant', r);
    conforms(
      'createTenant',
      await call('POST', '/api/tenants', {
        token: op,
        body: { id: 'acme', name: 'ACME', admin: { email: 'admin@acme.test', password: PW } },
      }),
    );
    conforms('createTenant', await call('POST', '/api/tenants', { token: op, body: { id: 'x', name: '', admin: {} } }));
    conforms(
      'createTenant',
      await call('POST', '/api/tenants', { token: op, raw: 'id=acme', contentType: 'application/x-www-form-urlencoded' }),
    );
    conforms('createTenant', await call('POST', '/api/tenants', { body: {} }));
    conforms('getTenant', await call('GET', '/api/tenants/acme', { token: op }));
    conforms('getTenant', await call('GET', '/api/tenants/nobody', { token: op }));

    r = await call('POST', '/api/t/acme/auth/token', { body: { email: 'admin@acme.test', password: PW } });
    conforms('issueToken', r);
    const admin = r.json.access_token as string;
    conforms(
      'issueToken',
      await call('POST', '/api/t/acme/auth/token', { body: { email: 'admin@acme.test', password: 'wrong password!' } }),
    );

    r = await call('POST', '/api/t/acme/users', {
      token: admin,
      body: { email: 'ed@acme.test', password: PW, roles: ['editor'], displayName: 'Ed' },
    });
    conforms('createUser', r);
    const edId = r.json.userId as string;
    conforms(
      'createUser',
      await call('POST', '/api/t/acme/users', { token: admin, body: { email: 'ed@acme.test', password: PW, roles: ['editor'] } }),
    );
    conforms('getUser', await call('GET', `/api/t/acme/users/${edId}`, { token: admin }));
    conforms(
      'updateUser',
      await call('PATCH', `/api/t/acme/users/${edId}`, {
        token: admin,
        headers: { 'if-match': '"1"' },
        body: { roles: ['editor', 'viewer'] },
      }),
    );
    conforms(
      'updateUser',
      await call('PATCH', `/api/t/acme/users/${edId}`, { token: admin, headers: { 'if-match': '"1"' }, body: { disabled: false } }),
    );
    conforms('getUserHistory', await call('GET', `/api/t/acme/users/${edId}/history`, { token: admin }));
    const editor = (await call('POST', '/api/t/acme/auth/token', { body: { email: 'ed@acme.test', password: PW } })).json
      .access_token as string;
    conforms('getUser', await call('GET', `/api/t/acme/users/${edId}`, { token: editor }));
    conforms(
      'createUser',
      await call('POST', '/api/t/acme/users', { token: editor, body: { email: 'x@acme.test', password: PW, roles: ['admin'] } }),
    );

    const schema = { type: 'object', required: ['name'], properties: { name: { type: 'string' }, vip: { type: 'boolean' } } };
    conforms('putType', await call('PUT', '/api/t/acme/types/customer', { token: admin, body: schema }));
    conforms(
      'putType',
      await call('PUT', '/api/t/acme/types/customer', { token: admin, body: { ...schema, additionalProperties: false } }),
    );
    conforms('putType', await call('PUT', '/api/t/acme/types/broken', { token: admin, body: { type: 'nonsense' } }));
    conforms('listTypes', await call('GET', '/api/t/acme/types', { token: editor }));
    conforms('getType', await call('GET', '/api/t/acme/types/customer', { token: editor }));
    conforms('getType', await call('GET', '/api/t/acme/types/nothing', { token: editor }));

    r = await call('POST', '/api/t/acme/records/customer', {
      token: editor,
      headers: { 'idempotency-key': 'k-1' },
      body: { name: 'Novák s.r.o.' },
    });
    conforms('createRecord', r);
    const id = r.json.id as string;
    const replay = await call('POST', '/api/t/acme/records/customer', {
      token: editor,
      headers: { 'idempotency-key': 'k-1' },
      body: { name: 'Novák s.r.o.' },
    });
    conforms('createRecord', replay);
    expect(replay.headers.get('idempotency-replayed')).toBe('true');
    conforms('createRecord', await call('POST', '/api/t/acme/records/customer', { token: editor, body: { vip: 'yes' } }));
    conforms('patchRecord', await call('PATCH', `/api/t/acme/records/customer/${id}`, { token: editor, body: { vip: true } }));
    conforms(
      'patchRecord',
      await call('PATCH', `/api/t/acme/records/customer/${id}`, { token: editor, headers: { 'if-match': '"7"' }, body: { vip: true } }),
    );
    conforms(
      'patchRecord',
      await call('PATCH', `/api/t/acme/records/customer/${id}`, {
        token: editor,
        headers: { 'if-match': '"1"' },
        contentType: 'application/merge-patch+json',
        body: { vip: true },
      }),
    );
    conforms('getRecord', await call('GET', `/api/t/acme/records/customer/${id}`, { token: editor }));
    conforms('getRecord', await call('GET', `/api/t/acme/records/customer/${id}?asOf=yesterday`, { token: editor }));
    conforms('getRecordHistory', await call('GET', `/api/t/acme/records/customer/${id}/history?limit=1`, { token: editor }));
    conforms(
      'listRecords',
      await call('GET', '/api/t/acme/records/customer?name=%22Nov%C3%A1k%20s.r.o.%22&sort=-name&limit=10', { token: editor }),
    );
    conforms('getAudit', await call('GET', '/api/t/acme/audit?limit=5', { token: admin }));
    r = await call('GET', '/api/t/acme/export', { token: editor });
    conforms('exportTenant', r);
    const exportItem = resolve(doc, operations(doc).find((o) => o.fn === 'exportTenant')!.op.responses['200']).content[
      'application/x-ndjson'
    ]['x-item-schema'];
    expect(exportItem).toEqual({ $ref: '#/components/schemas/Record' });
    const lines = r.text.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const v = validate(exportItem);
      expect(v(JSON.parse(line)) ? [] : v.errors, line).toEqual([]);
    }
    conforms('getTenantProjectionStatus', await call('GET', '/api/t/acme/status', { token: admin }));
    conforms('getTenantProjectionStatus', await call('GET', '/api/t/acme/status', { token: editor }));
    conforms('rebuildProjections', await call('POST', '/api/tenants/acme/projections/rebuild', { token: op }));
    conforms('deleteRecord', await call('DELETE', `/api/t/acme/records/customer/${id}`, { token: editor }));
    conforms('deleteRecord', await call('DELETE', `/api/t/acme/records/customer/${id}`, { token: editor, headers: { 'if-match': '"2"' } }));
    conforms('getRecord', await call('GET', `/api/t/acme/records/customer/${id}`, { token: editor }));
    conforms('openApi', docRes);
    conforms('apiDocs', await call('GET', '/api/docs'));

    // what was exercised, so a silently skipped check shows
    expect([...checked].sort()).toEqual(
      expect.arrayContaining([
        'createTenant 201',
        'createTenant 409',
        'createTenant 400',
        'createTenant 415',
        'createTenant 401',
        'issueToken 401',
        'createUser 403',
        'updateUser 412',
        'putType 422',
        'patchRecord 428',
        'patchRecord 412',
        'getRecord 410',
        'deleteRecord 204',
        'exportTenant 200',
      ]),
    );
  });
});

describe('GET /api/docs', () => {
  let html: CallResult;
  beforeAll(async () => {
    html = await call('GET', '/api/docs');
  });

  it('is a self-contained HTML page', () => {
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(html.text).toMatch(/^<!doctype html>/i);
    expect(html.text).not.toMatch(/<script/i);
    expect(html.text).not.toMatch(/\b(src|href)\s*=\s*"(https?:)?\/\//i);
  });

  it('has a section for every operation with method, path, caller, parameters and responses', () => {
    const server = doc.servers[0]!.url;
    for (const o of operations(doc)) {
      const start = html.text.indexOf(`id="op-${o.op.operationId}"`);
      expect(start, o.fn).toBeGreaterThan(0);
      const section = html.text.slice(start, html.text.indexOf('</section>', start));
      expect(section).toContain(`>${o.method}</span>`);
      expect(section).toContain(`<code>${esc(server + o.path)}</code>`);
      expect(section).toContain(esc(o.op['x-who']));
      expect(section).toContain(`function <code>${o.fn}</code>`);
      expect(section).toContain('<h4>Responses</h4>');
      for (const status of Object.keys(o.op.responses)) expect(section).toContain(`<td>${status}</td>`);
      if (o.op.requestBody) expect(section).toContain('<h4>Request body</h4>');
      if (o.fn === 'createRecord') {
        expect(section).toContain('<summary>Example</summary>');
        expect(section).toContain('<summary>Example answer (201)</summary>');
        expect(section).toContain(esc('"Novák s.r.o."'));
      }
      expect(html.text).toContain(`href="#op-${o.op.operationId}"`);
    }
    for (const name of Object.keys(doc.components.schemas)) expect(html.text).toContain(`id="schema-${name}"`);
  });

  it("contains only the page's own tags (everything interpolated is escaped)", () => {
    const allowed = new Set(
      'html head meta title style body div nav main h1 h2 h3 h4 p a ul li span code strong small section dl dt dd table thead tbody tr th td pre details summary br'.split(
        ' ',
      ),
    );
    for (const m of html.text.matchAll(/<(\/?)([^\s>/]*)/g)) {
      if (m[2]!.toLowerCase() === '!doctype') continue;
      expect(allowed.has(m[2]!), `unexpected <${m[1]}${m[2]}`).toBe(true);
    }
  });
});

describe('the HTML reference escapes what it interpolates (hostile document)', () => {
  it('renders summaries, descriptions, names and schemas as text', () => {
    const evil = '<script>alert(1)</script>"\'><img src=x onerror=alert(2)>';
    const d = buildOpenApiDocument(
      {
        [`fn${evil}`]: {
          route: `x/{p}/${evil}`,
          methods: ['GET'],
          summary: evil,
          description: `\`${evil}\` **${evil}**`,
          tags: [evil],
          caller: { auth: 'tenant', role: 'viewer', who: evil },
          responses: {
            200: { description: evil, content: { mediaType: 'text/plain', schema: { type: 'string', pattern: evil, examples: [evil] } } },
          },
          errors: { 404: evil },
        },
      },
      [{ name: evil, description: evil }],
      { serverUrl: `/api${evil}`, version: evil },
    );
    d.info.title = evil;
    d.components.schemas[evil] = { description: evil, const: evil };
    const out = renderDocsHtml(d, { openApiHref: evil });
    expect(out).not.toMatch(/<script/i);
    expect(out).not.toMatch(/<img/i);
    expect(out).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img');
  });
});
