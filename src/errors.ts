/**
 * One error tree for everything a user can catch. Every class carries a stable `code`
 * (`ERR_ROWCRYPT_*`); match on `code`, never on message text. Messages never contain plaintext,
 * keys, wrapped keys or ciphertext: only model, field, row id and tenant id may appear.
 *
 * @example
 * ```ts
 * import { RowcryptError } from 'rowcrypt'
 * try { await prisma.user.findMany() } catch (e) {
 *   if (e instanceof RowcryptError && e.code === 'ERR_ROWCRYPT_TENANT_MISSING') return res.status(401)
 *   throw e
 * }
 * ```
 */
export class RowcryptError extends Error {
  /** Stable machine-readable code. */
  static readonly code: string = 'ERR_ROWCRYPT'
  readonly code: string

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = (new.target as typeof RowcryptError).code
  }
}

/**
 * The options passed to `rowcrypt()`, `RowLevelEncryption` or a key provider are invalid
 * (unknown model or field, unsupported field type, missing sidecar column, malformed key).
 *
 * @example
 * ```ts
 * try { rowcrypt({ schema, keyProvider, models: { Usr: { fields: ['email'] } } }) }
 * catch (e) { if (e instanceof ConfigError) log.error(e.message) } // names "Usr"
 * ```
 */
export class ConfigError extends RowcryptError {
  static override readonly code = 'ERR_ROWCRYPT_CONFIG'
}

/** One tenant column the database can conflate distinct tenant ids in (see {@link TenantCollationError}). */
export interface UnsafeTenantColumnInfo {
  /** Model and field, as in the Prisma schema. */
  readonly model: string
  readonly field: string
  /** Table, column and (where known) schema, as in the database. */
  readonly table: string
  readonly column: string
  readonly schema?: string
  /** What the database reported: the collation (and type), e.g. `collation utf8mb4_unicode_ci (varchar(191))`. */
  readonly collation: string
}

/**
 * A `ConfigError` (`ERR_ROWCRYPT_CONFIG`): a tenant column's collation (or type) can make two
 * distinct tenant ids compare equal in the database (`acme` = `ACME` = `acme ` under MySQL's
 * default collations), so rowcrypt refuses to run. `columns` lists them; the message names each with
 * its collation and the migration that fixes it. Or set `tenantIds: 'canonical'`.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof TenantCollationError) for (const c of e.columns) log.error(`${c.table}.${c.column}: ${c.collation}`) }
 * ```
 */
export class TenantCollationError extends ConfigError {
  readonly columns: readonly UnsafeTenantColumnInfo[]

  constructor(message: string, columns: readonly UnsafeTenantColumnInfo[]) {
    super(message)
    this.columns = columns
  }
}

/**
 * A query touched a tenant-scoped model outside `withTenant()`. Thrown before any SQL is sent.
 *
 * @example
 * ```ts
 * await prisma.user.findMany() // throws TenantMissingError (ERR_ROWCRYPT_TENANT_MISSING)
 * ```
 */
export class TenantMissingError extends RowcryptError {
  static override readonly code = 'ERR_ROWCRYPT_TENANT_MISSING'
}

/**
 * A tenant id is not a non-empty string, or data names another tenant than the current one.
 *
 * @example
 * ```ts
 * await withTenant('a', () => prisma.user.create({ data: { tenantId: 'b', email } })) // TenantMismatchError
 * ```
 */
export class TenantMismatchError extends RowcryptError {
  static override readonly code = 'ERR_ROWCRYPT_TENANT_MISMATCH'
}

/**
 * The tenant id given to `withTenant()` (or to the core) is not a usable id.
 *
 * @example
 * ```ts
 * withTenant('', fn) // throws InvalidTenantError (ERR_ROWCRYPT_TENANT_INVALID)
 * ```
 */
export class InvalidTenantError extends RowcryptError {
  static override readonly code = 'ERR_ROWCRYPT_TENANT_INVALID'
}

/**
 * The query cannot be answered correctly on encrypted data: a filter, sort, `distinct` or
 * `cursor` on an encrypted field, or an operation or nesting form rowcrypt does not support.
 *
 * @example
 * ```ts
 * await prisma.user.findMany({ where: { email: 'a@x.io' } }) // UnsupportedQueryError
 * ```
 */
export class UnsupportedQueryError extends RowcryptError {
  static override readonly code = 'ERR_ROWCRYPT_UNSUPPORTED_QUERY'
}

/**
 * A value to encrypt has the wrong JavaScript type for its field (e.g. a number for a String field).
 *
 * @example
 * ```ts
 * await prisma.user.create({ data: { email: 42 as any } }) // InvalidValueError
 * ```
 */
export class InvalidValueError extends RowcryptError {
  static override readonly code = 'ERR_ROWCRYPT_INVALID_VALUE'
}

/** Where a decryption failure happened. Never holds plaintext, keys or ciphertext. */
export interface DecryptionErrorLocation {
  model?: string
  field?: string
  rowId?: string
  tenantId?: string
}

/**
 * Authenticated decryption failed: the ciphertext, the wrapped data key, the key version or
 * the binding (model, field, tenant, row) does not match. Every cause gives the same message
 * text so that the error is no oracle; the location says where, never why.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof DecryptionError) log.warn({ model: e.model, field: e.field, row: e.rowId }) }
 * ```
 */
export class DecryptionError extends RowcryptError {
  static override readonly code = 'ERR_ROWCRYPT_DECRYPTION_FAILED'
  /** The one message every authentication failure shares. */
  static readonly MESSAGE = 'decryption failed'
  readonly model?: string
  readonly field?: string
  readonly rowId?: string
  readonly tenantId?: string

  constructor(location: DecryptionErrorLocation = {}) {
    // No `cause`: the underlying crypto error could tell tag failure from other failures.
    super(DecryptionError.MESSAGE + describeLocation(location))
    Object.assign(this, location)
  }
}

/**
 * A stored value is not a rowcrypt ciphertext (wrong prefix, unknown version or algorithm,
 * bad encoding, wrong lengths), or a row lacks its wrapped data key.
 *
 * @example
 * ```ts
 * parseCiphertext('hello') // throws CiphertextFormatError
 * ```
 */
export class CiphertextFormatError extends RowcryptError {
  static override readonly code = 'ERR_ROWCRYPT_CIPHERTEXT_FORMAT'
}

/**
 * The key provider has no key for the requested version.
 *
 * @example
 * ```ts
 * new LocalKeyProvider({ keys: { v1: key }, activeVersion: 'v2' }) // ConfigError; at unwrap: KeyVersionError
 * ```
 */
export class KeyVersionError extends RowcryptError {
  static override readonly code = 'ERR_ROWCRYPT_KEY_VERSION_UNKNOWN'
}

/**
 * The key provider failed for a reason other than authentication (unavailable, refused).
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof KeyProviderError) metrics.kmsDown.inc() }
 * ```
 */
export class KeyProviderError extends RowcryptError {
  // Typed `string` so that subclasses (KmsUnavailableError, ...) can carry their own code.
  static override readonly code: string = 'ERR_ROWCRYPT_KEY_PROVIDER'
}

/**
 * No row of the current tenant matches: the record an update, a nested update or an `OrThrow`
 * read needs is not there for this tenant (or is another tenant's). Its `code` is Prisma's
 * `P2025`, whichever way rowcrypt found out, so the check a Prisma user already writes holds.
 *
 * @example
 * ```ts
 * try { await withTenant('b', () => prisma.user.update({ where: { id: rowOfA }, data: { email } })) }
 * catch (e) { if ((e as { code?: string }).code === 'P2025') notFound() } // RecordNotFoundError
 * ```
 */
export class RecordNotFoundError extends RowcryptError {
  static override readonly code = 'P2025'
  /** As on Prisma's errors: the model concerned. */
  readonly meta: { modelName?: string }

  constructor(message: string, options?: { cause?: unknown; modelName?: string }) {
    super(message, options)
    this.meta = options?.modelName === undefined ? {} : { modelName: options.modelName }
  }
}

/**
 * A foreign key written directly (`authorId: 7`) names no row of the current tenant. Its `code` is
 * Prisma's `P2003`, what a foreign key to a missing row gives: another tenant's row reads as none.
 *
 * @example
 * ```ts
 * await withTenant('b', () => prisma.post.create({ data: { title, authorId: userOfA } })) // ForeignKeyError, code P2003
 * ```
 */
export class ForeignKeyError extends RowcryptError {
  static override readonly code = 'P2003'
  /** As on Prisma's errors: the foreign key field. */
  readonly meta: { field_name?: string; modelName?: string }

  constructor(message: string, options?: { cause?: unknown; field?: string; modelName?: string }) {
    super(message, options)
    this.meta = { ...(options?.field === undefined ? {} : { field_name: options.field }), ...(options?.modelName === undefined ? {} : { modelName: options.modelName }) }
  }
}

/**
 * The KMS could not be reached or did not answer in time, after the AWS SDK's own retries
 * (throttling, 5xx, timeouts, refused connections). Nothing was written: a write whose key cannot
 * be obtained fails before any SQL is sent. A subclass of `KeyProviderError`.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof KmsUnavailableError) return res.status(503).set('Retry-After', '5').end() }
 * ```
 */
export class KmsUnavailableError extends KeyProviderError {
  static override readonly code = 'ERR_ROWCRYPT_KMS_UNAVAILABLE'
}

/**
 * The KMS refused the request: `AccessDeniedException` (IAM or key policy, including an
 * `kms:EncryptionContext:*` condition), or invalid or expired credentials. A subclass of `KeyProviderError`.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof KmsAccessDeniedError) log.error({ code: e.code }, 'check the KMS key policy') }
 * ```
 */
export class KmsAccessDeniedError extends KeyProviderError {
  static override readonly code = 'ERR_ROWCRYPT_KMS_ACCESS_DENIED'
}

/**
 * The KMS key cannot be used: it is disabled, pending deletion, not found, or not a symmetric
 * encryption key. A subclass of `KeyProviderError`.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof KmsKeyUnusableError) alert('a rowcrypt KMS key is disabled or scheduled for deletion') }
 * ```
 */
export class KmsKeyUnusableError extends KeyProviderError {
  static override readonly code = 'ERR_ROWCRYPT_KMS_KEY_UNUSABLE'
}

/**
 * The tenant's keys were destroyed by crypto-shredding (`shredTenant`, `rowcrypt tenant shred`):
 * its rows can never be decrypted again, and new rows are refused.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof TenantShreddedError) return res.status(410).end() }
 * ```
 */
export class TenantShreddedError extends RowcryptError {
  static override readonly code = 'ERR_ROWCRYPT_TENANT_SHREDDED'
}

/**
 * One row that key rotation or `verifyRows` could not handle: where, and the error code. Never a value.
 *
 * @example
 * ```ts
 * const { failures } = await verifyRows({ prisma })
 * for (const f of failures) log.warn(`${f.model} ${f.id} (tenant ${f.tenantId}): ${f.code}`)
 * ```
 */
export interface RowFailure {
  readonly model: string
  /** The row's primary key, as a string. */
  readonly id: string
  readonly tenantId: string
  /** The `code` of the error (`ERR_ROWCRYPT_DECRYPTION_FAILED`, ...). */
  readonly code: string
}

/**
 * `rotateKeys` finished, but some rows could not be rotated (their data key does not unwrap, their
 * tenant was shredded, ...). Every other row was rotated; `rotated` counts them and `failures` lists
 * the first rows that failed (at most 1,000; `failedCount` counts all).
 *
 * @example
 * ```ts
 * try { await rotateKeys({ prisma }) } catch (e) {
 *   if (e instanceof RotationIncompleteError) for (const f of e.failures) log.warn(f)
 * }
 * ```
 */
export class RotationIncompleteError extends RowcryptError {
  static override readonly code = 'ERR_ROWCRYPT_ROTATION_INCOMPLETE'
  readonly rotated: number
  readonly failedCount: number
  readonly failures: readonly RowFailure[]

  constructor(rotated: number, failedCount: number, failures: readonly RowFailure[]) {
    super(`key rotation rotated ${rotated} row${rotated === 1 ? '' : 's'}; ${failedCount} row${failedCount === 1 ? '' : 's'} could not be rotated`)
    this.rotated = rotated
    this.failedCount = failedCount
    this.failures = failures
  }
}

/** A key older than a rotation's age limit (see {@link KeyTooOldError}). */
export interface TooOldKey {
  readonly keyVersion: string
  /** Set for a tenant's intermediate key under `keyVersion`. */
  readonly tenantId?: string
  readonly createdAt: Date
}

/**
 * `rotateKeys({ olderThan })` (`rowcrypt rotate --older-than`) would move rows onto a key that is
 * itself older than the limit: the target key version (or a tenant's key under it). Rotation cannot
 * make those rows younger; add a new key version, make it active, and rotate again. Nothing was
 * changed. `keys` names the keys that are too old.
 *
 * @example
 * ```ts
 * try { await rotateKeys({ prisma, olderThan: '90d' }) } catch (e) {
 *   if (e instanceof KeyTooOldError) alert(`add a key version: ${e.keys.map((k) => k.keyVersion).join(', ')} too old`)
 * }
 * ```
 */
export class KeyTooOldError extends RowcryptError {
  static override readonly code = 'ERR_ROWCRYPT_KEY_TOO_OLD'
  readonly keys: readonly TooOldKey[]

  constructor(message: string, keys: readonly TooOldKey[]) {
    super(message)
    this.keys = keys
  }
}

function describeLocation(l: DecryptionErrorLocation): string {
  const parts: string[] = []
  if (l.model !== undefined) parts.push(`model ${l.model}`)
  if (l.field !== undefined) parts.push(`field ${l.field}`)
  if (l.rowId !== undefined) parts.push(`row ${l.rowId}`)
  if (l.tenantId !== undefined) parts.push(`tenant ${l.tenantId}`)
  return parts.length ? ` (${parts.join(', ')})` : ''
}
