import { isWellFormed } from '../crypto/context'
import { InvalidTenantError } from '../errors'
import { ContextSlot } from './slots'

interface TenantScope {
  readonly tenantId: string | undefined
  /** Set only by `unsafeBypassTenantScope`: queries are not confined to one tenant. */
  readonly bypass?: { reason: string }
}

// One per process (a plain object: the async storage behind it is made on first use).
const scopes = new ContextSlot<TenantScope>()

const MAX_TENANT_ID_LENGTH = 256

/**
 * Runs `fn` with `tenantId` as the current tenant. Every rowcrypt query inside it (and in any
 * async work it starts) is confined to that tenant. Nesting replaces the tenant for the inner call
 * only; concurrent calls never see each other's tenant. Returns what `fn` returns.
 *
 * @example
 * ```ts
 * app.use((req, res, next) => withTenant(req.auth.orgId, next))
 * const users = await withTenant('tenant_a', () => prisma.user.findMany())
 * ```
 */
export function withTenant<T>(tenantId: string, fn: () => PromiseLike<T>): Promise<T>
export function withTenant<T>(tenantId: string, fn: () => T): T
export function withTenant<T>(tenantId: string, fn: () => T): T | Promise<unknown> {
  assertTenantId(tenantId)
  return runIn({ tenantId }, fn)
}

/**
 * The tenant of the current async context, or `undefined` outside `withTenant`.
 *
 * @example
 * ```ts
 * withTenant('a', () => currentTenant()) // 'a'
 * ```
 */
export function currentTenant(): string | undefined {
  return scopes.getStore()?.tenantId
}

/**
 * Runs `fn` with the tenant scope switched off, for admin and maintenance jobs that must see
 * every tenant (rotation, exports). Reads, counts, updates and deletes then span all tenants;
 * each row still decrypts only under its own tenant's binding, and creates must name their
 * tenant in `data`. `reason` is required so every use is greppable and explains itself.
 *
 * @example
 * ```ts
 * const all = await unsafeBypassTenantScope('nightly export', () => prisma.user.findMany())
 * ```
 */
export function unsafeBypassTenantScope<T>(reason: string, fn: () => PromiseLike<T>): Promise<T>
export function unsafeBypassTenantScope<T>(reason: string, fn: () => T): T
export function unsafeBypassTenantScope<T>(reason: string, fn: () => T): T | Promise<unknown> {
  if (typeof reason !== 'string' || reason.trim() === '') throw new InvalidTenantError('unsafeBypassTenantScope needs a reason')
  return runIn({ tenantId: undefined, bypass: { reason } }, fn)
}

// Prisma queries are lazy: the SQL runs when `.then` is called, which for
// `await withTenant(t, () => prisma.user.findMany())` would be outside the scope. So a returned
// thenable is subscribed to inside the scope, and a plain Promise of its result is returned.
function runIn<T>(scope: TenantScope, fn: () => T): T | Promise<unknown> {
  return scopes.run(scope, () => {
    const result = fn()
    if (result !== null && (typeof result === 'object' || typeof result === 'function') && typeof (result as { then?: unknown }).then === 'function') {
      const thenable = result as unknown as PromiseLike<unknown>
      return new Promise((resolve, reject) => {
        thenable.then(resolve, reject)
      })
    }
    return result
  })
}

/** @internal The full scope, for the extension. */
export function currentScope(): TenantScope | undefined {
  return scopes.getStore()
}

/** @internal Throws unless `tenantId` is a usable tenant id. */
export function assertTenantId(tenantId: unknown): asserts tenantId is string {
  if (typeof tenantId !== 'string' || tenantId.length === 0 || tenantId.length > MAX_TENANT_ID_LENGTH) {
    throw new InvalidTenantError(`a tenant id must be a non-empty string of at most ${MAX_TENANT_ID_LENGTH} characters`)
  }
  // A lone surrogate is written as U+FFFD by UTF-8 encoders (ours and the database driver's), so
  // two different ids would name one tenant.
  if (!isWellFormed(tenantId)) throw new InvalidTenantError('a tenant id must be well-formed Unicode (no lone surrogates)')
}
