import type { OperationOptions } from './options';

export interface OperatorPrincipal {
  /** Stable id of the operator (key fingerprint locally, token subject in Azure). */
  id: string;
}

/** Verifies the operator credential of an `Authorization` header; throws unauthenticated/forbidden. */
export interface OperatorAuthenticator {
  authenticate(authorization: string | null, options?: OperationOptions): Promise<OperatorPrincipal>;
}
