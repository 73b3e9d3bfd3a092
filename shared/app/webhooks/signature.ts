import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * How a delivery is signed: HMAC-SHA256 with the subscription's secret over
 * `${timestamp}.${subscriptionId}.${body}` (timestamp in Unix seconds), hex. Receivers
 * recompute it, compare in constant time and refuse old timestamps (replays).
 */
export const SIGNATURE_ALGORITHM = 'HMAC-SHA256';
export const HEADERS = {
  algorithm: 'x-ledger-signature-algorithm',
  signature: 'x-ledger-signature',
  timestamp: 'x-ledger-timestamp',
  subscription: 'x-ledger-subscription',
  delivery: 'x-ledger-delivery',
} as const;

export function sign(secret: Uint8Array, timestamp: number, subscriptionId: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${subscriptionId}.${body}`).digest('hex');
}

export function verify(secret: Uint8Array, timestamp: number, subscriptionId: string, body: string, signature: string): boolean {
  const expected = Buffer.from(sign(secret, timestamp, subscriptionId, body), 'hex');
  const got = Buffer.from(signature, 'hex');
  return got.length === expected.length && timingSafeEqual(got, expected);
}
