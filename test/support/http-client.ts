/** A tiny JSON client for end-to-end tests against a running host. */
import { hostOutputTail } from './host-output';

export interface CallResult {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

export interface CallOptions {
  token?: string;
  body?: unknown;
  raw?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export function client(baseUrl: () => string) {
  return async function call(method: string, path: string, opts: CallOptions = {}): Promise<CallResult> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body: string | undefined;
    if (opts.raw !== undefined) body = opts.raw;
    else if (opts.body !== undefined) body = JSON.stringify(opts.body);
    if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    const base = baseUrl();
    const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) }).catch((e: unknown) => {
      // No answer at all: say what the host printed last (it may have logged why it closed the socket).
      const tail = hostOutputTail(base);
      if (tail === undefined) throw e;
      const cause = (e as { cause?: { message?: string } })?.cause?.message;
      throw new Error(`${method} ${path}: ${(e as Error)?.message}${cause ? ` (${cause})` : ''}; the host's last output:\n${tail}`, {
        cause: e,
      });
    });
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, json, text };
  };
}
