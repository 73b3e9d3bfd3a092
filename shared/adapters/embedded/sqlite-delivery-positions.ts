import { validation } from '../../domain/errors';
import type { DeliveryLease, DeliveryPositionStore, LeaseOptions, SavedDelivery } from '../../ports/delivery-positions';
import type { OperationOptions } from '../../ports/options';
import { throwIfAborted } from '../abort';
import { execSchema, preparedOn } from './sqlite-event-store';
import type { DbSource } from './sqlite-projection-store';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS delivery_positions (
  subscription_id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  holder TEXT,
  expires_ms INTEGER NOT NULL DEFAULT 0,
  token INTEGER NOT NULL
);
`;

const SUBSCRIPTION = /^[A-Za-z0-9_-]{1,64}$/;

function checkId(id: string): void {
  if (!SUBSCRIPTION.test(id)) throw validation('A subscription id is 1-64 letters, digits, "_" or "-".');
}

interface Row {
  state: string;
  holder: string | null;
  expires_ms: number;
  token: number;
}

/**
 * Webhook delivery positions in the tenant's own encrypted libSQL database, next to its log.
 * Every write is its own transaction at the connection's synchronous level (FULL by default:
 * fsynced before it returns, like a commit; these are not derived data, a lost position would
 * re-deliver). Leases are compare-and-set on `token`, which every write increments: one
 * process serves a data folder, but the contract is the same as on Cosmos.
 */
/** Connections the table was ensured on; weak, so a closed connection is not kept reachable (see SqliteProjectionStore). */
const schemaEnsured = new WeakSet<DbSource['database']>();

export class SqliteDeliveryPositions implements DeliveryPositionStore {
  constructor(private readonly source: DbSource) {}

  private async db(options: OperationOptions = {}): Promise<DbSource['database']> {
    throwIfAborted(options.abortSignal);
    await this.source.open();
    const db = this.source.database;
    if (!schemaEnsured.has(db)) {
      execSchema(db, SCHEMA);
      schemaEnsured.add(db);
    }
    throwIfAborted(options.abortSignal);
    return db;
  }

  private row(db: DbSource['database'], id: string): Row | undefined {
    return preparedOn(db, 'SELECT state, holder, expires_ms, token FROM delivery_positions WHERE subscription_id = ?').get(id) as
      | Row
      | undefined;
  }

  async acquire(subscriptionId: string, holder: string, options: LeaseOptions): Promise<DeliveryLease | undefined> {
    checkId(subscriptionId);
    const db = await this.db(options);
    const expiresAtMs = options.nowMs + options.leaseMs;
    const row = this.row(db, subscriptionId);
    if (!row) {
      const r = preparedOn(
        db,
        'INSERT INTO delivery_positions (subscription_id, state, holder, expires_ms, token) VALUES (?, ?, ?, ?, 1) ON CONFLICT DO NOTHING',
      ).run(subscriptionId, '', holder, expiresAtMs);
      if (r.changes !== 1) return undefined;
      return { subscriptionId, holder, token: '1', expiresAtMs, state: undefined };
    }
    if (row.holder !== null && row.holder !== holder && row.expires_ms > options.nowMs) return undefined;
    const r = preparedOn(
      db,
      'UPDATE delivery_positions SET holder = ?, expires_ms = ?, token = token + 1 WHERE subscription_id = ? AND token = ?',
    ).run(holder, expiresAtMs, subscriptionId, row.token);
    if (r.changes !== 1) return undefined;
    return { subscriptionId, holder, token: String(row.token + 1), expiresAtMs, state: row.state === '' ? undefined : row.state };
  }

  async save(lease: DeliveryLease, state: string, options: LeaseOptions): Promise<DeliveryLease | undefined> {
    const db = await this.db(options);
    const expiresAtMs = options.nowMs + options.leaseMs;
    const token = Number(lease.token);
    const r = preparedOn(
      db,
      'UPDATE delivery_positions SET state = ?, expires_ms = ?, token = token + 1 WHERE subscription_id = ? AND token = ? AND holder = ?',
    ).run(state, expiresAtMs, lease.subscriptionId, token, lease.holder);
    if (r.changes !== 1) return undefined;
    return { ...lease, token: String(token + 1), expiresAtMs, state };
  }

  async release(lease: DeliveryLease, options: OperationOptions = {}): Promise<void> {
    const db = await this.db(options);
    preparedOn(
      db,
      'UPDATE delivery_positions SET holder = NULL, expires_ms = 0, token = token + 1 WHERE subscription_id = ? AND token = ? AND holder = ?',
    ).run(lease.subscriptionId, Number(lease.token), lease.holder);
  }

  async create(subscriptionId: string, state: string, options: OperationOptions = {}): Promise<boolean> {
    checkId(subscriptionId);
    const db = await this.db(options);
    const r = preparedOn(
      db,
      `INSERT INTO delivery_positions (subscription_id, state, holder, expires_ms, token) VALUES (?, ?, NULL, 0, 1)
       ON CONFLICT (subscription_id) DO UPDATE SET state = excluded.state, token = delivery_positions.token + 1
       WHERE delivery_positions.state = ''`,
    ).run(subscriptionId, state);
    return r.changes === 1;
  }

  async read(subscriptionId: string, options: OperationOptions = {}): Promise<SavedDelivery | undefined> {
    checkId(subscriptionId);
    const db = await this.db(options);
    const row = this.row(db, subscriptionId);
    if (!row || row.state === '') return undefined;
    return { state: row.state, holder: row.holder ?? undefined, expiresAtMs: row.expires_ms };
  }

  async remove(subscriptionId: string, options: OperationOptions = {}): Promise<void> {
    checkId(subscriptionId);
    const db = await this.db(options);
    preparedOn(db, 'DELETE FROM delivery_positions WHERE subscription_id = ?').run(subscriptionId);
  }
}
