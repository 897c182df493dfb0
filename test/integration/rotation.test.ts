// Online key rotation (issue 5): rotateKeys re-wraps (or re-keys) every row beside an application
// that keeps writing, with a compare-and-swap per row; two workers share a table on PostgreSQL and
// MariaDB through FOR UPDATE SKIP LOCKED; verifyRows and rotationStatus read the tables directly.
import {
  LocalKeyProvider,
  RotationIncompleteError,
  rotateKeys,
  rotationStatus,
  unsafeBypassTenantScope,
  verifyRows,
  withTenant,
  type BindingContext,
  type KeyProvider,
  type RotationProgress,
} from '../../src'
import { openDatabase, type TestDatabase } from '../support/db'
import { extend, TEST_KEYS } from '../support/setup'

const KEYS = { ...TEST_KEYS, v3: '03'.repeat(32) }
const keyProvider = (active: 'v1' | 'v2' | 'v3') => new LocalKeyProvider({ keys: KEYS, activeVersion: active })

/** A key provider that counts its calls (to show that no row's key is moved twice). */
class CountingProvider implements KeyProvider {
  calls = { rewrap: 0, unwrap: 0, wrap: 0, generate: 0 }
  constructor(readonly inner: LocalKeyProvider) {}
  get activeKeyVersion() {
    return this.inner.activeKeyVersion
  }
  generateDataKey(c: BindingContext) {
    this.calls.generate++
    return this.inner.generateDataKey(c)
  }
  wrapDataKey(k: Uint8Array, c: BindingContext, v?: string) {
    this.calls.wrap++
    return this.inner.wrapDataKey(k, c, v)
  }
  unwrapDataKey(w: Uint8Array, v: string, c: BindingContext) {
    this.calls.unwrap++
    return this.inner.unwrapDataKey(w, v, c)
  }
  rewrapDataKey(w: Uint8Array, from: string, to: string, c: BindingContext) {
    this.calls.rewrap++
    return this.inner.rewrapDataKey(w, from, to, c)
  }
}

type Client = ReturnType<typeof extend>
interface Seeded {
  id: number
  tenant: string
}

/** `n` users over four tenants, each with its own data key under `version`. */
async function seed(db: TestDatabase, n: number, version: 'v1' | 'v2' = 'v1', prefix = 'u'): Promise<Seeded[]> {
  const prisma = extend(db, keyProvider(version))
  const tenants = ['t_a', 't_b', 't_c', 't_d']
  const per = Math.ceil(n / tenants.length)
  for (const [ti, tenant] of tenants.entries()) {
    const count = Math.min(per, n - ti * per)
    for (let i = 0; i < count; i += 500) {
      const data = Array.from({ length: Math.min(500, count - i) }, (_, j) => ({
        name: `${prefix}${ti}_${i + j}`,
        email: `${prefix}${ti}_${i + j}@example.com`,
        ssn: j % 3 === 0 ? null : '123-45-6789',
        notes: 'initial',
        // Json and Bytes columns too, on some rows.
        ...(j % 2 === 0 ? { prefs: { n: i + j, tags: ['a', null] }, avatar: Buffer.from(`avatar ${i + j}`) } : {}),
      }))
      await withTenant(tenant, () => prisma.user.createMany({ data }))
    }
  }
  const rows = await unsafeBypassTenantScope('test', () => prisma.user.findMany({ where: { name: { startsWith: prefix } }, select: { id: true, tenantId: true } }))
  return rows.map((r) => ({ id: r.id, tenant: r.tenantId }))
}

/**
 * The application: `loops` writers, each updating random rows of its own share (so the last
 * successful write of each row is known) through rowcrypt, until stopped.
 */
function startWriter(prisma: Client, rows: readonly Seeded[], loops = 2) {
  let stopped = false
  const last = new Map<number, string>()
  const errors: unknown[] = []
  let writes = 0
  let seq = 0
  const loop = async (k: number) => {
    const mine = rows.filter((_, i) => i % loops === k)
    while (!stopped) {
      const r = mine[Math.floor(Math.random() * mine.length)]!
      const value = `w${++seq}`
      try {
        await withTenant(r.tenant, () => prisma.user.update({ where: { id: r.id }, data: { notes: value } }))
        last.set(r.id, value)
        writes++
        // Like a server between requests: lets timers run (SQLite's driver is synchronous).
        await new Promise((resolve) => setImmediate(resolve))
      } catch (e) {
        errors.push(e)
        return
      }
    }
  }
  const running = Array.from({ length: loops }, (_, k) => loop(k))
  return {
    last,
    errors,
    writes: () => writes,
    stop: async () => {
      stopped = true
      await Promise.all(running)
    },
  }
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}

async function versions(db: TestDatabase): Promise<Record<string, number>> {
  const rows = await db.raw<{ v: string; n: unknown }>('SELECT "keyVersion" AS v, COUNT(*) AS n FROM "User" GROUP BY "keyVersion"')
  return Object.fromEntries(rows.map((r) => [r.v, Number(r.n)]))
}

async function expectNoLostUpdate(prisma: Client, writer: ReturnType<typeof startWriter>): Promise<void> {
  const ids = [...writer.last.keys()]
  const rows = await unsafeBypassTenantScope('test', () => prisma.user.findMany({ where: { id: { in: ids } }, select: { id: true, notes: true } }))
  const lost = rows.filter((r) => r.notes !== writer.last.get(r.id))
  expect(lost).toEqual([])
  expect(rows).toHaveLength(ids.length)
}

describe.each(['sqlite', 'postgres', 'mysql'] as const)('key rotation on %s', (kind) => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await openDatabase(kind, 'rotation')
  })
  afterAll(() => db.close())
  beforeEach(async () => {
    await db.raw('DELETE FROM "Post"')
    await db.raw('DELETE FROM "User"')
  })

  it('rotates 2,000 rows v1 → v2 while the application updates random rows: each row once, no lost update, every row readable', async () => {
    const rows = await seed(db, 2000)
    const app = extend(db, keyProvider('v2'))
    const counting = new CountingProvider(keyProvider('v2'))
    const rotator = extend(db, counting)
    const writer = startWriter(app, rows)
    await until(() => writer.writes() >= 20)
    const before = writer.writes()
    const progress: RotationProgress[] = []
    const rotated = await rotateKeys({ prisma: rotator, batchSize: 100, onProgress: (p) => progress.push(p) })
    const during = writer.writes() - before
    await writer.stop()
    expect(writer.errors).toEqual([])
    expect(during).toBeGreaterThan(0)
    // Exactly once: 2,000 successful compare-and-swap updates, one key-provider call per row.
    expect(rotated).toBe(2000)
    expect(counting.calls.rewrap).toBe(2000)
    expect(await versions(db)).toEqual({ v2: 2000 })
    expect(progress.at(-1)).toMatchObject({ done: true, rotated: 2000, failed: 0, total: 2000 })
    await expectNoLostUpdate(app, writer)
    const verified = await verifyRows({ prisma: app })
    expect(verified).toMatchObject({ checked: 2000, failed: 0, failures: [] })
    // Running again finds nothing to do.
    expect(await rotateKeys({ prisma: rotator })).toBe(0)
  })

  it('re-keys: a fresh data key per row and re-encrypted fields, beside a concurrent writer, nothing lost', async () => {
    const rows = await seed(db, 600, 'v2')
    const before = new Map((await db.raw<{ id: unknown; email: string; wrappedDek: Uint8Array }>('SELECT "id", "email", "wrappedDek" FROM "User"')).map((r) => [Number(r.id), r]))
    const app = extend(db, keyProvider('v3'))
    const writer = startWriter(app, rows)
    await until(() => writer.writes() >= 20)
    const rotated = await rotateKeys({ prisma: app, rekey: true, fromVersion: 'v2', toVersion: 'v3', batchSize: 50 })
    await writer.stop()
    expect(writer.errors).toEqual([])
    expect(rotated).toBe(600)
    expect(await versions(db)).toEqual({ v3: 600 })
    const after = await db.raw<{ id: unknown; email: string; wrappedDek: Uint8Array }>('SELECT "id", "email", "wrappedDek" FROM "User"')
    for (const r of after) {
      const b = before.get(Number(r.id))!
      expect(r.email).not.toBe(b.email) // re-encrypted under the new data key
      expect(Buffer.from(r.wrappedDek).equals(Buffer.from(b.wrappedDek))).toBe(false)
    }
    // The old v2 wrapped key no longer opens the fields: it is a different data key.
    const sample = rows[7]!
    expect(await withTenant(sample.tenant, () => app.user.findUniqueOrThrow({ where: { id: sample.id }, select: { email: true } }))).toEqual({ email: expect.stringMatching(/@example\.com$/) })
    const typed = await withTenant('t_a', () => app.user.findFirstOrThrow({ where: { name: 'u0_0' }, select: { prefs: true, avatar: true } }))
    expect([typed.prefs, Buffer.from(typed.avatar!).toString()]).toEqual([{ n: 0, tags: ['a', null] }, 'avatar 0'])
    await expectNoLostUpdate(app, writer)
    expect((await verifyRows({ prisma: app })).failed).toBe(0)
  })

  it('dry run counts and changes nothing; --tenant and --from narrow the rows; status counts per version and tenant', async () => {
    await seed(db, 40, 'v1', 'a')
    await seed(db, 20, 'v2', 'b')
    const app = extend(db, keyProvider('v3'))
    const snapshot = async () =>
      (await db.raw<Record<string, unknown>>('SELECT "id", "keyVersion", "wrappedDek", "email" FROM "User" ORDER BY "id"')).map((r) =>
        JSON.stringify({ ...r, wrappedDek: Buffer.from(r.wrappedDek as Uint8Array).toString('hex') }),
      )
    const start = await snapshot()
    expect(await rotateKeys({ prisma: app, dryRun: true })).toBe(60)
    expect(await rotateKeys({ prisma: app, dryRun: true, fromVersion: 'v1' })).toBe(40)
    expect(await rotateKeys({ prisma: app, dryRun: true, rekey: true, tenantId: 't_a' })).toBe(15)
    expect(await snapshot()).toEqual(start)

    const status = await rotationStatus({ prisma: app, model: 'User', byTenant: true })
    expect(status.activeKeyVersion).toBe('v3')
    expect(status.models).toEqual([
      expect.objectContaining({
        model: 'User',
        total: 60,
        notActive: 60,
        plaintextRows: 0,
        versions: { v1: 40, v2: 20 },
        tenants: [
          { tenantId: 't_a', total: 15, notActive: 15, plaintextRows: 0, versions: { v1: 10, v2: 5 } },
          { tenantId: 't_b', total: 15, notActive: 15, plaintextRows: 0, versions: { v1: 10, v2: 5 } },
          { tenantId: 't_c', total: 15, notActive: 15, plaintextRows: 0, versions: { v1: 10, v2: 5 } },
          { tenantId: 't_d', total: 15, notActive: 15, plaintextRows: 0, versions: { v1: 10, v2: 5 } },
        ],
      }),
    ])

    expect(await rotateKeys({ prisma: app, tenantId: 't_a', fromVersion: 'v1' })).toBe(10)
    expect(await versions(db)).toEqual({ v1: 30, v2: 20, v3: 10 })
    expect(await rotateKeys({ prisma: app, model: 'User', toVersion: 'v2', fromVersion: ['v1', 'v3'] })).toBe(40)
    expect(await versions(db)).toEqual({ v2: 60 })
    expect((await rotationStatus({ prisma: app })).models.find((m) => m.model === 'User')).toMatchObject({ versions: { v2: 60 }, notActive: 60 })
  })

  it('reports a row whose key does not unwrap, by id and code, and rotates every other row; verify lists it too', async () => {
    const rows = await seed(db, 30)
    const bad = rows[5]!
    // Moved to another tenant behind rowcrypt's back: its key is bound to the old tenant.
    await db.raw('UPDATE "User" SET "tenantId" = $1 WHERE "id" = $2', ['t_evil', bad.id])
    const app = extend(db, keyProvider('v2'))
    const e = await rotateKeys({ prisma: app, batchSize: 7 }).catch((err: unknown) => err)
    expect(e).toBeInstanceOf(RotationIncompleteError)
    expect(e).toMatchObject({
      code: 'ERR_ROWCRYPT_ROTATION_INCOMPLETE',
      rotated: 29,
      failedCount: 1,
      failures: [{ model: 'User', id: String(bad.id), tenantId: 't_evil', code: 'ERR_ROWCRYPT_DECRYPTION_FAILED' }],
    })
    expect(await versions(db)).toEqual({ v1: 1, v2: 29 })
    const verified = await verifyRows({ prisma: app })
    expect(verified).toMatchObject({ checked: 30, failed: 1, failures: [{ model: 'User', id: String(bad.id), code: 'ERR_ROWCRYPT_DECRYPTION_FAILED' }] })
    const sampled = await verifyRows({ prisma: app, sample: 10, model: 'User' })
    expect(sampled.checked).toBe(10)
  })

  it('refuses bad options with ConfigError before touching a row', async () => {
    const app = extend(db, keyProvider('v2'))
    const cases: Array<Parameters<typeof rotateKeys>[0]> = [
      { prisma: db.prisma },
      { prisma: app, model: 'Team' },
      { prisma: app, fromVersion: 'v2' },
      { prisma: app, fromVersion: [] },
      { prisma: app, batchSize: 0 },
      { prisma: app, concurrency: 1.5 },
      { prisma: app, maxKmsRps: -1 },
      { prisma: app, tenantId: '' },
    ]
    for (const options of cases) await expect(rotateKeys(options)).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
    await expect(verifyRows({ prisma: app, sample: 0 })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
    await expect(rotationStatus({ prisma: {} })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
  })
})

describe.each(['postgres', 'mysql'] as const)('two rotation workers at once on %s', (kind) => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await openDatabase(kind, 'rotation_workers')
  })
  afterAll(() => db.close())

  it('share the table through FOR UPDATE SKIP LOCKED: every row rotated exactly once, no key moved twice', async () => {
    const rows = await seed(db, 2000)
    const app = extend(db, keyProvider('v2'))
    const writer = startWriter(app, rows)
    await until(() => writer.writes() >= 10)
    const providers = [new CountingProvider(keyProvider('v2')), new CountingProvider(keyProvider('v2'))]
    const workers = providers.map((p) => extend(db, p))
    const last: RotationProgress[] = []
    const counts = await Promise.all(workers.map((w, i) => rotateKeys({ prisma: w, batchSize: 25, concurrency: 4, onProgress: (p) => (last[i] = p) })))
    await writer.stop()
    expect(writer.errors).toEqual([])
    // Successful compare-and-swap updates add up to the rows, and both workers did some of them.
    expect(counts[0]! + counts[1]!).toBe(2000)
    expect(counts[0]).toBeGreaterThan(0)
    expect(counts[1]).toBeGreaterThan(0)
    // No row was claimed by both: no wasted key-provider call, no compare-and-swap miss.
    expect(providers[0]!.calls.rewrap + providers[1]!.calls.rewrap).toBe(2000)
    expect(last.map((p) => p.conflicts)).toEqual([0, 0])
    expect(await versions(db)).toEqual({ v2: 2000 })
    await expectNoLostUpdate(app, writer)
    expect((await verifyRows({ prisma: app })).failed).toBe(0)
  })
})

describe.each(['postgres', 'mysql'] as const)('a row locked by an application transaction during rotation on %s', (kind) => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await openDatabase(kind, 'rotation_locked')
  })
  afterAll(() => db.close())

  it('is not skipped for good: the rotation waits for the lock and then rotates it (exit only when every row is on the target)', async () => {
    const rows = await seed(db, 200)
    const held = rows[57]!
    const app = extend(db, keyProvider('v2'))
    // The application holds the row in an open transaction (as an interactive $transaction would)
    // while the rotation passes over the table, twice, and finds nothing else to do.
    await db.raw('BEGIN')
    await db.raw('SELECT "id" FROM "User" WHERE "id" = $1 FOR UPDATE', [held.id])
    let released = false
    let rotatedWhileHeld = -1
    const rotation = rotateKeys({
      prisma: app,
      batchSize: 20,
      onProgress: (p) => {
        if (!released) rotatedWhileHeld = p.rotated
      },
    }).then((n) => ({ n, released }))
    await until(() => rotatedWhileHeld === 199)
    // Long enough for a rotation that gave up on the row to resolve.
    await new Promise((r) => setTimeout(r, 300))
    released = true
    await db.raw('COMMIT')
    const result = await rotation
    expect(result).toEqual({ n: 200, released: true })
    expect(await versions(db)).toEqual({ v2: 200 })
    expect((await verifyRows({ prisma: app })).failed).toBe(0)
  })
})
