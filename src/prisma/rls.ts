// PostgreSQL row-level security as a second wall behind the tenant scope: the options of
// `rowcrypt({ rls })`, the settings each guarded query runs with and the statements that set them
// (the adapter that pins them is rls-pinning.ts), and the policy SQL (`npx rowcrypt rls sql`).
// Prisma-free and pure: nothing here touches a database.
import { ConfigError } from '../errors'
import { DEFAULT_COLUMNS } from '../fields/spec'
import type { Manifest, ManifestModel } from './manifest'

/**
 * Settings of `rowcrypt({ rls })`. `rls: true` takes every default.
 *
 * @example
 * ```ts
 * rowcrypt({ schema: manifest, keyProvider, models, rls: { tenantSetting: 'app.current_org' } })
 * // Admin jobs through a role with BYPASSRLS instead of an admin setting:
 * rowcrypt({ schema: manifest, keyProvider, models, rls: { adminSetting: false } })
 * // The tenant pinned per connection by the driver adapter (no transaction around each query):
 * const rls = { pinning: 'adapter' } as const
 * const prisma = new PrismaClient({ adapter: withRlsPinning(new PrismaPg({ connectionString }), rls) })
 *   .$extends(rowcrypt({ schema: manifest, keyProvider, models, rls }))
 * ```
 */
export interface RlsOptions {
  /**
   * The PostgreSQL setting that carries the current tenant for the policies, set with
   * `set_config(name, tenantId, ...)` before every guarded query (see `pinning`). A two-part
   * custom name (`prefix.name`). Default `app.tenant_id`.
   */
  tenantSetting?: string
  /**
   * The setting `unsafeBypassTenantScope` sets to `'on'`, which the policies honour by showing
   * every tenant's rows. `false`: no admin setting, the policies have no admin clause, and admin
   * jobs connect as a role with BYPASSRLS instead. Default `app.rowcrypt_admin`.
   */
  adminSetting?: string | false
  /**
   * Options of the transaction `pinning: 'transaction'` opens around each query made outside your
   * own transactions (to pin the tenant): how long it may wait for a pooled connection (`maxWait`)
   * and run (`timeout`), in milliseconds. Default: no limit (the largest timer, about 24 days),
   * as for a plain query, so that turning RLS on does not cut long reports off at Prisma's
   * transaction defaults (2 s and 5 s). Your own `$transaction` calls keep their options.
   */
  transactionOptions?: { maxWait?: number; timeout?: number }
  /**
   * How the tenant reaches the database. `'transaction'`: each guarded statement outside your
   * transactions runs in a short transaction of its own after `set_config(..., true)`.
   * `'adapter'`: the client's driver adapter is wrapped with {@link withRlsPinning}, which sets the
   * tenant on each pooled connection only when it differs from the connection's current one, so
   * a statement costs no extra round trip while its connection already serves its tenant; rowcrypt
   * refuses to run (`ERR_ROWCRYPT_CONFIG`) on an adapter that is not wrapped.
   *
   * Default: `'adapter'` when the client's adapter is wrapped with `withRlsPinning`, `'transaction'`
   * when it is not. rowcrypt asks the adapter before the first statement, and sends nothing until
   * it has the answer. Either way, an adapter wrapped for other setting names is refused
   * (`ERR_ROWCRYPT_CONFIG`).
   */
  pinning?: 'transaction' | 'adapter'
}

/** The setting names, shared by `rowcrypt({ rls })` and {@link withRlsPinning}. */
export interface RlsSettingNames {
  readonly tenantSetting: string
  readonly adminSetting: string | undefined
}

/** @internal Resolved RLS settings. */
export interface RlsSettings extends RlsSettingNames {
  readonly transactionOptions: { readonly maxWait: number; readonly timeout: number }
  /** `auto`: the option left out (adapter pinning when the adapter is wrapped, else transaction). */
  readonly pinning: 'transaction' | 'adapter' | 'auto'
}

// The largest delay a Node.js timer takes; Prisma needs a finite maxWait and timeout.
const NO_LIMIT = 2_147_483_647

// The policy each scoped table gets from rlsPolicySql().
const RLS_POLICY_NAME = 'rowcrypt_tenant_isolation'

// Defaults of RlsOptions.
const RLS_DEFAULTS = Object.freeze({ tenantSetting: 'app.tenant_id', adminSetting: 'app.rowcrypt_admin' })

// The value of the admin setting inside unsafeBypassTenantScope.
const RLS_ADMIN_ON = 'on'

// A custom setting is `prefix.name`; kept to plain identifiers so it can be written into SQL.
const SETTING_NAME = /^[a-z_][a-z0-9_$]*(\.[a-z_][a-z0-9_$]*)+$/

const POSTGRES_PROVIDERS: ReadonlySet<string> = new Set(['postgresql', 'postgres'])

/**
 * @internal Validates `rls` against the manifest's provider; undefined when RLS is off.
 * Throws `ConfigError` for any database but PostgreSQL and for malformed setting names.
 */
export function resolveRls(rls: unknown, manifest: Manifest): RlsSettings | undefined {
  if (rls === undefined || rls === false) return undefined
  if (rls !== true && (rls === null || typeof rls !== 'object' || Array.isArray(rls))) {
    throw new ConfigError('rowcrypt(): "rls" must be true, false or { tenantSetting?, adminSetting? }')
  }
  if (!POSTGRES_PROVIDERS.has(manifest.provider)) {
    throw new ConfigError(`rowcrypt(): "rls" needs PostgreSQL row-level security; this schema's provider is ${JSON.stringify(manifest.provider)}`)
  }
  const o = (rls === true ? {} : rls) as RlsOptions
  const names = resolveSettingNames(o, 'rowcrypt(): rls.')
  const tx = o.transactionOptions ?? {}
  if (tx === null || typeof tx !== 'object') throw new ConfigError('rowcrypt(): rls.transactionOptions must be { maxWait?, timeout? }')
  const transactionOptions = { maxWait: checkMillis('maxWait', tx.maxWait), timeout: checkMillis('timeout', tx.timeout) }
  if (o.pinning !== undefined && o.pinning !== 'transaction' && o.pinning !== 'adapter') throw new ConfigError(`rowcrypt(): rls.pinning must be 'transaction' or 'adapter'`)
  const pinning = o.pinning ?? 'auto'
  return Object.freeze({ ...names, transactionOptions: Object.freeze(transactionOptions), pinning })
}

/**
 * @internal The setting names of `o` (defaults where absent), checked: two-part custom names that
 * differ. `where` prefixes the messages (`rowcrypt(): rls.`, `withRlsPinning(): `).
 */
export function resolveSettingNames(o: { tenantSetting?: unknown; adminSetting?: unknown }, where: string): RlsSettingNames {
  const tenantSetting = o.tenantSetting ?? RLS_DEFAULTS.tenantSetting
  const adminSetting = o.adminSetting === undefined ? RLS_DEFAULTS.adminSetting : o.adminSetting
  checkSettingName(where, 'tenantSetting', tenantSetting)
  if (adminSetting !== false) {
    checkSettingName(where, 'adminSetting', adminSetting)
    if (adminSetting === tenantSetting) throw new ConfigError(`${where}adminSetting and tenantSetting must differ`)
  }
  return { tenantSetting, adminSetting: adminSetting === false ? undefined : adminSetting }
}

function checkMillis(what: string, ms: unknown): number {
  if (ms === undefined) return NO_LIMIT
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms <= 0 || ms > NO_LIMIT) {
    throw new ConfigError(`rowcrypt(): rls.transactionOptions.${what} must be a positive whole number of milliseconds up to ${NO_LIMIT}`)
  }
  return ms
}

function checkSettingName(where: string, what: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || !SETTING_NAME.test(name) || name.length > 63) {
    throw new ConfigError(`${where}${what} must be a custom setting name such as "app.tenant_id" (lower case, with a dot)`)
  }
}

/**
 * @internal The statement that pins the settings for the current transaction, and its
 * parameters: the tenant id ('' outside a tenant: a policy sees no tenant then) and, when
 * configured, the admin setting ('on' inside `unsafeBypassTenantScope`, else '').
 */
export function settingStatement(settings: RlsSettingNames, tenantId: string | undefined, bypass: boolean): { sql: string; values: string[]; key: string } {
  const { values, key } = settingValues(settings, tenantId, bypass)
  return { sql: settings.adminSetting === undefined ? 'SELECT set_config($1, $2, true)' : 'SELECT set_config($1, $2, true), set_config($3, $4, true)', values, key }
}

/**
 * @internal The parameters of a statement that sets the settings (names and values, as
 * {@link settingStatement} describes them), and a key that is equal for equal values.
 */
export function settingValues(settings: RlsSettingNames, tenantId: string | undefined, bypass: boolean): { values: string[]; key: string } {
  const tenant = bypass ? '' : (tenantId ?? '')
  if (settings.adminSetting === undefined) return { values: [settings.tenantSetting, tenant], key: `t:${tenant}` }
  const admin = bypass ? RLS_ADMIN_ON : ''
  return { values: [settings.tenantSetting, tenant, settings.adminSetting, admin], key: `${admin === '' ? 't' : 'a'}:${tenant}` }
}

/**
 * @internal The statement that sets the settings for the rest of the connection's session (what a
 * pinned adapter sends), for {@link settingValues}' parameters.
 */
export function sessionPinSql(settings: RlsSettingNames): string {
  return settings.adminSetting === undefined ? 'SELECT set_config($1, $2, false)' : 'SELECT set_config($1, $2, false), set_config($3, $4, false)'
}

/**
 * @internal What a pin request inside a transaction says about the statements after it:
 * `statement`, they are Prisma's own; `raw`, the next one is raw SQL and may change the settings;
 * `batch`, they are the items of a batch transaction, raw SQL among them possibly.
 */
export type PinRequestMode = 'statement' | 'raw' | 'batch'

/**
 * @internal The statement rowcrypt sends through a transaction to tell a pinned adapter the
 * settings the next statements need (the adapter takes it and sends nothing unless they differ
 * from the connection's). Valid SQL that sets them for the session, with a comment per mode.
 */
export function pinRequestSql(settings: RlsSettingNames, mode: PinRequestMode): string {
  return `${sessionPinSql(settings)} /* rowcrypt pin: ${mode} */`
}

/** @internal What rowcrypt asks a driver adapter to learn whether it is pinned; it returns its parameter unless pinned. */
export const PINNING_PROBE_SQL = '/* rowcrypt: adapter pinning probe */ SELECT $1::text AS rowcrypt_pinning'
export const PINNING_PROBE_ARG = 'rowcrypt: is this adapter pinned?'

/** @internal What a pinned adapter answers the probe with: its setting names. */
export function pinningProbeAnswer(settings: RlsSettingNames): string {
  return `rowcrypt pinned: ${settings.tenantSetting} ${settings.adminSetting ?? '-'}`
}

/**
 * What {@link rlsPolicySql} needs: the same `schema`, `models` and `rls` you pass to
 * `rowcrypt()` (the key provider and observers are not needed).
 *
 * @example
 * ```ts
 * const source: RlsPolicySource = { schema: manifest, models: { User: { fields: ['email'] } }, rls: true }
 * ```
 */
export interface RlsPolicySource {
  /** The manifest written by `rowcrypt-generator` (a PostgreSQL schema). */
  schema: Manifest
  /** The scoped models, as in `rowcrypt({ models })`; only `columns.tenantId` is read. */
  models: Readonly<Record<string, { readonly fields?: unknown; readonly columns?: { readonly tenantId?: string } } | { readonly viewOf: string } | undefined>>
  /** As in `rowcrypt({ rls })`; the setting names the policies read. Defaults when absent. */
  rls?: boolean | RlsOptions
}

/**
 * Options of {@link rlsPolicySql}.
 *
 * @example
 * ```ts
 * rlsPolicySql({ schema: manifest, models }, { dbSchema: 'tenant_data' }) // ALTER TABLE "tenant_data"."User" ...
 * ```
 */
export interface RlsPolicySqlOptions {
  /**
   * The PostgreSQL schema to qualify table names with (a model's own `@@schema` wins). Default:
   * unqualified, for a migration that runs with the application's `search_path`.
   */
  dbSchema?: string
}

/**
 * The SQL that turns on PostgreSQL row-level security for every scoped model: `ENABLE` and
 * `FORCE ROW LEVEL SECURITY` on its table and one policy, for reads (`USING`) and writes
 * (`WITH CHECK`), that admits only rows whose tenant column equals the tenant setting, or every
 * row while the admin setting is `'on'`. A missing or empty tenant setting admits no row.
 * Re-runnable: the policy is dropped first if it exists. Pure: the same input gives the same
 * text. `npx rowcrypt rls sql` prints it.
 *
 * @example
 * ```ts
 * import { manifest } from './generated/rowcrypt'
 * const sql = rlsPolicySql({ schema: manifest, models: { User: {}, Document: { columns: { tenantId: 'orgId' } } }, rls: true })
 * // ALTER TABLE "User" ENABLE ROW LEVEL SECURITY; ... CREATE POLICY rowcrypt_tenant_isolation ON "User" ...
 * ```
 */
export function rlsPolicySql(source: RlsPolicySource, options: RlsPolicySqlOptions = {}): string {
  if (source === null || typeof source !== 'object') throw new ConfigError('rlsPolicySql() needs { schema, models }')
  const manifest = source.schema
  if (manifest === null || typeof manifest !== 'object' || manifest.version !== 1 || typeof manifest.models !== 'object') {
    throw new ConfigError('rlsPolicySql(): "schema" must be the manifest written by rowcrypt-generator')
  }
  const settings = resolveRls(source.rls === undefined || source.rls === false ? true : source.rls, manifest)!
  if (source.models === null || typeof source.models !== 'object') throw new ConfigError('rlsPolicySql(): "models" must name the scoped models')
  if (options.dbSchema !== undefined && (typeof options.dbSchema !== 'string' || options.dbSchema === '')) {
    throw new ConfigError('rlsPolicySql(): dbSchema must be a non-empty schema name')
  }
  // Views get no policy of their own: the tables they read have theirs (create them with
  // security_invoker on PostgreSQL 15+ so the policies apply to the querying role).
  const entries = Object.entries(source.models).filter((e): e is [string, { fields?: unknown; columns?: { tenantId?: string } }] => e[1] !== undefined && !('viewOf' in e[1]))
  if (entries.length === 0) throw new ConfigError('rlsPolicySql(): "models" names no model')

  const tenantValue = `NULLIF(current_setting(${literal(settings.tenantSetting)}, true), '')`
  const out: string[] = [
    "-- Row-level security for rowcrypt's tenant-scoped tables, written by `rowcrypt rls sql`.",
    `-- Every policy admits the rows whose tenant column equals the setting ${settings.tenantSetting}${settings.adminSetting === undefined ? '' : `, or every row while ${settings.adminSetting} = '${RLS_ADMIN_ON}'`}.`,
    '-- The application must connect as a role that is neither a superuser nor has BYPASSRLS.',
  ]
  for (const [name, config] of entries) {
    const model = Object.hasOwn(manifest.models, name) ? manifest.models[name] : undefined
    if (model === undefined) throw new ConfigError(`rlsPolicySql(): unknown model ${name}`)
    const tenantField = config?.columns?.tenantId ?? DEFAULT_COLUMNS.tenantId
    const column = tenantColumn(name, model, tenantField)
    const table = tableName(name, model, options.dbSchema)
    const own = `${ident(column)} = ${tenantValue}`
    const check = settings.adminSetting === undefined ? own : `current_setting(${literal(settings.adminSetting)}, true) = '${RLS_ADMIN_ON}' OR ${own}`
    out.push(
      '',
      `-- ${name}: tenant column ${ident(column)}`,
      `ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;`,
      `ALTER TABLE ${table} FORCE ROW LEVEL SECURITY;`,
      `DROP POLICY IF EXISTS ${RLS_POLICY_NAME} ON ${table};`,
      `CREATE POLICY ${RLS_POLICY_NAME} ON ${table}`,
      `  USING (${check})`,
      `  WITH CHECK (${check});`,
    )
  }
  return `${out.join('\n')}\n`
}

function tenantColumn(model: string, m: ManifestModel, field: string): string {
  const f = Object.hasOwn(m.fields, field) ? m.fields[field] : undefined
  if (f === undefined || f.kind !== 'scalar' || f.type !== 'String' || f.isList) {
    throw new ConfigError(`rlsPolicySql(): model ${model} has no String tenant column ${field}`)
  }
  return f.dbName ?? field
}

function tableName(model: string, m: ManifestModel, dbSchema: string | undefined): string {
  const schema = m.schema ?? dbSchema
  const table = ident(m.dbName ?? model)
  return schema === undefined ? table : `${ident(schema)}.${table}`
}

function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`
}
