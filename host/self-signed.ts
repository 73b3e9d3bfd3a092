/**
 * A throwaway self-signed certificate for local HTTPS stand-ins (the Application Insights
 * ingestion stand-in, the ARM stand-in, webhook receivers in tests), made with the system's
 * `openssl`: an EC P-256 key, valid for 127.0.0.1 and localhost, for `days` days. Not used by
 * the service itself.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SelfSigned {
  keyPath: string;
  certPath: string;
  key: string;
  cert: string;
}

/** Writes key.pem and cert.pem into `dir` (throws when openssl is missing or fails). */
export function selfSignedCertificate(dir: string, days = 1): SelfSigned {
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', keyPath, '-out', certPath, '-days', String(days)],
      ...['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    ],
    { stdio: 'pipe' },
  );
  return { keyPath, certPath, key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8') };
}
