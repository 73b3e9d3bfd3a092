/**
 * The one error hierarchy of the service. Every error has a stable `code` and an HTTP
 * status; only functions/ turns them into application/problem+json. Messages must never
 * contain secrets, keys or passwords.
 */
export type ErrorCode =
  | 'validation'
  | 'unprocessable'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'gone'
  | 'conflict'
  | 'precondition_failed'
  | 'precondition_required'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'too_many_requests'
  | 'range_not_satisfiable'
  | 'integrity_failed'
  | 'unavailable';

const statusOf: Record<ErrorCode, number> = {
  validation: 400,
  unprocessable: 422,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  gone: 410,
  conflict: 409,
  precondition_failed: 412,
  precondition_required: 428,
  payload_too_large: 413,
  unsupported_media_type: 415,
  too_many_requests: 429,
  range_not_satisfiable: 416,
  integrity_failed: 502,
  unavailable: 503,
};

export interface FieldError {
  /** JSON Pointer of the offending value in the request body ("" = the whole body). */
  path: string;
  message: string;
}

export class AppError extends Error {
  override readonly name: string = 'AppError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { errors?: FieldError[]; retryAfterSeconds?: number; size?: number } = {},
  ) {
    super(message);
    this.status = statusOf[code];
  }
}

export const validation = (message: string, errors?: FieldError[]) => new AppError('validation', message, errors ? { errors } : {});
export const unprocessable = (message: string, errors?: FieldError[]) => new AppError('unprocessable', message, errors ? { errors } : {});
export const unauthenticated = (message = 'A valid bearer token is required.') => new AppError('unauthenticated', message);
export const forbidden = (message = 'Your role does not allow this.') => new AppError('forbidden', message);
export const notFound = (message: string) => new AppError('not_found', message);
export const conflict = (message: string) => new AppError('conflict', message);

/** Checks by name/code rather than instanceof, so errors crossing module copies still match. */
export function isAppError(e: unknown): e is AppError {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'AppError' && typeof (e as AppError).code === 'string';
}

/**
 * An operation stopped because its `abortSignal` fired (a caller gave up, a deadline passed)
 * rejects with an Error named 'AbortError', the name `fetch` and the Azure and AWS SDKs use
 * too: there is no class of its own, it is checked by name.
 */
export function isAbortError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'AbortError';
}

/** What an aborted operation answers over HTTP: 503, the request can be retried (with the same Idempotency-Key for a command). */
export const cancelled = () => new AppError('unavailable', 'The operation was cancelled before it completed; it can be retried.');

/** Raised by event stores when the expected version does not match the stream. */
export class WrongExpectedVersionError extends Error {
  override readonly name = 'WrongExpectedVersionError';
  constructor(
    readonly streamId: string,
    readonly expectedVersion: number,
    readonly actualVersion: number | undefined,
  ) {
    super(`Stream ${streamId}: expected version ${expectedVersion}, found ${actualVersion ?? 'a newer version'}`);
  }
}

export function isWrongExpectedVersion(e: unknown): e is WrongExpectedVersionError {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'WrongExpectedVersionError';
}
