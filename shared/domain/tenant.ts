import { validation } from './errors';

export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{2,39}$/;

export function assertTenantId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !TENANT_ID_PATTERN.test(id)) {
    throw validation('Tenant ids are 3-40 characters: lowercase letters, digits and dashes, not starting with a dash.', [
      { path: '/id', message: `must match ${TENANT_ID_PATTERN.source}` },
    ]);
  }
}
