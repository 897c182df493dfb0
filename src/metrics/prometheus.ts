// Prometheus metrics from rowcrypt's events. prom-client is an optional peer dependency: this file
// does not import it, not even its types (so rowcrypt's declarations compile without it). The
// constructors come from the caller (`client`) or are required when `rowcryptMetrics()` is called,
// never when rowcrypt is imported. Metrics go on the caller's registry only.
import { ConfigError } from '../errors'
import type { KeyProviderEvent, OperationEvent, RowcryptObserver } from './observer'
import { OperationStatsCollector, type OperationStats, type OperationStatsFilter, type OperationStatsOptions } from './stats'

type Labels = Record<string, string>
interface MetricConfig {
  name: string
  help: string
  labelNames: string[]
  /** The caller's registry. Typed `never[]` so that prom-client's own registry type is accepted. */
  registers: never[]
}

/**
 * The prom-client constructors rowcrypt uses (a structural view of prom-client 15): pass the
 * module itself, `import * as promClient from 'prom-client'`.
 *
 * @example
 * ```ts
 * import * as promClient from 'prom-client'
 * const client: PromClientModule = promClient
 * ```
 */
export interface PromClientModule {
  readonly Counter: new (config: MetricConfig) => { inc(labels: Labels, value?: number): void }
  readonly Histogram: new (config: MetricConfig & { buckets: number[] }) => { observe(labels: Labels, value: number): void }
  readonly Gauge: new (config: MetricConfig) => { set(labels: Labels, value: number): void; remove(labels: Labels): void }
}

/**
 * A prom-client `Registry` (Prometheus or OpenMetrics format), seen structurally.
 *
 * @example
 * ```ts
 * const registry: MetricsRegistry = new promClient.Registry()
 * ```
 */
export interface MetricsRegistry {
  getSingleMetric(name: string): unknown
}

/**
 * Options of {@link rowcryptMetrics}.
 *
 * @example
 * ```ts
 * const options: RowcryptMetricsOptions = {
 *   client: promClient,
 *   registry: new promClient.Registry(),
 *   tenantLabel: { enabled: true, maxTenants: 50 },
 * }
 * ```
 */
export interface RowcryptMetricsOptions {
  /**
   * Where the metrics are registered. Nothing is registered anywhere else: pass prom-client's
   * global `register` only if you want the default registry.
   */
  readonly registry: MetricsRegistry
  /** The prom-client module. Default: `require('prom-client')` when `rowcryptMetrics()` is called. */
  readonly client?: PromClientModule
  /**
   * Prepended to every metric name (default none): `prefix: 'billing_'` gives
   * `billing_row_encryption_operations_total`.
   */
  readonly prefix?: string
  /**
   * Adds a `tenant` label to the operation counter, the duration histogram and the denial counter.
   * Off by default. Only the first `maxTenants` distinct tenants (default 100) get their own
   * value; later ones are counted as `other`. Calls without a tenant are `none`, calls inside
   * `unsafeBypassTenantScope` are `bypass`.
   */
  readonly tenantLabel?: { readonly enabled: boolean; readonly maxTenants?: number }
  /** Histogram buckets in seconds, for operations and for KMS requests. */
  readonly buckets?: { readonly operation?: readonly number[]; readonly kms?: readonly number[] }
  /** Bounds of the embedded operation statistics (see {@link OperationStatsCollector}). */
  readonly stats?: OperationStatsOptions
}

/**
 * The names of the metrics, as registered (with the prefix).
 *
 * @example
 * ```ts
 * await registry.getSingleMetricAsString(metrics.names.operationsTotal)
 * ```
 */
export interface RowcryptMetricNames {
  readonly operationDuration: string
  readonly operationsTotal: string
  readonly rowsProcessed: string
  readonly decryptionFailures: string
  readonly tenantDenials: string
  readonly kmsRequests: string
  readonly kmsRequestDuration: string
  readonly kmsRetries: string
  readonly keyCacheHits: string
  readonly keyCacheMisses: string
  readonly keyCacheEvictions: string
  readonly rowsPerKeyVersion: string
  readonly plaintextReads: string
  readonly plaintextRows: string
  readonly keyAge: string
}

/**
 * What {@link rowcryptMetrics} returns: an observer for `rowcrypt({ observers })` and for key
 * providers' `observers`, plus operation statistics and the rows-per-key-version setter.
 *
 * @example
 * ```ts
 * const metrics: RowcryptMetrics = rowcryptMetrics({ client: promClient, registry })
 * metrics.getOperationStats({ tenantId: 'tenant_a' }).successRate
 * ```
 */
export interface RowcryptMetrics extends RowcryptObserver {
  operation(event: OperationEvent): void
  keyProvider(event: KeyProviderEvent): void
  /** Operation statistics: totals, success rate, mean and p95 duration of matching operations. */
  getOperationStats(filter?: OperationStatsFilter): OperationStats
  /**
   * Sets the `rows_per_key_version` gauge of one model to `counts` (key version → rows), removing
   * versions that are no longer listed. For `status` / `rotate` style jobs that count rows.
   */
  setRowsPerKeyVersion(model: string, counts: Readonly<Record<string, number>>): void
  /**
   * Sets the `plaintext_rows` gauge of one model: rows without a wrapped key (`plaintextRows` of
   * `rotationStatus`). For `status` / `rotate` style jobs that count rows.
   */
  setPlaintextRows(model: string, rows: number): void
  /**
   * Sets the `key_age_seconds` gauge of one model: the age of the oldest key version that still
   * has rows of it (`undefined` removes the series). `rowcrypt status` and `rotate` set it from
   * `rotationStatus`'s `keyVersions`.
   */
  setKeyAgeSeconds(model: string, seconds: number | undefined): void
  readonly names: RowcryptMetricNames
}

const DEFAULT_OPERATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const DEFAULT_KMS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const DEFAULT_MAX_TENANTS = 100

/** Reasons of `decryption_failures_total`, by error code. */
const DECRYPTION_REASONS: Readonly<Record<string, string>> = {
  ERR_ROWCRYPT_DECRYPTION_FAILED: 'authentication',
  ERR_ROWCRYPT_CIPHERTEXT_FORMAT: 'format',
  ERR_ROWCRYPT_KEY_VERSION_UNKNOWN: 'unknown_key_version',
  ERR_ROWCRYPT_KEY_PROVIDER: 'key_provider',
  ERR_ROWCRYPT_KMS_UNAVAILABLE: 'kms_unavailable',
  ERR_ROWCRYPT_KMS_ACCESS_DENIED: 'kms_access_denied',
  ERR_ROWCRYPT_KMS_KEY_UNUSABLE: 'kms_key_unusable',
  ERR_ROWCRYPT_TENANT_SHREDDED: 'tenant_shredded',
}
/** Reasons of `tenant_denials_total`, by error code. */
const DENIAL_REASONS: Readonly<Record<string, string>> = {
  ERR_ROWCRYPT_TENANT_MISSING: 'missing',
  ERR_ROWCRYPT_TENANT_MISMATCH: 'mismatch',
  ERR_ROWCRYPT_TENANT_INVALID: 'invalid',
}

/**
 * Prometheus metrics for rowcrypt, registered on your prom-client `Registry` (and nowhere else).
 * Pass the result to `rowcrypt({ observers: [metrics] })`, and to a key provider's `observers`
 * for KMS and key-cache metrics.
 *
 * | metric | type | labels |
 * |---|---|---|
 * | `row_encryption_operation_duration_seconds` | histogram | operation, model (, tenant) |
 * | `row_encryption_operations_total` | counter | operation, model, status (`ok`/`denied`/`failed`) (, tenant) |
 * | `row_encryption_rows_processed_total` | counter | operation, model |
 * | `row_encryption_decryption_failures_total` | counter | model, reason |
 * | `row_encryption_tenant_denials_total` | counter | operation, model, reason (, tenant) |
 * | `row_encryption_kms_requests_total` | counter | operation, outcome |
 * | `row_encryption_kms_request_duration_seconds` | histogram | operation, outcome |
 * | `row_encryption_kms_retries_total` | counter | operation |
 * | `row_encryption_key_cache_hits_total` / `_misses_total` / `_evictions_total` | counter | cache |
 * | `row_encryption_rows_per_key_version` | gauge | model, key_version |
 * | `row_encryption_plaintext_reads_total` | counter | model |
 * | `row_encryption_plaintext_rows` | gauge | model |
 * | `row_encryption_key_age_seconds` | gauge | model |
 *
 * Throws `ConfigError` when prom-client cannot be loaded, an option is invalid, or the registry
 * already holds one of these metrics (share one `rowcryptMetrics()` between clients instead).
 *
 * @example
 * ```ts
 * import * as promClient from 'prom-client'
 * import { rowcrypt, rowcryptMetrics } from 'rowcrypt'
 *
 * const registry = new promClient.Registry()
 * const metrics = rowcryptMetrics({ client: promClient, registry, tenantLabel: { enabled: true, maxTenants: 100 } })
 * const prisma = base.$extends(rowcrypt({ schema, keyProvider, models, observers: [metrics] }))
 * app.get('/metrics', async (_req, res) => res.type(registry.contentType).send(await registry.metrics()))
 * ```
 */
export function rowcryptMetrics(options: RowcryptMetricsOptions): RowcryptMetrics {
  if (options === null || typeof options !== 'object') throw new ConfigError('rowcryptMetrics() needs an options object')
  const { registry } = options
  if (registry === null || typeof registry !== 'object' || typeof registry.getSingleMetric !== 'function') {
    throw new ConfigError('rowcryptMetrics(): "registry" must be a prom-client Registry')
  }
  const prefix = options.prefix ?? ''
  if (typeof prefix !== 'string' || !/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix)) {
    throw new ConfigError('rowcryptMetrics(): "prefix" must be a valid Prometheus metric name prefix')
  }
  const tenantOn = options.tenantLabel?.enabled === true
  const maxTenants = options.tenantLabel?.maxTenants ?? DEFAULT_MAX_TENANTS
  if (!Number.isSafeInteger(maxTenants) || maxTenants < 0) throw new ConfigError('rowcryptMetrics(): tenantLabel.maxTenants must be an integer >= 0')
  const operationBuckets = checkBuckets('operation', options.buckets?.operation ?? DEFAULT_OPERATION_BUCKETS)
  const kmsBuckets = checkBuckets('kms', options.buckets?.kms ?? DEFAULT_KMS_BUCKETS)
  const stats = new OperationStatsCollector(options.stats)
  const client = options.client ?? loadPromClient()

  const n = (s: string) => `${prefix}row_encryption_${s}`
  const names: RowcryptMetricNames = Object.freeze({
    operationDuration: n('operation_duration_seconds'),
    operationsTotal: n('operations_total'),
    rowsProcessed: n('rows_processed_total'),
    decryptionFailures: n('decryption_failures_total'),
    tenantDenials: n('tenant_denials_total'),
    kmsRequests: n('kms_requests_total'),
    kmsRequestDuration: n('kms_request_duration_seconds'),
    kmsRetries: n('kms_retries_total'),
    keyCacheHits: n('key_cache_hits_total'),
    keyCacheMisses: n('key_cache_misses_total'),
    keyCacheEvictions: n('key_cache_evictions_total'),
    rowsPerKeyVersion: n('rows_per_key_version'),
    plaintextReads: n('plaintext_reads_total'),
    plaintextRows: n('plaintext_rows'),
    keyAge: n('key_age_seconds'),
  })
  // Checked up front so that a clash registers nothing at all.
  for (const name of Object.values(names)) {
    if (registry.getSingleMetric(name) !== undefined) {
      throw new ConfigError(`rowcryptMetrics(): the registry already has a metric named ${name}; share one rowcryptMetrics() between clients`)
    }
  }

  const registers = [registry] as never[]
  const withTenant = (labels: string[]) => (tenantOn ? [...labels, 'tenant'] : labels)
  const counter = (name: string, help: string, labelNames: string[]) => new client.Counter({ name, help, labelNames, registers })
  const histogram = (name: string, help: string, labelNames: string[], buckets: number[]) => new client.Histogram({ name, help, labelNames, buckets, registers })

  const operationDuration = histogram(names.operationDuration, 'Wall time of rowcrypt-guarded Prisma operations (key work and query), in seconds', withTenant(['operation', 'model']), operationBuckets)
  const operationsTotal = counter(names.operationsTotal, 'rowcrypt-guarded Prisma operations by outcome: ok, denied (tenant scope) or failed', withTenant(['operation', 'model', 'status']))
  const rowsProcessed = counter(names.rowsProcessed, 'Rows whose fields an operation encrypted or decrypted', ['operation', 'model'])
  const decryptionFailures = counter(names.decryptionFailures, 'Operations that failed decrypting or unwrapping a row, by reason', ['model', 'reason'])
  const tenantDenials = counter(names.tenantDenials, 'Operations refused by the tenant scope, by reason', withTenant(['operation', 'model', 'reason']))
  const kmsRequests = counter(names.kmsRequests, 'Requests from key providers to a KMS, by outcome', ['operation', 'outcome'])
  const kmsRequestDuration = histogram(names.kmsRequestDuration, 'Latency of KMS requests including SDK retries, in seconds', ['operation', 'outcome'], kmsBuckets)
  const kmsRetries = counter(names.kmsRetries, 'Extra attempts (retries) made for KMS requests', ['operation'])
  const cacheHits = counter(names.keyCacheHits, 'Key cache lookups that found the key', ['cache'])
  const cacheMisses = counter(names.keyCacheMisses, 'Key cache lookups that did not find the key', ['cache'])
  const cacheEvictions = counter(names.keyCacheEvictions, 'Keys evicted from a key cache', ['cache'])
  const rowsPerKeyVersion = new client.Gauge({
    name: names.rowsPerKeyVersion,
    help: 'Rows per model and key version, as last counted by a status or rotate job',
    labelNames: ['model', 'key_version'],
    registers,
  })
  const plaintextReads = counter(names.plaintextReads, 'Rows taken as plaintext (migrating mode: legacy rows without a wrapped key), read or encrypted on their write', ['model'])
  const plaintextRows = new client.Gauge({ name: names.plaintextRows, help: 'Rows without a wrapped key per model, as last counted by a status or rotate job', labelNames: ['model'], registers })
  const keyAge = new client.Gauge({
    name: names.keyAge,
    help: 'Age in seconds of the oldest key version that still has rows of the model, as of the last status or rotate job',
    labelNames: ['model'],
    registers,
  })

  const tenants = new Set<string>()
  const tenantLabel = (e: OperationEvent): string => {
    if (e.tenantId === undefined) return e.bypass ? 'bypass' : 'none'
    if (tenants.has(e.tenantId)) return e.tenantId
    if (tenants.size >= maxTenants) return 'other'
    tenants.add(e.tenantId)
    return e.tenantId
  }
  const versionsByModel = new Map<string, Set<string>>()

  return {
    names,
    operation(e: OperationEvent): void {
      const base = { operation: e.operation, model: e.model }
      const tenant: Labels = tenantOn ? { tenant: tenantLabel(e) } : {}
      operationsTotal.inc({ ...base, status: e.outcome, ...tenant })
      if (Number.isFinite(e.durationMs) && e.durationMs >= 0) operationDuration.observe({ ...base, ...tenant }, e.durationMs / 1000)
      // A row encrypted and returned decrypted by the same call is one row processed.
      const rows = Math.max(e.rowsEncrypted, e.rowsDecrypted)
      if (rows > 0) rowsProcessed.inc(base, rows)
      if (e.rowsPlaintext > 0) plaintextReads.inc({ model: e.model }, e.rowsPlaintext)
      const code = e.errorCode ?? ''
      if (e.outcome === 'denied') tenantDenials.inc({ ...base, reason: DENIAL_REASONS[code] ?? 'other', ...tenant })
      else if (e.outcome === 'failed' && DECRYPTION_REASONS[code] !== undefined) decryptionFailures.inc({ model: e.model, reason: DECRYPTION_REASONS[code] })
      stats.operation(e)
    },
    keyProvider(e: KeyProviderEvent): void {
      if (e.type === 'kms-request') {
        const labels = { operation: e.operation, outcome: e.outcome }
        kmsRequests.inc(labels)
        if (Number.isFinite(e.durationMs) && e.durationMs >= 0) kmsRequestDuration.observe(labels, e.durationMs / 1000)
        if (Number.isFinite(e.attempts) && e.attempts > 1) kmsRetries.inc({ operation: e.operation }, e.attempts - 1)
      } else if (e.type === 'cache') {
        const labels = { cache: e.cache }
        if (e.result === 'hit') cacheHits.inc(labels)
        else if (e.result === 'miss') cacheMisses.inc(labels)
        else if (e.result === 'eviction') cacheEvictions.inc(labels)
      }
    },
    getOperationStats: (filter?: OperationStatsFilter) => stats.getOperationStats(filter),
    setRowsPerKeyVersion(model: string, counts: Readonly<Record<string, number>>): void {
      if (typeof model !== 'string' || model === '' || counts === null || typeof counts !== 'object') {
        throw new ConfigError('setRowsPerKeyVersion(model, counts): a model name and a { keyVersion: rows } object are required')
      }
      const entries = Object.entries(counts)
      for (const [version, rows] of entries) {
        if (!Number.isSafeInteger(rows) || rows < 0) throw new ConfigError(`setRowsPerKeyVersion(): rows of key version ${version} must be an integer >= 0`)
      }
      const previous = versionsByModel.get(model) ?? new Set<string>()
      for (const version of previous) if (!Object.hasOwn(counts, version)) rowsPerKeyVersion.remove({ model, key_version: version })
      for (const [version, rows] of entries) rowsPerKeyVersion.set({ model, key_version: version }, rows)
      versionsByModel.set(model, new Set(entries.map(([v]) => v)))
    },
    setPlaintextRows(model: string, rows: number): void {
      if (typeof model !== 'string' || model === '' || !Number.isSafeInteger(rows) || rows < 0) {
        throw new ConfigError('setPlaintextRows(model, rows): a model name and an integer >= 0 are required')
      }
      plaintextRows.set({ model }, rows)
    },
    setKeyAgeSeconds(model: string, seconds: number | undefined): void {
      if (typeof model !== 'string' || model === '' || (seconds !== undefined && (!Number.isFinite(seconds) || seconds < 0))) {
        throw new ConfigError('setKeyAgeSeconds(model, seconds): a model name and a number >= 0 (or undefined) are required')
      }
      if (seconds === undefined) keyAge.remove({ model })
      else keyAge.set({ model }, seconds)
    },
  }
}

function checkBuckets(which: string, buckets: readonly number[]): number[] {
  if (!Array.isArray(buckets) || buckets.length === 0 || buckets.some((b, i) => typeof b !== 'number' || !(b > 0) || !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]!))) {
    throw new ConfigError(`rowcryptMetrics(): buckets.${which} must be increasing positive numbers`)
  }
  return [...buckets]
}

// Only when metrics are asked for: rowcrypt itself must load without prom-client.
function loadPromClient(): PromClientModule {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer, required at first use only
    return require('prom-client') as PromClientModule
  } catch (cause) {
    throw new ConfigError('rowcryptMetrics(): prom-client is not installed; install it (npm install prom-client) or pass { client }', { cause })
  }
}
