import { forbidden } from '../../domain/errors';
import { rolesAllow, type Permission, type Role } from '../../domain/identity';

/** The authenticated caller of a tenant endpoint. */
export interface UserPrincipal {
  tenantId: string;
  userId: string;
  email: string;
  roles: Role[];
}

/** 403 unless the caller's roles grant `permission`. */
export function requirePermission(principal: UserPrincipal, permission: Permission): void {
  if (!rolesAllow(principal.roles, permission)) throw forbidden();
}
