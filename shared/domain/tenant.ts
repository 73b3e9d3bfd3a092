import { validation } from './errors';

/**
 * `^[a-z0-9][a-z0-9-]{2,39}$`, and additionally no "--" and no trailing "-": the id becomes
 * an Azure Blob container name (`t-<id>`), which forbids both.
 */
export const TENANT_ID_PATTERN = /^(?!.*--)[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$/;

export function assertTenantId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !TENANT_ID_PATTERN.test(id)) {
    throw validation(
      'Tenant ids are 3-40 characters: lowercase letters, digits and single dashes, starting and ending with a letter or digit.',
      [{ path: '/id', message: `must match ${TENANT_ID_PATTERN.source}` }],
    );
  }
}
