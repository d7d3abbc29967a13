import {z} from 'zod'

/**
 * The admin HTTPS API (/api/v1) contract, shared by the server routes (request validation,
 * response serialisation, OpenAPI) and by src/client. Objects are strict: unknown fields are
 * a 400 that names them.
 */

export const API_PREFIX = '/api/v1'

export const Slug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes, starting with a letter or digit, at most 63')

export const Timestamp = z.string().describe('ISO-8601 UTC')

export const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    /** The offending request field for 400s, e.g. "body.username". */
    field: z.string().optional(),
  }),
})
export type ErrorBody = z.infer<typeof ErrorBody>

export const RoleName = z.enum(['admin', 'service-engineer', 'applications-specialist', 'auditor', 'viewer'])

export const PermissionName = z.enum([
  'devices:read',
  'devices:manage',
  'devices:enroll',
  'diagnostics:run',
  'logs:pull',
  'tunnels:open',
  'updates:publish',
  'updates:deploy',
  'audit:read',
  'users:manage',
  'customers:manage',
])

export const ScopeEntry = z.strictObject({customer: Slug, site: Slug.nullable().optional()})
export const Scope = z.strictObject({
  /** Every customer (admins). */
  all: z.boolean(),
  entries: z.array(ScopeEntry),
})
export type Scope = z.infer<typeof Scope>

export const SerialParam = z.strictObject({serial: z.string().min(1).max(128)})
export const IdParam = z.strictObject({id: z.string().min(1).max(128)})
export const UsernameParam = z.strictObject({username: z.string().min(1).max(64)})
export const Empty = z.strictObject({})
