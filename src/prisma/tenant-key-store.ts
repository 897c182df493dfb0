// Tenant keys in a table of the application's own database, through its Prisma client. The client
// is duck-typed (no import of @prisma/client), so any generated client with the model works.
import { ConfigError, KeyProviderError } from '../errors'
import { TOMBSTONE_VERSION, type TenantKeyRecord, type TenantKeyStore } from '../keys/tenant-key-store'
import {
  assertCanonicalTenantId,
  checkTenantCollations,
  CollationGate,
  detectProvider,
  resolveTenantIdMode,
  tenantCollationError,
  tenantColumnsOf,
  type RawQuery,
  type TenantColumn,
  type TenantIdMode,
} from './collation'
import type { Manifest } from './manifest'

/**
 * Options of {@link PrismaTenantKeyStore}.
 *
 * @example
 * ```ts
 * const options: PrismaTenantKeyStoreOptions = { prisma: base, schema: manifest }
 * ```
 */
export interface PrismaTenantKeyStoreOptions {
  /**
   * Your Prisma client, **without** the rowcrypt extension (the base client you extend). Its schema
   * must contain the `RowcryptTenantKey` model (see docs/aws-kms.md).
   */
  prisma: unknown
  /** The model name, if you renamed it. Default `RowcryptTenantKey`. */
  model?: string
  /**
   * The rowcrypt manifest of the same schema (`import { manifest } from './generated/rowcrypt'`).
   * When given, `validate()` also checks the model's fields, types and primary key.
   */
  schema?: Manifest
  /**
   * How tenant ids reach the table. `'any'` (default): the store checks once, before its first
   * use, that the database compares the `tenantId` column as bytes, and refuses to run
   * (`ConfigError`) when its collation can take distinct tenant ids for one (MySQL/MariaDB's default
   * collations, a non-deterministic PostgreSQL collation, SQLite `COLLATE NOCASE`): otherwise
   * `shred('ACME')` could destroy the key of tenant `acme`. `'canonical'`: the check is skipped and
   * every tenant id must have the canonical form (lowercase ASCII letters and digits, `-` and `_`
   * inside, at most 128 characters), else `InvalidTenantError`. Use the same setting as
   * `rowcrypt({ tenantIds })`.
   */
  tenantIds?: 'any' | 'canonical'
}

type Row = { tenantId: string; keyVersion: string; kmsKeyId: string; wrappedKey: Uint8Array | null; createdAt: Date; shreddedAt: Date | null }
type Delegate = {
  findMany(args: unknown): Promise<Row[]>
  findFirst(args: unknown): Promise<Row | null>
  create(args: unknown): Promise<Row>
  updateMany(args: unknown): Promise<{ count: number }>
  upsert(args: unknown): Promise<Row>
}

const COLUMNS = { tenantId: true, keyVersion: true, kmsKeyId: true, wrappedKey: true, createdAt: true, shreddedAt: true } as const
const EXPECTED: Record<keyof Row, { type: string; required: boolean }> = {
  tenantId: { type: 'String', required: true },
  keyVersion: { type: 'String', required: true },
  kmsKeyId: { type: 'String', required: true },
  wrappedKey: { type: 'Bytes', required: false },
  createdAt: { type: 'DateTime', required: true },
  shreddedAt: { type: 'DateTime', required: false },
}

/**
 * A {@link TenantKeyStore} in your database, through your Prisma client. Add this model to your
 * schema and migrate (docs/aws-kms.md has the SQL for PostgreSQL, MySQL/MariaDB and SQLite):
 *
 * ```prisma
 * model RowcryptTenantKey {
 *   tenantId   String
 *   keyVersion String
 *   kmsKeyId   String
 *   wrappedKey Bytes?
 *   createdAt  DateTime  @default(now())
 *   shreddedAt DateTime?
 *
 *   @@id([tenantId, keyVersion])
 * }
 * ```
 *
 * The table holds only KMS-wrapped keys. `validate()` (run by the provider before first use, and
 * by `AwsKmsKeyProvider.validate()`) fails with a `ConfigError` naming what is missing.
 *
 * @example
 * ```ts
 * const base = new PrismaClient({ adapter })
 * const tenantKeyStore = new PrismaTenantKeyStore({ prisma: base, schema: manifest })
 * const keyProvider = new AwsKmsKeyProvider({ client, keys: { v1: 'alias/app' }, activeVersion: 'v1', tenantKeyStore })
 * ```
 */
export class PrismaTenantKeyStore implements TenantKeyStore {
  readonly #client: Record<string, unknown>
  readonly #model: string
  readonly #schema: Manifest | undefined
  readonly #tenantIds: TenantIdMode
  // The tenant column's collation, checked once before first use (collation.ts).
  readonly #collations: CollationGate | undefined

  constructor(options: PrismaTenantKeyStoreOptions) {
    if (options === null || typeof options !== 'object' || options.prisma === null || typeof options.prisma !== 'object') {
      throw new ConfigError('PrismaTenantKeyStore needs { prisma }: your Prisma client')
    }
    this.#client = options.prisma as Record<string, unknown>
    this.#model = options.model ?? 'RowcryptTenantKey'
    this.#schema = options.schema
    this.#tenantIds = resolveTenantIdMode(options.tenantIds, 'PrismaTenantKeyStore')
    this.#collations = this.#tenantIds === 'canonical' ? undefined : new CollationGate(() => this.#checkCollation())
  }

  /**
   * Checks that the client has the model (and, with `schema`, its fields and primary key), and that
   * the table exists with every column, by reading it once.
   *
   * @example
   * ```ts
   * await new PrismaTenantKeyStore({ prisma: base, schema: manifest }).validate()
   * ```
   */
  async validate(): Promise<void> {
    const d = this.#delegate()
    if (this.#schema !== undefined) this.#checkSchema(this.#schema)
    try {
      await d.findFirst({ where: { tenantId: '' }, select: COLUMNS })
    } catch (cause) {
      const code = (cause as { code?: unknown } | null)?.code
      const what = code === 'P2021' ? 'its table does not exist' : code === 'P2022' ? 'a column is missing' : 'reading it failed'
      throw new ConfigError(`PrismaTenantKeyStore: model ${this.#model} is not usable: ${what}; apply the migration from docs/aws-kms.md`, { cause })
    }
    if (this.#collations !== undefined) await this.#collations.ready()
  }

  async get(tenantId: string, keyVersion: string): Promise<TenantKeyRecord | null> {
    await this.#ready(tenantId)
    const rows = await this.#delegate().findMany({ where: { tenantId, keyVersion: { in: [keyVersion, TOMBSTONE_VERSION] } }, select: COLUMNS })
    const tombstone = rows.find((r) => r.keyVersion === TOMBSTONE_VERSION)
    const row = tombstone ?? rows.find((r) => r.keyVersion === keyVersion)
    return row === undefined ? null : toRecord(row)
  }

  async putIfAbsent(record: TenantKeyRecord): Promise<TenantKeyRecord> {
    await this.#ready(record.tenantId)
    try {
      return toRecord(await this.#delegate().create({ data: { ...record }, select: COLUMNS }))
    } catch (e) {
      // Another process stored a key for this tenant and version first: return the stored one.
      if ((e as { code?: unknown } | null)?.code !== 'P2002') throw redacted(e)
      const existing = await this.get(record.tenantId, record.keyVersion)
      if (existing === null) throw redacted(e)
      return existing
    }
  }

  async shred(tenantId: string, at: Date): Promise<{ keysDestroyed: number }> {
    await this.#ready(tenantId)
    const d = this.#delegate()
    const $transaction = this.#client.$transaction as ((ops: unknown[]) => Promise<unknown[]>) | undefined
    if (typeof $transaction !== 'function') throw new ConfigError('PrismaTenantKeyStore: the client has no $transaction')
    const [updated] = (await $transaction.call(this.#client, [
      d.updateMany({ where: { tenantId, shreddedAt: null }, data: { wrappedKey: null, shreddedAt: at } }),
      d.upsert({
        where: { tenantId_keyVersion: { tenantId, keyVersion: TOMBSTONE_VERSION } },
        create: { tenantId, keyVersion: TOMBSTONE_VERSION, kmsKeyId: '', wrappedKey: null, createdAt: at, shreddedAt: at },
        update: {},
        select: { tenantId: true },
      }),
    ])) as [{ count: number }, unknown]
    return { keysDestroyed: updated.count }
  }

  // Before any statement naming a tenant: the canonical form, or the column's collation checked.
  async #ready(tenantId: string): Promise<void> {
    if (this.#tenantIds === 'canonical') assertCanonicalTenantId(tenantId)
    else if (this.#collations !== undefined && !this.#collations.passed) await this.#collations.ready()
  }

  // Through the client the store is given, outside any transaction: the provider comes from the
  // manifest when there is one, else from the server's version function.
  async #checkCollation(): Promise<ConfigError | undefined> {
    const raw = this.#client.$queryRawUnsafe
    if (typeof raw !== 'function') throw new ConfigError('PrismaTenantKeyStore: the client has no $queryRawUnsafe to check the tenant column with')
    const query: RawQuery = async (sql, ...values) => (await (raw as (...a: unknown[]) => PromiseLike<Array<Record<string, unknown>>>).call(this.#client, sql, ...values)) ?? []
    const provider = this.#schema?.provider ?? (await detectProvider(query)) ?? 'unknown'
    const inSchema = this.#schema !== undefined && Object.hasOwn(this.#schema.models ?? {}, this.#model)
    const columns: TenantColumn[] = inSchema
      ? tenantColumnsOf(this.#schema!, [{ model: this.#model, field: 'tenantId' }])
      : [{ model: this.#model, field: 'tenantId', table: this.#model, column: 'tenantId' }]
    const unsafe = await checkTenantCollations(provider, query, columns)
    return unsafe.length === 0 ? undefined : tenantCollationError(unsafe, 'PrismaTenantKeyStore', "set tenantIds: 'canonical' here and in rowcrypt()")
  }

  #delegate(): Delegate {
    const name = this.#model.charAt(0).toLowerCase() + this.#model.slice(1)
    const d = this.#client[name] as Partial<Delegate> | undefined
    if (d === undefined || d === null || (['findMany', 'findFirst', 'create', 'updateMany', 'upsert'] as const).some((m) => typeof d[m] !== 'function')) {
      throw new ConfigError(`PrismaTenantKeyStore: the Prisma client has no model ${this.#model}; add it to schema.prisma (docs/aws-kms.md), migrate and run prisma generate`)
    }
    return d as Delegate
  }

  #checkSchema(schema: Manifest): void {
    const model = Object.hasOwn(schema.models ?? {}, this.#model) ? schema.models[this.#model] : undefined
    if (model === undefined) throw new ConfigError(`PrismaTenantKeyStore: the schema has no model ${this.#model}`)
    for (const [field, want] of Object.entries(EXPECTED)) {
      const f = Object.hasOwn(model.fields, field) ? model.fields[field] : undefined
      if (f === undefined) throw new ConfigError(`PrismaTenantKeyStore: model ${this.#model} has no field ${field}`)
      if (f.kind !== 'scalar' || f.type !== want.type || f.isList) throw new ConfigError(`PrismaTenantKeyStore: ${this.#model}.${field} must be ${want.type}${want.required ? '' : '?'}, not ${f.type}`)
      if (want.required && !f.isRequired) throw new ConfigError(`PrismaTenantKeyStore: ${this.#model}.${field} must be required`)
    }
    if (model.primaryKey.length !== 2 || model.primaryKey[0] !== 'tenantId' || model.primaryKey[1] !== 'keyVersion') {
      throw new ConfigError(`PrismaTenantKeyStore: ${this.#model} needs @@id([tenantId, keyVersion])`)
    }
  }
}

// Prisma may render a failed call's arguments (here: the wrapped tenant key) into its message; keep
// only the error's name and code.
function redacted(e: unknown): KeyProviderError {
  const name = e instanceof Error ? e.name : 'Error'
  const code = (e as { code?: unknown } | null)?.code
  const label = `${name}${typeof code === 'string' ? ` ${code}` : ''}`
  return new KeyProviderError(`PrismaTenantKeyStore: storing a tenant key failed (${label})`, { cause: Object.assign(new Error(label), { name, ...(typeof code === 'string' ? { code } : {}) }) })
}

function toRecord(r: Row): TenantKeyRecord {
  return {
    tenantId: r.tenantId,
    keyVersion: r.keyVersion,
    kmsKeyId: r.kmsKeyId,
    wrappedKey: r.wrappedKey === null ? null : Uint8Array.from(r.wrappedKey),
    createdAt: r.createdAt,
    shreddedAt: r.shreddedAt,
  }
}
