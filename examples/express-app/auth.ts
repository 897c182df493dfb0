// Who is calling, and for which tenant: an HS256 JWT verified with node:crypto (no dependency), or
// a header set by a trusted gateway. The tenant is then made current with withTenant() for the
// rest of the request, so every rowcrypt query of the request is confined to it.
import { AsyncLocalStorage } from 'node:async_hooks'
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { withTenant } from 'rowcrypt'

/** A request the example refuses before any query: missing or invalid credentials. */
export class AuthError extends Error {
  readonly code = 'ERR_UNAUTHENTICATED'
  readonly status = 401
}

export interface JwtAuth {
  /** The HMAC secret shared with the token issuer (at least 32 bytes). */
  secret: string | Uint8Array
  /** The claim holding the tenant id (default `tenant`). */
  tenantClaim?: string
  issuer?: string
  audience?: string
  /** Allowed clock skew for `exp` / `nbf`, in seconds (default 5). */
  clockToleranceSec?: number
}

/** Either a verified JWT (`Authorization: Bearer ...`) or, behind a trusted gateway only, a header. */
export type TenantAuth = { jwt: JwtAuth } | { header: string }

/** Per-request facts the audit trail reads (who, which request). */
export interface RequestContext {
  readonly actor?: string
  readonly requestId: string
}

export const requestContext = new AsyncLocalStorage<RequestContext>()

/** Resolves the tenant, then runs the rest of the request inside withTenant(tenant). */
export function tenantMiddleware(auth: TenantAuth): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    let tenant: string
    let actor: string | undefined
    if ('jwt' in auth) {
      const header = req.get('authorization') ?? ''
      const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(header)
      if (match === null) throw new AuthError('a bearer token is required')
      const claims = verifyHs256(match[1]!, auth.jwt)
      const t = claims[auth.jwt.tenantClaim ?? 'tenant']
      if (typeof t !== 'string' || t === '') throw new AuthError('the token names no tenant')
      tenant = t
      actor = typeof claims.sub === 'string' ? claims.sub : undefined
    } else {
      const t = req.get(auth.header)
      if (t === undefined || t === '') throw new AuthError(`the ${auth.header} header is required`)
      tenant = t
    }
    const requestId = randomUUID()
    res.set('x-request-id', requestId)
    // withTenant rejects unusable ids (InvalidTenantError, ERR_ROWCRYPT_TENANT_INVALID).
    withTenant(tenant, () => requestContext.run({ actor, requestId }, next))
  }
}

/** Verifies an HS256 JWT and returns its claims; throws AuthError on any problem. */
export function verifyHs256(token: string, options: JwtAuth, nowSec: number = Date.now() / 1000): Record<string, unknown> {
  const parts = token.split('.')
  if (parts.length !== 3) throw new AuthError('malformed token')
  const [h, p, s] = parts as [string, string, string]
  const header = decodeJson(h)
  // Only HS256: never `none`, never an algorithm chosen by the token for a key meant for another.
  if (header.alg !== 'HS256') throw new AuthError('unsupported token algorithm')
  const expected = createHmac('sha256', options.secret).update(`${h}.${p}`).digest()
  const given = Buffer.from(s, 'base64url')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new AuthError('bad token signature')
  const claims = decodeJson(p)
  const skew = options.clockToleranceSec ?? 5
  if (typeof claims.exp !== 'number') throw new AuthError('the token has no expiry')
  if (nowSec > claims.exp + skew) throw new AuthError('the token has expired')
  if (typeof claims.nbf === 'number' && nowSec < claims.nbf - skew) throw new AuthError('the token is not valid yet')
  if (options.issuer !== undefined && claims.iss !== options.issuer) throw new AuthError('wrong token issuer')
  if (options.audience !== undefined && !(claims.aud === options.audience || (Array.isArray(claims.aud) && claims.aud.includes(options.audience)))) {
    throw new AuthError('wrong token audience')
  }
  return claims
}

/** Signs claims as an HS256 JWT (for the demo and tests; your identity provider does this). */
export function signHs256(claims: Record<string, unknown>, secret: string | Uint8Array, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }): string {
  const h = Buffer.from(JSON.stringify(header)).toString('base64url')
  const p = Buffer.from(JSON.stringify(claims)).toString('base64url')
  const s = createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url')
  return `${h}.${p}.${s}`
}

function decodeJson(part: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>
  } catch {
    // fall through
  }
  throw new AuthError('malformed token')
}
