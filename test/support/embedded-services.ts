import { loadConfig } from '../../shared/config';
import { createServices, type Services } from '../../shared/config/services';

/**
 * The service's composition root on its embedded defaults over the data folder `dir`, for
 * in-process tests of background work: no local blob server, a quick password hash, backups to
 * the local folder tier.
 */
export function embeddedServices(dir: string): Promise<Services> {
  return createServices(loadConfig({ DATA_DIR: dir, LOCAL_BLOB: 'off', PASSWORD_SCRYPT_LOG_N: '14', BACKUP_LOCAL_FALLBACK: 'on' }));
}

/** Creates the tenants `ids` one after the other, each with its first admin `admin@<id>.test`. */
export async function createTenants(s: Services, ids: readonly string[], correlationId: string): Promise<void> {
  for (const id of ids)
    await s.tenants.createTenant(
      { id: 'operator-key:test' },
      { id, name: id, admin: { email: `admin@${id}.test`, password: 'a long enough password' } },
      { correlationId },
    );
}
