// Concurrency stress of the tenant context: exactly 10,000 database operations (creates, reads,
// updates, deletes, counts) of 50 tenants, all in flight together through the extension, woven
// through every kind of asynchronous hop Node has: awaits, promise chains, setTimeout,
// setImmediate, process.nextTick, queueMicrotask, EventEmitter callbacks, Promise.all fan-outs and
// nested withTenant. Checked at every step:
//   - no operation ever returns a row of another tenant (tenant column and the tenant marker inside
//     the decrypted email both match), and another tenant's row ids find nothing;
//   - currentTenant() is the task's tenant after every hop;
//   - the context never leaks out of withTenant: code after it sees undefined and scoped queries
//     there fail with ERR_ROWCRYPT_TENANT_MISSING, also from timers, ticks and events scheduled
//     from outside once the withTenant call has ended;
//   - work started inside withTenant keeps its tenant when it runs later, after the call returned
//     (AsyncLocalStorage semantics, which the Express middleware pattern relies on).
import { EventEmitter, EventEmitterAsyncResource } from 'node:events'
import { currentTenant, RowcryptError, unsafeBypassTenantScope, withTenant } from '../../src'
import { openDatabase, type DatabaseKind, type TestDatabase } from '../support/db'
import { extend, type Extended } from '../support/setup'
import { marked as markedIn, markerOf, prng } from '../support/markers'

// rowcrypt's tenant column is hidden from results unless asked for: every read here asks.
const SHOW_TENANT = { tenantId: false } as const

/** Every encrypted email carries its tenant: `<tenant>|<label>@stress.example`. */
const marked = (tenant: string, label: string) => markedIn(tenant, label, 'stress.example')

const TENANTS = Array.from({ length: 50 }, (_, i) => `st_${String(i).padStart(2, '0')}`)
const OPERATIONS = 10_000
const SEED_ROWS_PER_TENANT = 2
// PostgreSQL, the production target. (SQLite is left out: this load takes it over a minute, and
// Prisma's batching of thousands of concurrent findUnique calls exceeds SQLite's parameter limit,
// P2029, a Prisma limit unrelated to tenancy. test/integration/concurrency.test.ts covers SQLite.)
const KINDS: DatabaseKind[] = ['postgres']

type TaskKind = 'chain' | 'timers' | 'emitter' | 'fanout' | 'nested' | 'delete' | 'late' | 'probe'
// Database operations each kind performs (fan-outs choose their own width).
const OPS: Record<Exclude<TaskKind, 'fanout'>, number> = { chain: 4, timers: 4, emitter: 3, nested: 4, delete: 4, late: 2, probe: 4 }
const KINDS_OF_TASK: TaskKind[] = ['chain', 'timers', 'emitter', 'fanout', 'nested', 'delete', 'late', 'probe']
type Hop = 'none' | 'resolved' | 'immediate' | 'tick' | 'timeout' | 'microtask' | 'emitter'
const HOPS: Hop[] = ['none', 'resolved', 'immediate', 'tick', 'timeout', 'microtask', 'emitter']
type Outside = 'none' | 'after' | 'timeout' | 'immediate' | 'tick' | 'microtask' | 'emitter'
const OUTSIDE: Outside[] = ['none', 'after', 'timeout', 'immediate', 'tick', 'microtask', 'emitter']

interface Task {
  i: number
  tenant: string
  other: string
  kind: TaskKind
  ops: number
  hops: Hop[]
  outside: Outside
  delayMs: number
}

/** Tasks for exactly OPERATIONS operations, neighbours of different tenants, drawn from a seed. */
function plan(seed: number): Task[] {
  const random = prng(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!
  const tasks: Task[] = []
  let planned = 0
  while (planned < OPERATIONS) {
    const i = tasks.length
    const tenant = TENANTS[(i * 7) % TENANTS.length]!
    let kind = pick(KINDS_OF_TASK)
    let ops = kind === 'fanout' ? 2 + Math.floor(random() * 7) : OPS[kind]
    if (planned + ops > OPERATIONS) {
      kind = 'fanout'
      ops = OPERATIONS - planned
    }
    planned += ops
    tasks.push({
      i,
      tenant,
      other: TENANTS[(i * 7 + 1 + Math.floor(random() * (TENANTS.length - 1))) % TENANTS.length]!,
      kind,
      ops,
      hops: Array.from({ length: 6 }, () => pick(HOPS)),
      outside: pick(OUTSIDE),
      delayMs: Math.floor(random() * 12),
    })
  }
  return tasks
}

describe.each(KINDS)('tenant context under stress (%s)', (kind) => {
  let db: TestDatabase
  let prisma: Extended
  const seedIds = new Map<string, number[]>()

  beforeAll(async () => {
    db = await openDatabase(kind, 'tenant_stress')
    prisma = extend(db)
    for (const t of TENANTS) {
      const ids: number[] = []
      for (let n = 0; n < SEED_ROWS_PER_TENANT; n++) {
        const r = await withTenant(t, () => prisma.user.create({ omit: SHOW_TENANT, data: { name: `seed ${n}`, email: marked(t, `seed-${n}`), notes: marked(t, 'note') } }))
        ids.push(r.id)
      }
      seedIds.set(t, ids)
    }
  })
  afterAll(async () => {
    await db?.close()
  })

  it(`${OPERATIONS} interleaved operations of ${TENANTS.length} tenants never cross tenants and never leak the context`, async () => {
    const tasks = plan(9)
    const violations: string[] = []
    const counts: Record<string, number> = {}
    let operations = 0
    let rowsChecked = 0
    let otherTenantProbes = 0
    let stepsChecked = 0
    let refusedOutside = 0
    let lateOps = 0
    let inFlight = 0
    let maxInFlight = 0
    let switches = 0
    let lastTenant: string | undefined
    const created = new Map<number, string>()
    const deleted = new Set<number>()
    const background: Promise<unknown>[] = []
    // One emitter for all tasks, listened to from outside any tenant: its listeners run in the
    // context of whoever emits (plain EventEmitter semantics).
    const bus = new EventEmitter()
    bus.setMaxListeners(0)

    const violation = (t: Task, what: string) => {
      if (violations.length < 50) violations.push(`task ${t.i} (${t.kind}, ${t.tenant}): ${what}`)
    }
    /** The tenant must be `expected` here (checked after every hop). */
    const step = (t: Task, label: string, expected: string = t.tenant) => {
      stepsChecked++
      const now = currentTenant()
      if (now !== lastTenant) switches++
      lastTenant = now
      if (now !== expected) violation(t, `${label}: currentTenant() is ${String(now)}, expected ${expected}`)
    }
    /** Every row must belong to `tenant`, by its tenant column and by the marker inside its ciphertext. */
    const rowsOf = (t: Task, label: string, rows: ReadonlyArray<{ id: number; tenantId: string; email: string } | null>, tenant: string = t.tenant) => {
      for (const r of rows) {
        if (r === null) {
          violation(t, `${label}: missing row`)
          continue
        }
        rowsChecked++
        if (r.tenantId !== tenant) violation(t, `${label}: row ${r.id} has tenantId ${r.tenantId}`)
        if (markerOf(r.email) !== tenant) violation(t, `${label}: row ${r.id} has marker ${String(markerOf(r.email))}`)
      }
    }
    /** Runs one database operation and counts it. */
    const op = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
      const r = await fn()
      operations++
      counts[name] = (counts[name] ?? 0) + 1
      return r
    }
    const hop = (h: Hop, ms: number): Promise<void> => {
      switch (h) {
        case 'none':
          return Promise.resolve()
        case 'resolved':
          return Promise.resolve().then(() => undefined)
        case 'immediate':
          return new Promise((resolve) => setImmediate(resolve))
        case 'tick':
          return new Promise((resolve) => process.nextTick(resolve))
        case 'timeout':
          return new Promise((resolve) => setTimeout(resolve, ms % 4))
        case 'microtask':
          return new Promise((resolve) => queueMicrotask(resolve))
        case 'emitter':
          return new Promise((resolve) => {
            const e = new EventEmitter()
            e.once('go', () => resolve())
            setImmediate(() => e.emit('go'))
          })
      }
    }
    const paused = async (t: Task, n: number, label: string) => {
      await hop(t.hops[n % t.hops.length]!, t.delayMs + n)
      step(t, label)
    }
    const ownSeed = (t: Task) => seedIds.get(t.tenant)![t.i % SEED_ROWS_PER_TENANT]!
    const otherSeed = (t: Task) => seedIds.get(t.other)![t.i % SEED_ROWS_PER_TENANT]!

    // Tenant-scoped work, run inside withTenant(t.tenant).
    const body = async (t: Task): Promise<void> => {
      maxInFlight = Math.max(maxInFlight, ++inFlight)
      step(t, 'start')
      switch (t.kind) {
        case 'chain': {
          // A promise chain without await: every .then callback must still see the tenant.
          const email = marked(t.tenant, `chain-${t.i}`)
          await op('create', () => prisma.user.create({ omit: SHOW_TENANT, data: { name: `chain ${t.i}`, email } }))
            .then((row) => {
              step(t, 'then create')
              rowsOf(t, 'create', [row])
              created.set(row.id, t.tenant)
              return op('findUnique', () => prisma.user.findUnique({ omit: SHOW_TENANT, where: { id: row.id } }))
            })
            .then((row) => {
              step(t, 'then findUnique')
              rowsOf(t, 'findUnique', [row])
              return op('update', () => prisma.user.update({ omit: SHOW_TENANT, where: { id: row!.id }, data: { email: marked(t.tenant, `chain-${t.i}-u`), notes: marked(t.tenant, 'n') } }))
            })
            .then((row) => {
              step(t, 'then update')
              rowsOf(t, 'update', [row])
              if (row.email !== marked(t.tenant, `chain-${t.i}-u`)) violation(t, 'update returned another email')
              return op('findMany', () => prisma.user.findMany({ omit: SHOW_TENANT, take: 10, orderBy: { id: 'desc' } }))
            })
            .then((rows) => {
              step(t, 'then findMany')
              rowsOf(t, 'findMany', rows)
            })
          break
        }
        case 'timers': {
          // Queries started from timer, immediate, tick and microtask callbacks scheduled inside.
          const viaTimeout = new Promise<void>((resolve, reject) =>
            setTimeout(() => {
              step(t, 'setTimeout callback')
              op('findMany', () => prisma.user.findMany({ omit: SHOW_TENANT, where: { name: { startsWith: 'seed' } } })).then((rows) => {
                rowsOf(t, 'findMany in setTimeout', rows)
                if (rows.length !== SEED_ROWS_PER_TENANT) violation(t, `setTimeout findMany saw ${rows.length} seed rows`)
                resolve()
              }, reject)
            }, t.delayMs % 5),
          )
          const viaImmediate = new Promise<void>((resolve, reject) =>
            setImmediate(() => {
              step(t, 'setImmediate callback')
              op('count', () => prisma.user.count({ where: { id: otherSeed(t) } })).then((n) => {
                otherTenantProbes++
                if (n !== 0) violation(t, `count of another tenant's row is ${n}`)
                resolve()
              }, reject)
            }),
          )
          const viaTick = new Promise<void>((resolve, reject) =>
            process.nextTick(() => {
              step(t, 'nextTick callback')
              op('findUnique', () => prisma.user.findUnique({ omit: SHOW_TENANT, where: { id: ownSeed(t) } })).then((row) => {
                rowsOf(t, 'findUnique in nextTick', [row])
                resolve()
              }, reject)
            }),
          )
          const viaMicrotask = new Promise<void>((resolve, reject) =>
            queueMicrotask(() => {
              step(t, 'queueMicrotask callback')
              op('findFirst', () => prisma.user.findFirst({ where: { id: otherSeed(t) } })).then((row) => {
                otherTenantProbes++
                if (row !== null) violation(t, `findFirst found another tenant's row ${row.id}`)
                resolve()
              }, reject)
            }),
          )
          await Promise.all([viaTimeout, viaImmediate, viaTick, viaMicrotask])
          step(t, 'after timers')
          break
        }
        case 'emitter': {
          // A listener registered here and emitted later, from inside this scope.
          const local = new EventEmitter()
          const heard = new Promise<void>((resolve, reject) =>
            local.once('query', () => {
              step(t, 'local emitter listener')
              op('findMany', () => prisma.user.findMany({ omit: SHOW_TENANT, take: 5 })).then((rows) => {
                rowsOf(t, 'findMany in listener', rows)
                resolve()
              }, reject)
            }),
          )
          await paused(t, 0, 'before emit')
          local.emit('query')
          await heard
          // The shared bus: a plain EventEmitter runs its listeners in the emitter's context.
          const onBus = new Promise<void>((resolve, reject) =>
            bus.once(`ask-${t.i}`, (expected: string) => {
              step(t, 'bus listener', expected)
              op('count', () => prisma.user.count()).then(() => resolve(), reject)
            }),
          )
          bus.emit(`ask-${t.i}`, t.tenant)
          await onBus
          // An EventEmitterAsyncResource keeps the context it was created in, even when another
          // tenant emits (here a nested scope of another tenant).
          const bound = new EventEmitterAsyncResource({ name: `task-${t.i}` })
          const boundHeard = new Promise<void>((resolve, reject) =>
            bound.once('query', () => {
              step(t, 'async-resource listener')
              op('findUnique', () => prisma.user.findUnique({ omit: SHOW_TENANT, where: { id: ownSeed(t) } })).then((row) => {
                rowsOf(t, 'findUnique in async-resource listener', [row])
                resolve()
              }, reject)
            }),
          )
          withTenant(t.other, () => bound.emit('query'))
          await boundHeard
          bound.emitDestroy()
          step(t, 'after emitters')
          break
        }
        case 'fanout': {
          // Promise.all of several queries at once, some probing another tenant's rows.
          await Promise.all(
            Array.from({ length: t.ops }, async (_, n) => {
              await paused(t, n, `fan-out ${n} start`)
              switch (n % 4) {
                case 0:
                  rowsOf(t, 'fan-out findMany', await op('findMany', () => prisma.user.findMany({ omit: SHOW_TENANT, take: 8, orderBy: { id: 'asc' } })))
                  break
                case 1: {
                  otherTenantProbes++
                  const rows = await op('findMany', () => prisma.user.findMany({ omit: SHOW_TENANT, where: { id: { in: seedIds.get(t.other)! } } }))
                  if (rows.length !== 0) violation(t, `findMany by another tenant's ids returned ${rows.length} rows`)
                  break
                }
                case 2:
                  rowsOf(t, 'fan-out findUnique', [await op('findUnique', () => prisma.user.findUnique({ omit: SHOW_TENANT, where: { id: ownSeed(t) } }))])
                  break
                default: {
                  const n2 = await op('count', () => prisma.user.count())
                  if (n2 < SEED_ROWS_PER_TENANT) violation(t, `count ${n2}`)
                }
              }
              step(t, `fan-out ${n} end`)
            }),
          )
          break
        }
        case 'nested': {
          rowsOf(t, 'findMany before nesting', await op('findMany', () => prisma.user.findMany({ omit: SHOW_TENANT, take: 5 })))
          await paused(t, 0, 'before nesting')
          const inner = await withTenant(t.other, async () => {
            step(t, 'nested start', t.other)
            await paused({ ...t, tenant: t.other }, 1, 'nested hop')
            const rows = await op('findMany', () => prisma.user.findMany({ omit: SHOW_TENANT, where: { name: { startsWith: 'seed' } } }))
            step(t, 'nested findMany', t.other)
            const n = await op('count', () => prisma.user.count({ where: { id: ownSeed(t) } }))
            otherTenantProbes++
            if (n !== 0) violation(t, `nested scope of ${t.other} counted the outer tenant's row`)
            return rows
          })
          rowsOf(t, 'nested findMany', inner, t.other)
          if (inner.length !== SEED_ROWS_PER_TENANT) violation(t, `nested findMany saw ${inner.length} seed rows`)
          step(t, 'after nesting')
          rowsOf(t, 'findUnique after nesting', [await op('findUnique', () => prisma.user.findUnique({ omit: SHOW_TENANT, where: { id: ownSeed(t) } }))])
          break
        }
        case 'delete': {
          const row = await op('create', () => prisma.user.create({ omit: SHOW_TENANT, data: { name: `doomed ${t.i}`, email: marked(t.tenant, `doomed-${t.i}`) } }))
          rowsOf(t, 'create', [row])
          await paused(t, 0, 'after create')
          const gone = await op('delete', () => prisma.user.delete({ where: { id: row.id }, omit: SHOW_TENANT }))
          rowsOf(t, 'delete', [gone])
          deleted.add(row.id)
          await paused(t, 1, 'after delete')
          if ((await op('findUnique', () => prisma.user.findUnique({ omit: SHOW_TENANT, where: { id: row.id } }))) !== null) violation(t, 'deleted row still found')
          const left = await op('deleteMany', () => prisma.user.deleteMany({ where: { id: otherSeed(t) } }))
          otherTenantProbes++
          if (left.count !== 0) violation(t, `deleteMany removed ${left.count} rows of another tenant`)
          break
        }
        case 'late': {
          rowsOf(t, 'findUnique', [await op('findUnique', () => prisma.user.findUnique({ omit: SHOW_TENANT, where: { id: ownSeed(t) } }))])
          // Started inside, runs after withTenant has returned: it keeps this tenant.
          background.push(
            new Promise<void>((resolve, reject) =>
              setTimeout(() => {
                step(t, 'late timer')
                op('findMany', () => prisma.user.findMany({ omit: SHOW_TENANT, where: { name: { startsWith: 'seed' } } })).then((rows) => {
                  lateOps++
                  rowsOf(t, 'late findMany', rows)
                  if (rows.length !== SEED_ROWS_PER_TENANT) violation(t, `late findMany saw ${rows.length} seed rows`)
                  step(t, 'late query done')
                  resolve()
                }, reject)
              }, 5 + t.delayMs),
            ),
          )
          break
        }
        case 'probe': {
          // Another tenant's rows by id: nothing is found, counted, changed or returned.
          otherTenantProbes += 4
          if ((await op('findUnique', () => prisma.user.findUnique({ omit: SHOW_TENANT, where: { id: otherSeed(t) } }))) !== null) violation(t, "findUnique found another tenant's row")
          await paused(t, 0, 'probe hop')
          const upd = await op('updateMany', () => prisma.user.updateMany({ where: { id: otherSeed(t) }, data: { name: `hijacked by ${t.tenant}` } }))
          if (upd.count !== 0) violation(t, `updateMany changed ${upd.count} rows of another tenant`)
          const many = await op('findMany', () => prisma.user.findMany({ omit: SHOW_TENANT, where: { OR: [{ id: otherSeed(t) }, { tenantId: t.other }] } }))
          rowsOf(t, 'findMany naming another tenant', many)
          if (many.length !== 0) violation(t, `findMany naming another tenant returned ${many.length} rows`)
          const n = await op('count', () => prisma.user.count({ where: { tenantId: t.other } }))
          if (n !== 0) violation(t, `count naming another tenant is ${n}`)
          break
        }
      }
      step(t, 'end')
      inFlight--
    }

    /** Outside any tenant: no context, and a scoped query fails before any SQL. */
    const expectNoTenant = async (t: Task, where: string) => {
      if (currentTenant() !== undefined) violation(t, `${where}: currentTenant() is ${String(currentTenant())} outside withTenant`)
      try {
        await prisma.user.count()
        violation(t, `${where}: a scoped query ran outside withTenant`)
      } catch (e) {
        if (!(e instanceof RowcryptError) || e.code !== 'ERR_ROWCRYPT_TENANT_MISSING') violation(t, `${where}: ${(e as Error).name} instead of ERR_ROWCRYPT_TENANT_MISSING`)
        else refusedOutside++
      }
    }

    const run = async (t: Task) => {
      try {
        await withTenant(t.tenant, () => body(t))
      } catch (e) {
        violation(t, `failed: ${(e as Error).name} ${(e as { code?: string }).code ?? ''} ${(e as Error).message}`)
        return
      }
      // Back outside: the call has ended; nothing of its tenant may be left here.
      if (currentTenant() !== undefined) violation(t, `after withTenant: currentTenant() is ${String(currentTenant())}`)
      switch (t.outside) {
        case 'none':
          return
        case 'after':
          return expectNoTenant(t, 'code after withTenant')
        case 'timeout':
          return new Promise<void>((resolve) => setTimeout(() => void expectNoTenant(t, 'setTimeout scheduled outside').then(resolve), t.delayMs % 3))
        case 'immediate':
          return new Promise<void>((resolve) => setImmediate(() => void expectNoTenant(t, 'setImmediate scheduled outside').then(resolve)))
        case 'tick':
          return new Promise<void>((resolve) => process.nextTick(() => void expectNoTenant(t, 'nextTick scheduled outside').then(resolve)))
        case 'microtask':
          return new Promise<void>((resolve) => queueMicrotask(() => void expectNoTenant(t, 'microtask scheduled outside').then(resolve)))
        case 'emitter':
          return new Promise<void>((resolve) => {
            bus.once(`outside-${t.i}`, () => void expectNoTenant(t, 'bus event emitted outside').then(resolve))
            bus.emit(`outside-${t.i}`)
          })
      }
    }

    await Promise.all(tasks.map(run))
    await Promise.all(background)

    expect(violations).toEqual([])
    expect(currentTenant()).toBeUndefined()
    // Exactly the planned number of operations ran, of every kind.
    expect(tasks.reduce((n, t) => n + t.ops, 0)).toBe(OPERATIONS)
    expect(operations).toBe(OPERATIONS)
    for (const k of ['create', 'findUnique', 'findFirst', 'findMany', 'count', 'update', 'updateMany', 'delete', 'deleteMany']) expect(counts[k] ?? 0).toBeGreaterThan(50)
    for (const k of KINDS_OF_TASK) expect(tasks.filter((t) => t.kind === k).length).toBeGreaterThan(100)
    // The checks were real: many rows, steps and probes checked; tasks overlapped and interleaved.
    expect(rowsChecked).toBeGreaterThan(OPERATIONS)
    expect(stepsChecked).toBeGreaterThan(1.5 * OPERATIONS)
    expect(otherTenantProbes).toBeGreaterThan(1000)
    expect(refusedOutside).toBe(tasks.filter((t) => t.outside !== 'none').length)
    expect(refusedOutside).toBeGreaterThan(1000)
    expect(lateOps).toBe(tasks.filter((t) => t.kind === 'late').length)
    expect(maxInFlight).toBeGreaterThan(tasks.length / 2)
    expect(switches).toBeGreaterThan(OPERATIONS)

    // At rest: every surviving row's tenant column matches the tenant inside its encrypted email,
    // and no row was renamed by another tenant's updateMany.
    const raw = await db.raw<{ id: unknown; tenantId: string; name: string; email: string }>(`SELECT "id", "tenantId", "name", "email" FROM ${db.table('User')}`)
    expect(raw).toHaveLength(TENANTS.length * SEED_ROWS_PER_TENANT + created.size)
    for (const r of raw) {
      expect(r.email.startsWith('rc1.A256GCM.s.')).toBe(true)
      expect(r.name.startsWith('hijacked')).toBe(false)
    }
    for (const [id, tenant] of created) expect(raw.find((r) => Number(r.id) === id)?.tenantId).toBe(tenant)
    for (const id of deleted) expect(raw.some((r) => Number(r.id) === id)).toBe(false)
    const all = await unsafeBypassTenantScope('stress check', () => prisma.user.findMany({ omit: SHOW_TENANT }))
    expect(all).toHaveLength(raw.length)
    for (const r of all) expect(markerOf(r.email)).toBe(r.tenantId)
  }, 240_000)
})
