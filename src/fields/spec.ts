// Normalized, Prisma-free description of what to encrypt in each model. Built once at setup so
// the hot path only does map lookups.
import type { ValueType } from '../envelope/ciphertext'
import { ConfigError } from '../errors'
import type { FieldStorage } from './storage'

/** Names of a scoped model's sidecar columns. */
export interface SidecarColumns {
  /** Bytes column holding the row's wrapped data key. Default `wrappedDek`. */
  wrappedDek: string
  /** String column holding the key version that wrapped it. Default `keyVersion`. */
  keyVersion: string
  /** String column holding the owning tenant. Default `tenantId`. */
  tenantId: string
}

export const DEFAULT_COLUMNS: SidecarColumns = Object.freeze({ wrappedDek: 'wrappedDek', keyVersion: 'keyVersion', tenantId: 'tenantId' })

/**
 * How a searchable field's value is normalized before its blind index is computed: `none`,
 * `lowercase`, `trim`, `lowercase-trim` (both), or your own function (it must be deterministic).
 */
export type Normalizer = 'none' | 'lowercase' | 'trim' | 'lowercase-trim' | ((value: string) => string)

/** A searchable field's blind index: where it is stored and how it is computed. */
export interface BlindIndexSpec {
  /** The String column holding the index. */
  readonly column: string
  /** Bits of HMAC-SHA256 kept (256 = the whole MAC). Fewer bits: more false positives, less linkability. */
  readonly bits: number
  readonly normalize: (value: string) => string
}

/** One encrypted field: its name and how its plaintext is encoded. */
export interface FieldSpec {
  readonly name: string
  readonly type: ValueType
  /** The kind of column the ciphertext is stored in: String (`text`), Json or Bytes. */
  readonly storage: FieldStorage
  /** Set for searchable fields (keyed blind index for equality search). */
  readonly index?: BlindIndexSpec
}

/**
 * How an encrypted field is declared: a name (a String value), or an object with a value type
 * and, for String values, a blind index for equality search.
 *
 * @example
 * ```ts
 * const fields: FieldDeclaration[] = [
 *   { name: 'email', searchable: true, normalize: 'lowercase-trim' }, // index in column emailIndex
 *   { name: 'ssn', searchable: true, indexColumn: 'ssnIdx', indexBits: 16 }, // truncated
 *   { name: 'prefs', type: 'json' },
 * ]
 * ```
 */
export type FieldDeclaration<F extends string = string> =
  | F
  | {
      name: F
      type?: ValueType
      /** Keep a keyed blind index of the value so `where` can test equality. String fields only. */
      searchable?: boolean
      /** How the value is normalized before indexing (default `none`). Needs `searchable`. */
      normalize?: Normalizer
      /** The index column (default `<name>Index`). Needs `searchable`. */
      indexColumn?: string
      /** Truncate the index to this many bits, 8 to 256 (default 256, no truncation). Needs `searchable`. */
      indexBits?: number
    }

/** Per-model settings accepted by `RowLevelEncryption` (and, typed, by `rowcrypt()`). */
export interface ModelEncryptionConfig<F extends string = string> {
  /** Fields to encrypt: `['email', { name: 'prefs', type: 'json' }]`. */
  fields: ReadonlyArray<FieldDeclaration<F>>
  /** Sidecar column names, when they differ from the defaults. */
  columns?: Partial<SidecarColumns>
  /** A single-column primary key to bind into each row's key context when known at write time. */
  idField?: string
  /**
   * Existing plaintext data: a row without a wrapped data key whose id satisfies `legacyIds` is
   * read as plaintext (and encrypted on its next write by the extension). Any other row without a
   * key is an error (`ERR_ROWCRYPT_CIPHERTEXT_FORMAT`), as without `migrating`. Needs `idField`.
   * Off by default.
   */
  migrating?: false | MigratingOptions
}

/**
 * Migrating mode: which rows may still be plaintext. Nothing in the database can show that a row
 * was never encrypted, so the set of rows written before encryption was turned on is fixed here,
 * by primary key, at cutover. Rows written through rowcrypt after it must not satisfy it.
 *
 * @example
 * ```ts
 * const migrating: MigratingOptions = { legacyIds: (id) => Number(id) <= 104_233 } // the largest id at cutover
 * const fromExport: MigratingOptions = { legacyIds: (id) => legacy.has(String(id)) } // a Set of uuids exported at cutover
 * ```
 */
export interface MigratingOptions {
  /** True for the id of a row that existed before cutover (and so may still be plaintext). */
  legacyIds: (id: string | number | bigint) => boolean
}

/** The normalized model description. */
export interface ModelSpec {
  readonly name: string
  readonly fields: ReadonlyMap<string, FieldSpec>
  /** The same fields in declaration order, as an array (walked per row without an iterator). */
  readonly fieldList: readonly FieldSpec[]
  /** The searchable fields (those with a blind index). */
  readonly indexed: readonly FieldSpec[]
  readonly columns: SidecarColumns
  readonly idField: string | undefined
  /** Migrating mode: rows without a wrapped key whose id satisfies `legacyIds` read as plaintext. */
  readonly migrating: boolean
  /** Set in migrating mode: the ids of the rows that existed before cutover. */
  readonly legacyIds?: (id: string | number | bigint) => boolean
}

const VALUE_TYPES: ReadonlySet<string> = new Set(['string', 'json', 'bytes'])

/**
 * Validates and normalizes one model's declaration. `storageOf` names the column kind of each field
 * (default: String columns); a Json column holds JSON values, a Bytes column bytes.
 */
export function buildModelSpec(name: string, config: ModelEncryptionConfig, storageOf: (field: string) => FieldStorage = () => 'text'): ModelSpec {
  if (config === null || typeof config !== 'object' || !Array.isArray(config.fields)) {
    throw new ConfigError(`model ${name}: "fields" must be an array of field names`)
  }
  const fields = new Map<string, FieldSpec>()
  for (const decl of config.fields) {
    const fieldName = typeof decl === 'string' ? decl : decl?.name
    if (typeof fieldName !== 'string' || fieldName === '') throw new ConfigError(`model ${name}: every field needs a name`)
    const storage = storageOf(fieldName)
    const implied = storage === 'text' ? 'string' : storage
    const type = typeof decl === 'string' ? implied : (decl?.type ?? implied)
    if (!VALUE_TYPES.has(type)) throw new ConfigError(`model ${name}, field ${fieldName}: unsupported value type "${String(type)}" (use string, json or bytes)`)
    if (storage !== 'text' && type !== storage) throw new ConfigError(`model ${name}, field ${fieldName}: a ${storage === 'json' ? 'Json' : 'Bytes'} column holds ${storage} values, not ${type}`)
    if (fields.has(fieldName)) throw new ConfigError(`model ${name}: field ${fieldName} is listed twice`)
    const index = typeof decl === 'string' ? undefined : blindIndexSpec(name, fieldName, type, decl)
    fields.set(fieldName, Object.freeze(index === undefined ? { name: fieldName, type, storage } : { name: fieldName, type, storage, index }))
  }
  if (fields.size === 0) throw new ConfigError(`model ${name}: no fields to encrypt`)
  const columns: SidecarColumns = { ...DEFAULT_COLUMNS, ...stripUndefined(config.columns ?? {}) }
  const used = new Set<string>()
  for (const [role, column] of Object.entries(columns)) {
    if (typeof column !== 'string' || column === '') throw new ConfigError(`model ${name}: sidecar column for ${role} must be a name`)
    if (fields.has(column)) throw new ConfigError(`model ${name}: ${column} cannot be both encrypted and a sidecar column`)
    if (used.has(column)) throw new ConfigError(`model ${name}: sidecar column ${column} is used twice`)
    used.add(column)
  }
  const indexed = [...fields.values()].filter((f) => f.index !== undefined)
  const legacyIds = legacyIdsOf(name, config)
  // Plaintext rows of a migrating model have no index yet: a search would silently miss them.
  if (indexed.length > 0 && legacyIds !== undefined) {
    throw new ConfigError(`model ${name}: searchable fields cannot be used with migrating; encrypt the existing rows first (encryptExistingRows), then add searchable and run rotate --reindex`)
  }
  for (const f of indexed) {
    const column = f.index!.column
    if (fields.has(column) || used.has(column)) throw new ConfigError(`model ${name}: index column ${column} of ${f.name} cannot also be an encrypted field or another index or sidecar column`)
    used.add(column)
  }
  if (config.idField !== undefined && (fields.has(config.idField) || used.has(config.idField))) {
    throw new ConfigError(`model ${name}: the id field ${config.idField} cannot be encrypted or a sidecar column`)
  }
  const spec = { name, fields, fieldList: Object.freeze([...fields.values()]), indexed: Object.freeze(indexed), columns: Object.freeze(columns), idField: config.idField }
  return Object.freeze(legacyIds === undefined ? { ...spec, migrating: false } : { ...spec, migrating: true, legacyIds })
}

// The legacy set of migrating mode. `migrating: true` is refused: it would read any row whose key
// was removed at rest as plaintext, also one rowcrypt encrypted.
function legacyIdsOf(name: string, config: ModelEncryptionConfig): MigratingOptions['legacyIds'] | undefined {
  const m: unknown = config.migrating
  if (m === undefined || m === false) return undefined
  if (m === true) {
    throw new ConfigError(
      `model ${name}: migrating: true is no longer accepted; name the rows that existed before encryption was turned on: migrating: { legacyIds: (id) => id <= <largest id at cutover> }`,
    )
  }
  const legacyIds = (m as Partial<MigratingOptions> | null)?.legacyIds
  if (typeof m !== 'object' || typeof legacyIds !== 'function') throw new ConfigError(`model ${name}: migrating must be false or { legacyIds: (id) => boolean }`)
  if (config.idField === undefined) throw new ConfigError(`model ${name}: migrating needs a single-column primary key (legacy rows are named by id)`)
  return legacyIds
}

const NORMALIZERS: Readonly<Record<string, (value: string) => string>> = {
  none: (v) => v,
  lowercase: (v) => v.toLowerCase(),
  trim: (v) => v.trim(),
  'lowercase-trim': (v) => v.trim().toLowerCase(),
}

function blindIndexSpec(model: string, field: string, type: string, decl: Exclude<FieldDeclaration, string>): BlindIndexSpec | undefined {
  const at = `model ${model}, field ${field}`
  if (decl.searchable !== true) {
    if (decl.searchable !== undefined && decl.searchable !== false) throw new ConfigError(`${at}: "searchable" must be true or false`)
    for (const option of ['normalize', 'indexColumn', 'indexBits'] as const) {
      if (decl[option] !== undefined) throw new ConfigError(`${at}: "${option}" needs searchable: true`)
    }
    return undefined
  }
  if (type !== 'string') throw new ConfigError(`${at}: only string fields can be searchable`)
  const column = decl.indexColumn ?? `${field}Index`
  if (typeof column !== 'string' || column === '') throw new ConfigError(`${at}: "indexColumn" must be a column name`)
  const bits = decl.indexBits ?? 256
  if (!Number.isInteger(bits) || bits < 8 || bits > 256) throw new ConfigError(`${at}: "indexBits" must be an integer from 8 to 256`)
  const n = decl.normalize ?? 'none'
  const normalize = typeof n === 'function' ? n : Object.hasOwn(NORMALIZERS, n) ? NORMALIZERS[n] : undefined
  if (normalize === undefined) throw new ConfigError(`${at}: "normalize" must be none, lowercase, trim, lowercase-trim or a function`)
  return Object.freeze({ column, bits, normalize })
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
