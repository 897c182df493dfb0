// The tenant situation of one call: who it runs for, and what its filters asked of the blind
// indexes. Built once per call by the query path and passed down to every part of it.
import type { IndexSession } from '../fields/blind-index'
import type { RowKey } from '../fields/row'
import type { FieldSpec, ModelSpec } from '../fields/spec'
import type { CallStats } from '../metrics/observer'
import { TenantMissingError } from '../errors'
import { currentScope } from '../tenant/context'

/** A truncated blind index used in a filter: rows it returns are re-checked on their plaintext. */
export interface Recheck {
  readonly field: FieldSpec
  /** The normalized values the field may have. */
  readonly accept: ReadonlySet<string>
  /**
   * Untruncated index: a row that does not meet the condition cannot be a collision, only a
   * tampered index column (copied from another row), and fails closed. Truncated: a false positive.
   */
  readonly strict: boolean
}

/** The tenant situation of one call. */
export class Scope {
  /** The tenant's blind-index keys, when the call's filters search encrypted fields. */
  declare idx: IndexSession | undefined
  /** Which version a unique search (findUnique by a searchable field) uses: an index into idx.versions. */
  declare uniqueVersion: number
  /** Truncated-index conditions of the top-level `where`, checked after decryption. */
  declare rechecks: Recheck[]
  /** String values this call encrypted, by header + IV (`writtenKey`): the result gets them back without decryption. */
  declare written: Map<string, WrittenValue> | undefined
  /** False when the call's result holds no rows (createMany: a count), so nothing is recorded in `written`. */
  declare resultRows: boolean
  /**
   * The key of the row an update just wrote, still open while its result is read, so the result
   * decrypts without a second unwrap (`RowKey.isKeyOf` decides which row it may decrypt).
   */
  declare lent: RowKey | undefined
  /** Rows whose keys this call has remembered (engine/known-keys.ts bounds them per call). */
  declare keysRemembered: number
  declare readonly tenantId: string | undefined
  declare readonly bypass: boolean
  declare readonly stats: CallStats
  /** The client's default `omit` per model (`QueryIO.globallyOmitted`). */
  declare readonly globallyOmitted: (model: string) => ReadonlySet<string> | undefined

  // Fields are declared only (`declare`: no class field definitions emitted) and set here by plain
  // assignment: one Scope is made per call, and V8's field definitions were measurably slower.
  constructor(tenantId: string | undefined, bypass: boolean, stats: CallStats, globallyOmitted: (model: string) => ReadonlySet<string> | undefined) {
    this.idx = undefined
    this.uniqueVersion = 0
    this.rechecks = []
    this.written = undefined
    this.resultRows = true
    this.lent = undefined
    this.keysRemembered = 0
    this.tenantId = tenantId
    this.bypass = bypass
    this.stats = stats
    this.globallyOmitted = globallyOmitted
  }

  static current(stats: CallStats, globallyOmitted: (model: string) => ReadonlySet<string> | undefined): Scope {
    shapeHolder ??= new Scope(undefined, false, { rowsEncrypted: 0, rowsDecrypted: 0, rowsPlaintext: 0 }, omitsNothing)
    const s = currentScope()
    return new Scope(s?.tenantId, s?.bypass !== undefined, stats, globallyOmitted)
  }

  /** Keeps `key` open for the call's result (see `lent`), disposing of one lent before. */
  lend(key: RowKey): void {
    if (this.lent !== key) this.lent?.dispose()
    this.lent = key
  }

  /** Disposes of the lent key, if any. */
  release(): void {
    this.lent?.dispose()
    this.lent = undefined
  }

  /** Fails closed: a scoped model outside withTenant (and outside an explicit bypass). */
  require(model: string): void {
    if (this.tenantId === undefined && !this.bypass) {
      throw new TenantMissingError(`model ${model} is tenant-scoped: run the query inside withTenant(tenantId, fn)`)
    }
  }
}

/** A string value a call encrypted: which row key, field and tenant it was written for, and its plaintext. */
export interface WrittenValue {
  readonly ciphertext: string
  readonly spec: ModelSpec
  readonly field: string
  readonly tenantId: string
  readonly rowLabel: string | undefined
  readonly wrappedDek: Uint8Array
  readonly keyVersion: string
  readonly plaintext: string
}

// V8 keeps the hidden class (map) that Scopes end up with only while some object has it, and a
// Scope lives for one call. With none alive at a full collection, the map is collected and the
// optimized code that depended on it discarded, to run unoptimized until V8 compiled it again.
// This placeholder (no tenant, never used for a call) keeps the map alive.
let shapeHolder: Scope | undefined

function omitsNothing(): undefined {
  return undefined
}
