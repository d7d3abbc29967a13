import {PermissionName, RoleName} from '../protocol/api/common.js'

/** Role and permission names for flag `options`, from the API contract. */
export const ROLES = RoleName.options
export const PERMISSIONS = PermissionName.options
