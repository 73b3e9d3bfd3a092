import * as stream from 'node:stream';

/** `stream.isDisturbed` (Node ≥ 16.8; missing from the type definitions in use): whether a stream has been read from or cancelled. */
const isDisturbed = (stream as unknown as { isDisturbed(s: unknown): boolean }).isDisturbed;

/**
 * The request the local host hands to `@azure/functions`' HttpRequest as its `nativeRequest`.
 *
 * HttpRequest reads only `url`, `method`, `headers` and `body` of its native request for what
 * the API's handlers use (`req.headers.get`, `req.body`, `req.url`, `req.method`), and
 * forwards `arrayBuffer`, `blob`, `formData`, `json`, `text`, `clone` and `bodyUsed`. Building
 * a fetch `Request` for every call (URL parsing and WebIDL checks again, a second copy of
 * every header, an AbortController) was a large share of the host's own CPU per request.
 * This object carries the parsed URL, the one Headers object and the body stream as they
 * are; the first call of anything else builds the fetch `Request` over the same headers and
 * the same body stream, once, and answers from it from then on, so those calls behave
 * exactly as they did.
 */
export class LocalRequest {
  #native: Request | undefined;
  readonly #body: ReadableStream<Uint8Array> | null;

  constructor(
    readonly url: string,
    readonly method: string,
    readonly headers: Headers,
    body: ReadableStream<Uint8Array> | null,
  ) {
    this.#body = body;
  }

  /** The fetch Request over the same URL, headers and body stream (built on first use). */
  #request(): Request {
    this.#native ??= new Request(this.url, {
      method: this.method,
      headers: this.headers,
      ...(this.#body ? { body: this.#body, duplex: 'half' } : {}),
    } as RequestInit);
    return this.#native;
  }

  get body(): ReadableStream<Uint8Array> | null {
    return this.#native ? this.#native.body : this.#body;
  }

  get bodyUsed(): boolean {
    // As fetch defines it: there is a body and it has been read from (or cancelled).
    if (this.#native) return this.#native.bodyUsed;
    return this.#body !== null && isDisturbed(this.#body);
  }

  get signal(): AbortSignal {
    return this.#request().signal;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    return this.#request().arrayBuffer();
  }

  async blob(): Promise<Blob> {
    return this.#request().blob();
  }

  async formData(): Promise<FormData> {
    return this.#request().formData();
  }

  async json(): Promise<unknown> {
    return this.#request().json();
  }

  async text(): Promise<string> {
    return this.#request().text();
  }

  clone(): Request {
    return this.#request().clone();
  }
}
