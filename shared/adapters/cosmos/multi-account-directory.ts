import { conflict, notFound } from '../../domain/errors';
import type { EventStore } from '../../ports/event-store';
import type { DeliveryPositionStore } from '../../ports/delivery-positions';
import type { OperationOptions } from '../../ports/options';
import type { ProjectionStore } from '../../ports/projection-store';
import type {
  CreateTenantStoreOptions,
  LogFingerprintOptions,
  TenantDirectory,
  TenantMeta,
  TenantStatus,
} from '../../ports/tenant-directory';
import type { CosmosTenantDirectory } from './cosmos-tenant-directory';

/** One Cosmos DB account of the list (COSMOS_ENDPOINT may name several). */
export interface CosmosAccount {
  /** Stable name of the account (its endpoint): orders the accounts in a claim race. */
  name: string;
  directory: CosmosTenantDirectory;
}

export interface MultiAccountOptions {
  /** Tenants one account takes before new tenants go to the next (default 499: 500 resources minus the database). */
  tenantsPerAccount?: number;
  /** How long a claimant waits for a higher-ranked rival to decide (default 10 s). */
  claimWaitMs?: number;
  /** Poll interval of that wait (default 50 ms). */
  pollMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Tenants spread over several Cosmos DB accounts (one account holds at most 500 databases and
 * containers), with no shared catalog of tenants: each tenant is a container in exactly one
 * account, found by asking the accounts.
 *
 * - **Placement**: a new tenant goes to the first account of the configured list that holds
 *   fewer than `tenantsPerAccount` tenant containers. Appending an account to the list moves
 *   nothing: tenants are found by lookup, never by a formula over the list.
 * - **Lookup**: every account is asked (in parallel); the account that holds a tenant is
 *   cached for the life of the process (a tenant never moves).
 * - **Claim, atomic across accounts**: within one account the claim is the inner directory's
 *   (container or meta-document create: exactly one creator per account). Creators of one id
 *   can still land in different accounts (their views of "room" differ). So after claiming
 *   in its account, a creator checks every other account for a meta of the same id: each
 *   claimant writes before it reads, so of two rivals at least one sees the other. Accounts
 *   are ranked by name; a claimant that sees a rival in a LOWER-ranked account yields (removes
 *   its container, 409); one that sees a rival only in HIGHER-ranked accounts waits until each
 *   rival has yielded (its meta gone) or has won (its meta marked `claimed`; then it yields
 *   itself). The winner marks its meta `claimed` before anything else is written. Exactly one
 *   creator wins; only if a rival neither yields nor wins within `claimWaitMs` do both give up
 *   (409 for both, nothing left: never two tenants with one id).
 */
export class MultiAccountTenantDirectory implements TenantDirectory {
  private readonly home = new Map<string, CosmosAccount>();
  private readonly tenantsPerAccount: number;
  private readonly claimWaitMs: number;
  private readonly pollMs: number;

  constructor(
    private readonly accounts: CosmosAccount[],
    options: MultiAccountOptions = {},
  ) {
    if (accounts.length === 0) throw new Error('At least one Cosmos DB account is needed.');
    if (new Set(accounts.map((a) => a.name)).size !== accounts.length) throw new Error('Cosmos DB accounts must have distinct names.');
    this.tenantsPerAccount = options.tenantsPerAccount ?? 499;
    this.claimWaitMs = options.claimWaitMs ?? 10_000;
    this.pollMs = options.pollMs ?? 50;
  }

  /** The account holding `id` (cached once found), or undefined. */
  async accountOf(id: string, options: OperationOptions = {}): Promise<CosmosAccount | undefined> {
    const cached = this.home.get(id);
    if (cached) return cached;
    const states = await Promise.all(this.accounts.map((a) => a.directory.claimState(id, options)));
    // During a claim race two accounts may briefly hold a meta: prefer the claimed one.
    const i = states.indexOf('claimed') >= 0 ? states.indexOf('claimed') : states.indexOf('pending');
    const account = i >= 0 ? this.accounts[i] : undefined;
    if (account && states[i] === 'claimed') this.home.set(id, account);
    return account;
  }

  private async holder(id: string, options: OperationOptions): Promise<CosmosAccount> {
    const a = await this.accountOf(id, options);
    if (!a) throw notFound(`Tenant "${id}" does not exist.`);
    return a;
  }

  /** The first account of the list with room for one more tenant. */
  private async placement(options: OperationOptions): Promise<CosmosAccount> {
    for (const a of this.accounts) {
      if ((await a.directory.listTenantIds(options)).length < this.tenantsPerAccount) return a;
    }
    throw conflict('Every configured Cosmos DB account is full: add an account to COSMOS_ENDPOINT.');
  }

  async create(meta: TenantMeta, options: CreateTenantStoreOptions = {}): Promise<void> {
    const taken = () => conflict(`The tenant id "${meta.id}" is taken.`);
    const call: OperationOptions = options.abortSignal ? { abortSignal: options.abortSignal } : {};
    if (await this.accountOf(meta.id, call)) throw taken();
    const mine = await this.placement(call);
    await mine.directory.create(meta, call); // the claim within this account (409 if another creator has it)
    let won = false;
    try {
      won = await this.winsAgainstRivals(meta.id, mine, call);
    } finally {
      if (!won) await mine.directory.destroy(meta.id).catch(() => undefined);
    }
    if (!won) throw taken();
    await mine.directory.markClaimed(meta.id, call);
    this.home.set(meta.id, mine);
    if (!options.populate) return;
    try {
      await options.populate(await mine.directory.openEventStore(meta.id, call));
      await mine.directory.setStatus(meta.id, 'ready', call);
    } catch (e) {
      this.home.delete(meta.id);
      await mine.directory.destroy(meta.id).catch(() => undefined);
      throw e;
    }
  }

  /** The cross-account half of the claim (see the class comment). */
  private async winsAgainstRivals(id: string, mine: CosmosAccount, options: OperationOptions): Promise<boolean> {
    const others = this.accounts.filter((a) => a !== mine);
    const deadline = Date.now() + this.claimWaitMs;
    for (;;) {
      const states = await Promise.all(others.map((a) => a.directory.claimState(id, options)));
      let waiting = false;
      for (const [i, state] of states.entries()) {
        if (state === 'absent') continue;
        if (state === 'claimed') return false; // a rival already won
        if (others[i]!.name < mine.name) return false; // a lower-ranked rival: yield to it
        waiting = true; // a higher-ranked rival: it will see us and yield, or win first
      }
      if (!waiting) return true;
      if (Date.now() > deadline) return false;
      await sleep(this.pollMs);
    }
  }

  async getMeta(id: string, options: OperationOptions = {}): Promise<TenantMeta | undefined> {
    const a = await this.accountOf(id, options);
    return a ? a.directory.getMeta(id, options) : undefined;
  }

  async setStatus(id: string, status: TenantStatus, options: OperationOptions = {}): Promise<void> {
    await (await this.holder(id, options)).directory.setStatus(id, status, options);
  }

  async openEventStore(id: string, options: OperationOptions = {}): Promise<EventStore> {
    return (await this.holder(id, options)).directory.openEventStore(id, options);
  }

  async openProjectionStore(id: string, options: OperationOptions = {}): Promise<ProjectionStore> {
    return (await this.holder(id, options)).directory.openProjectionStore(id, options);
  }

  async openDeliveryPositions(id: string, options: OperationOptions = {}): Promise<DeliveryPositionStore> {
    return (await this.holder(id, options)).directory.openDeliveryPositions(id, options);
  }

  /** The tenant's log fingerprint from the account holding it (undefined when none does). */
  async logFingerprint(id: string, options: LogFingerprintOptions = {}): Promise<string | undefined> {
    const a = await this.accountOf(id, options);
    return a ? a.directory.logFingerprint(id, options) : undefined;
  }

  /** The union of every account's tenant containers (an id appears once even mid-race). */
  async listTenantIds(options: OperationOptions = {}): Promise<string[]> {
    const lists = await Promise.all(this.accounts.map((a) => a.directory.listTenantIds(options)));
    return [...new Set(lists.flat())].sort();
  }

  /** Removes the tenant where it lives (only to roll back a failed creation). */
  async destroy(id: string, options: OperationOptions = {}): Promise<void> {
    const a = await this.accountOf(id, options);
    this.home.delete(id);
    if (a) await a.directory.destroy(id, options);
  }

  async close(): Promise<void> {
    this.home.clear();
    await Promise.all(this.accounts.map((a) => a.directory.close()));
  }
}
