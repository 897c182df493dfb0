// The audit trail: one record per access attempt on guarded models, built from operation events.
// It names who, what, when and how it ended; never a field value, key or ciphertext.
import type { OperationEvent, Outcome, RowcryptObserver } from './observer'

/**
 * One access attempt: a Prisma call on a model rowcrypt guards, whatever its outcome. Every key is
 * always present (`null` when it does not apply), so JSON lines have one stable shape. It holds
 * ids, names and counts only: never a field value, a key or a ciphertext.
 *
 * @example
 * ```json
 * {"time":"2026-11-28T10:00:00.000Z","operation":"findUnique","model":"User","tenantId":"tenant_b",
 *  "bypass":false,"outcome":"ok","errorCode":null,"rowCount":0,"rowIds":[],"targetId":"7",
 *  "rowsPlaintext":0,"plaintextRowIds":[],"actor":"user_42","requestId":"b9a1...","durationMs":1.8}
 * ```
 */
export interface AuditEvent {
  /** When the call started (ISO 8601, UTC). */
  readonly time: string
  /** Prisma operation: `findMany`, `create`, `update`, ... */
  readonly operation: string
  readonly model: string
  /** The tenant the call ran for; null outside `withTenant` and inside `unsafeBypassTenantScope`. */
  readonly tenantId: string | null
  /** True inside `unsafeBypassTenantScope` (the call spanned every tenant). */
  readonly bypass: boolean
  /** `ok`; `denied` (tenant-scope refusal, nothing was sent to the database); `failed` (any other error). */
  readonly outcome: Outcome
  /** The error `code` (`ERR_ROWCRYPT_*` or a Prisma `P*` code) of a denied or failed call. */
  readonly errorCode: string | null
  /** Rows returned or affected (see `OperationEvent.rowCount`); null for aggregates and unsuccessful calls. */
  readonly rowCount: number | null
  /** Primary keys of the rows returned, when the result holds them; null otherwise. */
  readonly rowIds: readonly string[] | null
  /** The primary key named in the call's `where`, if any, also when the call found nothing. */
  readonly targetId: string | null
  /**
   * Rows taken as plaintext, unauthenticated (migrating mode: legacy rows without a wrapped key),
   * read or encrypted on their write; 0 otherwise.
   */
  readonly rowsPlaintext: number
  /** Primary keys of the rows counted in `rowsPlaintext`; empty when there were none. */
  readonly plaintextRowIds: readonly string[]
  /** Who made the call, from the `context` option (e.g. a JWT subject); null without one. */
  readonly actor: string | null
  /** A request id, from the `context` option; null without one. */
  readonly requestId: string | null
  readonly durationMs: number
}

/**
 * Options of {@link auditTrail}.
 *
 * @example
 * ```ts
 * const requests = new AsyncLocalStorage<{ user: string; id: string }>()
 * auditTrail(write, { context: () => ({ actor: requests.getStore()?.user, requestId: requests.getStore()?.id }) })
 * ```
 */
export interface AuditTrailOptions {
  /**
   * Called once per event, synchronously in the async context of the query, so it can read your
   * own request context (an `AsyncLocalStorage`) to say who made the call.
   */
  readonly context?: () => { readonly actor?: string; readonly requestId?: string } | undefined
  /**
   * Receives an exception thrown (or a rejection returned) by `onAudit` or `context`. An audit
   * failure never fails the query; by default it is dropped, so give a handler that alerts.
   */
  readonly onError?: (error: unknown) => void
}

/**
 * An observer that turns every guarded operation, denied and failed ones included, into one
 * {@link AuditEvent} for `onAudit`. Pass it to `rowcrypt({ observers })`. Calls on models that
 * neither are tenant-scoped nor reach one are not guarded and not audited; rowcrypt's own internal
 * reads (the key read of an update) are part of the call that caused them.
 *
 * @example
 * ```ts
 * import { createWriteStream } from 'node:fs'
 * const log = createWriteStream('audit.jsonl', { flags: 'a' })
 * const audit = auditTrail((event) => { log.write(JSON.stringify(event) + '\n') }, { onError: alertOps })
 * const prisma = base.$extends(rowcrypt({ schema, keyProvider, models, observers: [audit] }))
 * ```
 */
export function auditTrail(onAudit: (event: AuditEvent) => void | PromiseLike<void>, options: AuditTrailOptions = {}): RowcryptObserver {
  const { context, onError } = options
  const report = (e: unknown) => {
    try {
      onError?.(e)
    } catch {
      // An error handler's own failure has nowhere left to go.
    }
  }
  return {
    operation(event: OperationEvent): void {
      try {
        const ctx = context?.()
        const result = onAudit(toAuditEvent(event, ctx?.actor, ctx?.requestId))
        if (result !== undefined && typeof result.then === 'function') result.then(undefined, report)
      } catch (e) {
        report(e)
      }
    },
  }
}

/** @internal Maps an operation event to its audit record, copying only the audit fields. */
export function toAuditEvent(event: OperationEvent, actor?: string, requestId?: string): AuditEvent {
  return {
    time: event.time.toISOString(),
    operation: event.operation,
    model: event.model,
    tenantId: event.tenantId ?? null,
    bypass: event.bypass,
    outcome: event.outcome,
    errorCode: event.errorCode ?? null,
    rowCount: event.rowCount ?? null,
    rowIds: event.rowIds === undefined ? null : [...event.rowIds],
    targetId: event.targetId ?? null,
    rowsPlaintext: event.rowsPlaintext ?? 0,
    plaintextRowIds: event.plaintextRowIds === undefined ? [] : [...event.plaintextRowIds],
    actor: typeof actor === 'string' ? actor : null,
    requestId: typeof requestId === 'string' ? requestId : null,
    durationMs: event.durationMs,
  }
}
