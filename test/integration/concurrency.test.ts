// The tenant context under load: many interleaved requests of different tenants, each awaiting
// between queries, never see each other's rows and never lose their tenant.
import { setImmediate as tick } from 'node:timers/promises'
import { currentTenant, unsafeBypassTenantScope, withTenant } from '../../src'
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { extend, type Extended } from '../support/setup'
import { marked, markerOf, prng } from '../support/markers'

// rowcrypt's tenant column is hidden from results unless asked for: every read here asks.
const SHOW_TENANT = { tenantId: false } as const

const TENANTS = Array.from({ length: 20 }, (_, i) => `tenant_${String(i).padStart(2, '0')}`)
const REQUESTS = 1000
const SEED_ROWS_PER_TENANT = 2

interface Seen {
  id: number
  tenantId: string
  email: string
}

describe.each(DATABASES)('concurrent tenants (%s)', (kind) => {
  let db: TestDatabase
  let prisma: Extended

  beforeAll(async () => {
    db = await openDatabase(kind, 'concurrency')
    prisma = extend(db)
    for (const t of TENANTS) {
      for (let i = 0; i < SEED_ROWS_PER_TENANT; i++) {
        await withTenant(t, () => prisma.user.create({ omit: SHOW_TENANT, data: { name: `seed ${i}`, email: marked(t, `seed-${i}`), ssn: `${t}-ssn-${i}` } }))
      }
    }
  })
  afterAll(async () => {
    await db.close()
  })

  it(`${REQUESTS} interleaved requests of ${TENANTS.length} tenants each see only their own tenant`, async () => {
    const random = prng(kind === 'sqlite' ? 1 : 2)
    const violations: string[] = []
    const created = new Map<number, { tenant: string; email: string }>()
    let rowsChecked = 0
    let inFlight = 0
    let maxInFlight = 0
    let switches = 0
    let lastTenant: string | undefined

    // Randomness is drawn up front: the interleaving depends on the seed, not on timing alone.
    const plans = Array.from({ length: REQUESTS }, (_, i) => ({
      i,
      // Interleaved, not grouped: neighbouring requests belong to different tenants.
      tenant: TENANTS[(i * 7) % TENANTS.length]!,
      pauses: Array.from({ length: 5 }, () => Math.floor(random() * 4)),
      nested: i % 10 === 3 ? TENANTS[(i * 7 + 5) % TENANTS.length]! : undefined,
    }))

    const request = (plan: (typeof plans)[number]) =>
      withTenant(plan.tenant, async () => {
        const { i, tenant } = plan
        const step = (label: string, rows: unknown[] = []) => {
          const now = currentTenant()
          if (now !== lastTenant) switches++
          lastTenant = now
          if (now !== tenant) violations.push(`request ${i} (${tenant}) after ${label}: currentTenant() is ${String(now)}`)
          for (const r of rows as Array<Partial<Seen> | null>) {
            rowsChecked++
            if (r === null || r === undefined) {
              violations.push(`request ${i} (${tenant}) after ${label}: missing row`)
              continue
            }
            if (r.tenantId !== tenant) violations.push(`request ${i} (${tenant}) after ${label}: row ${r.id} has tenantId ${r.tenantId}`)
            if (markerOf(r.email) !== tenant) violations.push(`request ${i} (${tenant}) after ${label}: row ${r.id} has marker ${markerOf(r.email)}`)
          }
        }
        const pause = async (n: number, label: string) => {
          const ms = plan.pauses[n]!
          if (ms === 0) await tick()
          else await new Promise((resolve) => setTimeout(resolve, ms))
          step(label)
        }

        maxInFlight = Math.max(maxInFlight, ++inFlight)
        step('start')
        step('findMany', await prisma.user.findMany({ omit: SHOW_TENANT }))
        await pause(0, 'pause 0')
        const email = marked(tenant, `req-${i}`)
        const mine = await prisma.user.create({ omit: SHOW_TENANT, data: { name: `req ${i}`, email, ssn: `${tenant}-req-${i}` } })
        step('create', [mine])
        created.set(mine.id, { tenant, email })
        await pause(1, 'pause 1')
        step('findUnique', [await prisma.user.findUnique({ omit: SHOW_TENANT, where: { id: mine.id } })])
        await pause(2, 'pause 2')
        if (plan.nested !== undefined) {
          // A nested scope for another tenant in the middle of the request, then back.
          const other = plan.nested
          const rows = await withTenant(other, async () => {
            const r = await prisma.user.findMany({ omit: SHOW_TENANT, where: { name: { startsWith: 'seed' } } })
            if (currentTenant() !== other) violations.push(`request ${i}: nested scope lost ${other}`)
            return r
          })
          for (const r of rows) if (r.tenantId !== other || markerOf(r.email) !== other) violations.push(`request ${i}: nested read of ${other} saw row ${r.id}`)
          if (rows.length !== SEED_ROWS_PER_TENANT) violations.push(`request ${i}: nested read of ${other} saw ${rows.length} seed rows`)
          step('nested withTenant')
        }
        const updatedEmail = marked(tenant, `req-${i}-updated`)
        const updated = await prisma.user.update({ omit: SHOW_TENANT, where: { id: mine.id }, data: { email: updatedEmail, notes: `${tenant} note ${i}` } })
        step('update', [updated])
        if (updated.email !== updatedEmail) violations.push(`request ${i}: update returned another email`)
        created.set(mine.id, { tenant, email: updatedEmail })
        await pause(3, 'pause 3')
        const after = await prisma.user.findMany({ omit: SHOW_TENANT, orderBy: { id: 'asc' } })
        step('findMany again', after)
        if (!after.some((r) => r.id === mine.id && r.email === updatedEmail)) violations.push(`request ${i}: own updated row missing from findMany`)
        await pause(4, 'pause 4')
        const count = await prisma.user.count()
        step('count')
        if (count < SEED_ROWS_PER_TENANT + 1) violations.push(`request ${i}: count ${count}`)
        inFlight--
        return mine.id
      })

    const ids = await Promise.all(plans.map(request))

    expect(violations).toEqual([])
    expect(new Set(ids).size).toBe(REQUESTS)
    expect(created.size).toBe(REQUESTS)
    // Every request checked its own rows and at least the seed rows twice.
    expect(rowsChecked).toBeGreaterThan(REQUESTS * (2 * SEED_ROWS_PER_TENANT + 3))
    expect(currentTenant()).toBeUndefined()
    // The requests really overlapped and their steps interleaved across tenants.
    expect(maxInFlight).toBeGreaterThan(REQUESTS / 2)
    expect(switches).toBeGreaterThan(REQUESTS * 3)

    // At rest: every row's tenant column matches the marker inside its encrypted email.
    const raw = await db.raw<{ id: unknown; tenantId: string; email: string }>('SELECT "id", "tenantId", "email" FROM "User" ORDER BY "id"')
    expect(raw).toHaveLength(TENANTS.length * SEED_ROWS_PER_TENANT + REQUESTS)
    for (const r of raw) expect(r.email.startsWith('rc1.A256GCM.s.')).toBe(true)
    const rawTenantById = new Map(raw.map((r) => [Number(r.id), r.tenantId]))
    for (const [id, c] of created) expect(rawTenantById.get(id)).toBe(c.tenant)

    const mismatches: string[] = []
    for (const t of TENANTS) {
      const expectedIds = raw.filter((r) => r.tenantId === t).map((r) => Number(r.id))
      expect(expectedIds.length).toBe(SEED_ROWS_PER_TENANT + REQUESTS / TENANTS.length)
      const rows = await withTenant(t, () => prisma.user.findMany({ omit: SHOW_TENANT, orderBy: { id: 'asc' } }))
      expect(rows.map((r) => r.id)).toEqual(expectedIds)
      for (const r of rows) {
        if (markerOf(r.email) !== rawTenantById.get(r.id)) mismatches.push(`row ${r.id}: marker ${markerOf(r.email)} vs tenantId ${rawTenantById.get(r.id)}`)
        const c = created.get(r.id)
        if (c !== undefined && c.email !== r.email) mismatches.push(`row ${r.id}: final email differs from the request's update`)
      }
    }
    const all = await unsafeBypassTenantScope('concurrency check', () => prisma.user.findMany({ omit: SHOW_TENANT }))
    expect(all).toHaveLength(raw.length)
    for (const r of all) if (markerOf(r.email) !== rawTenantById.get(r.id)) mismatches.push(`bypass row ${r.id}: marker ${markerOf(r.email)}`)
    expect(mismatches).toEqual([])
  }, 240_000)
})
