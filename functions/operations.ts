/**
 * The one table of the HTTP API: every HTTP function the app registers, keyed by function
 * name, with its route, methods, who may call it, its request and response schemas and what
 * its errors mean.
 *
 * - `register.ts` registers each function from its entry (route, methods) and enforces its
 *   `caller` (authentication and role) before the handler runs;
 * - the handlers' request and answer types are derived from the schemas named here
 *   (`operation.ts`), so a handler cannot answer what is not documented;
 * - `openapi-document.ts` builds the OpenAPI document (and `/api/docs`) from it.
 *
 * Pure data: no @azure/functions, no services. The handlers live in the modules by area
 * (records.ts, users.ts, …), each a named function followed by its registration.
 */
import { limit, type OperationSpec, params } from './openapi-document';

export const TAGS = [
  {
    name: 'Tenants',
    description: 'Operator endpoints: create tenants, read their status, rotate their keys. They never read tenant data.',
  },
  { name: 'Authentication', description: 'Sign in to one tenant and get a bearer token valid for that tenant only.' },
  { name: 'Users', description: 'Users of a tenant and their roles; every change is an event with author and time.' },
  { name: 'Types', description: 'Entity types of a tenant, each with a JSON Schema (draft 2020-12) its records must match.' },
  {
    name: 'Records',
    description:
      'Records with a full audit trail: create, change (JSON Merge Patch with If-Match), delete, read now or as of an instant, history, list.',
  },
  {
    name: 'Files',
    description: 'Encrypted files attached to records; replacing or deleting keeps older versions readable through history and asOf.',
  },
  {
    name: 'Personal data',
    description:
      'Erasure of a data subject: fields marked `"x-personal": true` are sealed under a key per subject; erasing destroys that key (see the README).',
  },
  { name: 'Audit and export', description: 'The tenant-wide change log and an export of every record as of an instant.' },
  { name: 'Webhooks', description: "Signed webhooks to the tenant's own apps: subscriptions, delivery status, replay." },
  { name: 'Backups', description: "Encrypted, hash-chained backups of each tenant's log in three tiers, restore drills and restores." },
  { name: 'Projections', description: "Read projections (lists, audit) fed from each tenant's log: status and rebuild." },
  { name: 'Documentation', description: 'This reference and its OpenAPI document.' },
] as const;
type Tag = (typeof TAGS)[number]['name'];

const FILE_BODY =
  "The file's bytes, streamed; the request's Content-Type is stored as the file's media type. Name the file with X-File-Name (or Content-Disposition). Larger than the configured maximum → 413.";

export const operations = {
  // ------------------------------------------------------------------ tenants (operator)
  createTenant: {
    route: 'tenants',
    methods: ['POST'],
    summary: 'Create a tenant with its first administrator',
    tags: ['Tenants'],
    caller: { auth: 'operator' },
    body: {
      schema: 'CreateTenant',
      example: { id: 'acme', name: 'ACME s.r.o.', admin: { email: 'admin@acme.test', password: 'correct horse battery' } },
      description: 'The tenant id (becomes part of storage names), its name and its first administrator.',
    },
    responses: { 201: { description: 'The tenant is ready.', schema: 'Tenant', headers: ['Location'] } },
    errors: { 409: 'A tenant with this id exists.' },
  },
  getTenant: {
    route: 'tenants/{tenant}',
    methods: ['GET'],
    summary: "Read a tenant's status",
    tags: ['Tenants'],
    caller: { auth: 'operator' },
    responses: { 200: { description: "The tenant's status (never its data).", schema: 'Tenant' } },
    errors: { 400: 'Not a valid tenant id.', 404: 'No such tenant.' },
  },
  rotateTenantKey: {
    route: 'tenants/{tenant}/keys/rotate',
    methods: ['POST'],
    summary: "Rotate a tenant's key-encryption key",
    description:
      "Creates a new version of the tenant's key and re-wraps the content key of every stored file with it (file contents are not re-encrypted).",
    tags: ['Tenants'],
    caller: { auth: 'operator' },
    query: [params.resume],
    responses: { 200: { description: "Every file's content key is wrapped with the new key version.", schema: 'KeyRotationResult' } },
    progressStream: true,
    errors: { 400: 'Not a valid tenant id.', 404: 'No such tenant.' },
  },
  rebuildProjections: {
    route: 'tenants/{tenant}/projections/rebuild',
    methods: ['POST'],
    summary: "Rebuild a tenant's read projections from its log",
    description: 'Builds a new generation from the log while the current one keeps serving, then switches to it.',
    tags: ['Projections'],
    caller: { auth: 'operator' },
    responses: { 200: { description: 'The new generation is active.', schema: 'RebuildResult' } },
    progressStream: true,
    errors: { 400: 'Not a valid tenant id.', 404: 'No such tenant.' },
  },

  listTenants: {
    route: 'tenants',
    methods: ['GET'],
    summary: 'List tenants with their status, one page at a time',
    description:
      "Status only, never tenant data; in id order, from the store's own catalog (there is no table of tenants). No tenant database is opened. The list is complete when `continuation` is absent.",
    tags: ['Tenants'],
    caller: { auth: 'operator' },
    query: [limit(100, 1000), params.continuation],
    errors: { 400: 'Invalid limit or continuation.' },
    responses: { 200: { description: 'One page of tenants and their status.', schema: 'TenantList' } },
  },
  suspendTenant: {
    route: 'tenants/{tenant}/suspend',
    methods: ['POST'],
    summary: 'Suspend a tenant',
    description: "Its users cannot sign in and their tokens stop working; data and backups stay. Audited in the tenant's log.",
    tags: ['Tenants'],
    caller: { auth: 'operator' },
    responses: { 200: { description: "The tenant's new status.", schema: 'Tenant' } },
    errors: { 400: 'Not a valid tenant id.', 404: 'No such tenant.' },
  },
  resumeTenant: {
    route: 'tenants/{tenant}/resume',
    methods: ['POST'],
    summary: 'Resume a suspended tenant',
    tags: ['Tenants'],
    caller: { auth: 'operator' },
    responses: { 200: { description: "The tenant's new status.", schema: 'Tenant' } },
    errors: { 400: 'Not a valid tenant id.', 404: 'No such tenant.' },
  },
  deleteTenant: {
    route: 'tenants/{tenant}',
    methods: ['DELETE'],
    summary: "Schedule a tenant's deletion (offboarding by crypto-shredding)",
    description:
      "Suspends the tenant at once (every tenant endpoint then answers 410 `gone`) and schedules its shredding after the grace period (TENANT_DELETION_GRACE_DAYS, default 14 days): the shredTenants timer then destroys every version of its key-encryption key and removes its database, files and backup objects wherever the tiers allow, and writes a deletion receipt. Until then `POST …/deletion/cancel` restores it as it was. Audited in the tenant's log. Scheduling again answers the existing schedule.",
    tags: ['Tenants'],
    caller: { auth: 'operator' },
    responses: { 202: { description: 'The deletion is scheduled; the tenant is no longer served.', schema: 'Tenant' } },
    errors: { 400: 'Not a valid tenant id.', 404: 'No such tenant.', 410: 'The tenant was already shredded (see its receipts).' },
  },
  cancelTenantDeletion: {
    route: 'tenants/{tenant}/deletion/cancel',
    methods: ['POST'],
    summary: "Cancel a tenant's scheduled deletion within its grace period",
    description:
      "The tenant returns to the status it had (ready, or suspended), with all its data, files and backups. Audited in the tenant's log.",
    tags: ['Tenants'],
    caller: { auth: 'operator' },
    responses: { 200: { description: "The tenant's status after the cancellation.", schema: 'Tenant' } },
    errors: {
      400: 'Not a valid tenant id.',
      404: 'No such tenant.',
      409: 'The tenant is not scheduled for deletion, or its shredding has started.',
      410: 'The tenant was already shredded.',
    },
  },
  getDeletionReceipts: {
    route: 'tenants/{tenant}/deletion/receipts',
    methods: ['GET'],
    summary: "A deleted tenant's deletion receipts",
    description:
      "What the shredding destroyed, when, and each tier's outcome, with hashes rather than contents. Receipts outlive the tenant: they are kept in the operator's receipts folder (OFFBOARDING_RECEIPTS_DIR) and copied to every backup tier under `receipts/<tenant>/`. An empty list: the tenant was never shredded.",
    tags: ['Tenants'],
    caller: { auth: 'operator' },
    responses: { 200: { description: 'Receipts, oldest first.', schema: 'DeletionReceiptList' } },
    errors: { 400: 'Not a valid tenant id.' },
  },
  runBackup: {
    route: 'tenants/{tenant}/backups',
    methods: ['POST'],
    summary: 'Back a tenant up to every configured tier now',
    description:
      "Ships the commits since the last confirmed manifest of each tier, then the files not yet copied. Tiers run independently, each within the tier deadline: one tier failing or hanging does not block the others (502 when any failed). Each tier reports what its chain now covers (`coveredUntil`) and the files the log references that could not be copied because the file store lost them (`missingFiles`, which makes that tier fail). Progress (with `Accept: application/x-ndjson`): phase `tiers`, `done` of `total` tiers finished; the last line is the answer with each tier's result (status 200 or 502).",
    tags: ['Backups'],
    caller: { auth: 'operator' },
    query: [params.full],
    responses: {
      200: { description: 'What was shipped per tier.', schema: 'BackupRun' },
      502: { description: 'At least one tier failed (see its `error`); the others shipped.', schema: 'BackupRun' },
    },
    progressStream: true,
    errors: { 400: 'Not a valid tenant id.', 404: 'No such tenant.' },
  },
  getBackups: {
    route: 'tenants/{tenant}/backups',
    methods: ['GET'],
    summary: 'Backup status per tier',
    description:
      'Per tier: the last confirmed backup and what it covers (`coveredUntil`), files known to be missing, the last restore drill, and the lag behind the log in commits and minutes. Tiers are asked in parallel; one that does not answer within the status timeout is shown with `ok: false` and the error.',
    tags: ['Backups'],
    caller: { auth: 'operator' },
    responses: { 200: { description: 'Status per tier.', schema: 'BackupStatus' } },
    errors: { 400: 'Not a valid tenant id.', 404: 'No such tenant.' },
  },
  runRestoreDrill: {
    route: 'tenants/{tenant}/backups/drill',
    methods: ['POST'],
    summary: 'Run a restore drill on every tier now',
    description:
      "Restores the latest backup into a scratch tenant, compares the state hash with the source, records the result on the tier and removes the scratch tenant (502 when any drill was not ok). Each drill has an `outcome`: `ok`, `degraded` (the hash matches but files the log references are missing from the backup; `missingFiles` is their count) or `failed`. Progress (with `Accept: application/x-ndjson`): phase `tiers`, `done` of `total` tiers' drills finished; the last line is the answer with each drill's result (status 200 or 502).",
    tags: ['Backups'],
    caller: { auth: 'operator' },
    responses: {
      200: { description: 'The drill results.', schema: 'DrillRun' },
      502: { description: 'At least one drill was not ok.', schema: 'DrillRun' },
    },
    progressStream: true,
    errors: { 400: 'Not a valid tenant id.', 404: 'No such tenant.' },
  },
  restoreTenant: {
    route: 'tenants/{tenant}/restore',
    methods: ['POST'],
    summary: 'Restore a tenant from a backup tier, as of an instant, into a new tenant',
    description:
      'Verifies the chain, imports every commit stamped at or before asOf into the new tenant (users and passwords included), copies its files, builds its projections, and answers when it is usable. A tier covers the log only up to its last backup run (`coveredUntil`): an `asOf` beyond that is refused with 422 unless `acceptPartial` is `true`, and then the tenant is restored up to `coveredUntil`. `restoredUntil` always names the instant whose state was restored. Files the log references that the backup does not have are listed in `missingFiles` (the rest is restored).',
    tags: ['Backups'],
    caller: { auth: 'operator' },
    body: {
      schema: 'Restore',
      description:
        'The tier, the instant, the new tenant id, and `acceptPartial` (default false): restore what the tier has when it does not reach `asOf`.',
    },
    responses: { 201: { description: 'The restored tenant.', schema: 'RestoreResult', headers: ['Location'] } },
    progressStream: true,
    errors: {
      400: 'Invalid body or tenant id.',
      404: 'No such tenant, tier or backup.',
      409: 'The new tenant id exists, a restore into it is running, or the source tenant is scheduled for deletion.',
      410: 'The source tenant was deleted (shredded): its key is destroyed and its backups cannot be decrypted.',
      422: 'The backup failed verification, or it does not reach asOf and acceptPartial is not true.',
    },
  },

  // ------------------------------------------------------------------ authentication
  issueToken: {
    route: 't/{tenant}/auth/token',
    methods: ['POST'],
    summary: 'Sign in and get a bearer token',
    tags: ['Authentication'],
    caller: { auth: 'none' },
    body: {
      schema: 'Login',
      example: { email: 'admin@acme.test', password: 'correct horse battery' },
      description: "The user's email and password.",
    },
    responses: {
      200: { description: 'A token for this tenant (`Cache-Control: no-store`).', schema: 'Token', headers: ['Cache-Control'] },
    },
    errors: {
      401: 'Unknown tenant, email or password, or a disabled user (indistinguishable on purpose).',
      429: 'Too many failed attempts from this client for this email (or for this email from clients that never signed in to it, or from this client overall), or too many sign-ins from this client at once; wait for Retry-After.',
    },
  },

  // ------------------------------------------------------------------ users
  createUser: {
    route: 't/{tenant}/users',
    methods: ['POST'],
    summary: 'Create a user',
    tags: ['Users'],
    caller: { auth: 'tenant', role: 'admin' },
    headers: [params.idempotencyKey],
    body: {
      schema: 'CreateUser',
      example: { email: 'eva@acme.test', password: 'eva-password-123', roles: ['editor'], displayName: 'Eva' },
      description: 'Email (unique in the tenant), password, roles and an optional display name.',
    },
    responses: { 201: { description: 'The user.', schema: 'User', headers: ['ETag', 'Location', 'Idempotency-Replayed'] } },
    errors: {
      403: 'Only administrators manage users.',
      409: 'A user with this email exists in this tenant.',
      422: 'The Idempotency-Key was already used with another request (or another password).',
    },
  },
  findUser: {
    route: 't/{tenant}/users',
    methods: ['GET'],
    summary: "List the tenant's users, or find one by email",
    description:
      "Without `email`: one page of the tenant's users (each as `getUser` shows it: no password hash, no secret), read from the log itself, so a user just created is listed; in user-id order, which says nothing about emails or creation times (ids are derived from the email with a per-tenant secret). The list is complete when `continuation` is absent. With `email`: that user, with its ETag (clients look ids up here, e.g. to reset a password).",
    tags: ['Users'],
    caller: { auth: 'tenant', role: 'admin' },
    query: [params.email, limit(50, 200), params.continuation],
    responses: {
      200: { description: 'The user (with `email`), or one page of users.', schema: 'UserOrPage', headers: ['ETag'] },
    },
    errors: {
      400: 'An invalid email, limit or continuation, or email together with limit or continuation.',
      403: 'Only administrators list and look up users.',
      404: 'No user with this email.',
    },
  },
  getUser: {
    route: 't/{tenant}/users/{userId}',
    methods: ['GET'],
    summary: 'Read a user',
    tags: ['Users'],
    caller: { auth: 'tenant', role: 'viewer', who: 'Administrators of the tenant, or the user themselves' },
    responses: { 200: { description: 'The user.', schema: 'User', headers: ['ETag'] } },
    errors: { 403: 'Not an administrator and not this user.', 404: 'No such user.' },
  },
  updateUser: {
    route: 't/{tenant}/users/{userId}',
    methods: ['PATCH'],
    summary: "Change a user's roles, password or enabled state",
    description: "Disabling a user or changing the password ends the validity of the user's existing tokens.",
    tags: ['Users'],
    caller: { auth: 'tenant', role: 'admin' },
    headers: [params.ifMatchOptional],
    body: { schema: 'PatchUser', description: 'Only the fields to change.' },
    responses: { 200: { description: 'The user after the change.', schema: 'User', headers: ['ETag'] } },
    errors: {
      403: 'Only administrators manage users.',
      404: 'No such user.',
      412: 'The user has changed since the ETag sent.',
      409: 'The administrators were changed concurrently; reload and retry.',
      422: 'Administrators cannot disable themselves or remove their own admin role, and a tenant always keeps at least one enabled administrator.',
    },
  },
  getUserHistory: {
    route: 't/{tenant}/users/{userId}/history',
    methods: ['GET'],
    summary: 'Every change of a user',
    tags: ['Users'],
    caller: { auth: 'tenant', role: 'admin' },
    responses: {
      200: { description: 'Every change with author, time and data (no password hashes), oldest first.', schema: 'UserHistory' },
    },
    errors: { 403: 'Only administrators read user history.', 404: 'No such user.' },
  },

  // ------------------------------------------------------------------ types
  putType: {
    route: 't/{tenant}/types/{type}',
    methods: ['PUT'],
    summary: 'Define or change an entity type',
    tags: ['Types'],
    caller: { auth: 'tenant', role: 'admin' },
    body: {
      schema: 'TypeSchema',
      example: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, vip: { type: 'boolean' } } },
      description: 'A JSON Schema (draft 2020-12) that records of this type must match. Changing it is an audited event.',
    },
    responses: {
      200: { description: 'The type was changed (or sent unchanged).', schema: 'TypeDefinition', headers: ['ETag', 'Location'] },
      201: { description: 'The type was created.', schema: 'TypeDefinition', headers: ['ETag', 'Location'] },
    },
    errors: {
      400: 'Not a valid type name, not a JSON object, or personal-data marks (`x-personal`, `x-subject`) that are not valid.',
      403: 'Only administrators define types.',
      409: 'Types were changed concurrently; retry.',
      422: 'Refused by the schema sandbox, with every problem in `errors`: not a valid JSON Schema (draft 2020-12); an unknown keyword or format; `$async`; a pattern RE2 cannot run; a `$ref` that leaves the schema or loops without descending into the data; a non-finite number; over the size, keyword or nesting bounds; `uniqueItems` without a `maxItems` ≤ 1000; or a compile over the time budget.',
    },
  },
  listTypes: {
    route: 't/{tenant}/types',
    methods: ['GET'],
    summary: 'List entity types',
    tags: ['Types'],
    caller: { auth: 'tenant', role: 'viewer' },
    responses: { 200: { description: 'Every type of the tenant, by name.', schema: 'TypeList' } },
  },
  getType: {
    route: 't/{tenant}/types/{type}',
    methods: ['GET'],
    summary: 'Read an entity type',
    tags: ['Types'],
    caller: { auth: 'tenant', role: 'viewer' },
    responses: { 200: { description: 'The type and its schema.', schema: 'TypeDefinition', headers: ['ETag'] } },
    errors: { 400: 'Not a valid type name.', 404: 'No such type.' },
  },

  // ------------------------------------------------------------------ personal data (issue 14)
  eraseSubject: {
    route: 't/{tenant}/subjects/{subjectId}/erase',
    methods: ['POST'],
    summary: 'Erase a data subject',
    description:
      'Destroys the subject\'s key, so every personal value sealed under it reads as `{"$erased": true}` everywhere (current state, asOf, history, audit, lists, exports, later backups and restores), and appends an audited `SubjectErased` event (who, when, why; never what). Idempotent: a repeat answers 200 with `alreadyErased: true`.',
    tags: ['Personal data'],
    caller: { auth: 'tenant', role: 'admin' },
    body: { schema: 'EraseSubject', example: { reason: 'Art. 17 request of 2026-12-01, ticket 4711' }, description: 'Why (required).' },
    responses: { 200: { description: 'The subject is erased.', schema: 'SubjectErasure' } },
    errors: {
      400: 'No reason, a reason with control characters, or a subject id that is not 1-200 printable characters.',
      403: 'Only administrators erase subjects.',
    },
  },

  // ------------------------------------------------------------------ records
  createRecord: {
    route: 't/{tenant}/records/{type}',
    methods: ['POST'],
    summary: 'Create a record',
    tags: ['Records'],
    caller: { auth: 'tenant', role: 'editor' },
    headers: [params.idempotencyKey],
    body: {
      schema: 'JsonObject',
      example: { name: 'Novák s.r.o.', vip: false },
      description: "The record's data: a JSON object that must match the type's own schema (violations → 422 with JSON Pointer paths).",
    },
    responses: {
      201: {
        description: 'The record at version 1.',
        schema: 'Record',
        headers: ['ETag', 'Location', 'Idempotency-Replayed'],
        example: {
          id: 'r_2Jx9dQm4Tq8vK1LwXy7bNc',
          type: 'customer',
          version: 1,
          data: { name: 'Novák s.r.o.', vip: false },
          createdAt: '2026-11-20T10:00:00.000Z',
          createdBy: { kind: 'user', userId: 'u_Q3f8sLw0aK2mZp7Xc1vB9e', email: 'admin@acme.test' },
          updatedAt: '2026-11-20T10:00:00.000Z',
          updatedBy: { kind: 'user', userId: 'u_Q3f8sLw0aK2mZp7Xc1vB9e', email: 'admin@acme.test' },
        },
      },
    },
    errors: {
      403: 'Viewers cannot write.',
      404: 'No such type.',
      409: "The type's stored schema was accepted by an earlier version but cannot run safely now: an administrator must redefine the type (its records stay readable).",
      422: "The data does not match the type's schema, or the Idempotency-Key was used for another request.",
    },
  },
  patchRecord: {
    route: 't/{tenant}/records/{type}/{id}',
    methods: ['PATCH'],
    summary: 'Change a record (JSON Merge Patch)',
    tags: ['Records'],
    caller: { auth: 'tenant', role: 'editor' },
    headers: [params.ifMatch, params.idempotencyKey],
    body: {
      schema: 'JsonObject',
      mediaTypes: ['application/merge-patch+json', 'application/json'],
      example: { vip: true },
      description: "An RFC 7396 merge patch (null removes a field); the result must match the type's schema.",
    },
    responses: { 200: { description: 'The record after the change.', schema: 'Record', headers: ['ETag', 'Idempotency-Replayed'] } },
    errors: {
      403: 'Viewers cannot write.',
      404: 'No such type or record.',
      409: "The type's stored schema was accepted by an earlier version but cannot run safely now: an administrator must redefine the type (its records stay readable).",
      410: 'The record was deleted.',
      412: 'The record is at another version than If-Match says.',
      422: "The result does not match the type's schema, or the Idempotency-Key was used for another request.",
      428: 'If-Match is missing.',
    },
  },
  deleteRecord: {
    route: 't/{tenant}/records/{type}/{id}',
    methods: ['DELETE'],
    summary: 'Delete a record',
    description:
      'Delete is an event too: afterwards GET answers 410, while history, asOf and exports as of earlier instants still show the record.',
    tags: ['Records'],
    caller: { auth: 'tenant', role: 'editor' },
    headers: [params.ifMatch, params.idempotencyKey],
    responses: { 204: { description: 'Deleted.', headers: ['ETag', 'Idempotency-Replayed'] } },
    errors: {
      400: 'Malformed If-Match or Idempotency-Key.',
      403: 'Viewers cannot write.',
      404: 'No such type or record.',
      410: 'The record is already deleted.',
      412: 'The record is at another version than If-Match says.',
      422: 'The Idempotency-Key was used for another request.',
      428: 'If-Match is missing.',
    },
  },
  getRecord: {
    route: 't/{tenant}/records/{type}/{id}',
    methods: ['GET'],
    summary: 'Read a record, now or as of an instant',
    tags: ['Records'],
    caller: { auth: 'tenant', role: 'viewer' },
    query: [params.asOf],
    responses: { 200: { description: 'The record with its files.', schema: 'Record', headers: ['ETag'] } },
    errors: {
      400: 'Invalid asOf, type name or record id.',
      404: 'No such type, or the record did not exist (at asOf).',
      410: 'The record was deleted (at asOf).',
    },
  },
  getRecordHistory: {
    route: 't/{tenant}/records/{type}/{id}/history',
    methods: ['GET'],
    summary: 'Every change of a record',
    tags: ['Records'],
    caller: { auth: 'tenant', role: 'viewer' },
    query: [limit(100, 1000), params.continuation],
    responses: { 200: { description: 'Changes with author, time, old and new values, oldest first.', schema: 'RecordHistory' } },
    errors: { 400: 'Invalid limit, continuation, type name or record id.', 404: 'No such type or record.' },
  },
  listRecords: {
    route: 't/{tenant}/records/{type}',
    methods: ['GET'],
    summary: 'List records of a type (filter, sort, page, asOf)',
    tags: ['Records'],
    caller: { auth: 'tenant', role: 'viewer' },
    query: [params.filters, params.sort, limit(50, 500), params.continuation, params.asOf],
    responses: {
      200: {
        description:
          'One page of records (without their files). With `asOf` each record is rebuilt at that instant, at most 1,000 per request: a page can then hold fewer than `limit` items, even none, and still carry a `continuation`; the list is complete only when `continuation` is absent.',
        schema: 'RecordPage',
      },
    },
    errors: { 400: 'Invalid field path, sort, limit, continuation or asOf (or sort with asOf).', 404: 'No such type.' },
  },

  revertRecord: {
    route: 't/{tenant}/records/{type}/{id}/revert',
    methods: ['POST'],
    summary: 'Revert a record to its state at an instant',
    description:
      "Appends one commit (a RecordReverted event naming asOf and the reason) that brings the record back to its state at asOf: changed fields get their old values back, a record deleted after asOf comes back, a record created after asOf is deleted. Its `changes` list every field's old and new value like any other change; the mistake and the revert both stay in the history. A record already as at asOf gets nothing appended (`outcome: unchanged`). Attached files are not reverted; the type's schema is the current one: a state at asOf it refuses is 422 and nothing is written.",
    tags: ['Records'],
    caller: { auth: 'tenant', role: 'editor' },
    headers: [params.ifMatch, params.idempotencyKey],
    body: {
      schema: 'RevertRecord',
      example: { asOf: '2026-11-20T14:00:00Z', reason: 'price list overwritten by mistake' },
      description: 'The instant to go back to (in the past) and, optionally, why (stored with the event).',
    },
    responses: {
      200: { description: 'What the revert did; the record now.', schema: 'RecordRevert', headers: ['ETag', 'Idempotency-Replayed'] },
    },
    errors: {
      400: 'Invalid asOf (or in the future), reason, type name, If-Match or Idempotency-Key.',
      403: 'Viewers cannot write.',
      404: 'No such type or record.',
      409: "The type's stored schema cannot run safely now: an administrator must redefine the type.",
      412: 'The record is at another version than If-Match says.',
      422: "The record's state at asOf does not match its type's current schema (nothing written), or the Idempotency-Key was used for another request.",
      428: 'If-Match is missing.',
    },
  },
  revertTenant: {
    route: 't/{tenant}/revert',
    methods: ['POST'],
    summary: 'Revert every record (of some types, or of the tenant) to its state at an instant',
    description:
      "Each record that differs from its state at asOf gets one RecordReverted commit, as a record revert would append. `dryRun: true` answers with the plan (counts and a sample of diffs) and writes nothing. A run is journalled under an operation id derived from the Idempotency-Key: after a crash, a timeout or a lost connection, the same request with the same key resumes it and no record is reverted twice; once finished, it answers the same result again. Without an Idempotency-Key, the same request (same asOf, types and reason) resumes the unfinished run of that request if there is one, else starts a new run; send a key to resume exactly one run whatever else is sent meanwhile. Every answer says so in `retry`. A record that someone else changed after the run started is not overwritten but reported in `conflicts`; one whose state at asOf its type's current schema refuses is reported in `invalid`. Type schemas, users and roles are not reverted.",
    tags: ['Records'],
    caller: { auth: 'tenant', role: 'admin' },
    headers: [params.idempotencyKey],
    body: {
      schema: 'RevertTenant',
      example: { asOf: '2026-11-20T14:00:00Z', types: ['customer'], reason: 'bad import', dryRun: true },
      description: 'The instant (in the past), the types (default: all), why, and whether only to plan.',
    },
    responses: { 200: { description: 'What the revert did (or would do).', schema: 'TenantRevert', headers: ['Idempotency-Replayed'] } },
    progressStream: true,
    errors: {
      400: 'Invalid asOf (or in the future), types, reason or Idempotency-Key.',
      403: 'Only administrators revert a tenant.',
      404: 'No such type.',
      422: 'The Idempotency-Key was used for another revert request.',
    },
  },

  // ------------------------------------------------------------------ audit, export, status
  getAudit: {
    route: 't/{tenant}/audit',
    methods: ['GET'],
    summary: 'The tenant-wide change log',
    description: 'Newest first. Identity events (users and roles) are shown to administrators only.',
    tags: ['Audit and export'],
    caller: { auth: 'tenant', role: 'viewer' },
    query: [params.from, params.to, params.author, params.auditType, limit(50, 500), params.continuation],
    responses: { 200: { description: 'One page of changes.', schema: 'AuditPage' } },
    errors: { 400: 'Invalid from, to, limit or continuation.' },
  },
  getChanges: {
    route: 't/{tenant}/changes',
    methods: ['GET'],
    summary: "The tenant's change feed (pull, with long poll)",
    description:
      'Commits in log order (oldest first), each with its events, field-level changes, author, time and a `position`. Resume with `after=<position>`; with `wait=` seconds the request waits for a change when nothing is new. At least once, in order per record stream. Identity events (users and roles) are shown to administrators only, as in the audit log.',
    tags: ['Audit and export'],
    caller: { auth: 'tenant', role: 'viewer' },
    query: [params.after, limit(100, 500), params.wait],
    responses: { 200: { description: 'One page of commits (possibly empty).', schema: 'ChangePage' } },
    errors: { 400: 'Invalid limit or wait, or a position that is not one of this tenant (changed, or another tenant).' },
  },
  createSubscription: {
    route: 't/{tenant}/subscriptions',
    methods: ['POST'],
    summary: 'Register a webhook subscription',
    description:
      'Deliveries start with the changes after this one. Each is a POST of one commit, signed with HMAC-SHA256 over `timestamp.subscriptionId.body` with the secret answered here (only now). The URL must be https and must not resolve to a private, loopback or link-local address (unless the service allows it for local development). Audited as an event.',
    tags: ['Webhooks'],
    caller: { auth: 'tenant', role: 'admin' },
    body: {
      schema: 'CreateSubscription',
      example: { url: 'https://apps.acme.test/ledger-hook', types: ['customer'] },
      description: 'The target URL and, optionally, the record types and event types to deliver.',
    },
    responses: { 201: { description: 'Registered; the secret is shown only in this answer.', schema: 'SubscriptionCreated' } },
    errors: {
      400: 'Invalid or refused URL, types or events.',
      403: 'Only administrators manage subscriptions.',
      409: 'Too many subscriptions.',
    },
  },
  listSubscriptions: {
    route: 't/{tenant}/subscriptions',
    methods: ['GET'],
    summary: "The tenant's webhook subscriptions and their delivery status",
    tags: ['Webhooks'],
    caller: { auth: 'tenant', role: 'admin' },
    responses: {
      200: { description: 'Every subscription, with position, lag, last error and parked commits.', schema: 'SubscriptionList' },
    },
    errors: { 403: 'Only administrators manage subscriptions.' },
  },
  getSubscription: {
    route: 't/{tenant}/subscriptions/{subscriptionId}',
    methods: ['GET'],
    summary: 'A webhook subscription and its delivery status',
    tags: ['Webhooks'],
    caller: { auth: 'tenant', role: 'admin' },
    responses: { 200: { description: 'The subscription.', schema: 'Subscription' } },
    errors: { 403: 'Only administrators manage subscriptions.', 404: 'No such subscription.' },
  },
  updateSubscription: {
    route: 't/{tenant}/subscriptions/{subscriptionId}',
    methods: ['PATCH'],
    summary: 'Change, pause or resume a webhook subscription',
    tags: ['Webhooks'],
    caller: { auth: 'tenant', role: 'admin' },
    headers: [params.idempotencyKey],
    body: {
      schema: 'PatchSubscription',
      example: { status: 'paused' },
      description: 'New url, types or events, and/or `status` (active, paused).',
    },
    responses: { 200: { description: 'The subscription after the change (audited events).', schema: 'Subscription' } },
    errors: {
      400: 'Invalid or refused URL, types or events.',
      403: 'Only administrators manage subscriptions.',
      404: 'No such subscription.',
    },
  },
  replaySubscription: {
    route: 't/{tenant}/subscriptions/{subscriptionId}/replay',
    methods: ['POST'],
    summary: 'Deliver again from a position',
    description:
      "Delivery goes back to `from` (a position of this tenant's change feed, e.g. a commit's `position`) and goes on from there. Audited.",
    tags: ['Webhooks'],
    caller: { auth: 'tenant', role: 'admin' },
    headers: [params.idempotencyKey],
    body: { schema: 'ReplaySubscription', example: { from: 'eyJ…' }, description: 'A change-feed position.' },
    responses: { 200: { description: 'The subscription; delivery restarts from the position.', schema: 'Subscription' } },
    errors: {
      400: "Not a position of this tenant's feed.",
      403: 'Only administrators manage subscriptions.',
      404: 'No such subscription.',
    },
  },
  deleteSubscription: {
    route: 't/{tenant}/subscriptions/{subscriptionId}',
    methods: ['DELETE'],
    summary: 'Remove a webhook subscription',
    tags: ['Webhooks'],
    caller: { auth: 'tenant', role: 'admin' },
    headers: [params.idempotencyKey],
    responses: { 204: { description: 'Removed (audited); nothing more is delivered.' } },
    errors: { 403: 'Only administrators manage subscriptions.', 404: 'No such subscription.' },
  },
  exportTenant: {
    route: 't/{tenant}/export',
    methods: ['GET'],
    summary: 'Export every record as of an instant (NDJSON)',
    tags: ['Audit and export'],
    caller: { auth: 'tenant', role: 'viewer' },
    query: [params.asOf],
    responses: {
      200: {
        description: 'Streamed newline-delimited JSON: one Record per line.',
        content: {
          mediaType: 'application/x-ndjson',
          schema: { type: 'string', description: 'One JSON object (a Record) per line.' },
          itemSchema: 'Record',
        },
      },
    },
    errors: { 400: 'Invalid asOf.' },
  },
  getTenantProjectionStatus: {
    route: 't/{tenant}/status',
    methods: ['GET'],
    summary: 'Projection position, lag, failures and parked commits',
    tags: ['Projections'],
    caller: { auth: 'tenant', role: 'admin' },
    responses: { 200: { description: "The tenant's projections.", schema: 'ProjectionStatus' } },
    errors: { 403: 'Only administrators read the status.' },
  },

  // ------------------------------------------------------------------ files
  uploadFile: {
    route: 't/{tenant}/records/{type}/{id}/files',
    methods: ['POST'],
    summary: 'Attach a file to a record',
    tags: ['Files'],
    caller: { auth: 'tenant', role: 'editor' },
    headers: [params.fileName, params.contentDisposition, params.ifMatchOptional, params.idempotencyKey],
    body: { binary: true, description: FILE_BODY },
    responses: {
      201: {
        description: 'The file is attached; the record has a new version.',
        schema: 'FileUploadResult',
        headers: ['ETag', 'Location', 'Idempotency-Replayed'],
      },
    },
    errors: {
      400: 'No or invalid file name, invalid Content-Type or If-Match.',
      403: 'Viewers cannot write.',
      404: 'No such type or record.',
      410: 'The record was deleted.',
      412: 'The record is at another version than If-Match says.',
      413: 'The file is larger than allowed.',
      422: 'The Idempotency-Key was already used with another request (method, path, If-Match, name, type, length).',
    },
  },
  replaceFile: {
    route: 't/{tenant}/records/{type}/{id}/files/{fileId}',
    methods: ['PUT'],
    summary: 'Replace a file with a new version',
    tags: ['Files'],
    caller: { auth: 'tenant', role: 'editor' },
    headers: [params.fileName, params.contentDisposition, params.ifMatchOptional, params.idempotencyKey],
    body: { binary: true, description: FILE_BODY },
    responses: {
      200: {
        description: 'The new version is attached; older ones stay readable by version or asOf.',
        schema: 'FileUploadResult',
        headers: ['ETag', 'Location', 'Idempotency-Replayed'],
      },
    },
    errors: {
      400: 'No or invalid file name, invalid Content-Type or If-Match.',
      403: 'Viewers cannot write.',
      404: 'No such type, record or file.',
      410: 'The record was deleted.',
      412: 'The record is at another version than If-Match says.',
      413: 'The file is larger than allowed.',
      422: 'The Idempotency-Key was already used with another request (method, path, If-Match, name, type, length).',
    },
  },
  downloadFile: {
    route: 't/{tenant}/records/{type}/{id}/files/{fileId}',
    methods: ['GET'],
    summary: 'Download a file (current, at a record version, or as of an instant)',
    tags: ['Files'],
    caller: { auth: 'tenant', role: 'viewer' },
    query: [params.asOf, params.version],
    headers: [params.range],
    responses: {
      200: {
        description: 'The whole file, decrypted and checked while streaming.',
        content: {
          mediaType: '*/*',
          schema: {
            type: 'string',
            contentMediaType: 'application/octet-stream',
            description: "The file's bytes, in the media type it was uploaded with.",
          },
        },
        headers: ['Content-Length', 'Accept-Ranges', 'ETag', 'Content-Disposition', 'X-Content-SHA256'],
      },
      206: {
        description: 'The requested byte range.',
        content: { mediaType: '*/*', schema: { type: 'string', contentMediaType: 'application/octet-stream' } },
        headers: ['Content-Range', 'Content-Length', 'Accept-Ranges', 'ETag', 'Content-Disposition', 'X-Content-SHA256'],
      },
    },
    errors: {
      400: 'Invalid asOf or version.',
      404: 'No such type, record or file (at that version or instant).',
      410: 'The record was deleted.',
      416: 'The range lies outside the file.',
    },
  },
  deleteFile: {
    route: 't/{tenant}/records/{type}/{id}/files/{fileId}',
    methods: ['DELETE'],
    summary: 'Detach a file from a record',
    description: 'The stored content stays: history and asOf reads of earlier versions still reach it.',
    tags: ['Files'],
    caller: { auth: 'tenant', role: 'editor' },
    headers: [params.ifMatchOptional, params.idempotencyKey],
    responses: { 204: { description: 'Detached; the record has a new version.', headers: ['ETag', 'Idempotency-Replayed'] } },
    errors: {
      400: 'Invalid If-Match.',
      403: 'Viewers cannot write.',
      404: 'No such type, record or file.',
      410: 'The record was deleted.',
      412: 'The record is at another version than If-Match says.',
      422: 'The Idempotency-Key was already used with another request.',
    },
  },

  // ------------------------------------------------------------------ documentation
  health: {
    route: 'health',
    methods: ['GET'],
    summary: 'Liveness',
    description:
      'Any answer means the app is alive; 200 when configuration and the tenant stores answer (status `degraded` when the process is near a resource limit: open file descriptors against RLIMIT_NOFILE), 503 otherwise. No details of failures are revealed.',
    tags: ['Documentation'],
    caller: { auth: 'none' },
    standalone: true,
    responses: {
      200: { description: 'Ready.', schema: 'Health', headers: ['Cache-Control'] },
      503: {
        description: 'Not ready: the configuration or the tenant stores did not answer (no details).',
        schema: 'Health',
        headers: ['Cache-Control'],
      },
    },
  },
  ready: {
    route: 'health/ready',
    methods: ['GET'],
    summary: 'Readiness: every configured dependency answers',
    description:
      'Each dependency the configuration uses (tenant store — every account with several Cosmos DB accounts —, key store, file store, each backup tier) is asked one cheap read, all at once, each under READINESS_TIMEOUT_SECONDS. 200 when all answered, 503 otherwise or when the configuration does not load. Failure details go to the log only. Liveness is GET /api/health; Azure should probe this one for readiness.',
    tags: ['Documentation'],
    caller: { auth: 'none' },
    standalone: true,
    responses: {
      200: { description: 'Ready: every dependency answered in time.', schema: 'Readiness', headers: ['Cache-Control'] },
      503: {
        description: 'Not ready: a dependency failed or timed out, or the configuration does not load.',
        schema: 'Readiness',
        headers: ['Cache-Control'],
      },
    },
  },
  openApi: {
    route: 'openapi.json',
    methods: ['GET'],
    summary: 'This API as an OpenAPI 3.1 document',
    tags: ['Documentation'],
    caller: { auth: 'none' },
    standalone: true,
    responses: {
      200: {
        description: 'The OpenAPI document.',
        content: {
          mediaType: 'application/json',
          schema: { type: 'object', additionalProperties: true, description: 'An OpenAPI 3.1 document.' },
        },
        headers: ['ETag', 'Cache-Control'],
      },
      304: { description: 'Unchanged since the ETag sent as If-None-Match.', headers: ['ETag'] },
    },
  },
  apiDocs: {
    route: 'docs',
    methods: ['GET'],
    summary: 'This API reference as an HTML page',
    tags: ['Documentation'],
    caller: { auth: 'none' },
    standalone: true,
    responses: {
      200: {
        description: 'A self-contained HTML page (no scripts).',
        content: { mediaType: 'text/html', schema: { type: 'string' } },
        headers: ['ETag', 'Cache-Control'],
      },
      304: { description: 'Unchanged since the ETag sent as If-None-Match.', headers: ['ETag'] },
    },
  },
} as const satisfies Record<string, OperationSpec & { tags: readonly Tag[] }>;

/** The name of an HTTP function (and of its operation). */
export type OperationName = keyof typeof operations;
