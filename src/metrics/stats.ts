// Operation statistics in process memory, in bounded space (operation stats without
// Prometheus). Exact counts; durations kept as a bounded sample.
import { ConfigError } from '../errors'
import type { OperationEvent, RowcryptObserver } from './observer'

/**
 * Which operations {@link OperationStatsCollector.getOperationStats} summarises. Every field is
 * optional; an absent field matches everything.
 *
 * @example
 * ```ts
 * stats.getOperationStats({ tenantId: 'tenant_a', model: 'User', operation: 'findMany' })
 * ```
 */
export interface OperationStatsFilter {
  /** One tenant's operations (calls made inside `withTenant(tenantId, ...)`). */
  readonly tenantId?: string
  readonly model?: string
  /** Prisma operation name: `findMany`, `create`, ... */
  readonly operation?: string
}

/**
 * A summary of the operations that match a filter. `failed` counts both `denied` (tenant-scope
 * refusals) and `failed` outcomes. Every field is 0 when nothing matched.
 *
 * @example
 * ```ts
 * const s: OperationStats = stats.getOperationStats({ tenantId: 'tenant_a' })
 * log.info(`success rate ${(s.successRate * 100).toFixed(2)}%, p95 ${s.p95DurationMs.toFixed(1)} ms`)
 * ```
 */
export interface OperationStats {
  readonly total: number
  readonly succeeded: number
  readonly failed: number
  /** `succeeded / total`, between 0 and 1. */
  readonly successRate: number
  /** Mean wall time of the matching operations (exact). */
  readonly averageDurationMs: number
  /** 95th percentile wall time: exact while each key holds at most `samplesPerKey` operations, estimated from a uniform sample after. */
  readonly p95DurationMs: number
}

/**
 * Memory bounds of an {@link OperationStatsCollector}.
 *
 * @example
 * ```ts
 * new OperationStatsCollector({ maxTenants: 500, samplesPerKey: 128 })
 * ```
 */
export interface OperationStatsOptions {
  /**
   * Distinct tenants tracked one by one (default 1000). Operations of later tenants are still
   * counted in every summary that does not filter by tenant, but a summary for one of those
   * tenants is empty.
   */
  readonly maxTenants?: number
  /** Durations sampled per (tenant, model, operation) key for the p95 (default 256). */
  readonly samplesPerKey?: number
}

interface Bucket {
  total: number
  succeeded: number
  sumMs: number
  /** Reservoir (algorithm R): a uniform sample of at most `samplesPerKey` durations. */
  readonly samples: number[]
}

// Tenant keys besides real tenant ids: no tenant (refused calls, unsafeBypassTenantScope) and
// tenants past the cap. Symbols, so no tenant id can collide with them.
const NO_TENANT: unique symbol = Symbol('no tenant')
const OTHER_TENANTS: unique symbol = Symbol('other tenants')
type TenantKey = string | typeof NO_TENANT | typeof OTHER_TENANTS

const EMPTY: OperationStats = Object.freeze({ total: 0, succeeded: 0, failed: 0, successRate: 0, averageDurationMs: 0, p95DurationMs: 0 })

/**
 * Keeps per-operation statistics in memory and answers `getOperationStats(filter)`. Pass it as an
 * observer to `rowcrypt({ observers })`; `rowcryptMetrics()` embeds one too.
 *
 * Memory is bounded: one entry per (tenant, model, operation) key, for at most `maxTenants`
 * tenants plus two shared entries (calls without a tenant, tenants past the cap); models and
 * operations are bounded by your schema and Prisma's operation set. Each entry holds exact
 * counters and a reservoir of at most `samplesPerKey` durations (8 bytes each), so the worst case
 * is about `(maxTenants + 2) × models × operations × (samplesPerKey × 8 + 100)` bytes; in practice
 * each tenant uses a handful of (model, operation) pairs.
 *
 * @example
 * ```ts
 * const stats = new OperationStatsCollector()
 * const prisma = base.$extends(rowcrypt({ schema, keyProvider, models, observers: [stats] }))
 * // ...
 * const { successRate, averageDurationMs } = stats.getOperationStats({ tenantId: 'tenant_a' })
 * ```
 */
export class OperationStatsCollector implements RowcryptObserver {
  readonly #maxTenants: number
  readonly #samplesPerKey: number
  readonly #tenants = new Map<TenantKey, Map<string, Bucket>>()
  #trackedTenants = 0

  constructor(options: OperationStatsOptions = {}) {
    this.#maxTenants = checkCount('maxTenants', options.maxTenants ?? 1000, 0)
    this.#samplesPerKey = checkCount('samplesPerKey', options.samplesPerKey ?? 256, 1)
  }

  /** Records one operation event. Called by rowcrypt; never throws. */
  operation(event: OperationEvent): void {
    const bucket = this.#bucket(this.#tenantKey(event.tenantId), event.model, event.operation)
    const ms = Number.isFinite(event.durationMs) && event.durationMs >= 0 ? event.durationMs : 0
    bucket.total++
    if (event.outcome === 'ok') bucket.succeeded++
    bucket.sumMs += ms
    if (bucket.samples.length < this.#samplesPerKey) bucket.samples.push(ms)
    else {
      const j = Math.floor(Math.random() * bucket.total)
      if (j < this.#samplesPerKey) bucket.samples[j] = ms
    }
  }

  /**
   * Summarises the recorded operations that match `filter` (all of them by default).
   *
   * @example
   * ```ts
   * stats.getOperationStats({ model: 'User', operation: 'findMany' })
   * // { total: 12, succeeded: 11, failed: 1, successRate: 0.9166, averageDurationMs: 3.1, p95DurationMs: 7.9 }
   * ```
   */
  getOperationStats(filter: OperationStatsFilter = {}): OperationStats {
    const matching: Bucket[] = []
    const tenants = filter.tenantId === undefined ? [...this.#tenants.values()] : [this.#tenants.get(filter.tenantId)]
    for (const perTenant of tenants) {
      if (perTenant === undefined) continue
      for (const [key, bucket] of perTenant) {
        const [model, operation] = key.split('\u0000') as [string, string]
        if ((filter.model === undefined || filter.model === model) && (filter.operation === undefined || filter.operation === operation)) matching.push(bucket)
      }
    }
    let total = 0
    let succeeded = 0
    let sumMs = 0
    for (const b of matching) {
      total += b.total
      succeeded += b.succeeded
      sumMs += b.sumMs
    }
    if (total === 0) return EMPTY
    return { total, succeeded, failed: total - succeeded, successRate: succeeded / total, averageDurationMs: sumMs / total, p95DurationMs: weightedQuantile(matching, 0.95) }
  }

  /**
   * Forgets everything recorded so far.
   *
   * @example
   * ```ts
   * stats.reset()
   * stats.getOperationStats().total // 0
   * ```
   */
  reset(): void {
    this.#tenants.clear()
    this.#trackedTenants = 0
  }

  #tenantKey(tenantId: string | undefined): TenantKey {
    if (tenantId === undefined) return NO_TENANT
    if (this.#tenants.has(tenantId)) return tenantId
    if (this.#trackedTenants >= this.#maxTenants) return OTHER_TENANTS
    this.#trackedTenants++
    return tenantId
  }

  #bucket(tenant: TenantKey, model: string, operation: string): Bucket {
    let perTenant = this.#tenants.get(tenant)
    if (perTenant === undefined) this.#tenants.set(tenant, (perTenant = new Map()))
    const key = `${model}\u0000${operation}`
    let bucket = perTenant.get(key)
    if (bucket === undefined) perTenant.set(key, (bucket = { total: 0, succeeded: 0, sumMs: 0, samples: [] }))
    return bucket
  }
}

/**
 * The q-quantile of the durations of several buckets. Each sample stands for `total / samples`
 * operations of its bucket, so buckets whose reservoir is full keep their true weight. While no
 * reservoir is full every weight is 1 and this is the exact nearest-rank quantile.
 */
function weightedQuantile(buckets: readonly Bucket[], q: number): number {
  const points: Array<[number, number]> = []
  let weight = 0
  for (const b of buckets) {
    if (b.samples.length === 0) continue
    const w = b.total / b.samples.length
    for (const s of b.samples) points.push([s, w])
    weight += b.total
  }
  if (points.length === 0) return 0
  points.sort((a, b) => a[0] - b[0])
  // The tolerance absorbs floating-point error in q × weight (0.95 × 20 must be rank 19).
  const threshold = q * weight * (1 - 1e-12)
  let cumulative = 0
  for (const [value, w] of points) {
    cumulative += w
    if (cumulative >= threshold) return value
  }
  return points[points.length - 1]![0]
}

function checkCount(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new ConfigError(`operation stats: ${name} must be an integer >= ${min}`)
  }
  return value
}
