import { lookup as dnsLookup } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { validation } from '../../domain/errors';

/**
 * Where a webhook may be sent. https only unless `allowHttp` (local development); the host's
 * addresses are checked after DNS resolution, at connect time (the socket connects to the
 * address that was checked, so a name that resolves differently later cannot slip through):
 * loopback, private, link-local, unique-local, carrier-grade NAT, multicast, unspecified and
 * reserved addresses are refused unless `allowPrivate` (local development).
 */
export interface TargetPolicy {
  allowHttp: boolean;
  allowPrivate: boolean;
}

const MAX_URL = 2048;

/** The URL a subscription may use; 400 naming `field` otherwise. */
export function checkTargetUrl(raw: string, policy: TargetPolicy, field = 'url'): string {
  const refuse = (message: string) => validation(`The webhook ${field} ${message}.`, [{ path: `/${field}`, message }]);
  if (typeof raw !== 'string' || raw.length > MAX_URL) throw refuse(`must be a URL of at most ${MAX_URL} characters`);
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw refuse('is not a valid URL');
  }
  if (u.protocol !== 'https:' && !(policy.allowHttp && u.protocol === 'http:'))
    throw refuse(policy.allowHttp ? 'must use https or http' : 'must use https');
  if (u.username || u.password) throw refuse('must not carry credentials');
  if (u.hash) throw refuse('must not have a fragment');
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (ipaddr.isValid(host) && !policy.allowPrivate && !isPublic(host)) throw refuse('points to a private, loopback or link-local address');
  if (!policy.allowPrivate && (host === 'localhost' || host.endsWith('.localhost'))) throw refuse('points to this host');
  return u.toString();
}

/** True for a globally routable unicast address. */
export function isPublic(address: string): boolean {
  let a = ipaddr.parse(address);
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) a = (a as ipaddr.IPv6).toIPv4Address();
  return a.range() === 'unicast';
}

export class TargetRefused extends Error {
  override readonly name = 'TargetRefused';
}

/** A `lookup` for http(s).request that refuses non-public addresses unless allowed. */
export function guardedLookup(policy: TargetPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as unknown as Array<{ address: string; family: number }>;
      const ok = policy.allowPrivate ? list : list.filter((a) => isPublic(a.address));
      if (ok.length === 0) return callback(new TargetRefused(`${hostname} resolves to no public address`), '', 0);
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: typeof ok) => void)(null, ok);
      return callback(null, ok[0]!.address, ok[0]!.family);
    });
  };
}
