import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HttpRequest } from '@azure/functions';
import type { EdgeCtx } from './http';
import { buildOpenApiDocument, type OpenApiDocument, renderDocsHtml } from './openapi-document';
import { type Answer, http, type OperationCtx } from './operation';
import { operations, TAGS } from './operations';

/**
 * The API's own description: `GET /api/openapi.json` (OpenAPI 3.1) and `GET /api/docs` (an
 * HTML reference rendered from that document), both built from the table of operations
 * (operations.ts) that also registers every HTTP function. test/e2e/openapi.test.ts compares
 * the document with the functions the host actually serves.
 */

function packageVersion(): string {
  // dist/functions/openapi.js (or functions/openapi.ts when run from source) → the app's package.json
  for (const p of [join(__dirname, '..', '..', 'package.json'), join(__dirname, '..', 'package.json')]) {
    try {
      const v = JSON.parse(readFileSync(p, 'utf8')) as { name?: unknown; version?: unknown };
      if (v.name === 'tenant-ledger' && typeof v.version === 'string') return v.version;
    } catch {
      // try the next candidate
    }
  }
  return '0.0.0';
}

interface Rendered {
  document: OpenApiDocument;
  json: string;
  html: string;
  jsonTag: string;
  htmlTag: string;
}

const rendered = new Map<string, Rendered>();
const tagOf = (s: string) => `"${createHash('sha256').update(s).digest('base64url').slice(0, 27)}"`;

/**
 * The document for the route prefix the request came in on (`/api` by default), built once
 * per prefix. The prefix is taken from the request's own path, so the document stays right
 * if host.json's routePrefix changes.
 */
export function documentFor(prefix: string): Rendered {
  let r = rendered.get(prefix);
  if (!r) {
    const document = buildOpenApiDocument(operations, TAGS, { serverUrl: prefix || '/', version: packageVersion() });
    const json = JSON.stringify(document, null, 2);
    const html = renderDocsHtml(document);
    r = { document, json, html, jsonTag: tagOf(json), htmlTag: tagOf(html) };
    if (rendered.size >= 8) rendered.clear();
    rendered.set(prefix, r);
  }
  return r;
}

function prefixOf(req: HttpRequest, route: string): string {
  let path = '/api';
  try {
    path = decodeURIComponent(new URL(req.url).pathname);
  } catch {
    // keep the default
  }
  const suffix = `/${route}`;
  const prefix = path.toLowerCase().endsWith(suffix) ? path.slice(0, -suffix.length) : '/api';
  return /^(\/[A-Za-z0-9._~-]+)*$/.test(prefix) ? prefix : '/api';
}

/** The representation the request asks for, or 304 when its If-None-Match names the current one. */
function conditional(ctx: EdgeCtx, body: string, tag: string, contentType: string, headers: Record<string, string> = {}) {
  const common = { etag: tag, 'cache-control': 'no-cache' };
  const inm = ctx.req.headers.get('if-none-match');
  return inm?.split(',').some((t) => t.trim() === tag)
    ? { status: 304 as const, headers: common }
    : { status: 200 as const, body, headers: { 'content-type': contentType, ...common, ...headers } };
}

/** `GET /api/openapi.json`: anonymous and service-free (it answers while the configuration is broken). */
export async function openApi(ctx: OperationCtx<'openApi'>): Promise<Answer<'openApi'>> {
  const r = documentFor(prefixOf(ctx.req, operations.openApi.route));
  return conditional(ctx, r.json, r.jsonTag, 'application/json');
}
http('openApi', openApi);

/** `GET /api/docs`: the reference page rendered from the same document. */
export async function apiDocs(ctx: OperationCtx<'apiDocs'>): Promise<Answer<'apiDocs'>> {
  const r = documentFor(prefixOf(ctx.req, operations.apiDocs.route));
  // The page is plain HTML with inline CSS: no scripts, no external resources, no framing.
  return conditional(ctx, r.html, r.htmlTag, 'text/html; charset=utf-8', {
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  });
}
http('apiDocs', apiDocs);
