// Key ages: rotation by age (`rotateKeys({ olderThan, now })`, `rowcrypt rotate --older-than`)
// beside an application that keeps writing, `status` with creation times, ages and the
// maxKeyAgeDays policy (exit 3), the key_age_seconds gauge, and creation times of AWS KMS keys
// (DescribeKey's CreationDate, through the real SDK and the local KMS server) and tenant keys.
import { DescribeKeyCommand } from '@aws-sdk/client-kms'
import * as promClient from 'prom-client'
import {
  InMemoryTenantKeyStore,
  KeyTooOldError,
  LocalKeyProvider,
  rotateKeys,
  rotationStatus,
  rowcryptMetrics,
  unsafeBypassTenantScope,
  verifyRows,
  withTenant,
  type KeyCreatedAtInput,
  type KeyProvider,
} from '../../src'
import { rotateCommand, statusCommand, type JobIO } from '../../src/cli/rotate'
import type { KmsDevServer } from '../../src/kms-dev-server'
import { openDatabase, type TestDatabase } from '../support/db'
import { awsProvider, kmsClient, startKms } from '../support/kms'
import { line, series } from '../support/prom-text'
import { extend, noDisconnect, TEST_KEYS } from '../support/setup'

const DAY = 86_400_000
const KEYS = { ...TEST_KEYS, v3: '03'.repeat(32), v4: '04'.repeat(32) }
type Version = keyof typeof KEYS
const TENANTS = ['ka_a', 'ka_b', 'ka_c']
const MODELS = { User: { fields: ['email', 'ssn', 'notes', 'prefs', 'avatar'] }, Post: { fields: ['title', 'body'] }, Document: { fields: ['body'], columns: { tenantId: 'orgId' } } }

/** v1 200 days old, v2 100, v4 30 (not active, young enough), v3 the active one, 1 day old. */
function ages(now: number): KeyCreatedAtInput {
  return { v1: new Date(now - 200 * DAY).toISOString(), v2: new Date(now - 100 * DAY), v3: new Date(now - DAY), v4: new Date(now - 30 * DAY) }
}
const local = (active: Version, createdAt?: KeyCreatedAtInput) => new LocalKeyProvider({ keys: KEYS, activeVersion: active, ...(createdAt !== undefined ? { createdAt } : {}) })

interface Row {
  id: number
  tenant: string
  email: string
}

/** `perTenant` users per tenant under each of `versions`. */
async function seed(db: TestDatabase, plan: Partial<Record<Version, number>>, tag: string): Promise<Row[]> {
  for (const [version, perTenant] of Object.entries(plan) as Array<[Version, number]>) {
    const prisma = extend(db, local(version))
    for (const tenant of TENANTS) {
      await withTenant(tenant, () =>
        prisma.user.createMany({
          data: Array.from({ length: perTenant }, (_, i) => ({ name: `${tag}_${version}_${i}`, email: `${tag}_${version}_${tenant}_${i}@example.com`, ssn: '123-45-6789', notes: 'initial' })),
        }),
      )
    }
  }
  const rows = await unsafeBypassTenantScope('test', () => extend(db, local('v3')).user.findMany({ select: { id: true, tenantId: true, email: true } }))
  return rows.map((r) => ({ id: r.id, tenant: r.tenantId, email: r.email }))
}

async function atRest(db: TestDatabase): Promise<Map<number, { v: string; w: string }>> {
  const rows = await db.raw<{ id: unknown; v: string; w: Uint8Array }>('SELECT "id" AS id, "keyVersion" AS v, "wrappedDek" AS w FROM "User"')
  return new Map(rows.map((r) => [Number(r.id), { v: r.v, w: Buffer.from(r.w).toString('hex') }]))
}

async function versions(db: TestDatabase): Promise<Record<string, number>> {
  const rows = await db.raw<{ v: string; n: unknown }>('SELECT "keyVersion" AS v, COUNT(*) AS n FROM "User" GROUP BY "keyVersion"')
  return Object.fromEntries(rows.map((r) => [r.v, Number(r.n)]))
}

/** The application: creates rows and updates seeded ones through rowcrypt, until stopped. */
function startApplication(app: ReturnType<typeof extend>, rows: readonly Row[]) {
  let stopped = false
  let writes = 0
  const last = new Map<number, string>()
  const created: Row[] = []
  const errors: unknown[] = []
  const run = (async () => {
    for (let i = 1; !stopped; i++) {
      try {
        if (i % 3 === 0) {
          const tenant = TENANTS[i % TENANTS.length]!
          const email = `app_${i}_${tenant}@example.com`
          const r = await withTenant(tenant, () => app.user.create({ data: { name: `app_${i}`, email, notes: `c${i}` }, select: { id: true } }))
          created.push({ id: r.id, tenant, email })
          last.set(r.id, `c${i}`)
        } else {
          const r = rows[(i * 7) % rows.length]!
          await withTenant(r.tenant, () => app.user.update({ where: { id: r.id }, data: { notes: `w${i}` } }))
          last.set(r.id, `w${i}`)
        }
        writes++
        // Like a server between requests: lets timers and the rotation run (SQLite's driver is synchronous).
        await new Promise((resolve) => setImmediate(resolve))
      } catch (e) {
        errors.push(e)
        return
      }
    }
  })()
  return {
    last,
    created,
    errors,
    writes: () => writes,
    stop: async () => {
      stopped = true
      await run
    },
  }
}

async function until(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}

function io(config: Record<string, unknown>) {
  const out: string[] = []
  const err: string[] = []
  const value: JobIO = {
    out: (s) => void out.push(s),
    err: (s) => void err.push(s),
    cwd: process.cwd(),
    interactive: false,
    prompt: async () => '',
    importModule: async () => ({ default: { ...config, prisma: noDisconnect(config.prisma) } }),
  }
  return { io: value, out: () => out.join(''), err: () => err.join('') }
}

const jsonLines = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)

describe.each(['sqlite', 'postgres', 'mysql'] as const)('key ages on %s', (kind) => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await openDatabase(kind, 'key_ages')
  })
  afterAll(() => db.close())
  beforeEach(() => db.raw('DELETE FROM "User"'))

  it('rotateKeys({ olderThan: 90d, now }) moves exactly the rows under v1 and v2 to v3 while the application writes: every row decrypts, no write lost', async () => {
    const NOW = Date.parse('2026-12-10T00:00:00Z')
    const seeded = await seed(db, { v1: 8, v2: 8, v4: 4, v3: 4 }, 'lib')
    const before = await atRest(db)
    const app = extend(db, local('v3', ages(NOW)))
    const application = startApplication(app, seeded)
    await until(() => application.writes() >= 10)
    const writesBefore = application.writes()
    const dry = await rotateKeys({ prisma: app, olderThan: '90d', now: () => new Date(NOW), dryRun: true })
    const rotated = await rotateKeys({ prisma: app, olderThan: '90d', now: () => new Date(NOW), batchSize: 5 })
    const during = application.writes() - writesBefore
    await application.stop()
    expect(application.errors).toEqual([])
    expect(during).toBeGreaterThan(0)
    expect(dry).toBe(48)
    expect(rotated).toBe(48)

    const after = await atRest(db)
    for (const [id, was] of before) {
      const now = after.get(id)!
      if (was.v === 'v1' || was.v === 'v2') {
        expect(now.v).toBe('v3')
        expect(now.w).not.toBe(was.w)
      } else {
        // v3 and v4 rows are untouched: same version, same wrapped key.
        expect(now).toEqual(was)
      }
    }
    // The application's new rows are on the active version.
    for (const r of application.created) expect(after.get(r.id)!.v).toBe('v3')
    expect(await versions(db)).toEqual({ v3: 24 + 24 + 12 + application.created.length, v4: 12 })

    // Every row decrypts to what was last written.
    for (const tenant of TENANTS) {
      const rows = await withTenant(tenant, () => app.user.findMany({ select: { id: true, email: true, notes: true } }))
      const expected = [...seeded, ...application.created].filter((r) => r.tenant === tenant)
      expect(rows.map((r) => [r.id, r.email, r.notes]).sort()).toEqual(expected.map((r) => [r.id, r.email, application.last.get(r.id) ?? 'initial']).sort())
    }
    expect((await verifyRows({ prisma: app })).failed).toBe(0)
    // Nothing is older than 90 days any more: a second run moves nothing.
    expect(await rotateKeys({ prisma: app, olderThan: '90d', now: () => new Date(NOW) })).toBe(0)
    // v4, 30 days old, is not older than 50 days today; 25 days later it is.
    expect(await rotateKeys({ prisma: app, olderThan: '50d', now: () => new Date(NOW), dryRun: true })).toBe(0)
    expect(await rotateKeys({ prisma: app, olderThan: '50d', now: () => new Date(NOW + 25 * DAY), dryRun: true })).toBe(12)
  })

  it('refuses to rotate onto a key that is itself too old (KeyTooOldError, nothing changed) and fails closed on unknown ages', async () => {
    const NOW = Date.parse('2026-12-10T00:00:00Z')
    await seed(db, { v1: 2 }, 'old')
    const before = await atRest(db)
    const app = extend(db, local('v3', ages(NOW)))
    // The active v3 is 1 day old: a limit of 12 hours cannot be met by moving rows onto it.
    const e = await rotateKeys({ prisma: app, olderThan: '12h', now: () => new Date(NOW) }).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(KeyTooOldError)
    expect(e).toMatchObject({ code: 'ERR_ROWCRYPT_KEY_TOO_OLD', keys: [{ keyVersion: 'v3', createdAt: new Date(NOW - DAY) }] })
    await expect(rotateKeys({ prisma: app, olderThan: 30 * 60 * 60 * 1000, now: () => new Date(NOW + 300 * DAY) })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_KEY_TOO_OLD' })
    expect(await atRest(db)).toEqual(before)

    // A version in use without a known creation time, or a provider that does not report any: ConfigError.
    const partial = extend(db, local('v3', { v3: new Date(NOW - DAY) }))
    await expect(rotateKeys({ prisma: partial, olderThan: '90d', now: () => new Date(NOW) })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG', message: expect.stringContaining('v1') })
    const inner = local('v3', ages(NOW))
    const opaque: KeyProvider = {
      activeKeyVersion: 'v3',
      generateDataKey: (c) => inner.generateDataKey(c),
      wrapDataKey: (k, c, v) => inner.wrapDataKey(k, c, v),
      unwrapDataKey: (w, v, c) => inner.unwrapDataKey(w, v, c),
    }
    await expect(rotateKeys({ prisma: extend(db, opaque), olderThan: '90d' })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
    // Rows under a version the provider no longer has (retired too early): status still counts them,
    // with an unknown age; rotation by age refuses.
    const retired = extend(db, new LocalKeyProvider({ keys: { v3: KEYS.v3 }, activeVersion: 'v3', createdAt: { v3: new Date(NOW - DAY) } }))
    const st = await rotationStatus({ prisma: retired, model: 'User', now: () => new Date(NOW) })
    expect(st.keyVersions).toEqual([
      { keyVersion: 'v1', createdAt: null, ageSeconds: null, ageDays: null, rows: 6 },
      { keyVersion: 'v3', createdAt: new Date(NOW - DAY), ageSeconds: 86400, ageDays: 1, rows: 0 },
    ])
    await expect(rotateKeys({ prisma: retired, olderThan: '90d', now: () => new Date(NOW) })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG', message: expect.stringContaining('v1') })
    for (const bad of [
      { olderThan: '90' },
      { olderThan: '3w' },
      { olderThan: -1 },
      { olderThan: '90d', fromVersion: 'v1' },
      { olderThan: '90d', reindex: true },
      { olderThan: '90d', now: () => 'x' as never },
    ]) {
      await expect(rotateKeys({ prisma: app, ...bad })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
    }
    expect(await atRest(db)).toEqual(before)
  })

  it('rowcrypt status shows creation times and ages, exits 3 above maxKeyAgeDays; rotate --older-than 90d through the command fixes it; the key_age_seconds gauge follows', async () => {
    const seeded = await seed(db, { v1: 3, v2: 2, v4: 1, v3: 1 }, 'cli')
    const created = ages(Date.now())
    const registry = new promClient.Registry()
    const metrics = rowcryptMetrics({ client: promClient, registry })
    const config = { prisma: db.prisma, schema: db.manifest, models: MODELS, keyProvider: local('v3', created), metrics, maxKeyAgeDays: 90 }
    const gauge = async () => series(await registry.metrics(), 'row_encryption_key_age_seconds')
    const ageOf = async () => (await registry.getSingleMetric(metrics.names.keyAge)!.get()).values.find((v) => v.labels.model === 'User')?.value

    // Before: v1 (200 days) and v2 (100 days) still have rows: the config's policy fails.
    const s1 = io(config)
    expect(await statusCommand(['--json', '--model', 'User', '--config', __filename], s1.io)).toBe(3)
    const st1 = JSON.parse(s1.out()) as Record<string, unknown> & { keyVersions: Array<Record<string, unknown>>; exceeded: Array<Record<string, unknown>> }
    expect(st1).toMatchObject({ activeKeyVersion: 'v3', maxKeyAgeDays: 90 })
    expect(Date.parse(st1.checkedAt as string)).toBeGreaterThan(Date.now() - 60_000)
    expect(st1.keyVersions).toEqual([
      { keyVersion: 'v1', createdAt: created.v1, ageSeconds: expect.any(Number), ageDays: 200, rows: 9 },
      { keyVersion: 'v2', createdAt: (created.v2 as Date).toISOString(), ageSeconds: expect.any(Number), ageDays: 100, rows: 6 },
      { keyVersion: 'v3', createdAt: (created.v3 as Date).toISOString(), ageSeconds: expect.any(Number), ageDays: 1, rows: 3 },
      { keyVersion: 'v4', createdAt: (created.v4 as Date).toISOString(), ageSeconds: expect.any(Number), ageDays: 30, rows: 3 },
    ])
    expect(st1.exceeded).toEqual([
      { keyVersion: 'v1', createdAt: created.v1, ageDays: 200, rows: 9 },
      { keyVersion: 'v2', createdAt: (created.v2 as Date).toISOString(), ageDays: 100, rows: 6 },
    ])
    // The gauge: the oldest version with rows of the model, v1, 200 days.
    expect((await ageOf())! / 86400).toBeGreaterThanOrEqual(200)
    expect((await ageOf())! / 86400).toBeLessThan(200.01)
    // Text output; --max-key-age-days overrides the config.
    const s2 = io(config)
    expect(await statusCommand(['--model', 'User', '--config', __filename], s2.io)).toBe(3)
    expect(s2.out()).toMatch(/User +v1 +9 +\d{4}-\d\d-\d\d +200 days\n/)
    expect(s2.out()).toContain('  key version v1: 200 days old, 9 rows\n')
    expect(s2.out()).toContain('rowcrypt rotate --older-than 90d')
    expect(await statusCommand(['--max-key-age-days', '365', '--config', __filename], io(config).io)).toBe(0)

    // The rotation, through the command (the real clock).
    const r = io(config)
    expect(await rotateCommand(['--older-than', '90d', '--json', '--batch-size', '4', '--config', __filename], r.io)).toBe(0)
    expect(jsonLines(r.out()).at(-1)).toMatchObject({ event: 'done', olderThan: '90d', rotated: 15, failed: 0 })
    expect(await versions(db)).toEqual({ v3: 18, v4: 3 })
    // rotate refreshed the gauge: now v4, 30 days.
    expect(Math.floor((await ageOf())! / 86400)).toBe(30)

    const s3 = io(config)
    expect(await statusCommand(['--json', '--config', __filename], s3.io)).toBe(0)
    expect(JSON.parse(s3.out())).toMatchObject({ maxKeyAgeDays: 90, exceeded: [] })
    expect(await gauge()).toEqual([line('row_encryption_key_age_seconds', { model: 'User' }, (await ageOf())!)])
    // A stricter policy names v4 (the active v3, 1 day old, meets it).
    const s4 = io(config)
    expect(await statusCommand(['--json', '--max-key-age-days', '20', '--config', __filename], s4.io)).toBe(3)
    expect((JSON.parse(s4.out()) as { exceeded: unknown[] }).exceeded).toEqual([expect.objectContaining({ keyVersion: 'v4', ageDays: 30, rows: 3 })])

    // Target too old: exit 3 with ERR_ROWCRYPT_KEY_TOO_OLD, nothing changed. Usage errors: exit 2.
    const before = await atRest(db)
    const tooOld = io(config)
    expect(await rotateCommand(['--older-than', '12h', '--json', '--config', __filename], tooOld.io)).toBe(3)
    expect(jsonLines(tooOld.out())).toEqual([expect.objectContaining({ event: 'error', command: 'rotate', code: 'ERR_ROWCRYPT_KEY_TOO_OLD', exitCode: 3 })])
    const tooOldText = io(config)
    expect(await rotateCommand(['--older-than', '12h', '--config', __filename], tooOldText.io)).toBe(3)
    expect(tooOldText.err()).toContain('add a new key version')
    for (const args of [
      ['--older-than', '90'],
      ['--older-than', '2w'],
      ['--older-than', '0d'],
      ['--older-than', '90d', '--from', 'v1'],
      ['--older-than', '90d', '--reindex'],
    ]) {
      const u = io(config)
      expect({ args, code: await rotateCommand([...args, '--config', __filename], u.io) }).toEqual({ args, code: 2 })
    }
    expect(await statusCommand(['--max-key-age-days', '0', '--config', __filename], io(config).io)).toBe(2)
    expect(await statusCommand(['--config', __filename], io({ ...config, maxKeyAgeDays: 'soon' }).io)).toBe(2)
    expect(await atRest(db)).toEqual(before)

    // Unknown creation times break the policy (fail closed) and leave the gauge without a series.
    const unknown = { ...config, keyProvider: local('v3') }
    const s5 = io(unknown)
    expect(await statusCommand(['--json', '--model', 'User', '--config', __filename], s5.io)).toBe(3)
    expect((JSON.parse(s5.out()) as { exceeded: unknown[] }).exceeded).toEqual([
      { keyVersion: 'v3', createdAt: null, ageDays: null, rows: 18 },
      { keyVersion: 'v4', createdAt: null, ageDays: null, rows: 3 },
    ])
    expect(await gauge()).toEqual([])
    expect(seeded.length).toBe(21)
  })
})

describe('key ages with AwsKmsKeyProvider (local KMS server, real SDK, SQLite)', () => {
  let db: TestDatabase
  let kms: KmsDevServer
  let started: number
  beforeAll(async () => {
    started = Date.now()
    db = await openDatabase('sqlite', 'key_ages_kms')
    kms = (await startKms()).server
  })
  afterAll(async () => {
    await kms.stop()
    await db.close()
  })

  it("keyCreatedAt is DescribeKey's CreationDate, asked once per version; createdAt overrides it", async () => {
    const client = kmsClient(kms)
    const described = (await client.send(new DescribeKeyCommand({ KeyId: 'alias/test-v1' }))).KeyMetadata!.CreationDate!
    expect(described.getTime()).toBeGreaterThanOrEqual(started - 1000)
    expect(described.getTime()).toBeLessThanOrEqual(Date.now())
    const provider = awsProvider(kms)
    kms.resetStats()
    expect(await provider.keyCreatedAt('v1')).toEqual(described)
    expect(await provider.keyCreatedAt('v1')).toEqual(described)
    expect((await provider.keyCreatedAt('v2'))!.getTime()).toBeGreaterThanOrEqual(described.getTime())
    expect(kms.calls()).toEqual({ DescribeKey: 2 })
    await expect(provider.keyCreatedAt('v9')).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_KEY_VERSION_UNKNOWN' })

    const configured = awsProvider(kms, { createdAt: { v1: '2025-03-01' } })
    kms.resetStats()
    expect(await configured.keyCreatedAt('v1')).toEqual(new Date('2025-03-01T00:00:00Z'))
    expect(kms.calls()).toEqual({})
    expect(() => awsProvider(kms, { createdAt: { v7: '2025-03-01' } })).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
  })

  it('status keeps counting when KMS refuses DescribeKey: the age is unknown with the error code, and breaks the policy; rotation by age stops', async () => {
    await db.raw('DELETE FROM "User"')
    const store = new InMemoryTenantKeyStore()
    const writer = extend(db, awsProvider(kms, { tenantKeyStore: store }))
    await withTenant('d_a', () => writer.user.create({ data: { name: 'd', email: 'd_a@example.com' } }))
    const provider = awsProvider(kms, { tenantKeyStore: store })
    const prisma = extend(db, provider)
    kms.inject({ operations: ['DescribeKey'], error: 'AccessDeniedException', times: Infinity })
    try {
      const status = await rotationStatus({ prisma, model: 'User', maxKeyAgeDays: 90 })
      expect(status.models[0]).toMatchObject({ model: 'User', total: 1, versions: { v1: 1 } })
      expect(status.keyVersions).toEqual([{ keyVersion: 'v1', createdAt: null, ageSeconds: null, ageDays: null, rows: 1, error: 'ERR_ROWCRYPT_KMS_ACCESS_DENIED' }])
      expect(status.exceeded).toEqual([{ keyVersion: 'v1', createdAt: null, ageDays: null, rows: 1 }])
      await expect(rotateKeys({ prisma, olderThan: '90d' })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_KMS_ACCESS_DENIED' })
    } finally {
      kms.clearFaults()
    }
    // The failure was not cached: the next look-up asks KMS again.
    expect((await rotationStatus({ prisma, model: 'User' })).keyVersions[0]).toMatchObject({ keyVersion: 'v1', createdAt: expect.any(Date), ageDays: 0 })
  })

  it('tenant key ages come from the store: status --by-tenant shows them, and rotation by age moves only the rows under an old tenant key', async () => {
    await db.raw('DELETE FROM "User"')
    const store = new InMemoryTenantKeyStore()
    const writer = extend(db, awsProvider(kms, { tenantKeyStore: store }))
    for (const t of ['h_a', 'h_b', 'h_c']) await withTenant(t, () => writer.user.createMany({ data: Array.from({ length: 5 }, (_, i) => ({ name: `${t}${i}`, email: `${t}_${i}@example.com` })) }))
    const records = store.records()
    expect(records).toHaveLength(3)
    const provider = awsProvider(kms, { tenantKeyStore: store })
    const ha = records.find((r) => r.tenantId === 'h_a')!
    expect(await provider.tenantKeyCreatedAt('h_a', 'v1')).toEqual(ha.createdAt)
    expect(await provider.tenantKeyCreatedAt('h_a', 'v2')).toBeUndefined()
    expect(await awsProvider(kms, { mode: 'direct', tenantKeyStore: store }).tenantKeyCreatedAt('h_a', 'v1')).toBeUndefined()

    // h_a's tenant key was made 200 days ago (the same wrapped key, an older record).
    const aged = new InMemoryTenantKeyStore()
    for (const r of records) await aged.putIfAbsent(r.tenantId === 'h_a' ? { ...r, createdAt: new Date(Date.now() - 200 * DAY) } : r)
    const rotator = extend(db, awsProvider(kms, { tenantKeyStore: aged, activeVersion: 'v2' }))
    const status = await rotationStatus({ prisma: rotator, model: 'User', byTenant: true, maxKeyAgeDays: 90 })
    expect(status.keyVersions.map((k) => [k.keyVersion, k.rows, k.ageDays])).toEqual([
      ['v1', 15, 0],
      ['v2', 0, 0],
    ])
    expect(status.keyVersions[0]!.createdAt).toEqual(await provider.keyCreatedAt('v1'))
    expect(status.tenantKeys!.map((k) => [k.tenantId, k.keyVersion, k.ageDays, k.rows])).toEqual([
      ['h_a', 'v1', 200, 5],
      ['h_b', 'v1', 0, 5],
      ['h_c', 'v1', 0, 5],
    ])
    expect(status.tenantKeys![1]!.createdAt).toEqual(records.find((r) => r.tenantId === 'h_b')!.createdAt)
    expect(status.exceeded).toEqual([expect.objectContaining({ keyVersion: 'v1', tenantId: 'h_a', ageDays: 200, rows: 5 })])

    expect(await rotateKeys({ prisma: rotator, olderThan: '90d' })).toBe(5)
    const byTenant = await db.raw<{ t: string; v: string; n: unknown }>('SELECT "tenantId" AS t, "keyVersion" AS v, COUNT(*) AS n FROM "User" GROUP BY "tenantId", "keyVersion" ORDER BY 1, 2')
    expect(byTenant.map((r) => [r.t, r.v, Number(r.n)])).toEqual([
      ['h_a', 'v2', 5],
      ['h_b', 'v1', 5],
      ['h_c', 'v1', 5],
    ])
    expect((await verifyRows({ prisma: rotator })).failed).toBe(0)

    // Once h_a's v2 tenant key is itself older than the limit, rotating onto it is refused.
    const v2 = aged.records().find((r) => r.tenantId === 'h_a' && r.keyVersion === 'v2')!
    const agedAgain = new InMemoryTenantKeyStore()
    for (const r of aged.records()) await agedAgain.putIfAbsent(r.tenantId === v2.tenantId && r.keyVersion === v2.keyVersion ? { ...r, createdAt: new Date(Date.now() - 120 * DAY) } : r)
    const stale = extend(db, awsProvider(kms, { tenantKeyStore: agedAgain, activeVersion: 'v2' }))
    await expect(rotateKeys({ prisma: stale, olderThan: '90d' })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_KEY_TOO_OLD', keys: [expect.objectContaining({ keyVersion: 'v2', tenantId: 'h_a' })] })
  })
})
