// Normalized, Prisma-free description of what to encrypt in each model. Built once at setup so
// the hot path only does map lookups.
import type { ValueType } from '../envelope/ciphertext'
import { ConfigError } from '../errors'

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

/** One encrypted field: its name and how its plaintext is encoded. */
export interface FieldSpec {
  readonly name: string
  readonly type: ValueType
}

/** How an encrypted field is declared: a name (a String value) or a name with a value type. */
export type FieldDeclaration<F extends string = string> = F | { name: F; type?: ValueType }

/** Per-model settings accepted by `RowLevelEncryption` (and, typed, by `rowcrypt()`). */
export interface ModelEncryptionConfig<F extends string = string> {
  /** Fields to encrypt: `['email', { name: 'prefs', type: 'json' }]`. */
  fields: ReadonlyArray<FieldDeclaration<F>>
  /** Sidecar column names, when they differ from the defaults. */
  columns?: Partial<SidecarColumns>
  /** A single-column primary key to bind into each row's key context when known at write time. */
  idField?: string
  /**
   * Existing plaintext data: rows without a wrapped data key are read as plaintext (and encrypted
   * on their next write by the extension). Off by default: such a row is an error.
   */
  migrating?: boolean
}

/** The normalized model description. */
export interface ModelSpec {
  readonly name: string
  readonly fields: ReadonlyMap<string, FieldSpec>
  readonly columns: SidecarColumns
  readonly idField: string | undefined
  readonly migrating: boolean
}

const VALUE_TYPES: ReadonlySet<string> = new Set(['string', 'json', 'bytes'])

/** Validates and normalizes one model's declaration. */
export function buildModelSpec(name: string, config: ModelEncryptionConfig): ModelSpec {
  if (config === null || typeof config !== 'object' || !Array.isArray(config.fields)) {
    throw new ConfigError(`model ${name}: "fields" must be an array of field names`)
  }
  const fields = new Map<string, FieldSpec>()
  for (const decl of config.fields) {
    const spec: FieldSpec = typeof decl === 'string' ? { name: decl, type: 'string' } : { name: decl?.name, type: decl?.type ?? 'string' }
    if (typeof spec.name !== 'string' || spec.name === '') throw new ConfigError(`model ${name}: every field needs a name`)
    if (!VALUE_TYPES.has(spec.type)) throw new ConfigError(`model ${name}, field ${spec.name}: unsupported value type "${String(spec.type)}" (use string, json or bytes)`)
    if (fields.has(spec.name)) throw new ConfigError(`model ${name}: field ${spec.name} is listed twice`)
    fields.set(spec.name, Object.freeze(spec))
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
  if (config.idField !== undefined && (fields.has(config.idField) || used.has(config.idField))) {
    throw new ConfigError(`model ${name}: the id field ${config.idField} cannot be encrypted or a sidecar column`)
  }
  return Object.freeze({ name, fields, columns: Object.freeze(columns), idField: config.idField, migrating: config.migrating === true })
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
