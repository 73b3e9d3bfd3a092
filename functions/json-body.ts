import { validation } from '../shared/domain/errors';

/**
 * Parsing of untrusted JSON request bodies with limits that keep one caller from breaking the
 * host: nesting depth is checked on the raw bytes before anything is parsed (a linear scan
 * with a counter, no recursion, so no input can overflow the stack), and numbers that do not
 * fit a double (`1e400`, which JSON.parse turns into Infinity and JSON.stringify into null)
 * are refused instead of silently stored as null.
 */

/**
 * Deepest nesting of objects and arrays accepted in a request body (`{}` is 1, `{"a":[]}` is
 * 2). Records, patches and type schemas all pass through it, so stored data stays far below
 * the limits of the stores and of every recursive reader (SQLite's JSON functions stop at
 * 1,000 levels, Cosmos DB documents at 128, and the service adds a few levels around the
 * data in events and documents).
 */
export const MAX_JSON_DEPTH = 64;

const OPEN_OBJECT = 0x7b; // {
const OPEN_ARRAY = 0x5b; // [
const CLOSE_OBJECT = 0x7d; // }
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;

/**
 * One pass over JSON text: its nesting depth (`Infinity` as soon as it exceeds `max`; the scan
 * stops there), and whether it holds a number that might not fit a double (one with an
 * exponent, or more than 300 digits), so that only such bodies are walked after parsing.
 * Brackets, "e"s and digits inside strings do not count. Malformed text is not diagnosed
 * here: JSON.parse does that afterwards, on text whose depth is known to be small.
 */
export function scanJson(bytes: Uint8Array, max = MAX_JSON_DEPTH): { depth: number; bigNumbers: boolean } {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  let digits = 0;
  let bigNumbers = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
      continue;
    }
    if (b >= DIGIT_0 && b <= DIGIT_9) {
      if (++digits > 300) bigNumbers = true;
      continue;
    }
    // In JSON an exponent always follows a digit; the "e" of true/false never does.
    if ((b === LOWER_E || b === UPPER_E) && digits > 0) bigNumbers = true;
    digits = 0;
    if (b === QUOTE) {
      inString = true;
    } else if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
      if (++depth > max) return { depth: Infinity, bigNumbers };
      if (depth > deepest) deepest = depth;
    } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
      depth--;
    }
  }
  return { depth: deepest, bigNumbers };
}

/** The nesting depth of JSON text (see scanJson). */
export function jsonDepth(bytes: Uint8Array, max = MAX_JSON_DEPTH): number {
  return scanJson(bytes, max).depth;
}

/**
 * JSON.parse with the edge's limits: 400 for malformed JSON, for nesting deeper than
 * MAX_JSON_DEPTH and for numbers outside the range of a double, each with a clear detail.
 */
export function parseJsonBody(bytes: Uint8Array): unknown {
  const scan = scanJson(bytes);
  if (scan.depth > MAX_JSON_DEPTH) {
    throw validation(`The request body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep.`, [
      { path: '', message: `nesting deeper than ${MAX_JSON_DEPTH} levels` },
    ]);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw validation('The request body is not valid JSON.');
  }
  const bad = scan.bigNumbers ? nonFiniteNumberPath(body) : undefined;
  if (bad !== undefined) {
    throw validation('The request body holds a number too large to represent (such as 1e400).', [
      { path: bad, message: 'is not a finite number' },
    ]);
  }
  return body;
}

/** JSON Pointer of the first number that is not finite, or undefined. Depth is already bounded. */
function nonFiniteNumberPath(v: unknown, path = ''): string | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : path || '';
  if (typeof v !== 'object' || v === null) return undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = nonFiniteNumberPath(v[i], `${path}/${i}`);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  for (const k of Object.keys(v)) {
    const p = nonFiniteNumberPath((v as Record<string, unknown>)[k], `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    if (p !== undefined) return p;
  }
  return undefined;
}
