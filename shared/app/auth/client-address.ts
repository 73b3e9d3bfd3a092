import ipaddr from 'ipaddr.js';

/**
 * Who is calling, as the edge sees it: the key that sign-in throttling and fair hashing
 * count per client.
 *
 * What is trusted: the platform's front end (Azure App Service / Functions, and the local
 * host, which does the same) APPENDS the address of the TCP peer it accepted to
 * `X-Forwarded-For`. Everything to the left of that entry was written by the caller and is
 * ignored. `hops` says which entry from the right is the caller: 1 = the front end's own
 * entry (the default); behind one more trusted proxy that appends too (Azure Front Door,
 * Application Gateway) use 2, and so on. A missing or unparsable entry gives the shared
 * key `unknown`, which is throttled like any single client.
 *
 * IPv6 callers are keyed by their /64 (one subscriber usually owns a whole /64, so
 * counting single addresses would give an attacker 2^64 fresh clients); IPv4-mapped IPv6
 * addresses are keyed as the IPv4 address.
 */
export const UNKNOWN_CLIENT = 'unknown';

export function clientKeyFromForwardedFor(header: string | null | undefined, hops = 1): string {
  if (!header || hops < 1) return UNKNOWN_CLIENT;
  const entries = header.split(',').map((s) => s.trim());
  const entry = entries[entries.length - hops];
  if (entry === undefined) return UNKNOWN_CLIENT;
  return clientKey(entry);
}

/** Normalises one address (with or without a port, IPv6 with or without brackets) to a throttling key. */
export function clientKey(raw: string): string {
  const host = stripPort(raw.trim());
  if (!host || !ipaddr.isValid(host)) return UNKNOWN_CLIENT;
  let addr = ipaddr.parse(host);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  if (addr.kind() === 'ipv4') return addr.toString();
  const bytes = addr.toByteArray().slice(0, 8).concat([0, 0, 0, 0, 0, 0, 0, 0]);
  return `${ipaddr.fromByteArray(bytes).toString()}/64`;
}

function stripPort(s: string): string {
  // [2001:db8::1]:443
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(s);
  if (bracketed) return bracketed[1]!;
  // 203.0.113.7:51234 (exactly one colon: IPv4 with port; more colons: a bare IPv6 address)
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(s);
  if (v4port) return v4port[1]!;
  return s;
}
