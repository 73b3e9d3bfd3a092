/**
 * JSON Schemas (draft 2020-12) of what the service answers: the `components.schemas` of the
 * OpenAPI document next to the request schemas of `./schemas`, and — through
 * `json-schema-to-ts` — the TypeScript types of the handlers' answers (`ResponseBody`), so a
 * handler that answers something other than what is documented does not compile.
 *
 * Written `as const` with literal-preserving helpers: the types are read off these objects.
 */
import type { FromSchema } from 'json-schema-to-ts';
import { ROLES } from '../shared/domain/identity';
import { FILE_ID, RECORD_ID, TYPE_NAME } from '../shared/domain/records';
import { TENANT_ID_PATTERN } from '../shared/domain/tenant';

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;
const nullableDateTime = { type: ['string', 'null'], format: 'date-time' } as const;

/** `{ $ref: '#/components/schemas/Name' }`, with the name kept in its type. */
export const ref = <const N extends string>(name: N) => ({ $ref: `#/components/schemas/${name}` as const });

/** An object schema; its required names and properties keep their literal types. */
function obj<const R extends readonly string[], const P extends object>(
  required: R,
  properties: P,
  description?: string,
): { type: 'object'; required: R; properties: P; description?: string } {
  return { type: 'object', ...(description ? { description } : {}), required, properties };
}

/** An open object: any properties (what `openapi-typescript` turns into `Record<string, unknown>`). */
const openObject = (description: string) => ({ type: 'object', additionalProperties: true, description }) as const;

const page = <const N extends string>(item: N, description: string) =>
  obj(
    ['items'],
    {
      items: { type: 'array', items: ref(item) },
      continuation: {
        type: 'string',
        description:
          'Present when more items follow: pass it unchanged as `continuation` to get the next page. Opaque and sealed for this query of this tenant: a changed token, or one of another query or tenant, is refused with 400.',
      },
    } as const,
    description,
  );

const fileProperties = {
  fileId: { type: 'string', pattern: FILE_ID.source },
  name: { type: 'string', minLength: 1, maxLength: 255 },
  contentType: { type: 'string', description: 'The media type sent when the file was uploaded.' },
  size: { type: 'integer', minimum: 0, description: 'Bytes of the (plaintext) file.' },
  sha256: { type: 'string', description: 'SHA-256 of the plaintext, lowercase hex.' },
  version: { type: 'integer', minimum: 1, description: 'Record version that attached this version of the file.' },
  attachedAt: dateTime,
  attachedBy: ref('Author'),
} as const;
const fileRequired = ['fileId', 'name', 'contentType', 'size', 'sha256', 'version', 'attachedAt', 'attachedBy'] as const;

const projection = obj(
  ['name', 'generation', 'appliedCommits', 'lastAppliedTimestamp', 'behindCommits', 'newestCommitTimestamp', 'lagMs', 'failures', 'parked'],
  {
    name: str,
    generation: { type: 'integer', minimum: 0 },
    appliedCommits: { type: 'integer', minimum: 0 },
    lastAppliedTimestamp: nullableDateTime,
    behindCommits: { type: ['integer', 'null'], minimum: 0, description: 'Commits not yet applied; null when the store cannot tell.' },
    newestCommitTimestamp: nullableDateTime,
    lagMs: { type: 'number', minimum: 0 },
    failures: { type: 'integer', minimum: 0, description: 'Consecutive failures of the current batch.' },
    lastError: str,
    parked: { type: 'array', items: ref('ParkedCommit') },
  },
);

/** JSON Schemas (2020-12) of what the service answers. */
const receiptStep = {
  at: dateTime,
  detail: str,
} as const;
const tierOutcome = obj(['outcome', 'objects', 'deleted', 'retained', 'sha256', 'at', 'detail'], {
  outcome: {
    enum: ['deleted', 'retained', 'failed'],
    description:
      '`retained`: the tier refused some deletions (write-once): those objects stay until its immutability period ends, unreadable without the destroyed key. `failed`: the tier could not be reached; the next timer run retries it.',
  },
  objects: int,
  deleted: int,
  retained: int,
  sha256: {
    type: 'string',
    description: 'SHA-256 over the sorted "key size" lines of the objects found (names and sizes, never contents).',
  },
  retainedNewest: dateTime,
  escrowRetained: {
    type: 'integer',
    description:
      "Retained key-escrow objects that the operator's offline recovery private key opens alone (legacy objects of an earlier version, or an escrow key on a tier that became write-once): they open until the tier's immutability period ends. Sealed key versions are not counted: without the destroyed escrow key they open for nobody.",
  },
  ...receiptStep,
});

export const responseSchemas = {
  DeletionReceipt: obj(
    ['format', 'tenant', 'deletionId', 'status', 'scheduledAt', 'scheduledBy', 'purgeAfter', 'startedAt', 'keyName', 'steps'],
    {
      format: { const: 'tenant-ledger-deletion-receipt/1' },
      tenant: str,
      deletionId: str,
      status: { enum: ['shredding', 'complete'] },
      scheduledAt: str,
      scheduledBy: { type: 'string', description: 'Who scheduled the deletion (`operator:<id>`).' },
      purgeAfter: dateTime,
      startedAt: dateTime,
      completedAt: dateTime,
      keyName: { type: 'string', description: "Name of the tenant's destroyed key-encryption key (not a secret)." },
      steps: obj(['tiers'], {
        key: obj(['outcome', 'versions', 'at', 'detail'], {
          outcome: {
            enum: ['destroyed', 'purged', 'deleted', 'absent'],
            description:
              '`destroyed`: local key file overwritten and unlinked; `purged`: deleted and purged in Key Vault; `deleted`: deleted in Key Vault, the purge refused by purge protection (the vault purges it at `recoverableUntil`); `absent`: already gone.',
          },
          versions: int,
          recoverableUntil: dateTime,
          ...receiptStep,
        }),
        store: obj(['outcome', 'at', 'detail'], { outcome: { const: 'removed' }, ...receiptStep }),
        files: obj(['outcome', 'objects', 'sha256', 'at', 'detail'], {
          outcome: { const: 'removed' },
          objects: int,
          sha256: str,
          ...receiptStep,
        }),
        tiers: { type: 'object', additionalProperties: tierOutcome },
      }),
      copies: { type: 'object', additionalProperties: { enum: ['written', 'failed'] } },
    },
    "What the shredding of a deleted tenant destroyed, when, and each tier's outcome; counts and hashes, never contents.",
  ),
  DeletionReceiptList: obj(['items'], { items: { type: 'array', items: ref('DeletionReceipt') } }),
  Problem: obj(
    ['type', 'title', 'status', 'detail', 'correlationId'],
    {
      type: { type: 'string', pattern: '^urn:tenant-ledger:problem:[a-z_]+$', examples: ['urn:tenant-ledger:problem:validation'] },
      title: { type: 'string', examples: ['Bad Request'] },
      status: { type: 'integer', minimum: 400, maximum: 599 },
      detail: { type: 'string', description: 'What went wrong, for a person. Never contains secrets.' },
      correlationId: { type: 'string', description: 'Also in the X-Correlation-Id header; quote it when reporting a problem.' },
      errors: { type: 'array', items: ref('FieldError'), description: 'For schema violations: one entry per offending value.' },
    },
    'An RFC 9457 problem document; every 4xx and 5xx answer of the API has this shape.',
  ),
  FieldError: obj(['path', 'message'], {
    path: {
      type: 'string',
      description: 'JSON Pointer of the offending value in the request body ("" = the whole body), or the name of the query parameter.',
    },
    message: str,
  }),
  Author: {
    description: 'Who caused a change: a user of the tenant, the operator, or the service itself.',
    oneOf: [
      obj(['kind', 'userId', 'email'], { kind: { const: 'user' }, userId: str, email: str }),
      obj(['kind', 'id'], {
        kind: { const: 'operator' },
        id: { type: 'string', description: 'Key fingerprint (local) or token subject (Azure).' },
      }),
      obj(['kind', 'id'], { kind: { const: 'system' }, id: str }),
    ],
  },
  Tenant: obj(
    ['id', 'status', 'createdAt'],
    {
      id: { type: 'string', pattern: TENANT_ID_PATTERN.source },
      status: {
        enum: ['creating', 'ready', 'suspended', 'deleting', 'degraded'],
        description:
          '`degraded`: ready, but it cannot be served right now (see `degraded`); its requests answer 503. `deleting`: its deletion is scheduled (not served, its requests answer 410; cancellable until `deletion.purgeAfter`).',
      },
      deletion: obj(
        ['deletionId', 'purgeAfter'],
        {
          deletionId: str,
          purgeAfter: {
            ...dateTime,
            description: 'When the grace period ends: from then on the tenant is shredded by the shredTenants timer.',
          },
        },
        'The scheduled deletion (only with status `deleting`, in the answers of deleteTenant and cancelTenantDeletion).',
      ),
      createdAt: dateTime,
      degraded: obj(
        ['reason', 'detail', 'since'],
        {
          reason: { enum: ['key_unavailable', 'store_corrupt', 'disk_full', 'store_unavailable'] },
          detail: { type: 'string' },
          since: dateTime,
        },
        'Why the tenant cannot be served (only with status `degraded`).',
      ),
      files: ref('StoredFilesSummary'),
    },
    'The status of a tenant; never its data.',
  ),
  StoredFilesSummary: obj(
    ['checkedAt', 'attached', 'missing'],
    {
      checkedAt: {
        type: ['string', 'null'],
        format: 'date-time',
        description: "When this instance last checked the tenant's stored files (at start, then daily); null until it has.",
      },
      attached: { type: ['integer', 'null'], minimum: 0, description: "File versions attached in the tenant's log." },
      missing: {
        type: ['integer', 'null'],
        minimum: 0,
        description: 'Of those, how many have no stored object (acknowledged, then lost).',
      },
    },
    'The start-up check of stored files (counts only).',
  ),
  StoredFilesReport: obj(
    ['checkedAt', 'attached', 'missing', 'missingFiles'],
    {
      checkedAt: {
        type: ['string', 'null'],
        format: 'date-time',
        description: 'When this instance last checked (at start, then daily); null until it has.',
      },
      attached: { type: ['integer', 'null'], minimum: 0 },
      missing: { type: ['integer', 'null'], minimum: 0 },
      missingFiles: {
        type: 'array',
        description: 'The first 100 missing files: downloads of these answer 502.',
        items: obj(['type', 'id', 'fileId', 'version', 'attachedAt'], {
          type: str,
          id: str,
          fileId: str,
          version: int,
          attachedAt: dateTime,
        }),
      },
    },
    'Attached files whose stored object is missing.',
  ),
  Token: obj(['access_token', 'token_type', 'expires_in'], {
    access_token: {
      type: 'string',
      description: "A JWT signed with the tenant's own key; send it as `Authorization: Bearer …` to this tenant's endpoints.",
    },
    token_type: { const: 'Bearer' },
    expires_in: { type: 'integer', minimum: 1, description: 'Seconds until the token expires.' },
  }),
  User: obj(['userId', 'email', 'displayName', 'roles', 'disabled', 'version'], {
    userId: str,
    email: str,
    displayName: { type: ['string', 'null'] },
    roles: { type: 'array', items: { enum: ROLES } },
    disabled: { type: 'boolean' },
    version: { type: 'integer', minimum: 1, description: 'Also the ETag.' },
  }),
  UserPage: page('User', "One page of the tenant's users, in user-id order."),
  UserOrPage: {
    description: 'With `email`: that user. Without: one page of users.',
    oneOf: [ref('User'), ref('UserPage')],
  },
  UserHistoryEntry: obj(['version', 'timestamp', 'author', 'correlationId', 'events'], {
    version: int,
    timestamp: dateTime,
    author: ref('Author'),
    correlationId: str,
    events: {
      type: 'array',
      items: obj(['type', 'data'], {
        type: { type: 'string', examples: ['UserCreated', 'UserRolesChanged', 'UserDisabled', 'UserEnabled', 'UserPasswordChanged'] },
        data: openObject("The event's data; password hashes are replaced by `passwordChanged: true`."),
      }),
    },
  }),
  UserHistory: obj(['items'], { items: { type: 'array', items: ref('UserHistoryEntry') } }),
  TypeDefinition: obj(['type', 'schema', 'version', 'updatedAt', 'updatedBy'], {
    type: { type: 'string', pattern: TYPE_NAME.source },
    schema: openObject('The JSON Schema (draft 2020-12) records of this type must match.'),
    version: { type: 'integer', minimum: 1, description: "Version of the tenant's types stream that last set it; also the ETag." },
    updatedAt: dateTime,
    updatedBy: ref('Author'),
  }),
  SubjectErasure: obj(['subjectId', 'subjectRef', 'erasedAt', 'erasedBy', 'reason', 'keysDestroyed', 'alreadyErased'], {
    subjectId: str,
    subjectRef: { type: 'string', description: 'The keyed hash naming the subject in the log and the keyring.' },
    erasedAt: dateTime,
    erasedBy: ref('Author'),
    reason: str,
    keysDestroyed: { type: 'integer', minimum: 0 },
    alreadyErased: { type: 'boolean' },
  }),
  TypeList: obj(['items'], { items: { type: 'array', items: ref('TypeDefinition') } }),
  File: obj(fileRequired, fileProperties, 'A file attached to a record (metadata; the content is downloaded separately).'),
  FileUploadResult: obj([...fileRequired, 'recordVersion'], {
    ...fileProperties,
    recordVersion: { type: 'integer', minimum: 1, description: "The record's version after the upload; also the ETag." },
  }),
  Record: obj(['id', 'type', 'version', 'data', 'createdAt', 'createdBy', 'updatedAt', 'updatedBy'], {
    id: { type: 'string', pattern: RECORD_ID.source },
    type: { type: 'string', pattern: TYPE_NAME.source },
    version: { type: 'integer', minimum: 1, description: 'Also the ETag.' },
    data: openObject("The record's data; matches its type's schema."),
    createdAt: dateTime,
    createdBy: ref('Author'),
    updatedAt: dateTime,
    updatedBy: ref('Author'),
    files: { type: 'array', items: ref('File'), description: 'Files attached at this version (single-record reads).' },
  }),
  RecordPage: page('Record', 'One page of records.'),
  RecordRevert: obj(
    ['outcome', 'asOf', 'version', 'changes'],
    {
      outcome: {
        enum: ['changed', 'restored', 'deleted', 'unchanged'],
        description:
          '`changed`: fields got their values at asOf back; `restored`: a record deleted since asOf came back; `deleted`: a record created (or restored) after asOf was deleted; `unchanged`: the record already was as at asOf, nothing was appended.',
      },
      asOf: dateTime,
      version: { type: 'integer', minimum: 1, description: "The record's version now; also the ETag." },
      record: ref('Record'),
      changes: { type: 'array', items: ref('Change'), description: "Every field's old and new value (empty when unchanged)." },
    },
    'What a record revert did. `record` is the record now (absent when it is deleted).',
  ),
  Change: obj(['path'], {
    path: { type: 'string', description: 'JSON Pointer of the changed value.' },
    old: { description: 'The value before (absent when the value was added).' },
    new: { description: 'The value after (absent when the value was removed).' },
  }),
  HistoryEntry: obj(['version', 'timestamp', 'author', 'correlationId', 'events'], {
    version: int,
    timestamp: dateTime,
    author: ref('Author'),
    correlationId: str,
    events: {
      type: 'array',
      items: obj(['type', 'changes'], {
        type: { type: 'string', examples: ['RecordCreated', 'RecordUpdated', 'RecordDeleted', 'FileAttached'] },
        changes: { type: 'array', items: ref('Change') },
      }),
    },
  }),
  RecordHistory: page('HistoryEntry', 'Every change of a record, oldest first.'),
  AuditEntry: obj(['streamId', 'version', 'index', 'timestamp', 'eventType', 'author', 'correlationId', 'changes'], {
    streamId: str,
    version: int,
    index: { type: 'integer', minimum: 0, description: 'Position of the event inside its commit.' },
    timestamp: dateTime,
    eventType: str,
    author: ref('Author'),
    correlationId: str,
    recordType: { type: 'string', description: 'Record type (record events) or the entity type (type events).' },
    recordId: str,
    changes: { type: 'array', items: ref('Change') },
  }),
  AuditPage: page('AuditEntry', 'One page of the tenant-wide change log, newest first.'),
  ChangeCommit: obj(['position', 'streamId', 'version', 'timestamp', 'author', 'correlationId', 'events'], {
    position: {
      type: 'string',
      description:
        "Resume after this commit: pass it as `after`. Opaque and sealed for this tenant (another tenant's or a changed one → 400).",
    },
    streamId: str,
    version: { type: 'integer', minimum: 1, description: "The commit's version in its stream (1-based)." },
    timestamp: dateTime,
    author: ref('Author'),
    correlationId: str,
    recordType: { type: 'string', description: 'Record type (record commits) or the entity type (type commits).' },
    recordId: str,
    events: {
      type: 'array',
      items: obj(['type', 'changes'], {
        type: { type: 'string', examples: ['RecordCreated', 'RecordUpdated', 'RecordDeleted', 'FileAttached'] },
        changes: { type: 'array', items: ref('Change') },
      }),
    },
  }),
  Subscription: obj(['id', 'url', 'types', 'events', 'status', 'createdAt', 'updatedAt', 'restored', 'delivery'], {
    id: { type: 'string', pattern: '^wh_[A-Za-z0-9_-]{22}$' },
    url: str,
    types: { type: ['array', 'null'], items: str, description: 'Only commits of these record types (null: all).' },
    events: { type: ['array', 'null'], items: str, description: 'Only these event types (null: all).' },
    status: { enum: ['active', 'paused'] },
    createdAt: dateTime,
    updatedAt: dateTime,
    restored: {
      oneOf: [
        { type: 'null' },
        obj(['source', 'restoredUntil', 'at', 'secretKept'], {
          source: { type: 'string', description: 'The tenant whose backup was restored.' },
          restoredUntil: dateTime,
          at: dateTime,
          secretKept: {
            type: 'boolean',
            description:
              'The secret was carried over (re-wrapped by this tenant key). false: resuming is refused; register the subscription again.',
          },
        }),
      ],
      description:
        'Set when the subscription came back with a restore: it was paused then and its delivery position set to the restored log’s end, so resuming delivers only what this tenant records afterwards (replay for older commits). null otherwise.',
    },
    delivery: obj(
      [
        'position',
        'lag',
        'delivered',
        'attempts',
        'parked',
        'parkedItems',
        'lastError',
        'lastAttemptAt',
        'lastDeliveredAt',
        'nextAttemptAt',
      ],
      {
        position: { type: ['string', 'null'], description: 'Where delivery stands: a change-feed position (for replay or the pull feed).' },
        lag: { type: ['integer', 'null'], description: 'Commits after the position (null where the store cannot count them: Cosmos).' },
        delivered: int,
        attempts: { type: 'integer', description: 'Failed attempts at the current commit.' },
        parked: { type: 'integer', description: 'Commits given up on after the attempt limit.' },
        parkedItems: {
          type: 'array',
          items: obj(['streamId', 'version', 'error', 'at'], { streamId: str, version: int, error: str, at: dateTime }),
        },
        lastError: {
          type: ['string', 'null'],
          description: 'Status or network error of the last failed attempt (never the response body).',
        },
        lastAttemptAt: nullableDateTime,
        lastDeliveredAt: nullableDateTime,
        nextAttemptAt: nullableDateTime,
      },
    ),
  }),
  SubscriptionList: obj(['items'], { items: { type: 'array', items: ref('Subscription') } }, "The tenant's webhook subscriptions."),
  SubscriptionCreated: obj(['subscription', 'secret'], {
    subscription: ref('Subscription'),
    secret: {
      type: 'string',
      description: 'The signing secret (base64url), shown only now: keep it to verify deliveries. It is stored wrapped by the tenant key.',
    },
  }),
  ChangePage: obj(
    ['items', 'position', 'more'],
    {
      items: { type: 'array', items: ref('ChangeCommit') },
      position: {
        type: 'string',
        description:
          'Resume after everything this page covered (also commits it did not show you): pass it as `after` on the next request. Opaque and sealed for this tenant.',
      },
      more: { type: 'boolean', description: 'True when more commits follow right away: read again without waiting.' },
    },
    "One page of the tenant's change feed, oldest first (log order).",
  ),
  ParkedCommit: obj(
    ['streamId', 'version', 'error', 'attempts', 'parkedAt'],
    {
      streamId: str,
      version: int,
      checkpoint: { type: ['string', 'null'], description: 'The feed position after this commit, where the store has one.' },
      error: str,
      attempts: int,
      parkedAt: dateTime,
    },
    'A commit the projector could not apply after retries; skipped until a rebuild.',
  ),
  ProjectionStatus: obj(['tenant', 'projections'], {
    tenant: str,
    projections: { type: 'array', items: projection },
    files: ref('StoredFilesReport'),
  }),
  RebuildResult: obj(['generation', 'applied', 'durationMs', 'status'], {
    generation: { type: 'integer', minimum: 1, description: 'The new, now active, generation.' },
    applied: { type: 'integer', minimum: 0, description: 'Commits applied from the log.' },
    durationMs: { type: 'number', minimum: 0 },
    status: ref('ProjectionStatus'),
  }),
  ProgressLine: {
    description:
      "One line of a long operation's progress stream: a `progress` line (throttled, with heartbeats), or — always last — the answer the operation gives without a stream (`status` and `body`; a problem document when it failed).",
    oneOf: [
      obj(['progress'], {
        progress: obj(['phase', 'done'], {
          phase: { type: 'string', examples: ['verify', 'import', 'files', 'project', 'tiers'] },
          done: { type: 'integer', minimum: 0 },
          total: { type: 'integer', minimum: 0, description: 'Known upper bound of `done` in this phase; absent when unknown.' },
        }),
      }),
      obj(['status', 'body'], { status: { type: 'integer' }, body: { description: 'The answer (or a Problem).' }, location: str }),
    ],
  },
  TenantRevert: obj(
    ['dryRun', 'asOf', 'types', 'counts', 'samples', 'conflicts', 'invalid'],
    {
      operationId: {
        type: 'string',
        description:
          'The run (absent for a dry run). Derived from the Idempotency-Key: a retry with the same key and body resumes an interrupted run or answers the finished one again. Without a key, the same request (same asOf, types and reason) resumes the unfinished run of that request, if there is one.',
      },
      retry: {
        type: 'string',
        description: 'What sending the same request again does: how an interrupted run is resumed, with or without an Idempotency-Key.',
      },
      dryRun: { type: 'boolean' },
      asOf: dateTime,
      types: { type: ['array', 'null'], items: str, description: 'The types reverted; null: every type.' },
      reason: str,
      startedAt: { ...dateTime, description: 'When the run started: records changed after it by others are conflicts.' },
      finishedAt: dateTime,
      counts: obj(['examined', 'changed', 'restored', 'deleted', 'unchanged', 'conflicts', 'invalid'], {
        examined: { type: 'integer', minimum: 0, description: 'Records looked at.' },
        changed: { type: 'integer', minimum: 0, description: 'Fields got their values at asOf back (would, in a dry run).' },
        restored: { type: 'integer', minimum: 0, description: 'Deleted since asOf: brought back.' },
        deleted: { type: 'integer', minimum: 0, description: 'Created after asOf (or deleted at asOf): deleted.' },
        unchanged: { type: 'integer', minimum: 0, description: 'Already as at asOf.' },
        conflicts: { type: 'integer', minimum: 0, description: 'Changed by someone else after the run started: not overwritten.' },
        invalid: {
          type: 'integer',
          minimum: 0,
          description: "Their state at asOf does not match their type's current schema: not written.",
        },
      }),
      samples: {
        type: 'array',
        maxItems: 20,
        description: 'The first changes (planned, in a dry run), with every field’s old and new value.',
        items: obj(['type', 'id', 'outcome', 'changes'], {
          type: str,
          id: str,
          outcome: { enum: ['changed', 'restored', 'deleted'] },
          changes: { type: 'array', items: ref('Change') },
        }),
      },
      conflicts: {
        type: 'array',
        maxItems: 100,
        description: 'The first 100 records left alone because someone else changed them after the run started.',
        items: obj(['type', 'id', 'version', 'updatedAt', 'updatedBy'], {
          type: str,
          id: str,
          version: int,
          updatedAt: dateTime,
          updatedBy: ref('Author'),
        }),
      },
      invalid: {
        type: 'array',
        maxItems: 100,
        description: "The first 100 records whose state at asOf their type's current schema refuses, with the schema's errors.",
        items: obj(['type', 'id', 'errors'], { type: str, id: str, errors: { type: 'array', items: ref('FieldError') } }),
      },
    },
    'What a tenant-wide revert did, or (dry run) would do.',
  ),
  KeyRotationResult: obj(['keyId', 'checked', 'rewrapped'], {
    keyId: { type: 'string', description: 'The key version content keys are now wrapped with.' },
    checked: { type: 'integer', minimum: 0 },
    rewrapped: { type: 'integer', minimum: 0 },
    refused: {
      type: 'integer',
      minimum: 1,
      description:
        "Blobs whose content key is not wrapped by the tenant's own key (planted or corrupt): left as they are, and refused by downloads. Absent when none.",
    },
  }),
  TenantList: obj(['items'], {
    continuation: { type: 'string', description: 'Pass back as `continuation` for the next page; absent on the last page.' },
    items: {
      type: 'array',
      items: obj(['id', 'status', 'createdAt'], {
        id: str,
        status: { enum: ['creating', 'ready', 'suspended', 'deleting', 'degraded'] },
        createdAt: str,
      }),
    },
  }),
  BackupTierRun: obj(
    ['tier', 'ok', 'segments', 'commits', 'lastTimestamp'],
    {
      tier: str,
      ok: { type: 'boolean' },
      segments: { type: 'integer', minimum: 0 },
      commits: { type: 'integer', minimum: 0 },
      files: { type: 'integer', minimum: 0, description: 'File blobs copied (as ciphertext) in this run.' },
      chain: { type: 'integer', description: 'The chain this run extended or started.' },
      lastTimestamp: { ...nullableDateTime, description: 'The newest commit the tier holds; null when it holds none.' },
      coveredUntil: { ...dateTime, description: 'The chain holds every commit stamped at or before this instant.' },
      missingFiles: obj(
        ['count', 'names'],
        { count: { type: 'integer', minimum: 1 }, names: { type: 'array', items: str } },
        'Files the log references that the file store has lost (and the tier has no copy of): the backup is incomplete.',
      ),
      error: str,
    },
    'What one backup run shipped to one tier.',
  ),
  BackupRun: obj(['tenant', 'tiers'], { tenant: str, tiers: { type: 'array', items: ref('BackupTierRun') } }),
  BackupTierStatus: obj(
    ['tier', 'ok'],
    {
      tier: str,
      ok: { type: 'boolean', description: 'false: the tier did not answer (within the status timeout); see `error`.' },
      lastBackup: {
        type: ['object', 'null'],
        description: 'The last confirmed backup; null when there is none yet.',
        required: ['at', 'chain', 'manifests', 'lastCommitTimestamp', 'coveredUntil'],
        properties: {
          at: dateTime,
          chain: int,
          manifests: { type: 'integer', minimum: 1 },
          lastCommitTimestamp: dateTime,
          coveredUntil: dateTime,
        },
      },
      missingFiles: { type: 'integer', minimum: 0, description: 'Files the log references that the backup does not have.' },
      lastDrill: { anyOf: [ref('DrillResult'), { type: 'null' }], description: 'The last restore drill on this tier; null when none ran.' },
      lagCommits: { type: ['integer', 'null'], minimum: 0, description: 'Commits not yet backed up; null when the store cannot tell.' },
      lagMinutes: { type: ['number', 'null'], minimum: 0, description: 'How far the backup is behind the newest commit.' },
      error: str,
    },
    'The backup status of one tier.',
  ),
  BackupStatus: obj(['tenant', 'tiers'], { tenant: str, tiers: { type: 'array', items: ref('BackupTierStatus') } }),
  DrillResult: obj(
    ['at', 'tier', 'tenant', 'ok', 'outcome'],
    {
      at: dateTime,
      tier: str,
      tenant: str,
      ok: { type: 'boolean', description: 'True only for outcome `ok`.' },
      outcome: {
        enum: ['ok', 'degraded', 'failed'],
        description: '`degraded`: the state hash matches, but files the log references are missing from the backup.',
      },
      missingFiles: { type: 'integer', minimum: 0 },
      asOf: dateTime,
      commits: int,
      sourceHash: str,
      restoredHash: str,
      manifest: { type: 'string', description: "What was restored: the tier's latest manifest (chain/place/SHA-256 of its bytes)." },
      provenAt: {
        ...dateTime,
        description:
          "Only from the drill timer: no restore was run, because the drill at this instant proved the same latest backup within BACKUP_DRILL_REPROOF_DAYS and the chain still verifies; the other fields are that drill's.",
      },
      error: str,
    },
    'One restore drill: the latest backup restored into a scratch tenant and compared with the source.',
  ),
  DrillRun: obj(['tenant', 'drills'], { tenant: str, drills: { type: 'array', items: ref('DrillResult') } }),
  RestoreResult: obj(['id', 'commits', 'files', 'source', 'tier', 'asOf', 'restoredUntil', 'coveredUntil', 'partial', 'missingFiles'], {
    id: str,
    commits: int,
    files: { type: 'integer', description: 'Files restored.' },
    source: str,
    tier: str,
    asOf: { ...dateTime, description: 'The instant asked for.' },
    restoredUntil: { ...dateTime, description: "The restored state is the source tenant's state as of this instant." },
    coveredUntil: { ...dateTime, description: "How far the tier's backup reaches." },
    partial: { type: 'boolean', description: 'True when asOf was beyond coveredUntil and acceptPartial was set.' },
    missingFiles: { type: 'array', items: str, description: 'Files the restored log references that the backup does not have.' },
  }),
  Health: obj(['status', 'checks'], {
    status: { enum: ['ok', 'degraded', 'unavailable'] },
    checks: {
      type: 'object',
      description:
        'Each check by name (`config`, `stores`, `resources`): whether it passed and how long it took. No failure details. `resources` fails (status `degraded`, still 200) when open file descriptors reach RESOURCE_WARN_PERCENT of the process limit; the log names the limit.',
      additionalProperties: obj(['ok', 'ms'], { ok: { type: 'boolean' }, ms: { type: 'number', minimum: 0 } }),
    },
  }),
  Readiness: obj(['status', 'checks'], {
    status: { enum: ['ready', 'unavailable'] },
    checks: {
      type: 'array',
      description:
        'Each configured dependency, checked at once under READINESS_TIMEOUT_SECONDS: whether it answered, whether it timed out and how long it took. No failure details (they go to the log).',
      items: obj(['name', 'ok'], {
        name: {
          type: 'string',
          description:
            'tenant-store (tenant-store:1, :2, … with several Cosmos DB accounts, in COSMOS_ENDPOINT order), keys, files, backup:<tier>, or config.',
        },
        kind: { type: 'string', description: 'What answers it: cosmos, embedded, keyvault, local, blob, folder, s3.' },
        ok: { type: 'boolean' },
        timedOut: { type: 'boolean' },
        ms: { type: 'number', minimum: 0 },
      }),
    },
  }),
} as const;

export type ResponseSchemaName = keyof typeof responseSchemas;

/**
 * The TypeScript type of what a response schema describes. FromSchema gives every object an
 * index signature (`[x: string]: unknown`: the schemas do not forbid other properties), which
 * no interface of the service satisfies; `Closed` keeps the documented properties only, and
 * the index signature of open objects (`additionalProperties: true`) that have nothing else.
 */
export type ResponseBody<N extends ResponseSchemaName> = Closed<
  FromSchema<{
    $ref: `#/components/schemas/${N}`;
    components: { schemas: typeof responseSchemas };
  }>
>;

type KnownKeys<T> = keyof { [K in keyof T as string extends K ? never : K]: T[K] };
type Closed<T> = T extends readonly (infer U)[]
  ? Closed<U>[]
  : T extends object
    ? [KnownKeys<T>] extends [never]
      ? T
      : { [K in keyof T as string extends K ? never : K]: Closed<T[K]> }
    : T;
