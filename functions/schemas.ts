/**
 * JSON Schemas (draft 2020-12) of the request bodies. The same objects validate requests
 * and will feed the OpenAPI document, so they cannot drift apart.
 */
const email = { type: 'string', minLength: 3, maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$' } as const;
const password = { type: 'string', minLength: 10, maxLength: 200 } as const;
const roles = {
  type: 'array',
  items: { enum: ['admin', 'editor', 'viewer'] },
  minItems: 1,
  uniqueItems: true,
} as const;

/** An ISO-8601 instant with a time and an offset (its value is checked again when read). */
const instant = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2})$' } as const;
/** Why a revert was made, stored with its events. */
const reason = { type: 'string', minLength: 1, maxLength: 500 } as const;

/** A webhook target (checked again by the service: https, no private addresses). */
const webhookUrl = { type: 'string', minLength: 8, maxLength: 2048 } as const;
/** Only commits of these record types (null or absent: all). */
const webhookTypes = {
  type: ['array', 'null'],
  items: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,39}$' },
  maxItems: 50,
  uniqueItems: true,
} as const;
/** Only these event types (null or absent: all). */
const webhookEvents = {
  type: ['array', 'null'],
  items: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9]{0,63}$' },
  maxItems: 50,
  uniqueItems: true,
} as const;

export const schemas = {
  CreateTenant: {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'name', 'admin'],
    properties: {
      id: { type: 'string', pattern: '^(?!.*--)[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$' },
      name: { type: 'string', minLength: 1, maxLength: 200 },
      admin: {
        type: 'object',
        additionalProperties: false,
        required: ['email', 'password'],
        properties: { email, password, displayName: { type: 'string', maxLength: 200 } },
      },
    },
  },
  Login: {
    type: 'object',
    additionalProperties: false,
    required: ['email', 'password'],
    properties: { email: { type: 'string', minLength: 1, maxLength: 254 }, password: { type: 'string', minLength: 1, maxLength: 200 } },
  },
  CreateUser: {
    type: 'object',
    additionalProperties: false,
    required: ['email', 'password', 'roles'],
    properties: { email, password, roles, displayName: { type: 'string', maxLength: 200 } },
  },
  PatchUser: {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    properties: { roles, disabled: { type: 'boolean' }, password },
  },
  EraseSubject: {
    type: 'object',
    additionalProperties: false,
    required: ['reason'],
    properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } },
  },
  Restore: {
    type: 'object',
    additionalProperties: false,
    required: ['tier', 'asOf', 'into'],
    properties: {
      tier: { type: 'string', minLength: 1, maxLength: 40 },
      asOf: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2})$' },
      into: { type: 'string', pattern: '^(?!.*--)[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$' },
      acceptPartial: { type: 'boolean' },
    },
  },
  RevertRecord: {
    type: 'object',
    additionalProperties: false,
    required: ['asOf'],
    properties: { asOf: instant, reason },
  },
  RevertTenant: {
    type: 'object',
    additionalProperties: false,
    required: ['asOf'],
    properties: {
      asOf: instant,
      types: {
        type: 'array',
        items: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,39}$' },
        minItems: 1,
        maxItems: 100,
        uniqueItems: true,
      },
      reason,
      dryRun: { type: 'boolean' },
    },
  },
  CreateSubscription: {
    type: 'object',
    additionalProperties: false,
    required: ['url'],
    properties: { url: webhookUrl, types: webhookTypes, events: webhookEvents },
  },
  PatchSubscription: {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    properties: { url: webhookUrl, types: webhookTypes, events: webhookEvents, status: { enum: ['active', 'paused'] } },
  },
  ReplaySubscription: {
    type: 'object',
    additionalProperties: false,
    required: ['from'],
    properties: { from: { type: 'string', minLength: 1, maxLength: 16384 } },
  },
  /** A record body or a merge patch: any JSON object (the type's own schema is checked later). */
  JsonObject: { type: 'object', additionalProperties: true },
  /** A JSON Schema (draft 2020-12) for an entity type; compiled and checked by the service. */
  TypeSchema: { type: 'object', additionalProperties: true },
} as const;

export type SchemaName = keyof typeof schemas;
