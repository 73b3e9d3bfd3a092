/**
 * Rules every BlobStore adapter enforces the same way (names, metadata, etags, ranges), so
 * the embedded folder store and the Azure adapter accept and refuse exactly the same input.
 * They follow Azure Blob Storage's limits, since files must move between the two.
 */
import { validation } from '../domain/errors';
import { SMALL_BLOB_MAX } from '../ports/blob-store';

/** Blob metadata (names and values) is limited to 8 KiB in total. */
const MAX_METADATA_BYTES = 8 * 1024;
/** Metadata names are C# identifiers (ASCII subset). */
const METADATA_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * Metadata values travel as HTTP header values: visible ASCII with inner spaces. Empty values
 * and leading/trailing whitespace do not survive a round trip (Azurite drops empty values
 * from Get Blob Properties; HTTP trims whitespace), so they are rejected up front.
 */
const METADATA_VALUE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

export function checkBlobName(name: string): void {
  // Azure: 1-1024 characters; names ending in '.' or '/' are not addressable reliably.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this check refuses
  if (typeof name !== 'string' || name.length === 0 || name.length > 1024 || /[\x00-\x1f\x7f]/.test(name) || /[./]$/.test(name)) {
    throw validation('Invalid blob name: use 1-1024 printable characters, not ending in "." or "/".', [
      { path: '', message: 'invalid blob name' },
    ]);
  }
}

export function checkMetadata(metadata: Record<string, string>): void {
  if (typeof metadata !== 'object' || metadata === null) throw validation('Blob metadata must be an object of strings.');
  const seen = new Set<string>();
  let bytes = 0;
  for (const [key, value] of Object.entries(metadata)) {
    if (!METADATA_KEY.test(key)) {
      throw validation(`Invalid blob metadata name "${key.slice(0, 64)}": use letters, digits and "_", not starting with a digit.`, [
        { path: `/${key.slice(0, 64)}`, message: 'must match ^[A-Za-z_][A-Za-z0-9_]*$' },
      ]);
    }
    const lower = key.toLowerCase();
    if (seen.has(lower)) throw validation(`Blob metadata names are case-insensitive: "${key}" appears twice.`);
    seen.add(lower);
    if (typeof value !== 'string' || !METADATA_VALUE.test(value)) {
      throw validation(`Invalid value for blob metadata "${key}": use non-empty printable ASCII without leading or trailing spaces.`, [
        { path: `/${key}`, message: 'must be non-empty printable ASCII' },
      ]);
    }
    bytes += key.length + value.length;
  }
  if (bytes > MAX_METADATA_BYTES) throw validation(`Blob metadata exceeds ${MAX_METADATA_BYTES} bytes.`);
}

export function checkEtag(etag: string): void {
  // An empty If-Match is dropped by the SDK and '*' matches any version: both would make the
  // write unconditional.
  if (typeof etag !== 'string' || etag.length === 0 || etag.trim() === '*') {
    throw validation('An etag of the current blob version is required.');
  }
}

export function checkRange(value: number | undefined, what: string): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
    throw validation(`Download ${what} must be a non-negative integer.`);
  }
}

/**
 * The `small` upload hint's first step, the same in every adapter: reads at most
 * SMALL_BLOB_MAX + 1 bytes of `chunks`. A body that ended within them comes back whole
 * (`body`); a larger one as `rest`, which yields those bytes again and then the remainder
 * (and tells the source to stop when it is itself stopped early: a failure, an abort).
 */
export async function takeSmallBody(
  chunks: AsyncIterable<Uint8Array>,
): Promise<{ body: Buffer; rest?: undefined } | { body?: undefined; rest: AsyncIterable<Uint8Array> }> {
  const head: Uint8Array[] = [];
  let size = 0;
  const it = chunks[Symbol.asyncIterator]();
  while (size <= SMALL_BLOB_MAX) {
    const next = await it.next();
    if (next.done) return { body: Buffer.concat(head) };
    if (!(next.value instanceof Uint8Array)) throw new TypeError('upload: the source must yield Uint8Array chunks.');
    head.push(next.value);
    size += next.value.length;
  }
  return {
    rest: (async function* rest() {
      let finished = false;
      try {
        yield* head;
        for (;;) {
          const next = await it.next();
          if (next.done) {
            finished = true;
            return;
          }
          yield next.value;
        }
      } finally {
        if (!finished) await it.return?.();
      }
    })(),
  };
}
