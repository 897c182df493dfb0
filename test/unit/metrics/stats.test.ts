// Operation statistics: exact counts, exact p95 for small samples, weighted merging of bounded
// reservoirs, and the tenant cap.
import { OperationStatsCollector, type OperationEvent } from '../../../src'

function event(over: Partial<OperationEvent> = {}): OperationEvent {
  return { operation: 'findMany', model: 'User', tenantId: 't1', bypass: false, outcome: 'ok', durationMs: 1, rowsEncrypted: 0, rowsDecrypted: 0, rowsPlaintext: 0, time: new Date(0), ...over }
}

describe('OperationStatsCollector', () => {
  it('is all zeros before any operation', () => {
    expect(new OperationStatsCollector().getOperationStats()).toEqual({ total: 0, succeeded: 0, failed: 0, successRate: 0, averageDurationMs: 0, p95DurationMs: 0 })
  })

  it('summarises by tenant, model and operation; denied counts as failed', () => {
    const s = new OperationStatsCollector()
    s.operation(event({ durationMs: 4 }))
    s.operation(event({ durationMs: 8, outcome: 'denied', errorCode: 'ERR_ROWCRYPT_TENANT_MISMATCH' }))
    s.operation(event({ durationMs: 6, operation: 'create' }))
    s.operation(event({ durationMs: 10, model: 'Post', tenantId: 't2', outcome: 'failed', errorCode: 'P2025' }))
    s.operation(event({ durationMs: 2, tenantId: undefined, outcome: 'denied', errorCode: 'ERR_ROWCRYPT_TENANT_MISSING' }))
    expect(s.getOperationStats()).toEqual({ total: 5, succeeded: 2, failed: 3, successRate: 0.4, averageDurationMs: 6, p95DurationMs: 10 })
    expect(s.getOperationStats({ tenantId: 't1' })).toEqual({ total: 3, succeeded: 2, failed: 1, successRate: 2 / 3, averageDurationMs: 6, p95DurationMs: 8 })
    expect(s.getOperationStats({ tenantId: 't1', operation: 'findMany' })).toMatchObject({ total: 2, succeeded: 1, failed: 1 })
    expect(s.getOperationStats({ model: 'Post' })).toMatchObject({ total: 1, failed: 1, successRate: 0 })
    expect(s.getOperationStats({ model: 'User' })).toMatchObject({ total: 4, succeeded: 2 })
    expect(s.getOperationStats({ tenantId: 'unknown' }).total).toBe(0)
  })

  it('gives the exact nearest-rank p95 while reservoirs are not full', () => {
    const s = new OperationStatsCollector()
    for (const d of [20, 3, 17, 1, 9, 12, 5, 19, 2, 14, 8, 16, 4, 11, 6, 18, 7, 15, 10, 13]) s.operation(event({ durationMs: d }))
    expect(s.getOperationStats()).toMatchObject({ total: 20, averageDurationMs: 10.5, p95DurationMs: 19 })
    s.operation(event({ durationMs: 100 }))
    // 21 samples: rank ceil(0.95 × 21) = 20.
    expect(s.getOperationStats().p95DurationMs).toBe(20)
  })

  it('keeps at most samplesPerKey durations per key and weighs each key by its real count', () => {
    const s = new OperationStatsCollector({ samplesPerKey: 10 })
    for (let i = 0; i < 1000; i++) s.operation(event({ operation: 'findMany', durationMs: 1 }))
    for (let i = 0; i < 10; i++) s.operation(event({ operation: 'create', durationMs: 100 }))
    // 1000 of 1010 operations took 1 ms: the p95 is 1 ms although both keys keep 10 samples each.
    expect(s.getOperationStats()).toEqual({ total: 1010, succeeded: 1010, failed: 0, successRate: 1, averageDurationMs: 2000 / 1010, p95DurationMs: 1 })
    expect(s.getOperationStats({ operation: 'create' }).p95DurationMs).toBe(100)
  })

  it('estimates the p95 from a uniform sample once a reservoir is full', () => {
    let seed = 42
    const random = jest.spyOn(Math, 'random').mockImplementation(() => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    })
    try {
      const s = new OperationStatsCollector({ samplesPerKey: 200 })
      for (let i = 1; i <= 20_000; i++) s.operation(event({ durationMs: i }))
      const { p95DurationMs, averageDurationMs, total } = s.getOperationStats()
      expect(total).toBe(20_000)
      expect(averageDurationMs).toBe(10_000.5)
      expect(p95DurationMs).toBeGreaterThan(17_500)
      expect(p95DurationMs).toBeLessThan(20_000)
    } finally {
      random.mockRestore()
    }
  })

  it('tracks at most maxTenants tenants one by one; later ones count in unfiltered totals only', () => {
    const s = new OperationStatsCollector({ maxTenants: 2 })
    for (const t of ['a', 'b', 'c', 'a', 'd']) s.operation(event({ tenantId: t }))
    expect(s.getOperationStats({ tenantId: 'a' }).total).toBe(2)
    expect(s.getOperationStats({ tenantId: 'b' }).total).toBe(1)
    expect(s.getOperationStats({ tenantId: 'c' }).total).toBe(0)
    expect(s.getOperationStats().total).toBe(5)
  })

  it('resets', () => {
    const s = new OperationStatsCollector({ maxTenants: 1 })
    s.operation(event({ tenantId: 'a' }))
    s.reset()
    s.operation(event({ tenantId: 'b' }))
    expect(s.getOperationStats().total).toBe(1)
    expect(s.getOperationStats({ tenantId: 'b' }).total).toBe(1)
  })

  it('rejects invalid bounds with ConfigError', () => {
    for (const o of [{ maxTenants: -1 }, { samplesPerKey: 0 }, { samplesPerKey: 2.5 }, { maxTenants: Number.NaN }]) {
      expect(() => new OperationStatsCollector(o)).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
    }
  })
})
