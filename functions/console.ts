import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import { app, type HttpResponseInit } from '@azure/functions';
import { notFound } from '../shared/domain/errors';
import { edge, type EdgeCtx } from './http';

/**
 * The web console (console/, built by `npm run build` with Vite into dist/console/), served
 * at `/console/` by the function app itself: the same origin as the API, so the console
 * calls `/api/…` with no CORS and no second deployment to keep in step with the API.
 *
 * Only the files the build wrote are served: the folder is read once into a table, and a
 * request path that is not a key of that table is 404 (no path from the request ever
 * reaches the file system). Every answer carries a strict Content-Security-Policy: scripts,
 * styles and connections from this origin only, no inline script or style, no framing.
 * Hashed assets (`assets/name-HASH.js`) are cached for a year; index.html is revalidated
 * (ETag) on every load so a new build is picked up at once.
 *
 * This is not an API operation (it is not in operations.ts or the OpenAPI document) and
 * adds no data endpoint: the console reads and writes only through the documented API,
 * with the signed-in user's own token.
 */

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

interface Asset {
  body: Buffer;
  gzip: Buffer | undefined;
  type: string;
  etag: string;
  immutable: boolean;
}

let table: Map<string, Asset> | undefined;

/** dist/functions/console.js → dist/console; functions/console.ts (run from source) → dist/console. */
function consoleDir(): string | undefined {
  for (const d of [join(__dirname, '..', 'console'), join(__dirname, '..', 'dist', 'console')])
    if (existsSync(join(d, 'index.html'))) return d;
  return undefined;
}

function load(): Map<string, Asset> {
  if (table) return table;
  const t = new Map<string, Asset>();
  const dir = consoleDir();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else {
        const key = relative(dir!, p).split(sep).join('/');
        const ext = key.slice(key.lastIndexOf('.'));
        const type = TYPES[ext];
        if (!type) continue;
        const body = readFileSync(p);
        const compressible = !type.startsWith('image/png') && body.length > 512;
        t.set(key, {
          body,
          gzip: compressible ? gzipSync(body, { level: 9 }) : undefined,
          type,
          etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
          immutable: key.startsWith('assets/'),
        });
      }
    }
  };
  if (dir) walk(dir);
  table = t;
  return t;
}

/** `GET /console/{*path}`: a file of the built console, or index.html for `/console/`. */
export async function serveConsole(ctx: EdgeCtx): Promise<HttpResponseInit> {
  const security = {
    'content-security-policy': CONSOLE_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
  };
  const url = new URL(ctx.req.url);
  const path = ctx.req.params.path ?? '';
  // `/console` → `/console/`, so the page's relative URLs resolve under /console/.
  if (path === '' && !url.pathname.endsWith('/')) return { status: 308, headers: { location: `${url.pathname}/`, ...security } };
  const key = path === '' ? 'index.html' : path;
  const asset = load().get(key);
  if (!asset) throw notFound(table?.size ? 'No such console file.' : 'The console is not built (npm run build).');
  const headers: Record<string, string> = {
    ...security,
    etag: asset.etag,
    vary: 'Accept-Encoding',
    'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
  };
  const inm = ctx.req.headers.get('if-none-match');
  if (inm?.split(',').some((t) => t.trim() === asset.etag)) return { status: 304, headers };
  const gzip = asset.gzip && /\bgzip\b/i.test(ctx.req.headers.get('accept-encoding') ?? '');
  return {
    status: 200,
    headers: { ...headers, 'content-type': asset.type, ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
    body: gzip ? asset.gzip : asset.body,
  };
}

app.http('console', {
  route: 'console/{*path}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: edge(serveConsole),
});
