/**
 * The audit view of commits, shared by the projector (the audit log) and the change feed
 * (shared/app/feed/): one entry per event, with its field-level changes, never secrets.
 */
import type { Commit } from '../domain/events';
import type { Change } from '../domain/json';
import { parseRecordStreamId } from '../domain/records';
import { TYPES_STREAM } from '../domain/type-set';
import type { AuditEntry } from '../ports/projection-store';

/**
 * The audit view of one commit: one entry per event, with its field-level changes (never
 * secrets). The audit log and the change feed (shared/app/feed/) both show commits this way.
 */
export function auditEntriesOfCommit(c: Commit): AuditEntry[] {
  const rec = parseRecordStreamId(c.streamId);
  return c.events.map((e, index) => {
    const data = (e.data ?? {}) as { changes?: Change[]; type?: string; userId?: string; old?: unknown; new?: unknown };
    return {
      streamId: c.streamId,
      version: c.version,
      index,
      timestamp: c.timestamp,
      eventType: e.type,
      author: c.author,
      correlationId: c.correlationId,
      ...(rec ? { recordType: rec.type, recordId: rec.id } : c.streamId === TYPES_STREAM && data.type ? { recordType: data.type } : {}),
      changes: auditChanges(e.type, data),
    };
  });
}

/**
 * Whether a non-administrator may see this entry: entries about records and entity types (those
 * with a recordType). Identity changes (users, roles, the tenant itself) are for administrators
 * only. The projection stores apply the same rule in their `recordsOnly` queries
 * (`record_type IS NOT NULL`, `IS_DEFINED(c.recordType)`).
 */
export function isRecordsEntry(e: AuditEntry): boolean {
  return e.recordType !== undefined;
}

/** Changes shown in the audit log; never secrets (password hashes are reduced to a marker). */
function auditChanges(type: string, data: { changes?: Change[]; old?: unknown; new?: unknown }): Change[] {
  if (Array.isArray(data.changes)) return data.changes;
  if (type === 'UserRolesChanged') return [{ path: '/roles', old: data.old, new: data.new }];
  if (type === 'UserDisabled') return [{ path: '/disabled', old: false, new: true }];
  if (type === 'UserEnabled') return [{ path: '/disabled', old: true, new: false }];
  if (type === 'UserPasswordChanged') return [{ path: '/password', new: '(changed)' }];
  if (type === 'TenantAdminsChanged') return [{ path: '/admins', new: (data as { admins?: unknown }).admins }];
  if (type === 'UserCreated') {
    const d = data as { email?: string; roles?: unknown };
    return [
      { path: '/email', new: d.email },
      { path: '/roles', new: d.roles },
    ];
  }
  return [];
}
