/**
 * The operator recovery key: an RSA key pair whose public half the service uses to escrow
 * tenant keys to the backup tiers, and whose private half is kept offline and used only to
 * recover from the tiers alone (`tenant-ledger recovery drill`, or a real disaster).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

export const RECOVERY_KEY_BITS = 4096;
/** File name of the recovery public key looked up in the data folder when RECOVERY_PUBLIC_KEY is unset. */
export const RECOVERY_PUBLIC_KEY_FILE = 'recovery-public.pem';

export interface RecoveryKeyPair {
  publicKeyPem: string;
  privateKeyPem: string;
  fingerprint: string;
}

/** SHA-256 (hex) of the public key's SPKI DER encoding: names the recovery key in escrow objects. */
export function recoveryFingerprint(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/** A fresh RSA-4096 pair; the private key PEM is encrypted (AES-256-CBC, PKCS#8) when a passphrase is given. */
export async function generateRecoveryKeyPair(passphrase?: string): Promise<RecoveryKeyPair> {
  const { publicKey, privateKey } = await promisify(generateKeyPair)('rsa', { modulusLength: RECOVERY_KEY_BITS, publicExponent: 0x10001 });
  return {
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey
      .export(passphrase ? { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase } : { type: 'pkcs8', format: 'pem' })
      .toString(),
    fingerprint: recoveryFingerprint(publicKey),
  };
}

function checkRsa(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < 3072) {
    throw new Error(`The ${what} must be an RSA key of at least 3072 bits (tenant-ledger recovery keygen makes one).`);
  }
  return key;
}

/** The recovery public key from PEM text, or from the file a value that is not PEM names. */
export async function loadRecoveryPublicKey(pemOrPath: string): Promise<KeyObject> {
  const pem = pemOrPath.trimStart().startsWith('-----BEGIN') ? pemOrPath : await readFile(pemOrPath, 'utf8');
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new Error('The recovery public key is not a PEM public key.');
  }
  return checkRsa(key, 'recovery public key');
}

/** The recovery private key from a PEM file (decrypted with `passphrase` when it is encrypted). */
export async function loadRecoveryPrivateKey(file: string, passphrase?: string): Promise<KeyObject> {
  const pem = await readFile(file, 'utf8');
  let key: KeyObject;
  try {
    key = createPrivateKey(passphrase ? { key: pem, passphrase } : { key: pem });
  } catch (e) {
    const encrypted = pem.includes('ENCRYPTED');
    // Never echo the key or the passphrase.
    throw new Error(
      encrypted
        ? 'The recovery private key could not be opened: wrong or missing passphrase.'
        : `The recovery private key could not be read (${(e as Error).message.split('\n')[0]}).`,
    );
  }
  return checkRsa(key, 'recovery private key');
}
