/**
 * Masking of error text before it reaches a log line: the usual carriers of secrets (bearer
 * tokens, SAS signatures, account keys, passwords in URLs or connection strings) are replaced,
 * in case a dependency put one into its message. Used by the functions' log lines and by the
 * local host's process-level error handler.
 */

/**
 * `Name: message` of an error for a log line, at most 300 characters, with the usual carriers
 * of secrets masked.
 */
export function errorMessage(e: unknown): string {
  const name = (e as { name?: unknown })?.name;
  const message = (e as { message?: unknown })?.message;
  const text = `${typeof name === 'string' ? name : 'Error'}: ${typeof message === 'string' ? message : String(e)}`;
  return redact(text).slice(0, 300);
}

export function redact(s: string): string {
  return s
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]')
    .replace(
      /\b(sig|signature|AccountKey|SharedAccessKey|SharedAccessSignature|password|pwd|secret|client_secret|token|access_token|X-Amz-Signature|X-Amz-Credential)=([^&;\s"']+)/gi,
      '$1=[redacted]',
    )
    .replace(/(\w+:\/\/[^/\s:@]+):[^@\s/]+@/g, '$1:[redacted]@');
}
