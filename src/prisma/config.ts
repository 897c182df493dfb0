// Options of rowcrypt(), typed against the generated manifest and validated against it once at
// setup. The result is a per-model table, so the query path only does map lookups.
import { ConfigError } from '../errors'
import type { BlindIndexOptions } from '../fields/blind-index'
import type { FieldStorage } from '../fields/storage'
import { buildModelSpec, type FieldDeclaration, type FieldSpec, type MigratingOptions, type ModelSpec, type SidecarColumns } from '../fields/spec'
import type { KeyProvider } from '../keys/provider'
import type { RowcryptObserver } from '../metrics/observer'
import { idGenerator } from './ids'
import type { Manifest, ManifestModel } from './manifest'
import type { RlsOptions } from './rls'

type FieldsOf<MM> = MM extends { fields: infer F } ? F : never
type NamesWhere<MM, Cond> = { [K in keyof FieldsOf<MM>]: FieldsOf<MM>[K] extends Cond ? K : never }[keyof FieldsOf<MM>] & string

/** The String columns of a model: what can be encrypted, or hold `keyVersion` / `tenantId`. */
export type StringFieldOf<MM> = NamesWhere<MM, { kind: 'scalar'; type: 'String'; isList: false }>
/** The Bytes columns of a model: what can hold `wrappedDek`. */
export type BytesFieldOf<MM> = NamesWhere<MM, { kind: 'scalar'; type: 'Bytes'; isList: false }>
/** The columns a model can encrypt: String, Json and Bytes. */
export type EncryptableFieldOf<MM> = NamesWhere<MM, { kind: 'scalar'; type: 'String' | 'Json' | 'Bytes'; isList: false }>

/** Per-model settings of `rowcrypt()`, with field names checked against the schema. */
export interface RowcryptModelConfig<MM = ManifestModel> {
  /**
   * Fields to encrypt: `String`, `Json` or `Bytes` columns, each holding the value type of its
   * column (a `Json` column JSON values, a `Bytes` column bytes, typed as Prisma types them). A
   * name, or `{ name, searchable: true, normalize?, indexColumn?, indexBits? }` for equality search
   * of a String field through a keyed blind index (see `blindIndex`). `{ name, type: 'json' |
   * 'bytes' }` stores such values in a String column.
   */
  fields?: ReadonlyArray<FieldDeclaration<EncryptableFieldOf<MM>>>
  /**
   * Sidecar column names, when they differ from `wrappedDek`, `keyVersion`, `tenantId`. A model
   * without encrypted fields (`fields` empty or absent) is tenant-scoped only and needs only the
   * tenant column.
   */
  columns?: { wrappedDek?: BytesFieldOf<MM>; keyVersion?: StringFieldOf<MM>; tenantId?: StringFieldOf<MM> }
  /**
   * Existing plaintext data. `legacyIds` names, by primary key, the rows that existed at cutover
   * (`(id) => Number(id) <= 104_233`, the largest id then; or a `Set` of exported uuids): such a
   * row without a wrapped key is read as plaintext and encrypted on its next write (see
   * `encryptExistingRows`). Any other row without a key is an error, as without `migrating`. Needs
   * a single-column primary key. A database writer can still put plaintext of their choosing into a
   * legacy row while this is on: remove it once `encryptExistingRows` has finished.
   */
  migrating?: false | MigratingOptions
  /**
   * Refuse, at `rowcrypt()`, this model when its rows cannot all be bound to their id; overrides
   * the top-level {@link RowcryptOptions.requireRowBinding} for this model (`false` exempts it).
   */
  requireRowBinding?: boolean
}

/**
 * How the rows of a model with encrypted fields are bound to their primary key (the id is part of
 * the data key's binding context, so one row's encrypted columns copied onto another row fail to
 * decrypt there). `'generated'`: rowcrypt makes the id before the insert, exactly as Prisma would
 * (`uuid()`, `uuid(7)`, `cuid()`, `cuid(2)`, `ulid()`, `nanoid()`, `nanoid(n)`), unless the create
 * gives one: every row is bound. `'supplied'`: the id has no default, so every create gives it:
 * every row is bound. `'unbound'`: the id is known only after the insert (`autoincrement()`,
 * `dbgenerated(...)`, `sequence()`) or is not a single column: only rows whose create gives the
 * id are bound.
 *
 * @example
 * ```ts
 * if (prisma.$rowcrypt().models.User?.rowBinding === 'unbound') log.warn('User rows are not bound to their id')
 * ```
 */
export type RowBinding = 'generated' | 'supplied' | 'unbound'

/**
 * Options of {@link rowcrypt}.
 *
 * @example
 * ```ts
 * import { manifest } from './generated/rowcrypt'
 * const options: RowcryptOptions<typeof manifest> = {
 *   schema: manifest,
 *   keyProvider: new LocalKeyProvider({ keys: { v1: key }, activeVersion: 'v1' }),
 *   models: { User: { fields: ['email', 'ssn'] } },
 * }
 * ```
 */
export interface RowcryptOptions<M extends Manifest = Manifest> {
  /** The manifest written by `rowcrypt-generator` for this client's schema. */
  schema: M
  /** Holder of the key-encryption keys. */
  keyProvider: KeyProvider
  /**
   * The tenant-scoped models: with `fields`, their encrypted fields; with none (`{}`), scoped only
   * (every query confined to the tenant, no keys).
   */
  models: { [K in keyof M['models']]?: RowcryptModelConfig<M['models'][K]> | RowcryptViewConfig<keyof M['models'] & string> }
  /** Receivers of operation events (metrics, stats, audit). None by default. */
  observers?: readonly RowcryptObserver[]
  /**
   * PostgreSQL row-level security as a second wall (PostgreSQL only; a `ConfigError` elsewhere):
   * every query that can reach a scoped table, rowcrypt's own reads and every raw query run with
   * the tenant set in the database, for the policies printed by `npx rowcrypt rls sql`: pinned
   * per pooled connection when the client's driver adapter is wrapped with `withRlsPinning`, else
   * by `set_config(..., true)` in a transaction around each query (`RlsOptions.pinning` chooses one
   * way for good). Off by default. See docs/rls.md.
   */
  rls?: boolean | RlsOptions
  /**
   * Required when a field is `searchable`: the key version its blind indexes derive from (pinned,
   * so a data-key rotation does not change them), and older versions searches still try while
   * `npx rowcrypt rotate --reindex` runs.
   */
  blindIndex?: BlindIndexOptions
  /**
   * How tenant ids reach the database. `'any'` (default): any well-formed string; before the first
   * query on a scoped model, rowcrypt checks once that every scoped model's tenant column compares
   * bytes, and refuses to run (`ConfigError`, naming the column, its collation and the migration
   * that fixes it) when the database could take distinct tenant ids for one (MySQL/MariaDB's default
   * collations, a non-deterministic PostgreSQL collation, SQLite `COLLATE NOCASE`). `'canonical'`,
   * for a database whose collation cannot be changed: the check is skipped, and every tenant id a
   * call uses (`withTenant`, and `data` of creates inside `unsafeBypassTenantScope`) must be 1 to 128
   * lowercase ASCII letters and digits with `-` and `_` inside, else `InvalidTenantError` before any SQL.
   */
  tenantIds?: 'any' | 'canonical'
  /**
   * Views (`view` blocks) that deliberately show rows of every tenant. Any other view with a column
   * named like a scoped model's tenant column must be declared in `models` (`{ viewOf: 'Model' }`),
   * or `rowcrypt()` refuses the configuration: an undeclared view would read other tenants' rows.
   */
  unscopedViews?: ReadonlyArray<keyof M['models'] & string>
  /**
   * Refuse (`ConfigError`, at `rowcrypt()`) every model with encrypted fields whose rows cannot all
   * be bound to their id: an id known only after the insert (`autoincrement()`, `dbgenerated(...)`,
   * `sequence()`), a composite primary key or none (see {@link RowBinding}). A model's own
   * `requireRowBinding` overrides this. With it, a create that leaves such a model's id to the
   * database is refused too. Off by default.
   */
  requireRowBinding?: boolean
}

/** The `models` option of {@link rowcrypt} for the schema of manifest `M`. */
export type RowcryptModels<M extends Manifest = Manifest> = RowcryptOptions<M>['models']

/**
 * Checks a `models` map kept in a constant of its own (shared by the application and its
 * `rowcrypt.config.ts`) against the schema: model, field and column names are type-checked where
 * the map is written, and the constant passes to `rowcrypt()` as it is, without `as const`.
 *
 * @example
 * ```ts
 * import { manifest } from './generated/rowcrypt/index.js'
 * export const models = defineModels(manifest, {
 *   User: { fields: ['email', 'ssn', 'prefs'] },
 *   Project: {},
 * })
 * const prisma = base.$extends(rowcrypt({ schema: manifest, keyProvider, models }))
 * ```
 */
export function defineModels<M extends Manifest, const T extends RowcryptModels<M>>(schema: M, models: T): T {
  void schema
  return models
}

/**
 * A view that shows a scoped model's rows (same column names for the tenant, the sidecars, the id
 * and the encrypted fields it exposes): confined to the tenant and decrypted as that model, read-only.
 *
 * @example
 * ```ts
 * models: { User: { fields: ['email'] }, ActiveUser: { viewOf: 'User' } }
 * ```
 */
export interface RowcryptViewConfig<N extends string = string> {
  viewOf: N
}

/** @internal One relation field. `fromFields`/`toFields` are set on the side holding the foreign key. */
export interface RelationInfo {
  readonly target: string
  readonly isList: boolean
  readonly fromFields: readonly string[]
  readonly toFields: readonly string[]
  /**
   * One row on each side at most: a to-one back relation (the foreign key sits on the target), or
   * a to-one whose foreign key is unique on this model. Prisma keeps such a pair exclusive by
   * disconnecting the slot's previous holder when another row takes it.
   */
  readonly oneToOne: boolean
}

/** @internal A scalar (or enum) column, as the query walk needs to know it. */
export interface ScalarInfo {
  readonly type: string
  readonly isList: boolean
}

/** @internal What the query path knows about one model. */
export interface ModelInfo {
  readonly name: string
  /** Set when the model is tenant-scoped and has encrypted fields. */
  readonly spec: ModelSpec | undefined
  /** The single-column primary key, if any. */
  readonly idField: string | undefined
  /** For a view declared as showing a scoped model's rows: that model (read-only; bound and decrypted as it). */
  readonly viewOf: string | undefined
  /** The column that confines the model to a tenant; undefined when the model is not tenant-scoped. */
  readonly tenantColumn: string | undefined
  /** Relation fields: target model and whether the relation is a list. */
  readonly relations: ReadonlyMap<string, RelationInfo>
  /** Scalar and enum fields. */
  readonly scalars: ReadonlyMap<string, ScalarInfo>
  /** Compound unique inputs (`tenantId_emailIndex`, a compound id's `a_b`) and their fields. */
  readonly compounds: ReadonlyMap<string, readonly string[]>
  /** Fields unique on their own (the single-column primary key included). */
  readonly uniqueFields: ReadonlySet<string>
  /** True when the model is scoped or a relation path leads to a scoped model. */
  readonly reachesScoped: boolean
  /** Makes a primary key for creates that omit it, when the schema default is one we can reproduce. */
  readonly makeId: (() => string) | undefined
  /** For a model with encrypted fields: how its rows are bound to their id. */
  readonly rowBinding: RowBinding | undefined
  /** A create whose row would not be bound to its id is refused (`requireRowBinding`). */
  readonly requireRowBinding: boolean
  /**
   * Searchable fields whose index column is unique (alone or with the tenant column): the key of
   * Prisma's unique input (`emailIndex` or `tenantId_emailIndex`) and its fields.
   */
  readonly indexUniques: ReadonlyMap<string, { readonly key: string; readonly fields: readonly string[] }>
  /** What every call on the model needs, worked out once here so that a call only looks it up. */
  readonly plan: ModelPlan
}

/**
 * @internal The per-model lists and selections the query path uses on every call, built once with
 * the table (the hot path is a lookup, not a rebuild). Frozen: calls copy before changing.
 */
export interface ModelPlan {
  /** The columns a decryption needs: wrapped key, key version, tenant and (when single) the id. Empty when unscoped. */
  readonly required: readonly string[]
  /** `required` as a Prisma `select`, for rowcrypt's own reads of a row's key. */
  readonly requiredSelect: Readonly<Record<string, true>>
  /** `required` and every encrypted field as a `select` (migrating mode: a row may still be plaintext). */
  readonly migratingSelect: Readonly<Record<string, true>>
  /** Columns a create may not set: the wrapped key, the key version and the blind-index columns. */
  readonly createManaged: readonly string[]
  /** Columns an update may not set: those, the tenant column and the id. */
  readonly updateManaged: readonly string[]
  /** The encrypted fields, in declaration order. */
  readonly fields: readonly FieldSpec[]
  /** The list relations (what `_count: true` counts). */
  readonly listRelations: readonly string[]
  /**
   * rowcrypt's own columns (wrapped key, key version, tenant column, blind-index columns): left out
   * of results unless a call selects them (`select`, or `omit: { column: false }`).
   */
  readonly hidden: readonly string[]
  /** Relations whose foreign key this model holds and whose target is scoped: a write setting them is checked. */
  readonly foreignKeys: ReadonlyArray<{ readonly name: string; readonly relation: RelationInfo; readonly target: ScopedTarget }>
}

/** @internal A scoped model a foreign key points into: its name and tenant column. */
export interface ScopedTarget {
  readonly name: string
  readonly tenantColumn: string
}

/** @internal Validates options against the manifest and builds the per-model table. */
export function buildModelTable(options: RowcryptOptions): Map<string, ModelInfo> {
  if (options === null || typeof options !== 'object') throw new ConfigError('rowcrypt() needs an options object')
  const manifest = options.schema
  if (manifest === null || typeof manifest !== 'object' || manifest.version !== 1 || typeof manifest.models !== 'object') {
    throw new ConfigError('rowcrypt(): "schema" must be the manifest written by rowcrypt-generator (import { manifest } from its output)')
  }
  if (typeof options.keyProvider?.unwrapDataKey !== 'function') {
    throw new ConfigError('rowcrypt(): a keyProvider is required')
  }
  if (options.models === null || typeof options.models !== 'object' || Object.keys(options.models).length === 0) {
    throw new ConfigError('rowcrypt(): "models" must name at least one model')
  }
  const requireAll = optionalBoolean(options.requireRowBinding, 'rowcrypt(): requireRowBinding')
  const specs = new Map<string, ModelSpec>()
  const bindings = new Map<string, { binding: RowBinding; makeId: (() => string) | undefined; required: boolean }>()
  const tenantColumns = new Map<string, string>()
  for (const [name, config] of Object.entries(options.models)) {
    if (config === undefined) continue
    const model = own(manifest.models, name)
    if (model === undefined) throw new ConfigError(`rowcrypt(): unknown model ${name}`)
    const idField = model.primaryKey.length === 1 ? model.primaryKey[0] : undefined
    const declared = config as RowcryptModelConfig
    if (declared === null || typeof declared !== 'object') throw new ConfigError(`rowcrypt(): model ${name}: its settings must be an object`)
    if ('viewOf' in declared) continue
    if (declared.fields === undefined || (Array.isArray(declared.fields) && declared.fields.length === 0)) {
      tenantColumns.set(name, scopeOnly(name, model, declared))
      continue
    }
    const spec = buildModelSpec(name, { ...declared, fields: declared.fields, idField }, (field) => storageOf(name, model, field))
    const c: SidecarColumns = spec.columns
    checkColumn(name, model, c.wrappedDek, 'Bytes', `sidecar column ${c.wrappedDek} (wrappedDek)`)
    checkColumn(name, model, c.keyVersion, 'String', `sidecar column ${c.keyVersion} (keyVersion)`)
    checkColumn(name, model, c.tenantId, 'String', `sidecar column ${c.tenantId} (tenantId)`)
    for (const f of spec.indexed) {
      const column = f.index!.column
      checkColumn(name, model, column, 'String', `index column ${column} of searchable field ${f.name}`)
      const unique = (model.uniques ?? []).find((u) => u.fields.includes(column))
      if (unique !== undefined && f.index!.bits < 256) {
        // Truncated indexes collide by design: a unique constraint would refuse distinct values.
        throw new ConfigError(`rowcrypt(): model ${name}: the index of ${f.name} is truncated (indexBits ${f.index!.bits}) and cannot be unique`)
      }
    }
    refuseForeignKeyColumns(name, model, [c.tenantId, idField])
    const { why, ...binding } = bindingOf(model, idField)
    const required = optionalBoolean(declared.requireRowBinding, `rowcrypt(): model ${name}: requireRowBinding`) ?? requireAll ?? false
    if (required && binding.binding === 'unbound') {
      throw new ConfigError(
        `rowcrypt(): model ${name} requires row binding, but ${why}, so its rows cannot be bound to their id: give it a single String id with @default(uuid(7)), @default(cuid(2)) (or uuid, cuid, ulid, nanoid), or no default and supply ids, or set requireRowBinding: false for ${name}`,
      )
    }
    bindings.set(name, { ...binding, required })
    specs.set(name, spec)
    tenantColumns.set(name, c.tenantId)
  }

  const table = new Map<string, ModelInfo>()
  const relationsOf = (m: ManifestModel) =>
    new Map<string, RelationInfo>(
      Object.entries(m.fields)
        .filter(([, f]) => f.kind === 'object')
        .map(([n, f]) => {
          const fromFields = f.relationFromFields ?? []
          const oneToOne = !f.isList && (fromFields.length === 0 || isUnique(m, fromFields))
          return [n, Object.freeze({ target: f.type, isList: f.isList, fromFields, toFields: f.relationToFields ?? [], oneToOne })]
        }),
    )
  const views = declaredViews(options, manifest, specs, tenantColumns)
  const reaches = reachability(manifest, new Set(tenantColumns.keys()))
  for (const [name, model] of Object.entries(manifest.models)) {
    const spec = specs.get(name)
    const relations = relationsOf(model)
    const tenantColumn = tenantColumns.get(name)
    const idField = model.primaryKey.length === 1 ? model.primaryKey[0] : undefined
    const view = views.get(name)
    table.set(name, {
      name,
      spec: spec ?? (view === undefined ? undefined : specs.get(view)),
      idField,
      viewOf: view,
      tenantColumn,
      relations,
      scalars: new Map(
        Object.entries(model.fields)
          .filter(([, f]) => f.kind !== 'object')
          .map(([n, f]) => [n, Object.freeze({ type: f.type, isList: f.isList })]),
      ),
      compounds: compoundsOf(model),
      uniqueFields: new Set([...(model.primaryKey.length === 1 ? model.primaryKey : []), ...(model.uniques ?? []).filter((u) => u.fields.length === 1).map((u) => u.fields[0]!)]),
      reachesScoped: reaches.has(name),
      makeId: bindings.get(name)?.makeId,
      rowBinding: bindings.get(name)?.binding,
      requireRowBinding: bindings.get(name)?.required ?? false,
      indexUniques: spec === undefined ? new Map() : indexUniques(spec, model),
      plan: modelPlan(spec ?? (view === undefined ? undefined : specs.get(view)), tenantColumn, idField, relations, tenantColumns, model),
    })
  }
  return table
}

/**
 * The views of the config (`{ viewOf: 'Model' }`), checked against the manifest: each shows the
 * rows of a configured model through columns of the same names, and takes its tenant column. Any
 * other view with a column named like a scoped model's tenant column is refused unless it is in
 * `unscopedViews`. Returns view name → model name; adds the views' tenant columns.
 */
function declaredViews(options: RowcryptOptions, manifest: Manifest, specs: ReadonlyMap<string, ModelSpec>, tenantColumns: Map<string, string>): Map<string, string> {
  const views = new Map<string, string>()
  for (const [name, config] of Object.entries(options.models)) {
    if (config === undefined || !('viewOf' in config)) continue
    const model = own(manifest.models, name)!
    const of = (config as RowcryptViewConfig).viewOf
    if (Object.keys(config).length !== 1) throw new ConfigError(`rowcrypt(): view ${name} takes only viewOf: its fields and columns are those of ${String(of)}`)
    if (model.isView !== true) throw new ConfigError(`rowcrypt(): ${name} is not a view of the schema (viewOf is for view blocks)`)
    const col = typeof of === 'string' && !views.has(of) ? tenantColumns.get(of) : undefined
    if (col === undefined) throw new ConfigError(`rowcrypt(): view ${name}: viewOf must name a scoped model of the config, not ${String(of)}`)
    const spec = specs.get(of)
    const needed = [col, ...(spec === undefined ? [] : [spec.columns.wrappedDek, spec.columns.keyVersion, ...(spec.idField === undefined ? [] : [spec.idField])])]
    for (const c of needed) {
      const f = own(model.fields, c)
      if (f === undefined || f.kind !== 'scalar') throw new ConfigError(`rowcrypt(): view ${name} of ${of} needs column ${c} (as in ${of}) to be confined and decrypted`)
    }
    views.set(name, of)
  }
  for (const [name, of] of views) tenantColumns.set(name, tenantColumns.get(of)!)
  const shared = new Set<string>(options.unscopedViews ?? [])
  const tenantColumnNames = new Set(tenantColumns.values())
  for (const [name, model] of Object.entries(manifest.models)) {
    if (model.isView !== true || tenantColumns.has(name) || shared.has(name)) continue
    const col = Object.keys(model.fields).find((f) => tenantColumnNames.has(f) && model.fields[f]!.kind === 'scalar')
    if (col !== undefined) {
      throw new ConfigError(`rowcrypt(): view ${name} has a tenant column (${col}) but is not in the config: declare it ({ ${name}: { viewOf: 'Model' } }) or list it in unscopedViews`)
    }
  }
  return views
}

// A model scoped without encrypted fields: it needs only its tenant column, a String that is not a
// foreign key (a relation could move the row to another tenant) nor the primary key.
function scopeOnly(name: string, model: ManifestModel, config: RowcryptModelConfig): string {
  for (const option of ['wrappedDek', 'keyVersion'] as const) {
    if (config.columns?.[option] !== undefined) throw new ConfigError(`rowcrypt(): model ${name} has no encrypted fields, so it has no ${option} column`)
  }
  if (config.migrating !== undefined && config.migrating !== false) throw new ConfigError(`rowcrypt(): model ${name} has no encrypted fields, so migrating does not apply`)
  if (config.requireRowBinding === true) throw new ConfigError(`rowcrypt(): model ${name} has no encrypted fields, so requireRowBinding does not apply`)
  const col = config.columns?.tenantId ?? 'tenantId'
  checkColumn(name, model, col, 'String', `tenant column ${col}`)
  refuseForeignKeyColumns(name, model, [col])
  return col
}

// A tenant column or bound id that is also a foreign key could be rewritten through the relation
// (`tenant: { connect: ... }`), moving a row to another tenant behind rowcrypt's back.
function refuseForeignKeyColumns(name: string, model: ManifestModel, columns: ReadonlyArray<string | undefined>): void {
  for (const [relName, f] of Object.entries(model.fields)) {
    for (const managed of columns) {
      if (managed !== undefined && f.relationFromFields?.includes(managed)) {
        throw new ConfigError(`rowcrypt(): model ${name}: ${managed} cannot be a foreign key of relation ${relName}`)
      }
    }
  }
}

// True when some unique constraint (or the primary key) lies within `fields`: then `fields` is unique too.
function isUnique(m: ManifestModel, fields: readonly string[]): boolean {
  const within = (u: readonly string[]) => u.length > 0 && u.every((f) => fields.includes(f))
  return within(m.primaryKey) || (m.uniques ?? []).some((u) => within(u.fields))
}

// Prisma's names for compound unique inputs: `@@unique(name: ...)` or the fields joined by `_`.
function compoundsOf(m: ManifestModel): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>()
  if (m.primaryKey.length > 1) out.set(m.primaryKey.join('_'), Object.freeze([...m.primaryKey]))
  for (const u of m.uniques ?? []) if (u.fields.length > 1) out.set(u.name ?? u.fields.join('_'), Object.freeze([...u.fields]))
  return out
}

/** @internal `cols` as a Prisma `select` (frozen: shared between calls). */
export function selectOf(cols: readonly string[]): Readonly<Record<string, true>> {
  return Object.freeze(Object.fromEntries(cols.map((c) => [c, true] as const)))
}

function modelPlan(
  spec: ModelSpec | undefined,
  tenantColumn: string | undefined,
  idField: string | undefined,
  relations: ReadonlyMap<string, RelationInfo>,
  tenantColumns: ReadonlyMap<string, string>,
  model: ManifestModel,
): ModelPlan {
  const required: string[] = []
  const createManaged: string[] = []
  const updateManaged: string[] = []
  if (spec === undefined && tenantColumn !== undefined) {
    // Scoped without encrypted fields: no keys, only the tenant (which a write cannot change).
    required.push(tenantColumn)
    if (idField !== undefined) required.push(idField)
    updateManaged.push(tenantColumn)
  }
  if (spec !== undefined) {
    const c = spec.columns
    required.push(c.wrappedDek, c.keyVersion, c.tenantId)
    if (spec.idField !== undefined) required.push(spec.idField)
    const indexColumns = spec.indexed.map((f) => f.index!.column)
    createManaged.push(c.wrappedDek, c.keyVersion, ...indexColumns)
    updateManaged.push(c.wrappedDek, c.keyVersion, c.tenantId, ...indexColumns)
    if (spec.idField !== undefined) updateManaged.push(spec.idField)
  }
  const fields: readonly FieldSpec[] = spec?.fieldList ?? []
  const foreignKeys: Array<{ name: string; relation: RelationInfo; target: ScopedTarget }> = []
  for (const [name, relation] of relations) {
    const col = tenantColumns.get(relation.target)
    if (relation.fromFields.length > 0 && col !== undefined) foreignKeys.push(Object.freeze({ name, relation, target: Object.freeze({ name: relation.target, tenantColumn: col }) }))
  }
  return Object.freeze({
    required: Object.freeze(required),
    requiredSelect: selectOf(required),
    migratingSelect: selectOf([...required, ...fields.map((f) => f.name)]),
    createManaged: Object.freeze(createManaged),
    updateManaged: Object.freeze(updateManaged),
    fields: Object.freeze(fields),
    listRelations: Object.freeze([...relations].filter(([, r]) => r.isList).map(([n]) => n)),
    hidden: Object.freeze(tenantColumn === undefined ? [] : hiddenColumns(spec, tenantColumn, model)),
    foreignKeys: Object.freeze(foreignKeys),
  })
}

// The columns rowcrypt manages that a model (or a view, which may show only some) has.
function hiddenColumns(spec: ModelSpec | undefined, tenantColumn: string, model: ManifestModel): string[] {
  const own = spec === undefined ? [] : [spec.columns.wrappedDek, spec.columns.keyVersion, ...spec.indexed.map((f) => f.index!.column)]
  return [...new Set([tenantColumn, ...own])].filter((c) => model.fields[c] !== undefined)
}

// A searchable field can be the target of findUnique when its index column is unique on its own
// or together with the tenant column (the usual `@@unique([tenantId, emailIndex])`).
function indexUniques(spec: ModelSpec, model: ManifestModel): Map<string, { key: string; fields: string[] }> {
  const out = new Map<string, { key: string; fields: string[] }>()
  for (const f of spec.indexed) {
    const column = f.index!.column
    for (const u of model.uniques ?? []) {
      const fits = u.fields.includes(column) && u.fields.every((x) => x === column || x === spec.columns.tenantId)
      if (fits) {
        out.set(f.name, { key: u.name ?? u.fields.join('_'), fields: [...u.fields] })
        break
      }
    }
  }
  return out
}

// The column kind of an encrypted field, checked: a String, Json or Bytes column, not a list or the id.
function storageOf(model: string, m: ManifestModel, field: string): FieldStorage {
  const f = own(m.fields, field)
  if (f === undefined) throw new ConfigError(`rowcrypt(): model ${model} has no encrypted field ${field}`)
  const kind = f.kind === 'scalar' && !f.isList ? own(STORAGE, f.type) : undefined
  if (kind === undefined) throw new ConfigError(`rowcrypt(): model ${model}: encrypted field ${field} must be a String, Json or Bytes column, not ${f.isList ? 'a list of ' : ''}${f.type}`)
  if (f.isId) throw new ConfigError(`rowcrypt(): model ${model}: encrypted field ${field} cannot be the primary key`)
  return kind
}

const STORAGE: Readonly<Record<string, FieldStorage>> = { String: 'text', Json: 'json', Bytes: 'bytes' }

function checkColumn(model: string, m: ManifestModel, field: string, type: 'String' | 'Bytes', what: string): void {
  const f = own(m.fields, field)
  if (f === undefined) throw new ConfigError(`rowcrypt(): model ${model} has no ${what}`)
  if (f.kind !== 'scalar' || f.type !== type || f.isList) {
    throw new ConfigError(`rowcrypt(): model ${model}: ${what} must be a ${type} column, not ${f.isList ? 'a list of ' : ''}${f.type}`)
  }
  if (f.isId) throw new ConfigError(`rowcrypt(): model ${model}: ${what} cannot be the primary key`)
}

function optionalBoolean(value: unknown, what: string): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw new ConfigError(`${what} must be true or false`)
  return value
}

// Own properties only: a model or field named `constructor` must not resolve through Object.prototype.
function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined
}

// Models from which a chain of relations leads to a scoped model (including scoped models).
function reachability(manifest: Manifest, scoped: Set<string>): Set<string> {
  const out = new Set(scoped)
  let changed = true
  while (changed) {
    changed = false
    for (const [name, model] of Object.entries(manifest.models)) {
      if (out.has(name)) continue
      if (Object.values(model.fields).some((f) => f.kind === 'object' && out.has(f.type))) {
        out.add(name)
        changed = true
      }
    }
  }
  return out
}

// Which of a scoped model's rows are bound to their id, from the id's default: rowcrypt makes the
// ids whose default it reproduces exactly (ids.ts); an id without a default is supplied by every
// create; any other id (autoincrement, dbgenerated, sequence, a composite key) is known only after
// the insert, and only rows whose create supplies it are bound.
function bindingOf(model: ManifestModel, idField: string | undefined): { binding: RowBinding; makeId: (() => string) | undefined; why: string } {
  if (idField === undefined) {
    const why = model.primaryKey.length > 1 ? `it has a composite primary key (${model.primaryKey.join(', ')})` : 'it has no single-column primary key'
    return { binding: 'unbound', makeId: undefined, why }
  }
  const f = own(model.fields, idField)!
  if (f.default === undefined) return { binding: 'supplied', makeId: undefined, why: '' }
  const makeId = f.type === 'String' ? idGenerator(f.default, f.defaultArgs) : undefined
  if (makeId !== undefined) return { binding: 'generated', makeId, why: '' }
  const args = (f.defaultArgs ?? []).map((a) => JSON.stringify(a)).join(', ')
  return { binding: 'unbound', makeId: undefined, why: `its id field ${idField} is @default(${f.default}(${args})), known only after the insert` }
}
