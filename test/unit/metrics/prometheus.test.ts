// Prometheus metrics from synthetic events: exact series and values, the tenant label cap, KMS and
// cache metrics, the rows-per-key-version gauge, and no registration outside the caller's registry.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import * as promClient from 'prom-client'
import { rowcryptMetrics, type OperationEvent, type RowcryptMetrics } from '../../../src'
import { line, parsePromText, series } from '../../support/prom-text'

function event(over: Partial<OperationEvent> = {}): OperationEvent {
  return { operation: 'findMany', model: 'User', tenantId: 't1', bypass: false, outcome: 'ok', durationMs: 2, rowsEncrypted: 0, rowsDecrypted: 0, rowsPlaintext: 0, time: new Date(0), ...over }
}

const OPS = 'row_encryption_operations_total'

describe('rowcryptMetrics', () => {
  let registry: promClient.Registry
  beforeEach(() => {
    registry = new promClient.Registry()
  })

  it('counts operations by operation, model and status, without a tenant label by default', async () => {
    const m = rowcryptMetrics({ client: promClient, registry })
    m.operation(event({ operation: 'create', rowsEncrypted: 1, rowsDecrypted: 1 }))
    m.operation(event({ operation: 'create', tenantId: 't2', rowsEncrypted: 1, rowsDecrypted: 1 }))
    m.operation(event({ operation: 'findMany', rowsDecrypted: 3 }))
    m.operation(event({ operation: 'findMany', outcome: 'denied', errorCode: 'ERR_ROWCRYPT_TENANT_MISSING', tenantId: undefined }))
    m.operation(event({ operation: 'update', model: 'Post', outcome: 'failed', errorCode: 'P2025' }))
    const text = await registry.metrics()
    expect(series(text, OPS)).toEqual(
      [
        line(OPS, { operation: 'create', model: 'User', status: 'ok' }, 2),
        line(OPS, { operation: 'findMany', model: 'User', status: 'ok' }, 1),
        line(OPS, { operation: 'findMany', model: 'User', status: 'denied' }, 1),
        line(OPS, { operation: 'update', model: 'Post', status: 'failed' }, 1),
      ].sort(),
    )
    // A created row returned decrypted is one row processed, not two.
    expect(series(text, 'row_encryption_rows_processed_total')).toEqual(
      [line('row_encryption_rows_processed_total', { operation: 'create', model: 'User' }, 2), line('row_encryption_rows_processed_total', { operation: 'findMany', model: 'User' }, 3)].sort(),
    )
    expect(series(text, 'row_encryption_operation_duration_seconds_count')).toEqual(
      [
        line('row_encryption_operation_duration_seconds_count', { operation: 'create', model: 'User' }, 2),
        line('row_encryption_operation_duration_seconds_count', { operation: 'findMany', model: 'User' }, 2),
        line('row_encryption_operation_duration_seconds_count', { operation: 'update', model: 'Post' }, 1),
      ].sort(),
    )
    expect(series(text, 'row_encryption_operation_duration_seconds_sum')).toContain(line('row_encryption_operation_duration_seconds_sum', { operation: 'create', model: 'User' }, 0.004))
    expect(series(text, 'row_encryption_tenant_denials_total')).toEqual([line('row_encryption_tenant_denials_total', { operation: 'findMany', model: 'User', reason: 'missing' }, 1)])
    // P2025 is a failure but not a decryption failure.
    expect(series(text, 'row_encryption_decryption_failures_total')).toEqual([])
    expect(text).not.toMatch(/tenant="/)
  })

  it('labels tenants only when enabled, up to maxTenants, and counts the rest as other', async () => {
    const m = rowcryptMetrics({ client: promClient, registry, tenantLabel: { enabled: true, maxTenants: 2 } })
    for (const t of ['t1', 't2', 't3', 't1', 't4', 't2']) m.operation(event({ tenantId: t }))
    m.operation(event({ tenantId: undefined, outcome: 'denied', errorCode: 'ERR_ROWCRYPT_TENANT_MISSING' }))
    m.operation(event({ tenantId: undefined, bypass: true }))
    m.operation(event({ tenantId: 't3', operation: 'create', outcome: 'denied', errorCode: 'ERR_ROWCRYPT_TENANT_MISMATCH' }))
    const text = await registry.metrics()
    expect(series(text, OPS)).toEqual(
      [
        line(OPS, { operation: 'findMany', model: 'User', status: 'ok', tenant: 't1' }, 2),
        line(OPS, { operation: 'findMany', model: 'User', status: 'ok', tenant: 't2' }, 2),
        line(OPS, { operation: 'findMany', model: 'User', status: 'ok', tenant: 'other' }, 2),
        line(OPS, { operation: 'findMany', model: 'User', status: 'denied', tenant: 'none' }, 1),
        line(OPS, { operation: 'findMany', model: 'User', status: 'ok', tenant: 'bypass' }, 1),
        line(OPS, { operation: 'create', model: 'User', status: 'denied', tenant: 'other' }, 1),
      ].sort(),
    )
    expect(series(text, 'row_encryption_tenant_denials_total')).toEqual(
      [
        line('row_encryption_tenant_denials_total', { operation: 'findMany', model: 'User', reason: 'missing', tenant: 'none' }, 1),
        line('row_encryption_tenant_denials_total', { operation: 'create', model: 'User', reason: 'mismatch', tenant: 'other' }, 1),
      ].sort(),
    )
    const tenants = new Set(
      parsePromText(text)
        .map((s) => s.labels.tenant)
        .filter((t) => t !== undefined),
    )
    expect(tenants).toEqual(new Set(['t1', 't2', 'other', 'none', 'bypass']))
    // rows_processed never carries a tenant.
    expect(parsePromText(text).filter((s) => s.name === 'row_encryption_rows_processed_total' && 'tenant' in s.labels)).toEqual([])
  })

  it('bounds tenant label cardinality for many tenants', async () => {
    const m = rowcryptMetrics({ client: promClient, registry, tenantLabel: { enabled: true, maxTenants: 10 } })
    for (let i = 0; i < 5000; i++) m.operation(event({ tenantId: `tenant_${i}` }))
    const ops = parsePromText(await registry.metrics()).filter((s) => s.name === OPS)
    expect(ops).toHaveLength(11)
    expect(ops.find((s) => s.labels.tenant === 'other')?.value).toBe(4990)
  })

  it('counts decryption failures by reason', async () => {
    const m = rowcryptMetrics({ client: promClient, registry })
    m.operation(event({ outcome: 'failed', errorCode: 'ERR_ROWCRYPT_DECRYPTION_FAILED' }))
    m.operation(event({ outcome: 'failed', errorCode: 'ERR_ROWCRYPT_DECRYPTION_FAILED' }))
    m.operation(event({ outcome: 'failed', errorCode: 'ERR_ROWCRYPT_CIPHERTEXT_FORMAT', model: 'Post' }))
    m.operation(event({ outcome: 'failed', errorCode: 'ERR_ROWCRYPT_KEY_VERSION_UNKNOWN' }))
    m.operation(event({ outcome: 'failed', errorCode: 'ERR_ROWCRYPT_KEY_PROVIDER' }))
    m.operation(event({ outcome: 'failed', errorCode: 'ERR_ROWCRYPT_UNSUPPORTED_QUERY' }))
    const name = 'row_encryption_decryption_failures_total'
    expect(series(await registry.metrics(), name)).toEqual(
      [
        line(name, { model: 'User', reason: 'authentication' }, 2),
        line(name, { model: 'Post', reason: 'format' }, 1),
        line(name, { model: 'User', reason: 'unknown_key_version' }, 1),
        line(name, { model: 'User', reason: 'key_provider' }, 1),
      ].sort(),
    )
  })

  it('turns key-provider events into KMS request, latency, retry and cache metrics', async () => {
    const m = rowcryptMetrics({ client: promClient, registry })
    m.keyProvider({ type: 'kms-request', operation: 'GenerateDataKey', outcome: 'ok', durationMs: 20, attempts: 1 })
    m.keyProvider({ type: 'kms-request', operation: 'GenerateDataKey', outcome: 'ok', durationMs: 30, attempts: 3 })
    m.keyProvider({ type: 'kms-request', operation: 'Decrypt', outcome: 'throttled', durationMs: 400, attempts: 4 })
    m.keyProvider({ type: 'cache', cache: 'tenant-key', result: 'hit' })
    m.keyProvider({ type: 'cache', cache: 'tenant-key', result: 'hit' })
    m.keyProvider({ type: 'cache', cache: 'tenant-key', result: 'miss' })
    m.keyProvider({ type: 'cache', cache: 'data-key', result: 'eviction' })
    const text = await registry.metrics()
    expect(series(text, 'row_encryption_kms_requests_total')).toEqual(
      [
        line('row_encryption_kms_requests_total', { operation: 'GenerateDataKey', outcome: 'ok' }, 2),
        line('row_encryption_kms_requests_total', { operation: 'Decrypt', outcome: 'throttled' }, 1),
      ].sort(),
    )
    expect(series(text, 'row_encryption_kms_request_duration_seconds_sum')).toEqual(
      [
        line('row_encryption_kms_request_duration_seconds_sum', { operation: 'GenerateDataKey', outcome: 'ok' }, 0.05),
        line('row_encryption_kms_request_duration_seconds_sum', { operation: 'Decrypt', outcome: 'throttled' }, 0.4),
      ].sort(),
    )
    // 0.025 s < 30 ms: one of the two GenerateDataKey requests is at or under the 0.025 bucket.
    expect(series(text, 'row_encryption_kms_request_duration_seconds_bucket')).toContain(
      line('row_encryption_kms_request_duration_seconds_bucket', { operation: 'GenerateDataKey', outcome: 'ok', le: '0.025' }, 1),
    )
    expect(series(text, 'row_encryption_kms_retries_total')).toEqual(
      [line('row_encryption_kms_retries_total', { operation: 'GenerateDataKey' }, 2), line('row_encryption_kms_retries_total', { operation: 'Decrypt' }, 3)].sort(),
    )
    expect(series(text, 'row_encryption_key_cache_hits_total')).toEqual([line('row_encryption_key_cache_hits_total', { cache: 'tenant-key' }, 2)])
    expect(series(text, 'row_encryption_key_cache_misses_total')).toEqual([line('row_encryption_key_cache_misses_total', { cache: 'tenant-key' }, 1)])
    expect(series(text, 'row_encryption_key_cache_evictions_total')).toEqual([line('row_encryption_key_cache_evictions_total', { cache: 'data-key' }, 1)])
  })

  it('sets rows per key version per model, dropping versions no longer listed', async () => {
    const m = rowcryptMetrics({ client: promClient, registry })
    const name = 'row_encryption_rows_per_key_version'
    m.setRowsPerKeyVersion('User', { v1: 120, v2: 30 })
    m.setRowsPerKeyVersion('Post', { v1: 7 })
    expect(series(await registry.metrics(), name)).toEqual(
      [line(name, { model: 'User', key_version: 'v1' }, 120), line(name, { model: 'User', key_version: 'v2' }, 30), line(name, { model: 'Post', key_version: 'v1' }, 7)].sort(),
    )
    m.setRowsPerKeyVersion('User', { v2: 150 })
    expect(series(await registry.metrics(), name)).toEqual([line(name, { model: 'User', key_version: 'v2' }, 150), line(name, { model: 'Post', key_version: 'v1' }, 7)].sort())
    expect(() => m.setRowsPerKeyVersion('User', { v2: -1 })).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
    expect(() => m.setRowsPerKeyVersion('User', { v2: 1.5 })).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
    expect(() => m.setRowsPerKeyVersion('', { v2: 1 })).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
  })

  it('counts plaintext reads per model and sets plaintext rows per model', async () => {
    const m = rowcryptMetrics({ client: promClient, registry })
    const reads = 'row_encryption_plaintext_reads_total'
    const rows = 'row_encryption_plaintext_rows'
    m.operation(event({ rowsPlaintext: 2, plaintextRowIds: ['1', '2'] }))
    m.operation(event({ operation: 'update', rowsEncrypted: 1, rowsPlaintext: 1, plaintextRowIds: ['3'] }))
    m.operation(event({ model: 'Post', rowsDecrypted: 4 }))
    m.setPlaintextRows('User', 40)
    m.setPlaintextRows('User', 12)
    const text = await registry.metrics()
    expect(series(text, reads)).toEqual([line(reads, { model: 'User' }, 3)])
    expect(series(text, rows)).toEqual([line(rows, { model: 'User' }, 12)])
    expect(text).not.toMatch(/plaintext_reads_total\{[^}]*(operation|tenant)/)
    expect(() => m.setPlaintextRows('User', -1)).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
    expect(() => m.setPlaintextRows('', 1)).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
  })

  it('sets and removes the key age gauge per model', async () => {
    const m = rowcryptMetrics({ client: promClient, registry })
    const age = 'row_encryption_key_age_seconds'
    m.setKeyAgeSeconds('User', 200 * 86400)
    m.setKeyAgeSeconds('Post', 5)
    m.setKeyAgeSeconds('Post', 30 * 86400)
    expect(series(await registry.metrics(), age)).toEqual([line(age, { model: 'Post' }, 30 * 86400), line(age, { model: 'User' }, 200 * 86400)])
    m.setKeyAgeSeconds('User', undefined)
    expect(series(await registry.metrics(), age)).toEqual([line(age, { model: 'Post' }, 30 * 86400)])
    expect(m.names.keyAge).toBe(age)
    expect(() => m.setKeyAgeSeconds('User', -1)).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
    expect(() => m.setKeyAgeSeconds('User', Number.NaN)).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
    expect(() => m.setKeyAgeSeconds('', 1)).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
  })

  it('registers on the given registry only, never on the global default one', async () => {
    const before = (await promClient.register.getMetricsAsJSON()).map((m) => m.name)
    const m = rowcryptMetrics({ client: promClient, registry })
    m.operation(event())
    const after = (await promClient.register.getMetricsAsJSON()).map((m) => m.name)
    expect(after).toEqual(before)
    expect(after.some((n) => n.startsWith('row_encryption_'))).toBe(false)
    expect(
      registry
        .getMetricsAsArray()
        .map((x) => x.name)
        .sort(),
    ).toEqual(Object.values(m.names).sort())
  })

  it('uses the default registry when it is passed explicitly', async () => {
    const m = rowcryptMetrics({ client: promClient, registry: promClient.register, prefix: 'explicit_' })
    try {
      m.operation(event())
      expect(series(await promClient.register.metrics(), 'explicit_row_encryption_operations_total')).toEqual([
        line('explicit_row_encryption_operations_total', { operation: 'findMany', model: 'User', status: 'ok' }, 1),
      ])
    } finally {
      for (const name of Object.values(m.names)) promClient.register.removeSingleMetric(name)
    }
  })

  it('prefixes every metric name', async () => {
    const m = rowcryptMetrics({ client: promClient, registry, prefix: 'billing_' })
    m.operation(event())
    const names = new Set(parsePromText(await registry.metrics()).map((s) => s.name))
    expect(names.has('billing_row_encryption_operations_total')).toBe(true)
    expect(Object.values(m.names).every((n) => n.startsWith('billing_row_encryption_'))).toBe(true)
  })

  it('refuses a registry that already has its metrics, registering nothing', () => {
    rowcryptMetrics({ client: promClient, registry })
    const count = registry.getMetricsAsArray().length
    expect(() => rowcryptMetrics({ client: promClient, registry })).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
    expect(registry.getMetricsAsArray()).toHaveLength(count)
    // Another prefix is another set of names.
    expect(() => rowcryptMetrics({ client: promClient, registry, prefix: 'b_' })).not.toThrow()
  })

  it('validates its options with ConfigError', () => {
    const bad: unknown[] = [
      undefined,
      {},
      { registry: {} },
      { registry, prefix: 'has space' },
      { registry, tenantLabel: { enabled: true, maxTenants: -1 } },
      { registry, tenantLabel: { enabled: true, maxTenants: 1.5 } },
      { registry, buckets: { operation: [] } },
      { registry, buckets: { kms: [0.1, 0.05] } },
      { registry, stats: { samplesPerKey: 0 } },
    ]
    for (const options of bad) {
      expect(() => rowcryptMetrics({ client: promClient, ...(options as object) } as never)).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
    }
    expect(registry.getMetricsAsArray()).toEqual([])
  })

  it('loads prom-client itself when no client is passed', async () => {
    const m = rowcryptMetrics({ registry })
    m.operation(event())
    expect(series(await registry.metrics(), OPS)).toEqual([line(OPS, { operation: 'findMany', model: 'User', status: 'ok' }, 1)])
  })

  it('answers getOperationStats from the events it observed', () => {
    const m: RowcryptMetrics = rowcryptMetrics({ client: promClient, registry })
    m.operation(event({ durationMs: 10 }))
    m.operation(event({ durationMs: 30, outcome: 'failed', errorCode: 'P2025' }))
    m.operation(event({ durationMs: 50, tenantId: 't2' }))
    expect(m.getOperationStats({ tenantId: 't1' })).toEqual({ total: 2, succeeded: 1, failed: 1, successRate: 0.5, averageDurationMs: 20, p95DurationMs: 30 })
    expect(m.getOperationStats()).toMatchObject({ total: 3, succeeded: 2, p95DurationMs: 50 })
  })

  it('ignores malformed durations and unknown event types instead of throwing', async () => {
    const m = rowcryptMetrics({ client: promClient, registry })
    m.operation(event({ durationMs: Number.NaN }))
    m.keyProvider({ type: 'something-new' } as never)
    m.keyProvider({ type: 'kms-request', operation: 'Decrypt', outcome: 'ok', durationMs: -1, attempts: 1 })
    const text = await registry.metrics()
    expect(series(text, OPS)).toEqual([line(OPS, { operation: 'findMany', model: 'User', status: 'ok' }, 1)])
    expect(series(text, 'row_encryption_operation_duration_seconds_count')).toEqual([])
    expect(series(text, 'row_encryption_kms_requests_total')).toEqual([line('row_encryption_kms_requests_total', { operation: 'Decrypt', outcome: 'ok' }, 1)])
  })
})

describe('rowcrypt without prom-client installed', () => {
  it('imports, and rowcryptMetrics without a client fails with ConfigError', () => {
    jest.isolateModules(() => {
      jest.doMock('prom-client', () => {
        throw Object.assign(new Error("Cannot find module 'prom-client'"), { code: 'MODULE_NOT_FOUND' })
      })
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded after the mock, in the isolated registry
      const rc = require('../../../src') as typeof import('../../../src')
      expect(typeof rc.rowcrypt).toBe('function')
      expect(typeof rc.auditTrail).toBe('function')
      expect(new rc.OperationStatsCollector().getOperationStats().total).toBe(0)
      expect(() => rc.rowcryptMetrics({ registry: new promClient.Registry() })).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
      // With the constructors passed in, nothing is required.
      expect(() => rc.rowcryptMetrics({ client: promClient, registry: new promClient.Registry() })).not.toThrow()
    })
    jest.dontMock('prom-client')
  })

  it('the built package loads without prom-client, and nothing is registered at import', () => {
    // Node cannot resolve prom-client at all in this child process.
    const script = `
      const Module = require('module'); const resolve = Module._resolveFilename
      Module._resolveFilename = function (request, ...rest) {
        if (request === 'prom-client') throw Object.assign(new Error('Cannot find module prom-client'), { code: 'MODULE_NOT_FOUND' })
        return resolve.call(this, request, ...rest)
      }
      const rc = require('rowcrypt')
      let code
      try { rc.rowcryptMetrics({ registry: { getSingleMetric() {} } }) } catch (e) { code = e.code }
      console.log(JSON.stringify({ metrics: typeof rc.rowcryptMetrics, audit: typeof rc.auditTrail, code, loaded: Object.keys(require.cache).some((f) => f.includes('prom-client')) }))`
    const out = execFileSync(process.execPath, ['-e', script], { cwd: join(__dirname, '..', '..', '..'), encoding: 'utf8' })
    expect(JSON.parse(out)).toEqual({ metrics: 'function', audit: 'function', code: 'ERR_ROWCRYPT_CONFIG', loaded: false })
  })
})
