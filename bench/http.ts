/**
 * HTTP client helpers for `npm run bench` (fetch against the in-process local host).
 */
import { msSince, nowNs } from './lib';

export interface Reply {
  status: number;
  headers: Headers;
  body: unknown;
}

export interface CallOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

export async function call(base: string, method: string, path: string, opts: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, {
    method,
    headers,
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* keep the text */
  }
  return { status: res.status, headers: res.headers, body };
}

export function expectStatus(r: Reply, status: number, what: string): void {
  if (r.status !== status) throw new Error(`${what}: expected HTTP ${status}, got ${r.status}: ${JSON.stringify(r.body)}`);
}

export interface NdjsonCount {
  lines: number;
  bytes: number;
  /** Until the response headers arrived. */
  headersMs: number;
  /** Until the first body chunk arrived. */
  firstChunkMs: number;
  /** Until the last byte was read. */
  totalMs: number;
  /** The first line, parsed (a sanity check of what was streamed). */
  first: unknown;
}

/**
 * GETs an NDJSON response and counts its lines while it streams (never buffers the body):
 * only the first line is decoded and parsed.
 */
export async function countNdjson(base: string, path: string, token: string): Promise<NdjsonCount> {
  const t0 = nowNs();
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
  const headersMs = msSince(t0);
  if (res.status !== 200 || !res.body)
    throw new Error(`GET ${path}: expected HTTP 200 with a body, got ${res.status}: ${await res.text()}`);
  const reader = res.body.getReader();
  let lines = 0;
  let bytes = 0;
  let firstChunkMs = Number.NaN;
  const head: Uint8Array[] = [];
  let headDone = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (Number.isNaN(firstChunkMs)) firstChunkMs = msSince(t0);
    bytes += value.length;
    let nl = value.indexOf(10);
    if (!headDone) head.push(nl >= 0 ? value.subarray(0, nl) : value);
    if (nl >= 0) headDone = true;
    while (nl >= 0) {
      lines++;
      nl = value.indexOf(10, nl + 1);
    }
  }
  const totalMs = msSince(t0);
  const firstLine = Buffer.concat(head).toString('utf8');
  return { lines, bytes, headersMs, firstChunkMs, totalMs, first: firstLine ? (JSON.parse(firstLine) as unknown) : undefined };
}
