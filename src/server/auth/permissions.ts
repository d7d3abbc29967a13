import type {z} from 'zod'
import {PermissionName, RoleName} from '../../protocol/api/common.js'
import type {Role} from '../db/schema.js'

/**
 * The one table of who may do what (docs/rbac.md renders it). Routes name the permission
 * they need; nothing else in the server tests roles directly.
 */
export const PERMISSIONS = PermissionName.options

export type Permission = z.infer<typeof PermissionName>

export const ROLES: readonly Role[] = RoleName.options

export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  admin: PERMISSIONS,
  'service-engineer': ['devices:read', 'devices:enroll', 'diagnostics:run', 'logs:pull', 'tunnels:open', 'updates:deploy'],
  'applications-specialist': ['devices:read', 'diagnostics:run', 'tunnels:open'],
  auditor: ['devices:read', 'audit:read'],
  viewer: ['devices:read'],
}

/** Roles that can reach devices must use MFA; auditors and viewers only if the server config says so. */
export const DEVICE_REACHING: readonly Permission[] = ['devices:enroll', 'diagnostics:run', 'logs:pull', 'tunnels:open', 'updates:deploy', 'users:manage']

export function roleRequiresMfa(role: Role, mfaForReadOnlyRoles: boolean): boolean {
  if (mfaForReadOnlyRoles) return true
  return ROLE_PERMISSIONS[role].some((p) => DEVICE_REACHING.includes(p))
}

export function hasPermission(permissions: readonly Permission[], needed: Permission): boolean {
  return permissions.includes(needed)
}

export function isPermission(value: string): value is Permission {
  return (PERMISSIONS as readonly string[]).includes(value)
}
