// Rows per model and key version (and tenant): what `npx rowcrypt status` prints and what the
// `rows_per_key_version` gauge shows. One GROUP BY per model, read-only.
import { ConfigError } from '../errors'
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
}

/**
 * Counts each configured model's rows per key version (and, with `byTenant`, per tenant), how
 * many are not yet on the key provider's active version, and how many have no wrapped key
 * (`plaintextRows`). Read-only; one `GROUP BY` per model.
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
  return { activeKeyVersion: active, models }
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
