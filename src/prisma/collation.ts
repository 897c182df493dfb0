// Tenant ids are compared as bytes, in the database too. A column whose collation (or type) makes
// two distinct byte strings compare equal (`acme` = `ACME` = `acme ` = `Acmé` under MySQL's default
// collations) would let one tenant's `WHERE tenantId = ?` reach another tenant's rows. This module
// reads the collation of every tenant column once and says which ones are unsafe, and defines the
// canonical tenant-id form for databases whose collation cannot be changed. Prisma-free: it gets a
// raw query function and the manifest, so its rules are unit-tested without a database.
import { ConfigError, InvalidTenantError, TenantCollationError, UnsupportedQueryError } from '../errors'
import type { Manifest, ManifestModel } from './manifest'

/** A raw query: `$queryRawUnsafe` of a Prisma client, or anything with its shape. */
export type RawQuery = (sql: string, ...values: unknown[]) => Promise<Array<Record<string, unknown>>>

/** One tenant column to check: model and field as in the schema, table and column as in the database. */
export interface TenantColumn {
  readonly model: string
  readonly field: string
  /** The model's `dbName ?? name`. */
  readonly table: string
  /** The field's `dbName ?? name`. */
  readonly column: string
  /** The model's database schema (`@@schema`), when the manifest names one. */
  readonly schema?: string
}

/** A tenant column whose values the database can conflate, with what it found and how to fix it. */
export interface UnsafeTenantColumn extends TenantColumn {
  /** The collation (or, where the type is the cause, the type) the database reported. */
  readonly collation: string
  /** Why distinct tenant ids can compare equal there. */
  readonly reason: string
  /** A migration statement (or step) that makes the column byte-exact. */
  readonly fix: string
}

/** How rowcrypt takes tenant ids: any well-formed string, or only the canonical form. */
export type TenantIdMode = 'any' | 'canonical'

// Marks rowcrypt's own catalog reads in a query log.
const TAG = '/* rowcrypt: tenant column collation check */ '

// ---- canonical tenant ids ---------------------------------------------------------------------

/**
 * The canonical tenant-id form: lowercase ASCII letters and digits, with `-` and `_` inside,
 * starting and ending with a letter or digit, 1 to 128 characters. No common collation conflates
 * two such strings:
 * - case folding: there are no upper-case letters to fold onto the lower-case ones;
 * - accent folding and Unicode equivalence (`é` = `e` + U+0301 = `e`): ASCII only, no accents and
 *   no combining marks;
 * - PAD SPACE (MySQL/MariaDB `_ci` and `_bin`, PostgreSQL `char(n)`, SQL trailing-space rules): no
 *   spaces at all, and the last character is a letter or digit, so no id is another plus padding;
 * - ignorable characters (control characters, U+200B and other default-ignorable code points have
 *   no weight in UCA collations, so `acme` = `ac\u200Bme`): none is in the set; `-` and `_` carry a
 *   primary weight in MySQL/MariaDB's collations and ICU's defaults, PostgreSQL's deterministic
 *   collations break every tie by bytes anyway, and SQLite's built-in ones (BINARY, NOCASE, RTRIM)
 *   touch only case and trailing spaces. Only a non-deterministic ICU tailoring that makes
 *   punctuation ignorable on purpose (`alternate=shifted`, `und-u-ka-shifted`) or reads digit runs
 *   as numbers (`kn`) would equate `a-b` with `ab` or `a01` with `a1`: leave such a column to the
 *   collation check (`tenantIds: 'any'`), which refuses it.
 * - length: 128 characters fit every tenant column rowcrypt documents, so no database truncates one
 *   id onto another.
 */
const CANONICAL = /^[a-z0-9](?:[a-z0-9_-]{0,126}[a-z0-9])?$/

/**
 * True when `tenantId` has the canonical form of `tenantIds: 'canonical'`.
 *
 * @example
 * ```ts
 * isCanonicalTenantId('acme-eu_1') // true
 * isCanonicalTenantId('ACME')      // false
 * ```
 */
export function isCanonicalTenantId(tenantId: unknown): tenantId is string {
  return typeof tenantId === 'string' && CANONICAL.test(tenantId)
}

/** @internal Throws `InvalidTenantError` unless `tenantId` is canonical. */
export function assertCanonicalTenantId(tenantId: unknown): asserts tenantId is string {
  if (!isCanonicalTenantId(tenantId)) {
    const shown = typeof tenantId === 'string' ? JSON.stringify(tenantId) : typeof tenantId
    throw new InvalidTenantError(`tenant id ${shown} is not canonical: with tenantIds: 'canonical' a tenant id is 1 to 128 lowercase ASCII letters and digits, with - and _ inside`)
  }
}

/** @internal Validates the `tenantIds` option (default `'any'`). */
export function resolveTenantIdMode(value: unknown, who: string): TenantIdMode {
  if (value === undefined || value === 'any') return 'any'
  if (value === 'canonical') return 'canonical'
  throw new ConfigError(`${who}: "tenantIds" must be 'any' or 'canonical'`)
}

/**
 * @internal The tenant ids a call names for scoped models' tenant columns inside
 * `unsafeBypassTenantScope`: `data.tenantId` of every create (top-level and nested) and equality
 * filters on a tenant column, found by walking `args` along the model's relations. Values of other
 * models' columns (a Json field, an unscoped model's own `tenantId`) are not taken.
 */
export function tenantIdsInArgs(manifest: Manifest, tenantFields: ReadonlyMap<string, string>, model: string, args: unknown): string[] {
  const out: string[] = []
  const seen = new Set<object>()
  const walk = (m: ManifestModel | undefined, tenantField: string | undefined, node: unknown, depth: number): void => {
    if (m === undefined || node === null || typeof node !== 'object' || seen.has(node)) return
    // Fails closed: arguments too deep to walk are not passed unchecked.
    if (depth > MAX_ARGS_DEPTH) throw new UnsupportedQueryError(`model ${model}: the arguments nest deeper than ${MAX_ARGS_DEPTH} levels, too deep to check their tenant ids`)
    if (!Array.isArray(node) && Object.getPrototypeOf(node) !== Object.prototype && Object.getPrototypeOf(node) !== null) return
    seen.add(node)
    if (Array.isArray(node)) {
      for (const item of node) walk(m, tenantField, item, depth + 1)
      return
    }
    for (const [key, value] of Object.entries(node)) {
      if (key === tenantField) {
        equalityValues(value, out, 0)
        continue
      }
      const field = Object.hasOwn(m.fields, key) ? m.fields[key] : undefined
      if (field === undefined)
        walk(m, tenantField, value, depth + 1) // data, where, create, AND, select, ...
      else if (field.kind === 'object') walk(own(manifest.models, field.type), tenantFields.get(field.type), value, depth + 1)
      // Other fields of the model hold values, not arguments: nothing to take there.
    }
  }
  walk(own(manifest.models, model), tenantFields.get(model), args, 0)
  return out
}

const MAX_ARGS_DEPTH = 512

// A tenant column's value in data or a filter: a string, `{ set }`, `{ equals }`, `{ in }`, `{ not }`...
function equalityValues(value: unknown, out: string[], depth: number): void {
  if (typeof value === 'string') {
    out.push(value)
  } else if (Array.isArray(value)) {
    for (const v of value) if (typeof v === 'string') out.push(v)
  } else if (value !== null && typeof value === 'object' && depth < 8) {
    for (const key of ['set', 'equals', 'in', 'notIn', 'not']) {
      if (Object.hasOwn(value, key)) equalityValues((value as Record<string, unknown>)[key], out, depth + 1)
    }
  }
}

function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined
}

// ---- the columns to check ---------------------------------------------------------------------

/** @internal The database names of the tenant columns of `models` (model name and tenant field). */
export function tenantColumnsOf(manifest: Manifest, models: ReadonlyArray<{ readonly model: string; readonly field: string }>): TenantColumn[] {
  return models.map(({ model, field }) => {
    const m = own(manifest.models, model)
    const f = m === undefined ? undefined : own(m.fields, field)
    return { model, field, table: m?.dbName ?? model, column: f?.dbName ?? field, ...(m?.schema !== undefined ? { schema: m.schema } : {}) }
  })
}

// ---- the check --------------------------------------------------------------------------------

/**
 * Reads the collation (and type) of each tenant column and returns those under which two distinct
 * byte strings can compare equal. A table or column that does not exist is not this check's
 * concern: it is skipped, and the query that needs it fails with Prisma's own error (P2021, P2022).
 * A failing raw query rejects (nothing is decided then; the caller tries again later).
 *
 * @example
 * ```ts
 * const unsafe = await checkTenantCollations('mysql', (sql, ...v) => base.$queryRawUnsafe(sql, ...v), columns)
 * if (unsafe.length > 0) throw tenantCollationError(unsafe, "or set tenantIds: 'canonical'")
 * ```
 */
export async function checkTenantCollations(provider: string, query: RawQuery, columns: readonly TenantColumn[]): Promise<UnsafeTenantColumn[]> {
  if (columns.length === 0) return []
  switch (provider) {
    case 'mysql':
      return checkMysql(query, columns)
    case 'postgresql':
    case 'postgres':
      return checkPostgres(query, columns)
    case 'sqlite':
      return checkSqlite(query, columns)
    default:
      // Fails closed: a database whose collations rowcrypt cannot read is not known to compare bytes.
      return columns.map((c) => ({ ...c, collation: 'unknown', reason: `rowcrypt cannot read collations on ${JSON.stringify(provider)}`, fix: 'use a byte-exact (binary) collation for the column' }))
  }
}

/**
 * @internal Which provider a client talks to, for callers without a manifest: `version()` answers
 * on PostgreSQL and MySQL/MariaDB, `sqlite_version()` on SQLite. Undefined when neither fits.
 */
export async function detectProvider(query: RawQuery): Promise<string | undefined> {
  let first: unknown
  try {
    const v = String((await query(`${TAG}SELECT version() AS v`))[0]?.v ?? '')
    if (/^PostgreSQL /.test(v)) return 'postgresql'
    if (/^\d+\.\d+/.test(v)) return 'mysql'
    return undefined
  } catch (e) {
    first = e
  }
  try {
    await query(`${TAG}SELECT sqlite_version() AS v`)
    return 'sqlite'
  } catch {
    throw first // the first error says more (a lost connection, say)
  }
}

/**
 * @internal The `ConfigError` for unsafe tenant columns: each as `Model.field (table.column)`,
 * its collation, why, and the fix; `alternative` names the canonical-id option of the caller.
 */
export function tenantCollationError(unsafe: readonly UnsafeTenantColumn[], who: string, alternative: string): TenantCollationError {
  const parts = unsafe.map(
    (u) => `${u.model}.${u.field} (${u.schema !== undefined ? `${u.schema}.` : ''}${u.table}.${u.column}) has ${u.collation}: ${u.reason}; make it byte-exact in a migration: ${u.fix}`,
  )
  const columns = unsafe.map((u) =>
    Object.freeze({ model: u.model, field: u.field, table: u.table, column: u.column, ...(u.schema !== undefined ? { schema: u.schema } : {}), collation: u.collation }),
  )
  return new TenantCollationError(`${who}: tenant ids are compared as bytes, but the database can take distinct tenant ids for one: ${parts.join('; ')}. Or ${alternative}`, Object.freeze(columns))
}

// ---- MySQL / MariaDB --------------------------------------------------------------------------

/** @internal A tenant column as `information_schema.COLUMNS` describes it. */
export interface MysqlColumnInfo {
  /** `DATA_TYPE`, e.g. `varchar`. */
  readonly dataType: string
  readonly characterSet: string | null
  readonly collation: string | null
}

const MYSQL_TEXT = new Set(['varchar', 'text', 'tinytext', 'mediumtext', 'longtext'])
const MYSQL_BYTES = new Set(['varbinary', 'blob', 'tinyblob', 'mediumblob', 'longblob'])

/**
 * @internal Why a MySQL/MariaDB column can take distinct tenant ids for one, or undefined when it
 * compares bytes. Safe: a variable-length binary string (`VARBINARY`, `BLOB`: no collation, or
 * `binary`), or a variable-length `utf8mb4` string with a NO PAD binary collation
 * (`utf8mb4_nopad_bin` on MariaDB, `utf8mb4_0900_bin` on MySQL 8). Not safe: every `_ci`/`_ai`
 * collation (case and accent folding), the PAD SPACE binary collations such as `utf8mb4_bin`
 * (`'acme' = 'acme '` is true under them), other character sets (a character they cannot hold is
 * stored as `?` or cut off, so two ids become one), `CHAR` (trailing spaces are dropped) and
 * `BINARY` (padded with zero bytes).
 */
export function mysqlColumnRisk(c: MysqlColumnInfo): string | undefined {
  const type = c.dataType.toLowerCase()
  const collation = c.collation?.toLowerCase() ?? null
  if (MYSQL_BYTES.has(type)) return collation === null || collation === 'binary' ? undefined : `a ${type} column with collation ${collation}`
  if (type === 'char') return 'CHAR drops trailing spaces, so "acme" and "acme " are one value'
  if (type === 'binary') return 'BINARY pads with zero bytes, so "acme" and "acme\\0" are one value'
  if (!MYSQL_TEXT.has(type)) return `a ${type} column converts values`
  if (collation === 'binary') return undefined
  if (c.characterSet?.toLowerCase() !== 'utf8mb4') return `character set ${c.characterSet ?? 'unknown'} cannot hold every tenant id (characters it lacks become "?" or are cut off)`
  if (collation === null) return 'the server reports no collation for it'
  if (!collation.endsWith('_bin')) return `it folds case, accents or both (not a binary collation)${isNoPad(collation) ? '' : ', and ignores trailing spaces (PAD SPACE)'}`
  if (!isNoPad(collation)) return 'a PAD SPACE collation: "acme" and "acme " compare equal'
  return undefined
}

// MariaDB names its NO PAD collations `*_nopad_*`; MySQL 8's UCA 9.0.0 collations (`*_0900_*`) are NO PAD.
function isNoPad(collation: string): boolean {
  return collation.includes('_nopad_') || collation.includes('_0900_')
}

/** @internal The byte-exact collation to suggest: MariaDB has `utf8mb4_nopad_bin`, MySQL 8 `utf8mb4_0900_bin`. */
export function mysqlBinaryCollation(version: string): string {
  return /mariadb/i.test(version) ? 'utf8mb4_nopad_bin' : 'utf8mb4_0900_bin'
}

/**
 * @internal The `ALTER TABLE ... MODIFY` that keeps a column's type, nullability and default and
 * makes it byte-exact. `columnDefault` as `information_schema.COLUMNS.COLUMN_DEFAULT` gives it:
 * MariaDB quotes string defaults and writes `NULL` for none; MySQL gives the bare value.
 */
export function mysqlFix(c: { table: string; column: string; columnType: string; dataType: string; nullable: boolean; columnDefault: string | null }, version: string): string {
  const type = c.dataType.toLowerCase()
  const columnType = MYSQL_TEXT.has(type) ? c.columnType.toUpperCase() : type === 'char' ? c.columnType.toUpperCase().replace(/^CHAR/, 'VARCHAR') : 'VARCHAR(191)'
  const mariadb = /mariadb/i.test(version)
  let defaultClause = ''
  if (c.columnDefault !== null && !(mariadb && c.columnDefault.toUpperCase() === 'NULL')) {
    defaultClause = ` DEFAULT ${mariadb ? c.columnDefault : `'${c.columnDefault.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`}`
  }
  return `ALTER TABLE ${mysqlIdent(c.table)} MODIFY ${mysqlIdent(c.column)} ${columnType} ${c.nullable ? 'NULL' : 'NOT NULL'}${defaultClause} COLLATE ${mysqlBinaryCollation(version)}`
}

function mysqlIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``
}

async function checkMysql(query: RawQuery, columns: readonly TenantColumn[]): Promise<UnsafeTenantColumn[]> {
  const where = columns.map(() => '(TABLE_NAME = ? AND COLUMN_NAME = ?)').join(' OR ')
  const rows = await query(
    `${TAG}SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name, DATA_TYPE AS data_type, COLUMN_TYPE AS column_type, CHARACTER_SET_NAME AS character_set, COLLATION_NAME AS collation_name, IS_NULLABLE AS is_nullable, COLUMN_DEFAULT AS column_default, VERSION() AS server_version FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND (${where})`,
    ...columns.flatMap((c) => [c.table, c.column]),
  )
  const out: UnsafeTenantColumn[] = []
  for (const c of columns) {
    // information_schema compares names case-insensitively, and so may the server (lower_case_table_names):
    // every row that can be this column counts, and one unsafe row is enough.
    for (const r of rows.filter((r) => sameName(r.table_name, c.table) && sameName(r.column_name, c.column))) {
      const info = { dataType: str(r.data_type) ?? '', characterSet: str(r.character_set), collation: str(r.collation_name) }
      const reason = mysqlColumnRisk(info)
      if (reason === undefined) continue
      const version = str(r.server_version) ?? ''
      const fix = mysqlFix(
        {
          table: str(r.table_name) ?? c.table,
          column: str(r.column_name) ?? c.column,
          columnType: str(r.column_type) ?? 'varchar(191)',
          dataType: info.dataType,
          nullable: str(r.is_nullable) === 'YES',
          columnDefault: str(r.column_default),
        },
        version,
      )
      out.push({ ...c, collation: `collation ${info.collation ?? 'none'} (${str(r.column_type) ?? info.dataType})`, reason, fix })
      break
    }
  }
  return out
}

function sameName(a: unknown, b: string): boolean {
  return typeof a === 'string' && a.toLowerCase() === b.toLowerCase()
}

function str(v: unknown): string | null {
  if (v === null || v === undefined) return null
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8')
  return String(v)
}

// ---- PostgreSQL -------------------------------------------------------------------------------

/** @internal A tenant column as the PostgreSQL catalogs describe it. */
export interface PostgresColumnInfo {
  /** The type's name, or for a domain its base type's (`text`, `varchar`, `bpchar`, `citext`, `uuid`...). */
  readonly baseType: string
  /** The column's collation (`default` for the database default); null for a type without one. */
  readonly collation: string | null
  /** `pg_collation.collisdeterministic`; null for a type without a collation. */
  readonly deterministic: boolean | null
}

/**
 * @internal Why a PostgreSQL column can take distinct tenant ids for one, or undefined when it
 * compares bytes. Safe: `text` or `varchar` under a deterministic collation (PostgreSQL breaks
 * every tie of a deterministic collation by comparing bytes). Not safe: a non-deterministic
 * collation (ICU `deterministic = false`: case, accents, or at least canonically equivalent
 * strings), the database default when it behaves so (`defaultConflates`), `char(n)` (trailing
 * spaces are insignificant), `citext` (compares lower-cased), and types that normalize their
 * input (`uuid` takes upper and lower case, `inet`, ...).
 */
export function postgresColumnRisk(c: PostgresColumnInfo, defaultConflates: boolean): string | undefined {
  const type = c.baseType.toLowerCase()
  if (type === 'citext') return 'citext compares case-insensitively'
  if (type === 'bpchar') return 'char(n) ignores trailing spaces, so "acme" and "acme " compare equal'
  if (type !== 'text' && type !== 'varchar') return `a ${type} column normalizes what it stores (e.g. case), so distinct ids can become one value`
  if (c.deterministic === false) return 'a non-deterministic collation: distinct strings (case, accents, canonically equivalent forms) compare equal'
  if (c.collation === 'default' && defaultConflates) return 'the database default collation is non-deterministic: distinct strings compare equal'
  return undefined
}

/** @internal `"schema"."table"`, quoted for PostgreSQL. */
function pgTable(schema: string, table: string): string {
  return `${pgIdent(schema)}.${pgIdent(table)}`
}

function pgIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

async function checkPostgres(query: RawQuery, columns: readonly TenantColumn[]): Promise<UnsafeTenantColumn[]> {
  // Without a schema in the manifest the table may live in any schema (PrismaPg's `{ schema }`):
  // every schema that holds it is looked at, and an unsafe one anywhere is enough to refuse.
  const values: unknown[] = []
  const where = columns
    .map((c) => {
      values.push(c.table, c.column)
      const base = `(c.relname = $${values.length - 1} AND a.attname = $${values.length}`
      if (c.schema === undefined) return `${base})`
      values.push(c.schema)
      return `${base} AND n.nspname = $${values.length})`
    })
    .join(' OR ')
  const rows = await query(
    `${TAG}SELECT n.nspname AS schema_name, c.relname AS table_name, a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS type_text, ` +
      `COALESCE(bt.typname, t.typname) AS base_type, co.collname AS collation_name, co.collisdeterministic AS deterministic, current_setting('server_encoding') AS encoding ` +
      `FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ` +
      `JOIN pg_catalog.pg_type t ON t.oid = a.atttypid LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype ` +
      `LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation ` +
      `WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND (${where})`,
    ...values,
  )
  // A column without an explicit collation takes the database default. PostgreSQL records the
  // default as deterministic; should a server ever run a non-deterministic one, canonically
  // equivalent strings (`é` and `e` + U+0301, distinct bytes) compare equal under it: ask it.
  let defaultConflates = false
  if (rows.some((r) => str(r.collation_name) === 'default') && str(rows[0]?.encoding) === 'UTF8') {
    const probe = await query(`${TAG}SELECT convert_from(decode('65cc81', 'hex'), 'UTF8') = convert_from(decode('c3a9', 'hex'), 'UTF8') AS conflates`)
    defaultConflates = probe[0]?.conflates === true
  }
  const out: UnsafeTenantColumn[] = []
  for (const c of columns) {
    for (const r of rows.filter((r) => r.table_name === c.table && r.column_name === c.column && (c.schema === undefined || r.schema_name === c.schema))) {
      const info = { baseType: str(r.base_type) ?? '', collation: str(r.collation_name), deterministic: typeof r.deterministic === 'boolean' ? r.deterministic : null }
      const reason = postgresColumnRisk(info, defaultConflates)
      if (reason === undefined) continue
      const schema = str(r.schema_name) ?? 'public'
      const typeText = str(r.type_text) ?? 'text'
      const keepType = info.baseType === 'text' || info.baseType === 'varchar' ? typeText : 'text'
      out.push({
        ...c,
        schema,
        collation: `collation ${info.collation ?? 'none'} (${typeText})`,
        reason,
        fix: `ALTER TABLE ${pgTable(schema, c.table)} ALTER COLUMN ${pgIdent(c.column)} TYPE ${keepType} COLLATE "C"`,
      })
      break
    }
  }
  return out
}

// ---- SQLite -----------------------------------------------------------------------------------

/** @internal One column definition of a `CREATE TABLE` statement. */
export interface SqliteColumnDefinition {
  readonly name: string
  /** The declared type, as written (`TEXT`, `VARCHAR(191)`, or empty). */
  readonly type: string
  /** Every `COLLATE` name of the definition, in order. */
  readonly collations: readonly string[]
}

interface Token {
  readonly text: string
  readonly kind: 'word' | 'quoted' | 'string' | 'punct'
}

/** @internal Splits SQLite SQL into tokens: words, quoted identifiers, string literals and punctuation; comments dropped. */
export function sqliteTokens(sql: string): Token[] {
  const out: Token[] = []
  let i = 0
  while (i < sql.length) {
    const ch = sql[i]!
    if (/\s/.test(ch)) {
      i++
    } else if (sql.startsWith('--', i)) {
      const end = sql.indexOf('\n', i)
      i = end === -1 ? sql.length : end + 1
    } else if (sql.startsWith('/*', i)) {
      const end = sql.indexOf('*/', i + 2)
      i = end === -1 ? sql.length : end + 2
    } else if (ch === '"' || ch === '`' || ch === "'") {
      // A doubled quote inside is the quote itself.
      let j = i + 1
      let text = ''
      for (;;) {
        if (j >= sql.length) break
        if (sql[j] === ch) {
          if (sql[j + 1] === ch) {
            text += ch
            j += 2
            continue
          }
          break
        }
        text += sql[j]
        j++
      }
      out.push({ text, kind: ch === "'" ? 'string' : 'quoted' })
      i = j + 1
    } else if (ch === '[') {
      const end = sql.indexOf(']', i + 1)
      out.push({ text: sql.slice(i + 1, end === -1 ? sql.length : end), kind: 'quoted' })
      i = end === -1 ? sql.length : end + 1
    } else if (/[A-Za-z0-9_$\u0080-\uffff]/.test(ch)) {
      let j = i + 1
      while (j < sql.length && /[A-Za-z0-9_$\u0080-\uffff]/.test(sql[j]!)) j++
      out.push({ text: sql.slice(i, j), kind: 'word' })
      i = j
    } else {
      out.push({ text: ch, kind: 'punct' })
      i++
    }
  }
  return out
}

const TABLE_CONSTRAINT = new Set(['CONSTRAINT', 'PRIMARY', 'UNIQUE', 'CHECK', 'FOREIGN'])
const COLUMN_CONSTRAINT = new Set(['CONSTRAINT', 'PRIMARY', 'NOT', 'NULL', 'UNIQUE', 'CHECK', 'DEFAULT', 'COLLATE', 'REFERENCES', 'GENERATED', 'AS'])

/**
 * @internal The column definitions of a SQLite `CREATE TABLE` statement (as `sqlite_master.sql`
 * holds it), with their declared type and `COLLATE` clauses. Table constraints are skipped, and so
 * is anything inside parentheses (a `CHECK (x COLLATE NOCASE = ...)` is not the column's collation).
 */
export function parseSqliteColumns(createTableSql: string): SqliteColumnDefinition[] {
  const tokens = sqliteTokens(createTableSql)
  const open = tokens.findIndex((t) => t.kind === 'punct' && t.text === '(')
  if (open === -1) return []
  // Each definition's tokens, with their depth inside it (0: not inside parentheses).
  const definitions: Array<Array<Token & { depth: number }>> = [[]]
  let depth = 0
  for (let i = open + 1; i < tokens.length; i++) {
    const t = tokens[i]!
    const opens = t.kind === 'punct' && t.text === '('
    const closes = t.kind === 'punct' && t.text === ')'
    if (closes && depth === 0) break
    if (depth === 0 && t.kind === 'punct' && t.text === ',') {
      definitions.push([])
      continue
    }
    if (closes) depth--
    definitions[definitions.length - 1]!.push({ ...t, depth }) // parentheses themselves at the outer depth
    if (opens) depth++
  }
  const out: SqliteColumnDefinition[] = []
  for (const def of definitions) {
    const first = def[0]
    if (first === undefined || (first.kind === 'word' && TABLE_CONSTRAINT.has(first.text.toUpperCase()))) continue
    const typeWords: string[] = []
    let inType = true
    const collations: string[] = []
    for (let i = 1; i < def.length; i++) {
      const t = def[i]!
      const keyword = t.kind === 'word' && t.depth === 0 ? t.text.toUpperCase() : undefined
      if (keyword !== undefined && COLUMN_CONSTRAINT.has(keyword)) inType = false
      if (inType) typeWords.push(t.text)
      if (keyword === 'COLLATE' && def[i + 1] !== undefined) collations.push(def[i + 1]!.text)
    }
    out.push({ name: first.text, type: typeWords.join(' ').replace(/ \( /g, '(').replace(/ \)/g, ')').replace(/ , /g, ','), collations })
  }
  return out
}

/**
 * @internal Why a SQLite column can take distinct tenant ids for one, or undefined when it
 * compares bytes. Safe: TEXT (or BLOB / no declared type) affinity with no collation other than
 * BINARY. Not safe: `COLLATE NOCASE` (ASCII case folding), `COLLATE RTRIM` (trailing spaces) or
 * any other collating function, and INTEGER, REAL or NUMERIC affinity (`'01'` and `'1'` are both
 * stored as the number 1).
 */
export function sqliteColumnRisk(def: Pick<SqliteColumnDefinition, 'type' | 'collations'>): string | undefined {
  const other = def.collations.find((c) => c.toUpperCase() !== 'BINARY')
  if (other !== undefined) return `COLLATE ${other} compares distinct strings as equal`
  const affinity = sqliteAffinity(def.type)
  if (affinity !== 'TEXT' && affinity !== 'BLOB') return `${affinity} affinity stores numeric-looking ids as numbers ('01' and '1' become one value)`
  return undefined
}

/** @internal SQLite's type-affinity rules (https://sqlite.org/datatype3.html, 3.1). */
export function sqliteAffinity(declared: string): 'INTEGER' | 'TEXT' | 'BLOB' | 'REAL' | 'NUMERIC' {
  const t = declared.toUpperCase()
  if (t.includes('INT')) return 'INTEGER'
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'TEXT'
  if (t.includes('BLOB') || t.trim() === '') return 'BLOB'
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'REAL'
  return 'NUMERIC'
}

async function checkSqlite(query: RawQuery, columns: readonly TenantColumn[]): Promise<UnsafeTenantColumn[]> {
  const out: UnsafeTenantColumn[] = []
  const tables = new Map<string, string | null>()
  for (const c of columns) {
    // SQLite's table names are case-insensitive: "User" and "user" are one table.
    const key = c.table.toLowerCase()
    if (!tables.has(key)) {
      const rows = await query(`${TAG}SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE`, c.table)
      tables.set(key, str(rows[0]?.sql))
    }
    const sql = tables.get(key)
    if (sql === null || sql === undefined) continue // no such table: not this check's concern
    const def = parseSqliteColumns(sql).find((d) => d.name.toLowerCase() === c.column.toLowerCase())
    if (def === undefined) {
      // Column names are case-insensitive too. A table built by `CREATE TABLE ... AS SELECT` has
      // no column definitions to read: fail closed if the column is there at all.
      const exists = await query(`${TAG}SELECT name FROM pragma_table_info(?) WHERE name = ? COLLATE NOCASE`, c.table, c.column)
      if (exists.length > 0) out.push({ ...c, collation: 'unknown collation', reason: 'its definition could not be read', fix: `declare ${c.column} TEXT without COLLATE` })
      continue
    }
    const reason = sqliteColumnRisk(def)
    if (reason === undefined) continue
    const collation = def.collations.length > 0 ? `COLLATE ${def.collations[def.collations.length - 1]}` : `type ${def.type === '' ? 'none' : def.type}`
    out.push({ ...c, collation, reason, fix: `declare "${c.column}" as TEXT without COLLATE (SQLite cannot alter a column: rebuild the table, as prisma migrate does)` })
  }
  return out
}

// ---- the gate: once per client ----------------------------------------------------------------

/**
 * @internal Runs the check once and remembers the answer: `passed` after a clean check; a refusal
 * is kept, so every later call fails with the same `ConfigError`; a check that could not run (a
 * lost connection, say) is not remembered, and the next call runs it again.
 */
export class CollationGate {
  #passed = false
  #refusal: ConfigError | undefined
  #running: Promise<void> | undefined

  constructor(private readonly check: () => Promise<ConfigError | undefined>) {}

  /** True once the check has passed: callers can skip `ready()`. */
  get passed(): boolean {
    return this.#passed
  }

  /** Resolves when the tenant columns are safe; rejects with the refusal, or the error that stopped the check. */
  ready(): Promise<void> {
    if (this.#passed) return Promise.resolve()
    if (this.#refusal !== undefined) return Promise.reject(this.#refusal)
    this.#running ??= this.check().then(
      (refusal) => {
        this.#running = undefined
        if (refusal !== undefined) {
          this.#refusal = refusal
          throw refusal
        }
        this.#passed = true
      },
      (e: unknown) => {
        this.#running = undefined
        throw e
      },
    )
    return this.#running
  }
}
