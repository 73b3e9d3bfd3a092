/**
 * Reading the errors the cloud SDKs throw (Azure `RestError`, AWS service exceptions) without
 * depending on their classes: the adapters check status, code and name, never `instanceof`
 * (the Azure SDK design guidelines' advice), and never pass the SDK error itself on, since it
 * can carry the request with its headers and body.
 */
interface SdkErrorLike {
  name?: unknown;
  code?: unknown;
  statusCode?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

const asSdkError = (e: unknown): SdkErrorLike => (typeof e === 'object' && e !== null ? (e as SdkErrorLike) : {});

/** The HTTP status of an Azure SDK (`statusCode`) or AWS SDK (`$metadata.httpStatusCode`) error. */
export function httpStatusOf(e: unknown): number | undefined {
  const x = asSdkError(e);
  const s = typeof x.statusCode === 'number' ? x.statusCode : x.$metadata?.httpStatusCode;
  return typeof s === 'number' ? s : undefined;
}

/** The Azure service's error code (`code`, e.g. "ContainerBeingDeleted"), when it is a string. */
export function azureErrorCodeOf(e: unknown): string | undefined {
  const c = asSdkError(e).code;
  return typeof c === 'string' ? c : undefined;
}

/** Aborted SDK calls reject with an Error named 'AbortError' (Azure, AWS and fetch alike). */
export { isAbortError } from '../domain/errors';
