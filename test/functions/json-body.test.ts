import { describe, expect, it } from 'vitest';
import { jsonDepth, MAX_JSON_DEPTH, parseJsonBody, scanJson } from '../../functions/json-body';
import { rejectionOf } from '../support/rejection';

const bytes = (s: string) => Buffer.from(s, 'utf8');
const nested = (n: number) => '['.repeat(n) + ']'.repeat(n);
const errorOf = (f: () => unknown) => rejectionOf(Promise.resolve().then(f));

describe('JSON request bodies at the edge', () => {
  it('measures nesting on the raw bytes; brackets inside strings (and escaped quotes) do not count', () => {
    expect(jsonDepth(bytes('1'))).toBe(0);
    expect(jsonDepth(bytes('{}'))).toBe(1);
    expect(jsonDepth(bytes('{"a":[{"b":[]}]}'))).toBe(4);
    expect(jsonDepth(bytes('{"a":"[[[[{{{{","b":"\\"[[[["}'))).toBe(1);
    expect(jsonDepth(bytes('["\\\\", [[]]]'))).toBe(3);
    expect(jsonDepth(bytes(`{"€":${nested(5)}}`))).toBe(6);
  });

  it(`accepts ${MAX_JSON_DEPTH} levels and refuses ${MAX_JSON_DEPTH + 1} or a million with a 400 (no stack overflow)`, async () => {
    expect(parseJsonBody(bytes(`{"x":${nested(MAX_JSON_DEPTH - 1)}}`))).toBeTruthy();
    for (const n of [MAX_JSON_DEPTH, 1010, 4000, 1_000_000]) {
      const e = await errorOf(() => parseJsonBody(bytes(`{"x":${nested(n)}}`)));
      expect(e).toMatchObject({ name: 'AppError', code: 'validation', status: 400 });
      expect((e as Error).message).toMatch(`more than ${MAX_JSON_DEPTH} levels`);
    }
  });

  it('refuses numbers beyond a double (1e400 would be stored as null) and names where they are', async () => {
    for (const [text, path] of [
      ['{"n":1e400}', '/n'],
      ['{"a":[1,2,-1e999]}', '/a/2'],
      ['{"a/b":{"c~d":1E309}}', '/a~1b/c~0d'],
      ['1e400', ''],
      [`{"big":${'9'.repeat(400)}}`, '/big'],
    ] as const) {
      const e = await errorOf(() => parseJsonBody(bytes(text)));
      expect(e, text).toMatchObject({ code: 'validation', details: { errors: [{ path, message: 'is not a finite number' }] } });
    }
    expect(parseJsonBody(bytes('{"n":1.7976931348623157e308,"m":-5e-324,"z":0}'))).toEqual({ n: 1.7976931348623157e308, m: -5e-324, z: 0 });
  });

  it('flags only bodies that may hold such numbers (an exponent, or over 300 digits in a row), so others are not walked', () => {
    expect(scanJson(bytes('{"a":true,"b":false,"c":null,"d":[1,2.5,-3],"e":"1e400 in a string"}')).bigNumbers).toBe(false);
    expect(scanJson(bytes(`{"x":0.${'1'.repeat(250)}}`)).bigNumbers).toBe(false);
    for (const t of ['{"a":1e5}', '{"a":2.5E-3}', '[-7e+1]', `[${'1'.repeat(301)}]`]) expect(scanJson(bytes(t)).bigNumbers, t).toBe(true);
  });

  it('malformed JSON is a 400', async () => {
    for (const text of ['', '{', '{"a":}', ']]]]{', '{"a":1}}']) {
      expect(await errorOf(() => parseJsonBody(bytes(text)))).toMatchObject({
        code: 'validation',
        message: 'The request body is not valid JSON.',
      });
    }
  });
});
