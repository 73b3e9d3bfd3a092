/**
 * A tenant directory whose event stores open sealed personal values on every read (see
 * PersonalDataVault.opening). Everything else passes through. Backups read the log as stored
 * (sealed) through `rawEvents`.
 */
import type { EventStore } from '../../ports/event-store';
import type { OperationOptions } from '../../ports/options';
import type { TenantDirectory, TenantMeta } from '../../ports/tenant-directory';
import type { PersonalDataVault } from './vault';

export class PersonalDataDirectory implements TenantDirectory {
  constructor(
    readonly inner: TenantDirectory,
    private readonly vault: () => PersonalDataVault | undefined,
  ) {}

  create(...a: Parameters<TenantDirectory['create']>): Promise<void> {
    return this.inner.create(...a);
  }
  getMeta(...a: Parameters<TenantDirectory['getMeta']>): Promise<TenantMeta | undefined> {
    return this.inner.getMeta(...a);
  }
  setStatus(...a: Parameters<TenantDirectory['setStatus']>): Promise<void> {
    return this.inner.setStatus(...a);
  }
  async openEventStore(...a: Parameters<TenantDirectory['openEventStore']>): Promise<EventStore> {
    const events = await this.inner.openEventStore(...a);
    const vault = this.vault();
    return vault ? vault.opening(events) : events;
  }
  openProjectionStore(...a: Parameters<TenantDirectory['openProjectionStore']>): ReturnType<TenantDirectory['openProjectionStore']> {
    return this.inner.openProjectionStore(...a);
  }
  openDeliveryPositions(...a: Parameters<TenantDirectory['openDeliveryPositions']>): ReturnType<TenantDirectory['openDeliveryPositions']> {
    return this.inner.openDeliveryPositions(...a);
  }
  listTenantIds(...a: Parameters<TenantDirectory['listTenantIds']>): Promise<string[]> {
    return this.inner.listTenantIds(...a);
  }
  /** The inner directory's index when it keeps one (tenantIdPage falls back to listTenantIds otherwise). */
  get listTenantIdPage(): TenantDirectory['listTenantIdPage'] {
    const inner = this.inner;
    return inner.listTenantIdPage ? (o) => inner.listTenantIdPage!(o) : undefined;
  }
  async logFingerprint(id: string, options?: OperationOptions): Promise<string | undefined> {
    return this.inner.logFingerprint?.(id, options);
  }
  async loadMarks(purpose: string, options?: OperationOptions): Promise<Record<string, string>> {
    return (await this.inner.loadMarks?.(purpose, options)) ?? {};
  }
  async saveMarks(purpose: string, marks: Record<string, string>, options?: OperationOptions): Promise<void> {
    await this.inner.saveMarks?.(purpose, marks, options);
  }
  /** The inner directory's open tenants when it can tell. */
  get openTenantIds(): TenantDirectory['openTenantIds'] {
    const inner = this.inner;
    return inner.openTenantIds ? () => inner.openTenantIds!() : undefined;
  }
  async closeTenant(id: string, options?: OperationOptions): Promise<void> {
    await this.inner.closeTenant?.(id, options);
  }
  destroy(...a: Parameters<TenantDirectory['destroy']>): Promise<void> {
    this.vault()?.forget(a[0]);
    return this.inner.destroy(...a);
  }
  close(...a: Parameters<TenantDirectory['close']>): Promise<void> {
    return this.inner.close(...a);
  }
}
