// The events rowcrypt reports about its own work. Metrics, operation stats and audit trails are
// observers of these; none of them carries plaintext, keys or ciphertext.
import { InvalidTenantError, TenantMismatchError, TenantMissingError } from '../errors'

/** How an operation ended: `denied` is a tenant-scope refusal, `failed` any other error. */
export type Outcome = 'ok' | 'denied' | 'failed'

/** One Prisma operation on a model rowcrypt guards (scoped, or reaching a scoped model). */
export interface OperationEvent {
  /** Prisma operation: `findMany`, `create`, `update`, ... */
  readonly operation: string
  readonly model: string
  /** The current tenant, or undefined (outside withTenant or inside unsafeBypassTenantScope). */
  readonly tenantId: string | undefined
  /** True inside `unsafeBypassTenantScope`. */
  readonly bypass: boolean
  readonly outcome: Outcome
  /** The `code` of the error for `denied` and `failed` (a rowcrypt `ERR_ROWCRYPT_*` or Prisma `P*` code). */
  readonly errorCode?: string
  /** Wall time of the whole operation, key work and query included. */
  readonly durationMs: number
  /** Rows whose fields were encrypted (each with its own or its existing data key). */
  readonly rowsEncrypted: number
  /** Rows whose fields were decrypted. */
  readonly rowsDecrypted: number
  /**
   * Rows taken as plaintext (migrating mode: legacy rows without a wrapped key), read or encrypted
   * on their write. Their values are not authenticated: see `plaintextRowIds`.
   */
  readonly rowsPlaintext: number
  /** Primary keys (as strings) of the rows counted in `rowsPlaintext`; absent when there were none. */
  readonly plaintextRowIds?: readonly string[]
  /** When it started. */
  readonly time: Date
  /**
   * Rows the call returned or affected, for `ok` outcomes: 1 or 0 for single-row operations
   * (`findUnique`, `create`, `update`, `delete`, ...), the length of a list result, or the `count`
   * of `createMany` / `updateMany` / `deleteMany`. Undefined for `count`, `aggregate`, `groupBy`
   * (they return no rows) and for `denied` and `failed` outcomes.
   */
  readonly rowCount?: number
  /**
   * Primary keys (as strings) of the top-level rows in the result, when the result holds them
   * (a `select` without the id leaves them out). With Prisma's fluent API
   * (`findUnique(...).posts()`) these are the related rows' keys.
   */
  readonly rowIds?: readonly string[]
  /** The primary key the call's `where` names (`where: { id }`), also when it found nothing or failed. */
  readonly targetId?: string
}

/**
 * Receives rowcrypt's events. Pass observers to `rowcrypt({ observers })`. An observer must be
 * fast and must not throw; an exception it throws is swallowed so it never breaks a query.
 *
 * @example
 * ```ts
 * const logger: RowcryptObserver = { operation: (e) => e.outcome !== 'ok' && log.warn(e) }
 * prisma.$extends(rowcrypt({ schema, keyProvider, models, observers: [logger] }))
 * ```
 */
export interface RowcryptObserver {
  operation?(event: OperationEvent): void
  /** Key-provider work: KMS requests and key-cache activity (from providers that report it). */
  keyProvider?(event: KeyProviderEvent): void
}

/**
 * What a key provider reports. `kms-request`: one request to a KMS (after the SDK's own retries:
 * `attempts` counts them). `cache`: a lookup in a key cache, or an eviction from it.
 */
export type KeyProviderEvent =
  | {
      readonly type: 'kms-request'
      /** KMS operation name: `GenerateDataKey`, `Decrypt`, `Encrypt`, `ReEncrypt`, ... */
      readonly operation: string
      readonly outcome: 'ok' | 'throttled' | 'unavailable' | 'denied' | 'error'
      readonly durationMs: number
      readonly attempts: number
    }
  | {
      readonly type: 'cache'
      /** Which cache: e.g. `tenant-key` (hierarchical mode) or `data-key` (direct mode). */
      readonly cache: string
      readonly result: 'hit' | 'miss' | 'eviction'
    }

/** @internal Counters filled while one operation runs. */
export interface CallStats {
  rowsEncrypted: number
  rowsDecrypted: number
  rowsPlaintext: number
  plaintextRowIds?: string[]
}

/** @internal Fresh counters for one operation. */
export function newCallStats(): CallStats {
  return { rowsEncrypted: 0, rowsDecrypted: 0, rowsPlaintext: 0 }
}

/** @internal Counts a row taken as plaintext, with its id when known. */
export function notePlaintextRow(stats: CallStats, id: unknown): void {
  stats.rowsPlaintext++
  if (typeof id === 'string' || typeof id === 'number' || typeof id === 'bigint') (stats.plaintextRowIds ??= []).push(String(id))
}

/** @internal Classifies an error for an event. */
export function outcomeOf(error: unknown): { outcome: Outcome; errorCode?: string } {
  const code = (error as { code?: unknown } | null)?.code
  const errorCode = typeof code === 'string' ? code : undefined
  const denied = error instanceof TenantMissingError || error instanceof TenantMismatchError || error instanceof InvalidTenantError
  return errorCode === undefined ? { outcome: denied ? 'denied' : 'failed' } : { outcome: denied ? 'denied' : 'failed', errorCode }
}

/** @internal Delivers an event to every observer; an observer's exception never reaches the query. */
export function notify(observers: readonly RowcryptObserver[], event: OperationEvent): void {
  deliver(observers, (o) => o.operation?.(event))
}

/** @internal Delivers a key-provider event to every observer, with the same guarantees. */
export function notifyKeyProvider(observers: readonly RowcryptObserver[], event: KeyProviderEvent): void {
  deliver(observers, (o) => o.keyProvider?.(event))
}

function deliver(observers: readonly RowcryptObserver[], call: (o: RowcryptObserver) => unknown): void {
  for (const o of observers) {
    try {
      const r: unknown = call(o)
      // An async observer's rejection must not become an unhandled rejection either.
      if (r instanceof Promise) r.catch(() => undefined)
    } catch {
      // Deliberately ignored: observability must not change what the application sees.
    }
  }
}
