// Rows per model and key version (and tenant), with the age of each key in use: what
// `npx rowcrypt status` prints and what the `rows_per_key_version` and `key_age_seconds` gauges
// show. One GROUP BY per model, read-only.
import { cacheKey } from '../crypto/cache-key'
import { ConfigError } from '../errors'
import { ageDays, ageSeconds, clock, creationTimes, DAY_MS, tenantCreationTimes } from './ages'
import { bypass, resolveTarget, rotationContext, selectModels, toCount } from './target'

/**
 * Options of {@link rotationStatus}.
 *
 * @example
 * ```ts
 * const options: RotationStatusOptions = { prisma, byTenant: true }
 * ```
 */
export interface RotationStatusOptions {
  /** Your Prisma client extended with `rowcrypt()`. */
  prisma: unknown
  /** Only this model (default: every configured model). */
  model?: string
  /** Also count per tenant. */
  byTenant?: boolean
  /** PostgreSQL schema of the tables (see `RotateKeysOptions.dbSchema`). */
  dbSchema?: string
  /**
   * A key age policy: list in `exceeded` every key version that still has rows and is older than
   * this many days, or whose creation time is unknown (and, with `byTenant`, every tenant key older).
   */
  maxKeyAgeDays?: number
  /** The clock key ages are measured against (default: the system clock). */
  now?: () => Date
}

/**
 * The age of a key version: when its key-encryption key was created (`null`: the key provider does
 * not say) and how many rows it still wraps.
 *
 * @example
 * ```ts
 * for (const k of status.keyVersions) log.info(k.keyVersion, k.ageDays ?? 'unknown', 'days,', k.rows, 'rows')
 * ```
 */
export interface KeyVersionAge {
  readonly keyVersion: string
  readonly createdAt: Date | null
  /** Whole seconds from `createdAt` to the status's `checkedAt`; `null` when unknown. */
  readonly ageSeconds: number | null
  /** Whole days, likewise. */
  readonly ageDays: number | null
  /** Rows under the version, across the models counted. */
  readonly rows: number
  /** The error code when the key provider failed to say when the key was created (KMS unreachable, access denied). */
  readonly error?: string
}

/**
 * The age of a tenant's intermediate key under one key version (providers with per-tenant keys).
 *
 * @example
 * ```ts
 * const old = status.tenantKeys?.filter((k) => k.ageDays > 90)
 * ```
 */
export interface TenantKeyAge {
  readonly tenantId: string
  readonly keyVersion: string
  readonly createdAt: Date
  readonly ageSeconds: number
  readonly ageDays: number
  /** The tenant's rows under the version, across the models counted. */
  readonly rows: number
}

/**
 * A key in use that breaks the `maxKeyAgeDays` policy: older than it, or of unknown age
 * (`createdAt` null).
 *
 * @example
 * ```ts
 * for (const k of status.exceeded ?? []) log.error(`key ${k.keyVersion}${k.tenantId ? ` of ${k.tenantId}` : ''} is ${k.ageDays ?? '?'} days old`)
 * ```
 */
export interface KeyAgeViolation {
  readonly keyVersion: string
  /** Set for a tenant's key under `keyVersion`. */
  readonly tenantId?: string
  readonly createdAt: Date | null
  readonly ageDays: number | null
  readonly rows: number
}

/**
 * Row counts of one model (or of one tenant of it).
 *
 * @example
 * ```ts
 * const { total, notActive, plaintextRows, versions } = status.models[0]!
 * ```
 */
export interface KeyVersionCounts {
  /** Every row of the table (or tenant). */
  readonly total: number
  /** Rows by key version (rows with a wrapped data key). */
  readonly versions: Readonly<Record<string, number>>
  /** Rows with a wrapped key on another version than the active one: what `rotate` would move. */
  readonly notActive: number
  /**
   * Rows without a wrapped key: plaintext rows. In `migrating` mode those of the legacy set read as
   * plaintext until `encryptExistingRows` (or their next write) encrypts them; any other one (written
   * around rowcrypt, or whose key was removed at rest) is an error on read.
   */
  readonly plaintextRows: number
}

/**
 * What {@link rotationStatus} returns.
 *
 * @example
 * ```ts
 * for (const m of status.models) log.info(m.model, m.notActive, 'rows not yet on', status.activeKeyVersion)
 * ```
 */
export interface RotationStatus {
  /** The key provider's active version. */
  readonly activeKeyVersion: string
  readonly models: ReadonlyArray<KeyVersionCounts & { readonly model: string; readonly tenants?: ReadonlyArray<KeyVersionCounts & { readonly tenantId: string }> }>
  /** The time ages are measured to. */
  readonly checkedAt: Date
  /** Every key version with rows, and the active one: creation time and age (from the provider's `keyCreatedAt`). */
  readonly keyVersions: readonly KeyVersionAge[]
  /** With `byTenant`, providers with per-tenant keys: the tenant keys in use whose creation time is known. */
  readonly tenantKeys?: readonly TenantKeyAge[]
  /** With `maxKeyAgeDays`: the policy, and the keys in use that break it (empty when none). */
  readonly maxKeyAgeDays?: number
  readonly exceeded?: readonly KeyAgeViolation[]
}

/**
 * Counts each configured model's rows per key version (and, with `byTenant`, per tenant), how
 * many are not yet on the key provider's active version, and how many have no wrapped key
 * (`plaintextRows`); gives the creation time and age of each key version in use (and, with
 * `byTenant`, of tenant keys) where the key provider reports them, and checks `maxKeyAgeDays`.
 * Read-only; one `GROUP BY` per model.
 *
 * @example
 * ```ts
 * const status = await rotationStatus({ prisma })
 * for (const m of status.models) metrics.setRowsPerKeyVersion(m.model, m.versions)
 * for (const m of status.models) metrics.setPlaintextRows(m.model, m.plaintextRows)
 * ```
 */
export async function rotationStatus(options: RotationStatusOptions): Promise<RotationStatus> {
  const caller = 'rotationStatus'
  if (options === null || typeof options !== 'object') throw new ConfigError(`${caller} needs { prisma, ... }`)
  const ctx = rotationContext(options.prisma, caller)
  const active = ctx.activeKeyVersion
  const checkedAt = clock(options.now, caller)
  const maxKeyAgeDays = options.maxKeyAgeDays
  if (maxKeyAgeDays !== undefined && (typeof maxKeyAgeDays !== 'number' || !Number.isFinite(maxKeyAgeDays) || maxKeyAgeDays <= 0)) {
    throw new ConfigError(`${caller}: maxKeyAgeDays must be a positive number of days`)
  }
  const models: Array<RotationStatus['models'][number]> = []
  for (const model of selectModels(ctx, options.model, caller)) {
    const t = await resolveTarget(ctx, model, options.dbSchema, caller)
    const sql =
      options.byTenant === true
        ? `SELECT ${t.keyVersion} AS v, ${t.tenantId} AS t, COUNT(*) AS n FROM ${t.table} GROUP BY ${t.keyVersion}, ${t.tenantId}`
        : `SELECT ${t.keyVersion} AS v, COUNT(*) AS n FROM ${t.table} GROUP BY ${t.keyVersion}`
    const rows = (await bypass(`rowcrypt status ${model}`, () => ctx.client.$queryRawUnsafe(sql))) as Array<{ v: unknown; t?: unknown; n: unknown }>
    const all = new Counter(active)
    const tenants = new Map<string, Counter>()
    for (const r of rows) {
      const version = typeof r.v === 'string' ? r.v : undefined
      const n = toCount(r.n)
      all.add(version, n)
      if (options.byTenant === true) {
        const tenant = typeof r.t === 'string' ? r.t : ''
        let c = tenants.get(tenant)
        if (c === undefined) tenants.set(tenant, (c = new Counter(active)))
        c.add(version, n)
      }
    }
    models.push({
      model,
      ...all.result(),
      ...(options.byTenant === true ? { tenants: [...tenants.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([tenantId, c]) => ({ tenantId, ...c.result() })) } : {}),
    })
  }
  return { activeKeyVersion: active, models, ...(await keyAges(ctx.core.keyProvider, active, models, checkedAt, maxKeyAgeDays)) }
}

async function keyAges(
  provider: Parameters<typeof creationTimes>[0],
  active: string,
  models: RotationStatus['models'],
  checkedAt: Date,
  maxKeyAgeDays: number | undefined,
): Promise<Omit<RotationStatus, 'activeKeyVersion' | 'models'>> {
  const versionRows = new Map<string, number>([[active, 0]])
  const pairRows = new Map<string, { tenantId: string; keyVersion: string; rows: number }>()
  for (const m of models) {
    for (const [v, n] of Object.entries(m.versions)) versionRows.set(v, (versionRows.get(v) ?? 0) + n)
    for (const t of m.tenants ?? []) {
      if (t.tenantId === '') continue
      for (const [v, n] of Object.entries(t.versions)) {
        const k = cacheKey(t.tenantId, v)
        const pair = pairRows.get(k) ?? { tenantId: t.tenantId, keyVersion: v, rows: 0 }
        pair.rows += n
        pairRows.set(k, pair)
      }
    }
  }
  // Counting rows needs no key: a key provider that cannot say (KMS down, DescribeKey denied) leaves
  // the age unknown, with the reason, rather than failing the command; the policy counts it as broken.
  const errors = new Map<string, string>()
  const created = await creationTimes(provider, [...versionRows.keys()].sort(), (v, e) => errors.set(v, e.code))
  const keyVersions: KeyVersionAge[] = [...created].map(([keyVersion, d]) => ({
    keyVersion,
    createdAt: d ?? null,
    ageSeconds: d === undefined ? null : ageSeconds(d, checkedAt),
    ageDays: d === undefined ? null : ageDays(d, checkedAt),
    rows: versionRows.get(keyVersion) ?? 0,
    ...(errors.has(keyVersion) ? { error: errors.get(keyVersion)! } : {}),
  }))
  const byTenant = models.some((m) => m.tenants !== undefined)
  const pairs = [...pairRows.values()].sort((a, b) => (a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : a.keyVersion < b.keyVersion ? -1 : 1))
  const tenantTimes = byTenant && typeof provider.tenantKeyCreatedAt === 'function' ? await tenantCreationTimes(provider, pairs) : undefined
  const tenantKeys: TenantKeyAge[] | undefined = tenantTimes?.size
    ? pairs.flatMap((p) => {
        const d = tenantTimes.get(cacheKey(p.tenantId, p.keyVersion))
        return d === undefined ? [] : [{ tenantId: p.tenantId, keyVersion: p.keyVersion, createdAt: d, ageSeconds: ageSeconds(d, checkedAt), ageDays: ageDays(d, checkedAt), rows: p.rows }]
      })
    : undefined
  const out = { checkedAt, keyVersions, ...(tenantKeys !== undefined ? { tenantKeys } : {}) }
  if (maxKeyAgeDays === undefined) return out
  // Older than the policy by any amount, to the millisecond; a key in use of unknown age breaks it too.
  const tooOld = (d: Date | null) => d === null || checkedAt.getTime() - d.getTime() > maxKeyAgeDays * DAY_MS
  const exceeded: KeyAgeViolation[] = [
    ...keyVersions.filter((k) => k.rows > 0 && tooOld(k.createdAt)).map((k) => ({ keyVersion: k.keyVersion, createdAt: k.createdAt, ageDays: k.ageDays, rows: k.rows })),
    ...(tenantKeys ?? []).filter((k) => k.rows > 0 && tooOld(k.createdAt)).map((k) => ({ keyVersion: k.keyVersion, tenantId: k.tenantId, createdAt: k.createdAt, ageDays: k.ageDays, rows: k.rows })),
  ]
  return { ...out, maxKeyAgeDays, exceeded }
}

class Counter {
  total = 0
  notActive = 0
  plaintextRows = 0
  readonly versions: Record<string, number> = {}
  constructor(readonly active: string) {}

  add(version: string | undefined, n: number): void {
    this.total += n
    if (version === undefined) {
      this.plaintextRows += n
      return
    }
    this.versions[version] = (this.versions[version] ?? 0) + n
    if (version !== this.active) this.notActive += n
  }

  result(): KeyVersionCounts {
    const versions = Object.fromEntries(Object.entries(this.versions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    return { total: this.total, versions, notActive: this.notActive, plaintextRows: this.plaintextRows }
  }
}
