/**
 * Helpers shared by the BackupTarget adapters: key checks and turning SDK errors into
 * errors that carry no request (SDK errors can hold signed URLs, headers and bodies).
 */
import { validation } from '../../domain/errors';
import { httpStatusOf, isAbortError } from '../sdk-errors';

export { httpStatusOf };

/** S3 and Azure Blob both allow keys of at most 1024 bytes (UTF-8). */
export const MAX_KEY_BYTES = 1024;

/** Rejects keys no backup target can store faithfully. */
export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw validation('A backup object key must not be empty.');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw validation(`A backup object key is at most ${MAX_KEY_BYTES} bytes.`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this check refuses
  if (/[\x00-\x1f\x7f]/.test(key)) throw validation('A backup object key must not contain control characters.');
}

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  details?: { errorCode?: unknown };
}

const asErrorLike = (e: unknown): ErrorLike => (typeof e === 'object' && e !== null ? (e as ErrorLike) : {});

/**
 * The service error code: AWS puts it in `name`, Azure in `code` (or, for HEAD requests, which
 * have no body, only in `details.errorCode` from the x-ms-error-code header).
 */
export function serviceCodeOf(e: unknown): string | undefined {
  const x = asErrorLike(e);
  if (typeof x.code === 'string') return x.code;
  if (typeof x.details?.errorCode === 'string') return x.details.errorCode;
  return typeof x.name === 'string' ? x.name : undefined;
}

/**
 * Any other failure: an Error named 'BackupTargetError' with the target, operation, status and
 * service code only. Abort errors pass through unchanged (callers check `name === 'AbortError'`).
 */
export function backupTargetError(target: string, operation: string, e: unknown): Error {
  if (isAbortError(e)) return e as Error;
  const status = httpStatusOf(e);
  const code = serviceCodeOf(e);
  const err = new Error(
    `Backup target ${target}: ${operation} failed${status !== undefined ? ` (HTTP ${status}` : ' ('}${code ? `${status !== undefined ? ', ' : ''}${code}` : ''})`,
  ) as Error & { statusCode?: number; code?: string };
  err.name = 'BackupTargetError';
  if (status !== undefined) err.statusCode = status;
  if (code !== undefined) err.code = code;
  return err;
}
