// The tables behind the configured models, for the raw SQL of rotation, status and verify. Raw SQL
// goes through the extended client (rowcrypt passes it through untouched; in RLS mode it runs with
// the admin setting of `unsafeBypassTenantScope`). Identifiers come from the generated manifest
// (`@@map` / `@map` names) and are quoted for the database; values are always parameters.
import { ConfigError } from '../errors'
import type { RowLevelEncryption } from '../fields/row'
import type { ModelSpec } from '../fields/spec'
import type { FieldStorage } from '../fields/storage'
import { ROWCRYPT_INTERNALS, type RowcryptInternals } from '../prisma/internals'
import type { Manifest } from '../prisma/manifest'
import { unsafeBypassTenantScope } from '../tenant/context'

/** The SQL dialects rotation speaks. */
export type Dialect = 'postgresql' | 'mysql' | 'sqlite'

/** @internal The raw-query surface of a Prisma client (extended or interactive-transaction client). */
export interface RawClient {
  $queryRawUnsafe(sql: string, ...values: unknown[]): PromiseLike<unknown>
  $executeRawUnsafe(sql: string, ...values: unknown[]): PromiseLike<number>
}

/** @internal The extended client as rotation uses it. */
export interface RotationClient extends RawClient {
  $rowcrypt(): { models: Record<string, unknown>; [ROWCRYPT_INTERNALS]?: RowcryptInternals }
  $transaction(fn: (tx: RawClient) => Promise<unknown>, options?: { isolationLevel?: string; timeout?: number; maxWait?: number }): Promise<unknown>
  [model: string]: unknown
}

/** @internal One model's table, with quoted identifiers, and the SQL pieces rotation needs. */
export interface ModelTarget {
  readonly model: string
  readonly spec: ModelSpec
  readonly idField: string
  readonly dialect: Dialect
  /** Quoted (and, where needed, schema-qualified) table name. */
  readonly table: string
  /** Quoted column names by role. */
  readonly id: string
  readonly wrappedDek: string
  readonly keyVersion: string
  readonly tenantId: string
  /** Encrypted fields: field name, quoted column, and how the column holds the ciphertext. */
  readonly fields: readonly TargetField[]
  /** Blind indexes of searchable fields: the field, the index column's field name and its quoted column. */
  readonly indexes: ReadonlyArray<{ readonly field: string; readonly name: string; readonly column: string }>
  /** The placeholder of the `n`th parameter (1-based). */
  param(n: number): string
  /** A null-safe equality of a column with a parameter placeholder. */
  same(column: string, placeholder: string): string
  /** `SELECT` list aliasing each column to its field name: the sidecars, the fields, the index columns. */
  select(withFields: boolean, withIndexes?: boolean): string
}

/**
 * @internal An encrypted field's column in raw SQL. `read` gives the stored ciphertext as rowcrypt
 * handles it (the envelope text; bytes for a Bytes column), for SELECT lists and comparisons;
 * `write(expr)` stores such a value given as `expr`, of SQL type `type`.
 */
export interface TargetField {
  readonly name: string
  readonly column: string
  readonly read: string
  readonly type: 'text' | 'bytea'
  write(expr: string): string
}

/** @internal What rotation, status and verify work from. */
export interface RotationContext {
  readonly client: RotationClient
  readonly core: RowLevelEncryption
  readonly schema: Manifest
  readonly dialect: Dialect
  readonly activeKeyVersion: string
}

/** @internal Checks the client and returns its core, manifest and dialect. */
export function rotationContext(prisma: unknown, caller: string): RotationContext {
  const client = prisma as RotationClient | null | undefined
  if (client === null || client === undefined || typeof client.$rowcrypt !== 'function') {
    throw new ConfigError(`${caller} needs a Prisma client extended with rowcrypt()`)
  }
  const internals = client.$rowcrypt()[ROWCRYPT_INTERNALS]
  if (internals === undefined) throw new ConfigError(`${caller}: this client's rowcrypt extension is too old for ${caller}`)
  if (typeof client.$queryRawUnsafe !== 'function' || typeof client.$executeRawUnsafe !== 'function' || typeof client.$transaction !== 'function') {
    throw new ConfigError(`${caller} needs a Prisma client with $queryRawUnsafe, $executeRawUnsafe and $transaction`)
  }
  return { client, core: internals.core, schema: internals.schema, dialect: dialectOf(internals.schema.provider), activeKeyVersion: internals.core.keyProvider.activeKeyVersion }
}

function dialectOf(provider: string): Dialect {
  if (provider === 'postgresql' || provider === 'postgres') return 'postgresql'
  if (provider === 'mysql') return 'mysql'
  if (provider === 'sqlite') return 'sqlite'
  throw new ConfigError(`key rotation supports PostgreSQL, MySQL/MariaDB and SQLite, not "${provider}"`)
}

/** @internal The names of the configured models to work on (`model` when given). */
export function selectModels(ctx: RotationContext, model: string | undefined, caller: string): string[] {
  const all = Object.keys(ctx.client.$rowcrypt().models)
  if (model === undefined) return all
  if (!all.includes(model)) throw new ConfigError(`${caller}: model ${model} is not configured in rowcrypt() (configured: ${all.join(', ') || 'none'})`)
  return [model]
}

/**
 * @internal Resolves a model's table. On PostgreSQL without `dbSchema` (and no `@@schema`), the
 * schema is the one Prisma's own queries use (see `pgSchemaOf`). On every database a probe (a row
 * read through Prisma must look the same through raw SQL) guards against raw SQL reaching another
 * table than Prisma's queries.
 */
export async function resolveTarget(ctx: RotationContext, model: string, dbSchema: string | undefined, caller: string): Promise<ModelTarget> {
  const spec = ctx.core.spec(model)
  const idField = spec.idField
  if (idField === undefined) throw new ConfigError(`${caller}: model ${model} needs a single-column primary key`)
  const mm = Object.hasOwn(ctx.schema.models, model) ? ctx.schema.models[model] : undefined
  if (mm === undefined) throw new ConfigError(`${caller}: model ${model} is not in the schema manifest`)
  const column = (field: string) => {
    const f = Object.hasOwn(mm.fields, field) ? mm.fields[field] : undefined
    if (f === undefined) throw new ConfigError(`${caller}: model ${model} has no field ${field}`)
    return f.dbName ?? field
  }
  const tableName = mm.dbName ?? model
  const names = {
    id: column(idField),
    wrappedDek: column(spec.columns.wrappedDek),
    keyVersion: column(spec.columns.keyVersion),
    tenantId: column(spec.columns.tenantId),
    fields: [...spec.fields.keys()].map((f) => ({ name: f, column: column(f) })),
    indexes: spec.indexed.map((f) => ({ field: f.name, name: f.index!.column, column: column(f.index!.column) })),
  }
  const build = (schemaName: string | undefined) => makeTarget(ctx.dialect, model, spec, idField, schemaName, tableName, names)
  const probe = await probeRow(ctx, model, idField, spec.columns.wrappedDek)
  const explicit = dbSchema ?? mm.schema
  if (ctx.dialect !== 'postgresql' || explicit !== undefined) {
    const target = build(explicit)
    if (probe !== undefined && !(await sees(ctx, target, probe))) {
      throw new ConfigError(
        `${caller}: raw SQL on ${target.table} does not see the rows Prisma sees for model ${model}; ${ctx.dialect === 'postgresql' ? 'set dbSchema (--db-schema) to the schema of the table' : 'check the database the client connects to'}`,
      )
    }
    return target
  }
  const found = await pgSchemaOf(ctx, model, idField, tableName)
  if (found === undefined) throw new ConfigError(`${caller}: cannot tell which schema Prisma uses for table ${tableName} (model ${model}); set dbSchema (--db-schema)`)
  const target = build(found)
  if (probe !== undefined && !(await sees(ctx, target, probe))) {
    throw new ConfigError(`${caller}: raw SQL on ${target.table} does not see the rows Prisma sees for model ${model}; set dbSchema (--db-schema)`)
  }
  return target
}

// The schema of the table Prisma reads for `model`: a read through Prisma inside a transaction
// takes a lock on that very table, which pg_locks then names (works for empty tables too, and
// whatever schema the adapter was given).
async function pgSchemaOf(ctx: RotationContext, model: string, idField: string, tableName: string): Promise<string | undefined> {
  const rows = (await bypass('rowcrypt rotation: locate table', () =>
    ctx.client.$transaction(async (tx) => {
      const delegate = (tx as unknown as Record<string, { findFirst(args: unknown): PromiseLike<unknown> }>)[model.charAt(0).toLowerCase() + model.slice(1)]
      await delegate!.findFirst({ select: { [idField]: true } })
      return tx.$queryRawUnsafe(
        `SELECT n.nspname AS s FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND c.relname = $1 AND c.relkind IN ('r', 'p')`,
        tableName,
      )
    }),
  )) as Array<{ s: string }>
  const schemas = [...new Set(rows.map((r) => r.s))]
  return schemas.length === 1 ? schemas[0] : undefined
}

interface Probe {
  readonly id: unknown
  readonly wrappedDek: Uint8Array
}

// A row with a wrapped key, read through Prisma (the extension, across tenants).
async function probeRow(ctx: RotationContext, model: string, idField: string, wrappedDek: string): Promise<Probe | undefined> {
  const delegate = ctx.client[model.charAt(0).toLowerCase() + model.slice(1)] as { findFirst(args: unknown): PromiseLike<Record<string, unknown> | null> } | undefined
  if (typeof delegate?.findFirst !== 'function') throw new ConfigError(`the Prisma client has no model ${model}`)
  const row = await bypass('rowcrypt rotation: locate table', () =>
    delegate.findFirst({ where: { [wrappedDek]: { not: null } }, orderBy: { [idField]: 'desc' }, select: { [idField]: true, [wrappedDek]: true } }),
  )
  if (row === null || !(row[wrappedDek] instanceof Uint8Array)) return undefined
  return { id: row[idField], wrappedDek: row[wrappedDek] as Uint8Array }
}

// Does raw SQL on `target` see the probe row? Another process may change the row's wrapped key
// between the two reads (rotation, re-keying), so only the id must match exactly; a differing key
// is read once more through Prisma before giving up.
async function sees(ctx: RotationContext, target: ModelTarget, probe: Probe): Promise<boolean> {
  const read = async (id: unknown): Promise<unknown> => {
    const rows = (await bypass('rowcrypt rotation: locate table', () =>
      ctx.client.$queryRawUnsafe(`SELECT ${target.wrappedDek} AS w FROM ${target.table} WHERE ${target.id} = ${target.param(1)}`, id),
    )) as Array<Record<string, unknown>>
    return rows[0]?.w
  }
  const equal = (a: unknown, b: Uint8Array) => a instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b))
  try {
    if (equal(await read(probe.id), probe.wrappedDek)) return true
    const again = await probeRow(ctx, target.model, target.idField, target.spec.columns.wrappedDek)
    return again !== undefined && equal(await read(again.id), again.wrappedDek)
  } catch {
    // No such table or column here.
    return false
  }
}

function makeTarget(
  dialect: Dialect,
  model: string,
  spec: ModelSpec,
  idField: string,
  schemaName: string | undefined,
  tableName: string,
  names: { id: string; wrappedDek: string; keyVersion: string; tenantId: string; fields: Array<{ name: string; column: string }>; indexes: Array<{ field: string; name: string; column: string }> },
): ModelTarget {
  const q = (name: string) => quote(dialect, name)
  const table = schemaName !== undefined && dialect !== 'sqlite' ? `${q(schemaName)}.${q(tableName)}` : q(tableName)
  const id = q(names.id)
  const wrappedDek = q(names.wrappedDek)
  const keyVersion = q(names.keyVersion)
  const tenantId = q(names.tenantId)
  const fields = names.fields.map((f) => targetField(dialect, f.name, q(f.column), spec.fields.get(f.name)!.storage))
  const indexes = names.indexes.map((i) => ({ field: i.field, name: i.name, column: q(i.column) }))
  const param = dialect === 'postgresql' ? (n: number) => `$${n}` : () => '?'
  const same =
    dialect === 'postgresql'
      ? (c: string, p: string) => `${c} IS NOT DISTINCT FROM ${p}`
      : dialect === 'mysql'
        ? // Binary comparison: a text column's collation may ignore case or trailing spaces.
          (c: string, p: string) => `CAST(${c} AS BINARY) <=> CAST(${p} AS BINARY)`
        : (c: string, p: string) => `${c} IS ${p}`
  const sidecars = `${id} AS ${q(idField)}, ${tenantId} AS ${q(spec.columns.tenantId)}, ${keyVersion} AS ${q(spec.columns.keyVersion)}, ${wrappedDek} AS ${q(spec.columns.wrappedDek)}`
  const withFields = `${sidecars}${fields.map((f) => `, ${f.read} AS ${q(f.name)}`).join('')}`
  const withIndexes = `${withFields}${indexes.map((i) => `, ${i.column} AS ${q(i.name)}`).join('')}`
  return { model, spec, idField, dialect, table, id, wrappedDek, keyVersion, tenantId, fields, indexes, param, same, select: (w, i) => (i === true ? withIndexes : w ? withFields : sidecars) }
}

// A Json column holds the envelope as a JSON string: read and compared as its text, written quoted
// (SQL NULL stays NULL: SQLite's json_quote(NULL) is the JSON text null).
function targetField(dialect: Dialect, name: string, column: string, storage: FieldStorage): TargetField {
  if (storage === 'bytes') return { name, column, read: column, type: 'bytea', write: (e) => e }
  if (storage === 'text') return { name, column, read: column, type: 'text', write: (e) => e }
  const read = dialect === 'postgresql' ? `(${column} #>> '{}')` : dialect === 'mysql' ? `JSON_UNQUOTE(${column})` : `json_extract(${column}, '$')`
  const write = dialect === 'postgresql' ? (e: string) => `to_jsonb(${e})` : dialect === 'mysql' ? (e: string) => `JSON_QUOTE(${e})` : (e: string) => `nullif(json_quote(${e}), 'null')`
  return { name, column, read, type: 'text', write }
}

/** @internal Quotes an identifier for the dialect. */
export function quote(dialect: Dialect, name: string): string {
  return dialect === 'mysql' ? `\`${name.replace(/`/g, '``')}\`` : `"${name.replace(/"/g, '""')}"`
}

/** @internal Runs `fn` across tenants, with a reason naming the job. */
export function bypass<T>(reason: string, fn: () => PromiseLike<T>): Promise<T> {
  return unsafeBypassTenantScope(reason, fn)
}

/** @internal A COUNT(*) or similar value from any driver (number, bigint, string). */
export function toCount(v: unknown): number {
  if (typeof v === 'number') return v
  if (typeof v === 'bigint' || typeof v === 'string') return Number(v)
  return 0
}

/** @internal A row id as a string, for reports. */
export function idText(v: unknown): string {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex')
  return String(v)
}
