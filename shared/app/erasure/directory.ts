/**
 * A tenant directory whose event stores open sealed personal values on every read (see
 * PersonalDataVault.opening). Everything else passes through. Backups read the log as stored
 * (sealed) through `rawEvents`.
 */
import type { EventStore } from '../../ports/event-store';
import type { TenantDirectory } from '../../ports/tenant-directory';
import { ForwardingDirectory } from '../tenants/forwarding-directory';
import type { PersonalDataVault } from './vault';

export class PersonalDataDirectory extends ForwardingDirectory {
  constructor(
    inner: TenantDirectory,
    private readonly vault: () => PersonalDataVault | undefined,
  ) {
    super(inner);
  }

  override async openEventStore(...a: Parameters<TenantDirectory['openEventStore']>): Promise<EventStore> {
    const events = await this.inner.openEventStore(...a);
    const vault = this.vault();
    return vault ? vault.opening(events) : events;
  }
  override destroy(...a: Parameters<TenantDirectory['destroy']>): Promise<void> {
    this.vault()?.forget(a[0]);
    return this.inner.destroy(...a);
  }
}
