// `npm run bench:cpu`: the CPU cost per call of plain Prisma, the bound and rowcrypt, without the
// database's wait. Each variant's client runs on a driver adapter that sends every distinct read
// (SQL text and arguments) and every distinct write (SQL text) to PostgreSQL once and then answers
// it from that first result: Prisma, the extensions and the cryptography do all their work, the
// database does none. The ratios are what each variant's own code costs next to the others, with
// far less noise than `npm run bench`; they are not its targets (the database's time is part of
// every call users make).
//
//   npm run bench:cpu [-- --reps 15 --calls 500 --workloads findUnique,findMany,create,createMany --only rowcrypt-kms]
//
// Updates are left out: a replayed update returns the first row it updated, which rowcrypt's
// compare-and-swap (rightly) refuses. For the same reason a replayed create returns the first row
// created, whose values are not the ones the call just encrypted: rowcrypt decrypts that row in
// full (unwrap and four opens, about 35 µs) where a real create hands back the caller's plaintext,
// so rowcrypt's create here costs more than in `npm run bench`.
import { PrismaPg } from '@prisma/adapter-pg'
import type { SqlDriverAdapter, SqlDriverAdapterFactory, SqlQuery, SqlResultSet } from '@prisma/driver-adapter-utils'
import { PrismaClient } from './generated/client/client'
import { extend, extendNoop, localKeyProvider, openBenchDatabase, PG_URL } from './setup'
import { performance } from 'node:perf_hooks'
import { loadKmsVariant } from './kms'
import { boundTarget, noopExtensionTarget, makeInputs, plainTarget, rowcryptTarget, seed, type Target } from './workloads'

const args = process.argv.slice(2)
const flag = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt
}
const gc = (globalThis as { gc?: () => void }).gc
const REPS = Number(flag('reps', '15'))
const CALLS = Number(flag('calls', '500'))
const WORKLOADS = flag('workloads', 'findUnique,findMany,create,createMany').split(',')
// --only rowcrypt-kms: that variant beside plain and the bound (for a CPU profile of it).
const ONLY = flag('only', '')

/** Answers each read (SQL text and arguments) and each write (SQL text) from its first result: each reaches the database once. */
function replaying(factory: SqlDriverAdapterFactory): SqlDriverAdapterFactory {
  const results = new Map<string, SqlResultSet>()
  const counts = new Map<string, number>()
  // Reads by text and arguments: by text alone every findUnique got the first row back, so a
  // variant with a per-row cache would have been timed on its hits only. Writes by text (see above).
  const key = (q: SqlQuery): string => (/^\s*SELECT\b/i.test(q.sql) ? `${q.sql}\u0000${JSON.stringify(q.args, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}` : q.sql)
  const copy = (r: SqlResultSet): SqlResultSet => ({ ...r, rows: r.rows.map((row) => [...row]) })
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async (): Promise<SqlDriverAdapter> => {
      const inner = await factory.connect()
      return new Proxy(inner, {
        get(target, prop, receiver) {
          if (prop === 'queryRaw')
            return async (q: SqlQuery): Promise<SqlResultSet> => {
              const k = key(q)
              const known = results.get(k)
              if (known !== undefined) return copy(known)
              const r = await target.queryRaw(q)
              results.set(k, r)
              return copy(r)
            }
          if (prop === 'executeRaw')
            return async (q: SqlQuery): Promise<number> => {
              const k = key(q)
              const known = counts.get(k)
              if (known !== undefined) return known
              const n = await target.executeRaw(q)
              counts.set(k, n)
              return n
            }
          const v = Reflect.get(target, prop, receiver) as unknown
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
        },
      })
    },
  }
}

async function main(): Promise<void> {
  const db = await openBenchDatabase('cpu')
  const kms = await loadKmsVariant()
  try {
    const client = () => new PrismaClient({ adapter: replaying(new PrismaPg({ connectionString: PG_URL }, { schema: db.schema })) })
    // A KMS provider shared by the seeding client and the timed one, so the timed one is warm.
    const kmsProvider = kms.variant?.newProvider()
    const built: Array<{ name: string; target: Target; seeder: Target }> = [
      { name: 'plain', target: plainTarget(client()), seeder: plainTarget(db.base) },
      { name: 'noop-ext', target: noopExtensionTarget(extendNoop(client())), seeder: plainTarget(db.base) },
      { name: 'bound', target: boundTarget(extendNoop(client())), seeder: boundTarget(extendNoop(db.base)) },
      { name: 'rowcrypt', target: rowcryptTarget('rowcrypt', extend(client(), localKeyProvider())), seeder: rowcryptTarget('rowcrypt', extend(db.base, localKeyProvider())) },
      ...(kmsProvider === undefined
        ? []
        : [{ name: 'rowcrypt-kms', target: rowcryptTarget('rowcrypt-kms', extend(client(), kmsProvider)), seeder: rowcryptTarget('rowcrypt-kms', extend(db.base, kmsProvider)) }]),
    ]
    const variants = built.filter((v) => ONLY === '' || v.name === ONLY || v.name === 'plain' || v.name === 'bound')
    // Seeded through clients on the real adapter (the replaying one would insert one row).
    const inputs = makeInputs(CALLS, 1)
    const ids = new Map<string, string[]>()
    for (const v of variants) ids.set(v.name, await seed(v.seeder, `cpu-${v.name}`, inputs))
    const fresh = makeInputs(CALLS, 2)
    const calls: Record<string, (t: Target, tenant: string, ids: string[]) => Promise<unknown>> = {
      findUnique: async (t, tenant, ids) => {
        for (const id of ids) await t.findUnique(tenant, id)
      },
      findMany: async (t, tenant) => {
        for (let i = 0; i < 10; i++) await t.findMany(tenant)
      },
      create: async (t, tenant) => {
        for (const d of fresh) await t.create(tenant, d)
      },
      createMany: async (t, tenant) => {
        for (let i = 0; i < 10; i++) await t.createMany(tenant, fresh)
      },
    }
    const per: Record<string, string> = { findUnique: 'call', create: 'call', findMany: 'row read', createMany: 'row written' }
    console.log(`[bench:cpu] ${variants.map((v) => v.name).join(', ')}; ${CALLS} calls (findMany, createMany: 10 of ${CALLS} rows) per sample, ${REPS} interleaved samples; ${kms.status}`)
    console.log('median CPU per call or row; ratio to plain; rowcrypt / bound: ratio of medians (median of the per-sample ratios)')
    for (const w of WORKLOADS) {
      const run = calls[w]
      if (run === undefined) throw new Error(`unknown workload ${w}`)
      const go = (v: (typeof variants)[number]) => run(v.target, `cpu-${v.name}`, ids.get(v.name)!)
      for (const v of variants) await go(v) // every SQL text reaches the database once
      const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]))
      for (let r = 0; r < REPS; r++)
        for (const v of variants) {
          gc?.()
          const t = performance.now()
          await go(v)
          samples.get(v.name)!.push(performance.now() - t)
        }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
      const m = (name: string) => median(samples.get(name)!)
      const unit = w === 'findMany' || w === 'createMany' ? 10 * CALLS : CALLS
      const line = variants.map((v) => `${v.name} ${((m(v.name) * 1000) / unit).toFixed(1)} µs (${(m(v.name) / m('plain')).toFixed(2)}×)`).join('  ')
      const vs = (a: string, b: string) => (samples.has(a) ? `  ${a} / ${b} ${(m(a) / m(b)).toFixed(2)}× (${median(samples.get(a)!.map((t, i) => t / samples.get(b)![i]!)).toFixed(2)}×)` : '')
      console.log(`${w} (per ${per[w]}): ${line}${vs('rowcrypt', 'bound')}${vs('rowcrypt-kms', 'rowcrypt')}`)
    }
  } finally {
    await kms.variant?.stop()
    await db.close()
  }
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
