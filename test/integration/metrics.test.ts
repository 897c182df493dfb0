// A scripted workload on a real database with metrics, stats and an audit trail attached: exact
// counter values and label sets in the registry's text output, one audit event per operation
// (denied ones included) with the right outcome, and no plaintext anywhere in what was produced.
import * as promClient from 'prom-client'
import { auditTrail, rowcrypt, rowcryptMetrics, unsafeBypassTenantScope, withTenant, type AuditEvent, type RowcryptMetrics } from '../../src'
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { InstrumentedKeyProvider } from '../support/instrumented-key-provider'
import { line, parsePromText, series } from '../support/prom-text'
import { rlsOf, testKeyProvider } from '../support/setup'

const PLAINTEXTS = {
  aliceName: 'pt-name-alice',
  aliceEmail: 'pt-alice@example.test',
  aliceEmail2: 'pt-alice-2@example.test',
  aliceSsn: 'pt-111-22-3333',
  bobName: 'pt-name-bob',
  bobEmail: 'pt-bob@example.test',
  bobNotes: 'pt-note-bob-private',
  carolName: 'pt-name-carol',
  carolEmail: 'pt-carol@globex.test',
  daveName: 'pt-name-dave',
  daveEmail: 'pt-dave@initech.test',
  mismatchEmail: 'pt-mismatch@example.test',
}

describe.each(DATABASES)('metrics, stats and audit over a scripted workload on %s', (kind) => {
  let db: TestDatabase
  let registry: promClient.Registry
  let metrics: RowcryptMetrics
  let keys: InstrumentedKeyProvider
  const audit: AuditEvent[] = []
  const errors: unknown[] = []
  let prisma: ReturnType<typeof build>

  const build = (d: TestDatabase) =>
    d.prisma.$extends(
      rowcrypt({
        ...rlsOf(d),
        schema: d.manifest,
        keyProvider: keys,
        models: { User: { fields: ['email', 'ssn', 'notes'] } },
        observers: [metrics, auditTrail((e) => void audit.push(e))],
      }),
    )

  /** Runs one step of the workload, keeping any error for the plaintext scan. */
  async function step<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn()
    } catch (e) {
      errors.push(e)
      return undefined
    }
  }

  let ids: { alice: number; bob: number; carol: number; dave: number }

  beforeAll(async () => {
    db = await openDatabase(kind, 'metrics')
    registry = new promClient.Registry()
    metrics = rowcryptMetrics({ client: promClient, registry, tenantLabel: { enabled: true, maxTenants: 2 } })
    keys = new InstrumentedKeyProvider(testKeyProvider(), [metrics])
    prisma = build(db)

    const P = PLAINTEXTS
    const alice = await withTenant('t_a', () => prisma.user.create({ data: { name: P.aliceName, email: P.aliceEmail, ssn: P.aliceSsn } }))
    const bob = await withTenant('t_a', () => prisma.user.create({ data: { name: P.bobName, email: P.bobEmail, notes: P.bobNotes } }))
    const carol = await withTenant('t_b', () => prisma.user.create({ data: { name: P.carolName, email: P.carolEmail } }))
    await withTenant('t_a', () => prisma.user.findMany())
    await withTenant('t_b', () => prisma.user.findUnique({ where: { id: alice.id } }))
    await withTenant('t_a', () => prisma.user.update({ where: { id: alice.id }, data: { email: P.aliceEmail2 } }))
    await step(() => prisma.user.findMany())
    await step(() => withTenant('t_b', () => prisma.user.create({ data: { name: 'x', email: P.mismatchEmail, tenantId: 't_a' } })))
    await step(() => withTenant('t_a', () => prisma.user.findMany({ where: { email: P.aliceEmail2 } })))
    const dave = await withTenant('t_c', () => prisma.user.create({ data: { name: P.daveName, email: P.daveEmail } }))
    await step(() => withTenant('t_b', () => prisma.user.update({ where: { id: alice.id }, data: { name: 'taken over' } })))
    await withTenant('t_b', () => prisma.user.delete({ where: { id: carol.id } }))
    await unsafeBypassTenantScope('metrics test', () => prisma.user.findMany())
    // Tampering: alice's email replaced by bob's ciphertext (same tenant, another row's key).
    const [bobRow] = await db.raw<{ email: string }>('SELECT "email" FROM "User" WHERE "id" = $1', [bob.id])
    await db.raw('UPDATE "User" SET "email" = $1 WHERE "id" = $2', [bobRow!.email, alice.id])
    await step(() => withTenant('t_a', () => prisma.user.findUnique({ where: { id: alice.id } })))
    await withTenant('t_a', () => prisma.user.count())
    ids = { alice: alice.id, bob: bob.id, carol: carol.id, dave: dave.id }
  })
  afterAll(() => db.close())

  it('produced one audit event per operation, denied and failed ones included, with the right outcome', () => {
    const s = String
    expect(audit.map((e) => [e.operation, e.model, e.tenantId, e.bypass, e.outcome, e.errorCode])).toEqual([
      ['create', 'User', 't_a', false, 'ok', null],
      ['create', 'User', 't_a', false, 'ok', null],
      ['create', 'User', 't_b', false, 'ok', null],
      ['findMany', 'User', 't_a', false, 'ok', null],
      ['findUnique', 'User', 't_b', false, 'ok', null],
      ['update', 'User', 't_a', false, 'ok', null],
      ['findMany', 'User', null, false, 'denied', 'ERR_ROWCRYPT_TENANT_MISSING'],
      ['create', 'User', 't_b', false, 'denied', 'ERR_ROWCRYPT_TENANT_MISMATCH'],
      ['findMany', 'User', 't_a', false, 'failed', 'ERR_ROWCRYPT_UNSUPPORTED_QUERY'],
      ['create', 'User', 't_c', false, 'ok', null],
      ['update', 'User', 't_b', false, 'failed', 'P2025'],
      ['delete', 'User', 't_b', false, 'ok', null],
      ['findMany', 'User', null, true, 'ok', null],
      ['findUnique', 'User', 't_a', false, 'failed', 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
      ['count', 'User', 't_a', false, 'ok', null],
    ])
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual([
      'ERR_ROWCRYPT_TENANT_MISSING',
      'ERR_ROWCRYPT_TENANT_MISMATCH',
      'ERR_ROWCRYPT_UNSUPPORTED_QUERY',
      'P2025',
      'ERR_ROWCRYPT_DECRYPTION_FAILED',
    ])
    // Rows and ids: what each call returned, and the row a call asked for.
    expect(audit.map((e) => [e.rowCount, e.rowIds === null ? null : [...e.rowIds].sort(), e.targetId])).toEqual([
      [1, [s(ids.alice)], null],
      [1, [s(ids.bob)], null],
      [1, [s(ids.carol)], null],
      [2, [s(ids.alice), s(ids.bob)].sort(), null],
      [0, [], s(ids.alice)],
      [1, [s(ids.alice)], s(ids.alice)],
      [null, null, null],
      [null, null, null],
      [null, null, null],
      [1, [s(ids.dave)], null],
      [null, null, s(ids.alice)],
      [1, [s(ids.carol)], s(ids.carol)],
      [3, [s(ids.alice), s(ids.bob), s(ids.dave)].sort(), null],
      [null, null, s(ids.alice)],
      [null, null, null],
    ])
    for (const e of audit) {
      expect(Number.isNaN(Date.parse(e.time))).toBe(false)
      expect(e.durationMs).toBeGreaterThanOrEqual(0)
    }
  })

  it('exposes exact operation counters with operation, model, status and capped tenant labels', async () => {
    const text = await registry.metrics()
    const ops = 'row_encryption_operations_total'
    const op = (operation: string, status: string, tenant: string, n: number) => line(ops, { operation, model: 'User', status, tenant }, n)
    expect(series(text, ops)).toEqual(
      [
        op('create', 'ok', 't_a', 2),
        op('create', 'ok', 't_b', 1),
        op('findMany', 'ok', 't_a', 1),
        op('findUnique', 'ok', 't_b', 1),
        op('update', 'ok', 't_a', 1),
        op('findMany', 'denied', 'none', 1),
        op('create', 'denied', 't_b', 1),
        op('findMany', 'failed', 't_a', 1),
        // t_c is the third distinct tenant: past maxTenants 2.
        op('create', 'ok', 'other', 1),
        op('update', 'failed', 't_b', 1),
        op('delete', 'ok', 't_b', 1),
        op('findMany', 'ok', 'bypass', 1),
        op('findUnique', 'failed', 't_a', 1),
        op('count', 'ok', 't_a', 1),
      ].sort(),
    )
    const dur = 'row_encryption_operation_duration_seconds_count'
    const d = (operation: string, tenant: string, n: number) => line(dur, { operation, model: 'User', tenant }, n)
    expect(series(text, dur)).toEqual(
      [
        d('create', 't_a', 2),
        d('create', 't_b', 2),
        d('create', 'other', 1),
        d('findMany', 't_a', 2),
        d('findMany', 'none', 1),
        d('findMany', 'bypass', 1),
        d('findUnique', 't_b', 1),
        d('findUnique', 't_a', 1),
        d('update', 't_a', 1),
        d('update', 't_b', 1),
        d('delete', 't_b', 1),
        d('count', 't_a', 1),
      ].sort(),
    )
    // Rows encrypted or decrypted: 4 creates; findMany 2 (t_a) + 3 (bypass); the update; the
    // deleted row returned decrypted. Nothing for refused, failed or counting calls.
    const rows = 'row_encryption_rows_processed_total'
    expect(series(text, rows)).toEqual(
      [
        line(rows, { operation: 'create', model: 'User' }, 4),
        line(rows, { operation: 'findMany', model: 'User' }, 5),
        line(rows, { operation: 'update', model: 'User' }, 1),
        line(rows, { operation: 'delete', model: 'User' }, 1),
      ].sort(),
    )
    expect(series(text, 'row_encryption_tenant_denials_total')).toEqual(
      [
        line('row_encryption_tenant_denials_total', { operation: 'findMany', model: 'User', reason: 'missing', tenant: 'none' }, 1),
        line('row_encryption_tenant_denials_total', { operation: 'create', model: 'User', reason: 'mismatch', tenant: 't_b' }, 1),
      ].sort(),
    )
    expect(series(text, 'row_encryption_decryption_failures_total')).toEqual([line('row_encryption_decryption_failures_total', { model: 'User', reason: 'authentication' }, 1)])
  })

  it('exposes the key provider events as KMS and cache metrics, exactly as reported', async () => {
    const text = await registry.metrics()
    const count = (pred: (e: (typeof keys.log)[number]) => boolean) => keys.log.filter(pred).length
    const requests = new Map<string, number>()
    for (const e of keys.log) if (e.type === 'kms-request') requests.set(`${e.operation}|${e.outcome}`, (requests.get(`${e.operation}|${e.outcome}`) ?? 0) + 1)
    expect(requests.get('GenerateDataKey|ok')).toBe(4)
    expect(series(text, 'row_encryption_kms_requests_total')).toEqual(
      [...requests].map(([k, n]) => line('row_encryption_kms_requests_total', { operation: k.split('|')[0]!, outcome: k.split('|')[1]! }, n)).sort(),
    )
    expect(series(text, 'row_encryption_kms_request_duration_seconds_count')).toEqual(
      [...requests].map(([k, n]) => line('row_encryption_kms_request_duration_seconds_count', { operation: k.split('|')[0]!, outcome: k.split('|')[1]! }, n)).sort(),
    )
    const cache = (result: string, name: string) => {
      const n = count((e) => e.type === 'cache' && e.result === result)
      return n === 0 ? [] : [line(name, { cache: 'data-key' }, n)]
    }
    expect(count((e) => e.type === 'cache' && e.result === 'hit')).toBeGreaterThan(0)
    expect(series(text, 'row_encryption_key_cache_hits_total')).toEqual(cache('hit', 'row_encryption_key_cache_hits_total'))
    expect(series(text, 'row_encryption_key_cache_misses_total')).toEqual(cache('miss', 'row_encryption_key_cache_misses_total'))
    expect(series(text, 'row_encryption_key_cache_evictions_total')).toEqual(cache('eviction', 'row_encryption_key_cache_evictions_total'))
  })

  it('answers getOperationStats for the workload', () => {
    expect(metrics.getOperationStats()).toMatchObject({ total: 15, succeeded: 10, failed: 5 })
    expect(metrics.getOperationStats({ tenantId: 't_b' })).toMatchObject({ total: 5, succeeded: 3, failed: 2, successRate: 0.6 })
    expect(metrics.getOperationStats({ tenantId: 't_a', operation: 'findMany' })).toMatchObject({ total: 2, succeeded: 1, failed: 1 })
    // Fewer operations than samplesPerKey: the figures are exact, and match the audit's durations.
    const durations = audit.map((e) => e.durationMs).sort((a, b) => a - b)
    const all = metrics.getOperationStats({ model: 'User' })
    expect(all.averageDurationMs).toBeCloseTo(durations.reduce((a, b) => a + b, 0) / durations.length, 6)
    expect(all.p95DurationMs).toBe(durations[Math.ceil(0.95 * durations.length) - 1])
  })

  it('leaks no plaintext into metrics, audit events, stats or error messages', async () => {
    const produced = [
      await registry.metrics(),
      JSON.stringify(audit),
      JSON.stringify(metrics.getOperationStats()),
      JSON.stringify(keys.log),
      ...errors.flatMap((e) => [String((e as Error).message), String((e as Error).stack), JSON.stringify(e)]),
    ].join('\n')
    expect(parsePromText(await registry.metrics()).length).toBeGreaterThan(0)
    for (const value of Object.values(PLAINTEXTS)) expect(produced).not.toContain(value)
    // Nor any ciphertext.
    expect(produced).not.toMatch(/rc1\.A256GCM/)
  })
})
