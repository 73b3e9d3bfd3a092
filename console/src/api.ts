/**
 * The console's only way to the service: the documented HTTP API under /api/, called with
 * the signed-in user's bearer token (or the operator key). Problems (RFC 9457) become
 * ApiError with the status, the detail and the field errors (JSON Pointer paths).
 */
import type { Session } from './session';

export interface FieldError {
  path: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: FieldError[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Fired on window when the API answers 401 to a signed-in call. */
export const UNAUTHORIZED_EVENT = 'tenant-ledger:unauthorized';

export interface Answer<T> {
  status: number;
  body: T;
  etag: string | null;
}

export interface CallOptions {
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

function authorization(session: Session | null): Record<string, string> {
  if (!session) return {};
  return { authorization: `Bearer ${session.kind === 'operator' ? session.key : session.token}` };
}

async function problemOf(res: Response): Promise<ApiError> {
  let detail = `${res.status} ${res.statusText}`;
  let errors: FieldError[] = [];
  try {
    const p = (await res.json()) as { title?: unknown; detail?: unknown; errors?: unknown };
    if (typeof p.detail === 'string') detail = p.detail;
    else if (typeof p.title === 'string') detail = p.title;
    if (Array.isArray(p.errors))
      errors = p.errors
        .filter((e): e is FieldError => typeof e?.path === 'string' && typeof e?.message === 'string')
        .map((e) => ({ path: e.path, message: e.message }));
  } catch {
    // not a problem document: keep the status line
  }
  return new ApiError(res.status, detail, errors);
}

/** Calls `/api/<path>`; throws ApiError for any status ≥ 400 (and 502, which carries a body the caller may want: see `allow`). */
export async function call<T>(
  session: Session | null,
  method: string,
  path: string,
  opts: CallOptions = {},
  allow: number[] = [],
): Promise<Answer<T>> {
  const headers: Record<string, string> = { accept: 'application/json', ...authorization(session), ...(opts.headers ?? {}) };
  let body: BodyInit | undefined;
  if (opts.body !== undefined) {
    headers['content-type'] = opts.contentType ?? 'application/json';
    body = JSON.stringify(opts.body);
  }
  const res = await fetch(`/api/${path}`, { method, headers, body, signal: opts.signal, credentials: 'omit', cache: 'no-store' });
  if (!res.ok && !allow.includes(res.status)) {
    // An expired or revoked token (or key): the app signs out and asks to sign in again.
    if (res.status === 401 && session) dispatchEvent(new Event(UNAUTHORIZED_EVENT));
    throw await problemOf(res);
  }
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, etag: res.headers.get('etag') };
}

/** Builds a path from literal parts and values (each value URI-encoded). */
export function path(strings: TemplateStringsArray, ...values: Array<string | number>): string {
  return strings.reduce((acc, s, i) => acc + s + (i < values.length ? encodeURIComponent(String(values[i])) : ''), '');
}

/** Query string from the defined entries. */
export function query(q: Record<string, string | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') p.append(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** Uploads a file with progress (fetch cannot report upload progress; XMLHttpRequest can). */
export function upload<T>(
  session: Session,
  apiPath: string,
  file: File,
  onProgress: (loaded: number, total: number) => void,
): Promise<Answer<T>> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/${apiPath}`);
    for (const [k, v] of Object.entries(authorization(session))) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader('content-type', file.type || 'application/octet-stream');
    xhr.setRequestHeader('x-file-name', encodeURIComponent(file.name));
    xhr.setRequestHeader('accept', 'application/json');
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onerror = () => reject(new ApiError(0, 'network error'));
    xhr.onload = () => {
      const text = xhr.responseText;
      if (xhr.status >= 400) {
        const res = new Response(text || null, { status: xhr.status, statusText: xhr.statusText });
        void problemOf(res).then(reject, reject);
        return;
      }
      resolve({ status: xhr.status, body: (text ? JSON.parse(text) : undefined) as T, etag: xhr.getResponseHeader('etag') });
    };
    xhr.send(file);
  });
}

/** Downloads a file with the bearer token and hands it to the browser as a download. */
export async function download(session: Session, apiPath: string, name: string): Promise<void> {
  const res = await fetch(`/api/${apiPath}`, { headers: authorization(session), credentials: 'omit', cache: 'no-store' });
  if (!res.ok) throw await problemOf(res);
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Where a long operation is: its phase, and `done` of `total` when the API knows them. */
export interface Progress {
  phase: string;
  done?: number;
  total?: number;
}

export interface ProgressLine {
  progress?: Progress;
  status?: number;
  body?: unknown;
}

/**
 * A long operator operation through its progress stream (`Accept: application/x-ndjson`):
 * every `{"progress":…}` line goes to onProgress, the last line is the answer (a status in
 * `allow`, e.g. 502 with each tier's result, is an answer rather than an error).
 */
export async function callWithProgress<T>(
  session: Session,
  method: string,
  apiPath: string,
  body: unknown,
  onProgress: (p: Progress) => void,
  allow: number[] = [],
): Promise<Answer<T>> {
  const res = await fetch(`/api/${apiPath}`, {
    method,
    headers: {
      ...authorization(session),
      accept: 'application/x-ndjson',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit',
    cache: 'no-store',
  });
  if (!res.ok && !allow.includes(res.status)) {
    if (res.status === 401) dispatchEvent(new Event(UNAUTHORIZED_EVENT));
    throw await problemOf(res);
  }
  if (!(res.headers.get('content-type') ?? '').includes('ndjson') || !res.body) {
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, etag: res.headers.get('etag') };
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  let last: ProgressLine | undefined;
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffered += value;
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line) {
        const parsed = JSON.parse(line) as ProgressLine;
        if (parsed.progress) onProgress(parsed.progress);
        else if (parsed.status !== undefined) last = parsed;
      }
      nl = buffered.indexOf('\n');
    }
    if (done) break;
  }
  if (buffered.trim()) last = JSON.parse(buffered) as ProgressLine;
  if (!last || last.status === undefined) throw new ApiError(0, 'The progress stream ended without an answer.');
  if (last.status >= 400 && !allow.includes(last.status)) {
    const p = last.body as { detail?: string; errors?: FieldError[] } | undefined;
    throw new ApiError(last.status, p?.detail ?? String(last.status), p?.errors ?? []);
  }
  return { status: last.status, body: last.body as T, etag: null };
}
