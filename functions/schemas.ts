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
  /** A record body or a merge patch: any JSON object (the type's own schema is checked later). */
  JsonObject: { type: 'object', additionalProperties: true },
  /** A JSON Schema (draft 2020-12) for an entity type; compiled and checked by the service. */
  TypeSchema: { type: 'object', additionalProperties: true },
} as const;

export type SchemaName = keyof typeof schemas;
