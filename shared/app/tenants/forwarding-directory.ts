import type { TenantDirectory } from '../../ports/tenant-directory';

/**
 * A tenant directory that passes every method to `inner`: the base of the decorators that
 * change one or two of them (PersonalDataDirectory opens sealed values on read,
 * SignallingDirectory notifies after appends). An optional port method is present exactly
 * when the inner directory has it, so a caller's "does this directory keep an index / marks /
 * open tenants" check sees through the decorators, and a port method added later is
 * forwarded here once instead of in each decorator (one was once dropped that way).
 */
export class ForwardingDirectory implements TenantDirectory {
  constructor(readonly inner: TenantDirectory) {}

  create(...a: Parameters<TenantDirectory['create']>): ReturnType<TenantDirectory['create']> {
    return this.inner.create(...a);
  }
  getMeta(...a: Parameters<TenantDirectory['getMeta']>): ReturnType<TenantDirectory['getMeta']> {
    return this.inner.getMeta(...a);
  }
  setStatus(...a: Parameters<TenantDirectory['setStatus']>): ReturnType<TenantDirectory['setStatus']> {
    return this.inner.setStatus(...a);
  }
  openEventStore(...a: Parameters<TenantDirectory['openEventStore']>): ReturnType<TenantDirectory['openEventStore']> {
    return this.inner.openEventStore(...a);
  }
  openProjectionStore(...a: Parameters<TenantDirectory['openProjectionStore']>): ReturnType<TenantDirectory['openProjectionStore']> {
    return this.inner.openProjectionStore(...a);
  }
  openDeliveryPositions(...a: Parameters<TenantDirectory['openDeliveryPositions']>): ReturnType<TenantDirectory['openDeliveryPositions']> {
    return this.inner.openDeliveryPositions(...a);
  }
  listTenantIds(...a: Parameters<TenantDirectory['listTenantIds']>): ReturnType<TenantDirectory['listTenantIds']> {
    return this.inner.listTenantIds(...a);
  }
  destroy(...a: Parameters<TenantDirectory['destroy']>): ReturnType<TenantDirectory['destroy']> {
    return this.inner.destroy(...a);
  }
  close(...a: Parameters<TenantDirectory['close']>): ReturnType<TenantDirectory['close']> {
    return this.inner.close(...a);
  }
  get listTenantIdPage(): TenantDirectory['listTenantIdPage'] {
    return this.inner.listTenantIdPage?.bind(this.inner);
  }
  get logFingerprint(): TenantDirectory['logFingerprint'] {
    return this.inner.logFingerprint?.bind(this.inner);
  }
  get changesSince(): TenantDirectory['changesSince'] {
    return this.inner.changesSince?.bind(this.inner);
  }
  get readMarks(): TenantDirectory['readMarks'] {
    return this.inner.readMarks?.bind(this.inner);
  }
  get writeMarks(): TenantDirectory['writeMarks'] {
    return this.inner.writeMarks?.bind(this.inner);
  }
  get loadMarks(): TenantDirectory['loadMarks'] {
    return this.inner.loadMarks?.bind(this.inner);
  }
  get saveMarks(): TenantDirectory['saveMarks'] {
    return this.inner.saveMarks?.bind(this.inner);
  }
  get closeTenant(): TenantDirectory['closeTenant'] {
    return this.inner.closeTenant?.bind(this.inner);
  }
  get openTenantIds(): TenantDirectory['openTenantIds'] {
    return this.inner.openTenantIds?.bind(this.inner);
  }
}
