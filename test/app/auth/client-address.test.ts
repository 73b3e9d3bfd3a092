import { describe, expect, it } from 'vitest';
import { clientKey, clientKeyFromForwardedFor, UNKNOWN_CLIENT } from '../../../shared/app/auth/client-address';

describe('client address', () => {
  it('trusts only the entry the front end appended (rightmost, or the configured hop)', () => {
    expect(clientKeyFromForwardedFor('203.0.113.9')).toBe('203.0.113.9');
    // A caller writing its own X-Forwarded-For cannot choose its key.
    expect(clientKeyFromForwardedFor('1.2.3.4, 5.6.7.8, 203.0.113.9:51234')).toBe('203.0.113.9');
    expect(clientKeyFromForwardedFor('1.2.3.4, 198.51.100.2, 10.0.0.1', 2)).toBe('198.51.100.2');
    expect(clientKeyFromForwardedFor('10.0.0.1', 2)).toBe(UNKNOWN_CLIENT);
  });

  it('missing or garbage → one shared "unknown" key', () => {
    expect(clientKeyFromForwardedFor(null)).toBe(UNKNOWN_CLIENT);
    expect(clientKeyFromForwardedFor('')).toBe(UNKNOWN_CLIENT);
    expect(clientKeyFromForwardedFor('not-an-ip')).toBe(UNKNOWN_CLIENT);
    expect(clientKeyFromForwardedFor('1.2.3.4, <script>')).toBe(UNKNOWN_CLIENT);
  });

  it('IPv6 is keyed by its /64, IPv4-mapped IPv6 as IPv4, ports and brackets are dropped', () => {
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('[2001:db8:1:2:bbbb::7]:443')).toBe('2001:db8:1:2::/64');
    expect(clientKey('::ffff:127.0.0.2')).toBe('127.0.0.2');
    expect(clientKey('127.0.0.1:8080')).toBe('127.0.0.1');
  });
});
