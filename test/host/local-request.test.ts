import { HttpRequest } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { LocalRequest } from '../../host/local-request';

/**
 * The local host hands HttpRequest a LocalRequest instead of a fetch Request. Every scenario
 * runs twice, once over a fetch Request (what the host did before) and once over a
 * LocalRequest built from the same parts, and what a handler sees must be the same.
 */
type Make = (method: string, url: string, headers: Headers, body: string | null) => HttpRequest;

const stream = (text: string): ReadableStream<Uint8Array> =>
  new ReadableStream({
    start(c) {
      // Two chunks, as a socket delivers them.
      const bytes = new TextEncoder().encode(text);
      c.enqueue(bytes.subarray(0, Math.floor(bytes.length / 2)));
      c.enqueue(bytes.subarray(Math.floor(bytes.length / 2)));
      c.close();
    },
  });

const viaFetch: Make = (method, url, headers, body) =>
  new HttpRequest({
    method,
    url,
    params: { id: '7' },
    nativeRequest: new Request(url, { method, headers, ...(body !== null ? { body: stream(body), duplex: 'half' } : {}) } as RequestInit),
  } as unknown as ConstructorParameters<typeof HttpRequest>[0]);

const viaLocal: Make = (method, url, headers, body) =>
  new HttpRequest({
    method,
    url,
    params: { id: '7' },
    nativeRequest: new LocalRequest(url, method, headers, body !== null ? stream(body) : null),
  } as unknown as ConstructorParameters<typeof HttpRequest>[0]);

const outcome = async (p: () => Promise<unknown>): Promise<unknown> => {
  try {
    const v = await p();
    return { ok: v instanceof ArrayBuffer ? Buffer.from(v).toString('utf8') : v };
  } catch (e) {
    return { threw: (e as Error).name };
  }
};

const readAll = async (b: ReadableStream<Uint8Array> | null): Promise<string> => {
  if (!b) return '<null>';
  let s = '';
  for await (const chunk of b as unknown as AsyncIterable<Uint8Array>) s += Buffer.from(chunk).toString('utf8');
  return s;
};

const scenarios: Record<string, (make: Make) => Promise<unknown[]>> = {
  'url, method, headers, query and params': async (make) => {
    const h = new Headers([
      ['x-multi', 'a'],
      ['x-multi', 'b'],
      ['content-type', 'application/json'],
    ]);
    const r = make('POST', 'http://localhost:7071/api/t/a/records/x?asOf=1&f=1&f=2', h, '{}');
    return [r.url, r.method, r.headers.get('x-multi'), r.headers.get('Content-Type'), [...r.headers], r.query.getAll('f'), r.params];
  },
  'text, then bodyUsed, then a second read fails': async (make) => {
    const r = make('POST', 'http://localhost/x', new Headers(), 'héllo wörld');
    const before = r.bodyUsed;
    const text = await outcome(() => r.text());
    return [before, text, r.bodyUsed, await outcome(() => r.text()), await outcome(() => r.arrayBuffer())];
  },
  'json, arrayBuffer and blob': async (make) => {
    const body = '{"a":[1,2,{"b":null}]}';
    const blob = await outcome(async () => (await make('PUT', 'http://localhost/x', new Headers(), body).blob()).text());
    return [
      await outcome(() => make('POST', 'http://localhost/x', new Headers(), body).json()),
      await outcome(() => make('POST', 'http://localhost/x', new Headers(), body).arrayBuffer()),
      blob,
      await outcome(() => make('POST', 'http://localhost/x', new Headers(), 'not json').json()),
    ];
  },
  'the body stream read directly, as the API reads it': async (make) => {
    const r = make('POST', 'http://localhost/x', new Headers(), 'streamed body');
    const before = r.bodyUsed;
    const text = await readAll(r.body);
    return [before, text, r.bodyUsed, await outcome(() => r.text())];
  },
  'a body stream partly read, then text()': async (make) => {
    const r = make('POST', 'http://localhost/x', new Headers(), 'first half second half');
    const reader = r.body!.getReader();
    await reader.read();
    reader.releaseLock();
    return [r.bodyUsed, await outcome(() => r.text())];
  },
  'clone: both copies read the whole body': async (make) => {
    const r = make('POST', 'http://localhost/x', new Headers({ 'x-a': '1' }), 'cloned');
    const c = r.clone();
    return [await outcome(() => c.text()), await outcome(() => r.text()), c.headers.get('x-a'), c.url, r.bodyUsed];
  },
  'clone, then both body streams read directly': async (make) => {
    const r = make('POST', 'http://localhost/x', new Headers(), 'teed');
    const c = r.clone();
    return [await outcome(() => readAll(r.body)), await outcome(() => readAll(c.body)), r.bodyUsed, c.bodyUsed];
  },
  'a request without a body (GET)': async (make) => {
    const r = make('GET', 'http://localhost/x?q=1', new Headers(), null);
    return [r.body, r.bodyUsed, await outcome(() => r.text()), r.bodyUsed, await outcome(() => r.arrayBuffer())];
  },
  'formData of a urlencoded body': async (make) => {
    const r = make('POST', 'http://localhost/x', new Headers({ 'content-type': 'application/x-www-form-urlencoded' }), 'a=1&b=two');
    return [await outcome(async () => [...(await r.formData())])];
  },
};

describe('LocalRequest (the local host native request)', () => {
  for (const [name, run] of Object.entries(scenarios)) {
    it(`behaves as a fetch Request: ${name}`, async () => {
      const expected = await run(viaFetch);
      const actual = await run(viaLocal);
      expect(actual).toEqual(expected);
    });
  }
});
