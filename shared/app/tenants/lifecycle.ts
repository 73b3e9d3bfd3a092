import { randomBytes } from 'node:crypto';
import { ADMINS_STREAM, adminsDecider } from '../../domain/admins';
import { retiredIdError } from '../offboarding/schedule';
import { type AppError, conflict, isAppError, notFound } from '../../domain/errors';
import type { Author } from '../../domain/events';
import { normalizeEmail, USER_EXISTS_MESSAGE, type UserCommand, userDecider, userIdForEmail, userStreamId } from '../../domain/identity';
import { assertNotReserved, assertTenantId, DRILL_PREFIX, TENANT_STREAM, tenantDecider } from '../../domain/tenant';
import type { EventStore } from '../../ports/event-store';
import type { KeyProvider } from '../../ports/key-provider';
import type { OperatorPrincipal } from '../../ports/operator-auth';
import type { Clock } from '../../ports/runtime';
import type { TenantDirectory, TenantMeta, TenantStatus } from '../../ports/tenant-directory';
import type { TenantStores } from '../../ports/tenant-stores';
import { handleCommand } from '../command-handling/handle-command';
import type { PasswordHasher } from '../passwords';
import type { RequestInfo } from '../request';
import type { TenantHealth } from '../tenant-health';
import { createTenantKey } from './tenant-key';
import { allTenantIds } from './tenant-pages';

export interface CreateTenantInput {
  id: string;
  name: string;
  admin: { email: string; password: string; displayName?: string };
}

/** A tenant as operators see it in lists: status only, never data. */
export interface TenantSummary {
  id: string;
  /** `degraded`: ready, but it cannot be served right now. */
  status: TenantStatus | 'degraded';
  createdAt: string;
}

export interface TenantLifecycleDeps {
  directory: TenantDirectory;
  keys: KeyProvider;
  clock: Clock;
  stores: TenantStores;
  health: TenantHealth;
  passwords: PasswordHasher;
  /** For an id with no tenant: the 410 when a tenant of that id was shredded (offboarding), else undefined. */
  shredded?: (id: string) => Promise<AppError | undefined>;
  /** A tenant stuck in "creating" longer than this is considered abandoned and may be re-created (default 10 min). */
  abandonedCreationMs?: number;
}

/** How often a suspend/resume re-reads and decides again after losing a race on the tenant stream. */
const LIFECYCLE_RETRIES = 3;

/**
 * The operator's tenant use cases: create (with its first admin), list, suspend and resume,
 * read the status. The tenant's own events are commands of the tenant decider
 * (shared/domain/tenant.ts) run by handleCommand; the directory holds whether it is served.
 */
export class TenantLifecycle {
  constructor(private readonly d: TenantLifecycleDeps) {}

  async createTenant(operator: OperatorPrincipal, input: CreateTenantInput, req: RequestInfo): Promise<TenantSummary> {
    // Checked first (the decider checks again): a refused id costs no hash and creates no key.
    assertTenantId(input.id);
    assertNotReserved(input.id);
    // A shredded tenant's id stays retired (offboarding/schedule.ts says why).
    const gone = await this.d.shredded?.(input.id);
    if (gone) throw retiredIdError(input.id, gone);
    const { directory, keys, clock } = this.d;
    const passwordHash = await this.d.passwords.hash(input.admin.password);
    const { keyName, signingKey } = await createTenantKey(keys, input.id);
    const meta: TenantMeta = {
      id: input.id,
      name: input.name,
      status: 'creating',
      createdAt: clock.now().toISOString(),
      keyName,
      signingKey,
    };
    // The tenant's first commits are written before it becomes visible: the directory makes
    // it appear complete (and "ready") or not at all, even across a crash.
    const populate = async (events: EventStore) => {
      const author: Author = { kind: 'operator', id: operator.id };
      const opts = { meta: { author, correlationId: req.correlationId } };
      // The salt travels with the log, so a tenant restored from a backup under another id
      // keeps its users' ids (and the same person gets unrelated ids in different tenants).
      const userIdSalt = randomBytes(16).toString('base64url');
      await handleCommand(events, TENANT_STREAM, tenantDecider, { type: 'CreateTenant', id: input.id, name: input.name, userIdSalt }, opts);
      const email = normalizeEmail(input.admin.email);
      const userId = userIdForEmail(userIdSalt, email);
      const admin: UserCommand = {
        type: 'CreateUser',
        userId,
        email,
        displayName: input.admin.displayName ?? null,
        roles: ['admin'],
        passwordHash,
      };
      await handleCommand(events, userStreamId(userId), userDecider, admin, { ...opts, onConflict: () => conflict(USER_EXISTS_MESSAGE) });
      await handleCommand(
        events,
        ADMINS_STREAM,
        adminsDecider,
        { type: 'ChangeAdmin', userId, enabledAdminAfter: true, verified: [] },
        opts,
      );
    };
    try {
      try {
        await directory.create(meta, { populate });
      } catch (e) {
        if (!(isAppError(e) && e.code === 'conflict' && (await this.reclaimAbandoned(input.id)))) throw e;
        await directory.create(meta, { populate });
      }
    } catch (e) {
      // The directory removed whatever it had built; the key is ours to remove.
      this.d.stores.forget(input.id);
      await keys.deleteKey(keyName).catch(() => undefined);
      throw e;
    }
    return { id: meta.id, status: 'ready', createdAt: meta.createdAt };
  }

  /** Removes a tenant left half-created by a crash long enough ago. */
  private async reclaimAbandoned(id: string): Promise<boolean> {
    const existing = await this.d.directory.getMeta(id);
    const age = existing ? this.d.clock.now().getTime() - Date.parse(existing.createdAt) : 0;
    if (existing?.status !== 'creating' || age < (this.d.abandonedCreationMs ?? 10 * 60_000)) return false;
    this.d.stores.forget(id);
    await this.d.directory.destroy(id);
    await this.d.keys.deleteKey(existing.keyName).catch(() => undefined);
    return true;
  }

  /** Every tenant's status (never tenant data), from the store's own catalog. */
  async listTenants(): Promise<TenantSummary[]> {
    const out: TenantSummary[] = [];
    for (const id of await this.d.directory.listTenantIds()) {
      const meta = await this.d.directory.getMeta(id).catch(() => undefined);
      if (meta)
        out.push({
          id: meta.id,
          status: meta.status === 'ready' && this.d.health.recent(id) ? 'degraded' : meta.status,
          createdAt: meta.createdAt,
        });
    }
    return out;
  }

  /** Tenants the timers work on: ready ones, without the scratch tenants of restore drills. */
  async servedTenantIds(): Promise<string[]> {
    if (!this.d.directory.listTenantIdPage)
      return (await this.listTenants()).filter((t) => t.status === 'ready' && !t.id.startsWith(DRILL_PREFIX)).map((t) => t.id);
    // From the directory's index of statuses: no meta read per tenant (10,000 tenants: one range read).
    const out: string[] = [];
    for await (const id of allTenantIds(this.d.directory, { status: 'ready' }))
      if (!id.startsWith(DRILL_PREFIX) && !this.d.health.recent(id)) out.push(id);
    return out;
  }

  /**
   * Of `ids` (a few: what the change journal lists), the tenants served now and those held back
   * by a recent fault or a status that cannot be read (looked at again later); the others (not
   * ready, drills, gone) are neither. One status read per tenant.
   */
  async servedAmong(ids: readonly string[]): Promise<{ served: string[]; held: string[] }> {
    const served: string[] = [];
    const held: string[] = [];
    for (const id of ids) {
      if (id.startsWith(DRILL_PREFIX)) continue;
      let status: string | undefined;
      try {
        status = (await this.d.directory.getMeta(id))?.status;
      } catch {
        held.push(id);
        continue;
      }
      if (status === 'ready') (this.d.health.recent(id) ? held : served).push(id);
    }
    return { served, held };
  }

  /** Who the incremental backups serve (BackupService.incrementalRun's ServedTenants). */
  served(): {
    all(): Promise<string[]>;
    among(ids: readonly string[]): Promise<{ served: string[]; held: string[] }>;
    held(): string[];
  } {
    return { all: () => this.servedTenantIds(), among: (ids) => this.servedAmong(ids), held: () => this.heldTenantIds() };
  }

  /** The tenants held back now by a recent fault (servedTenantIds leaves them out). */
  heldTenantIds(): string[] {
    return this.d.health.faulted().filter((id) => !id.startsWith(DRILL_PREFIX));
  }

  /**
   * Suspends (or resumes) a tenant: a suspended tenant's users cannot sign in and its tokens
   * stop working (at once on this instance, within 15 s on others); data and backups stay.
   * Audited in the tenant's own log.
   */
  async setSuspended(id: string, suspended: boolean, operator: OperatorPrincipal, req: RequestInfo): Promise<TenantSummary> {
    assertTenantId(id);
    const meta = await this.d.directory.getMeta(id);
    if (!meta || meta.status === 'creating') throw (!meta && (await this.d.shredded?.(id))) || notFound(`Tenant "${id}" does not exist.`);
    if (meta.status === 'deleting')
      throw conflict(`Tenant "${id}" is scheduled for deletion; cancel the deletion (POST /api/tenants/${id}/deletion/cancel) first.`);
    const target = suspended ? 'suspended' : 'ready';
    if (meta.status !== target) {
      // The log directly (a suspended tenant is not served, so not through the ready-check).
      const events = await this.d.directory.openEventStore(id);
      await handleCommand(
        events,
        TENANT_STREAM,
        tenantDecider,
        { type: suspended ? 'SuspendTenant' : 'ResumeTenant', id },
        {
          meta: { author: { kind: 'operator', id: operator.id }, correlationId: req.correlationId },
          retries: LIFECYCLE_RETRIES,
        },
      );
      await this.d.directory.setStatus(id, target);
      this.d.stores.forget(id);
    }
    return { id, status: target, createdAt: meta.createdAt };
  }

  async getTenantStatus(id: string): Promise<TenantSummary> {
    assertTenantId(id);
    const meta = await this.d.directory.getMeta(id);
    if (!meta) throw (await this.d.shredded?.(id)) ?? notFound(`Tenant "${id}" does not exist.`);
    return { id: meta.id, status: meta.status, createdAt: meta.createdAt };
  }
}
