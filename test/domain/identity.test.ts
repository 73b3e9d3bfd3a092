import { describe, expect, it } from 'vitest';
import { normalizeEmail, redactUserEvent, rolesAllow, type UserEvent, userIdForEmail } from '../../shared/domain/identity';

// The user decider's rules: user-decider.test.ts.
const userId = userIdForEmail('acme', 'a@x.test');
const created: UserEvent = {
  type: 'UserCreated',
  data: { userId, email: 'a@x.test', displayName: null, roles: ['viewer'], passwordHash: 'h1' },
};

describe('identity helpers', () => {
  it('user ids derive from the normalised email', () => {
    expect(normalizeEmail('  A@X.Test ')).toBe('a@x.test');
    expect(userIdForEmail('acme', 'A@X.TEST')).toBe(userIdForEmail('acme', 'a@x.test'));
    expect(userIdForEmail('acme', 'a@x.test')).toMatch(/^u_[A-Za-z0-9_-]{22}$/);
    expect(userIdForEmail('globex', 'a@x.test')).not.toBe(userIdForEmail('acme', 'a@x.test'));
  });
  it('roles grant read ⊂ write ⊂ manage', () => {
    expect(rolesAllow(['viewer'], 'read')).toBe(true);
    expect(rolesAllow(['viewer'], 'write')).toBe(false);
    expect(rolesAllow(['editor'], 'write')).toBe(true);
    expect(rolesAllow(['editor'], 'manage')).toBe(false);
    expect(rolesAllow(['admin'], 'manage')).toBe(true);
    expect(rolesAllow([], 'read')).toBe(false);
  });
  it('password hashes never leave through redacted events', () => {
    expect(JSON.stringify(redactUserEvent(created))).not.toContain('h1');
  });
});
