// `npm run bench:ab`: wall time and CPU time per call of a few variants on the real database,
// interleaved, to compare two variants closely (rowcrypt and the bound, say) where `npm run bench`
// is too noisy and `npm run bench:cpu` leaves the database out. A call then pays what a
// replayed one does not: the driver's socket work, and caches and branch predictors that the
// database process (on the same cores) and Prisma's own work have left cold.
//
//   npm run bench:ab [-- --variants bound,rowcrypt --workload findUnique --rows 300 --reps 20]
//
// Workloads: findUnique and update (per call), findMany (per row read). Each variant reads and
// updates rows of its own tenant, seeded through it (and read once through it, so that updates are
// warm, as in `npm run bench`). CPU is the process's (`process.cpuUsage`: the main thread and
// V8's helper threads, garbage collection included). Ratios are to the first variant: the ratio of
// the medians, and in parentheses the median of the per-repetition ratios.
import { PerformanceObserver } from 'node:perf_hooks'
import { openBenchDatabase } from './setup'
import { SliceOrders } from './order'
import { buildVariant, isVariantName, type VariantName } from './variants'
import { makeInputs, seed, type Target } from './workloads'

const args = process.argv.slice(2)
const flag = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt
}
const VARIANTS = flag('variants', 'bound,rowcrypt').split(',')
const WORKLOAD = flag('workload', 'findUnique')
const ROWS = Number(flag('rows', '300'))
const REPS = Number(flag('reps', '20'))
const WARMUP = 2

const CALLS: Record<string, { per: string; run(t: Target, tenant: string, ids: string[], rep: number): Promise<number> }> = {
  findUnique: {
    per: 'call',
    async run(t, tenant, ids) {
      for (const id of ids) if ((await t.findUnique(tenant, id)) === null) throw new Error(`row ${id} not found`)
      return ids.length
    },
  },
  update: {
    per: 'call',
    async run(t, tenant, ids, rep) {
      for (let i = 0; i < ids.length; i++) await t.update(tenant, ids[i]!, `Customer ${i} Renamed${rep}`)
      return ids.length
    },
  },
  findMany: {
    per: 'row read',
    async run(t, tenant, ids) {
      const rows = await t.findMany(tenant)
      if (rows.length !== ids.length) throw new Error(`read ${rows.length} rows of ${ids.length}`)
      return rows.length
    },
  },
}

interface Sampled {
  name: string
  target: Target
  tenant: string
  ids: string[]
  wall: number[]
  cpu: number[]
  /** The timed windows of its samples (performance.now), and the calls or rows in each. */
  windows: Array<{ from: number; to: number; n: number }>
}

const median = (a: readonly number[]): number => {
  const s = [...a].sort((x, y) => x - y)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

async function main(): Promise<void> {
  const unknown = VARIANTS.filter((v) => !isVariantName(v))
  const work = CALLS[WORKLOAD]
  if (unknown.length > 0 || work === undefined || !(ROWS > 0) || !(REPS > 0)) {
    console.error(`usage: bench/ab.ts --variants a,b[,...] --workload ${Object.keys(CALLS).join('|')} [--rows N] [--reps N]${unknown.length > 0 ? ` (unknown: ${unknown.join(', ')})` : ''}`)
    process.exit(2)
  }
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with node --expose-gc (npm run bench:ab does)')
  const db = await openBenchDatabase('ab')
  try {
    const sampled: Sampled[] = []
    for (const name of VARIANTS as VariantName[]) {
      const built = await buildVariant(db, name)
      if (built.target === undefined) throw new Error(`variant ${name}: ${built.status}`)
      const tenant = `ab-${name}`
      sampled.push({ name, target: built.target, tenant, ids: await seed(built.target, tenant, makeInputs(ROWS)), wall: [], cpu: [], windows: [] })
    }
    // Garbage collections (main-thread pauses), attributed to the sample they started in.
    const pauses: Array<{ at: number; ms: number }> = []
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) pauses.push({ at: e.startTime, ms: e.duration })
    })
    observer.observe({ entryTypes: ['gc'] })
    const orders = new SliceOrders(sampled)
    for (let rep = 0; rep < WARMUP + REPS; rep++) {
      // One full collection per round, before its first sample (not before each: its concurrent
      // sweeping would run on helper threads during the sample after it, in the CPU time).
      gc()
      for (const s of orders.next()) {
        const cpu0 = process.cpuUsage()
        const t0 = performance.now()
        const n = await work.run(s.target, s.tenant, s.ids, rep)
        const t1 = performance.now()
        const wall = ((t1 - t0) * 1000) / n
        const cpu = process.cpuUsage(cpu0)
        if (rep >= WARMUP) {
          s.wall.push(wall)
          s.cpu.push((cpu.user + cpu.system) / n)
          s.windows.push({ from: t0, to: t1, n })
        }
      }
    }
    // The observer's entries arrive after the fact: wait for the last ones.
    await new Promise((resolve) => setTimeout(resolve, 50))
    observer.disconnect()
    const gcPerUnit = (s: Sampled) => median(s.windows.map((w) => (pauses.filter((p) => p.at >= w.from && p.at < w.to).reduce((sum, p) => sum + p.ms, 0) * 1000) / w.n))
    const [first] = sampled
    const ratio = (s: Sampled, of: 'wall' | 'cpu') => `${(median(s[of]) / median(first![of])).toFixed(3)}× (${median(s[of].map((v, i) => v / first![of][i]!)).toFixed(3)}×)`
    console.log(`[bench:ab] ${WORKLOAD}, ${ROWS} rows per repetition, ${REPS} repetitions after ${WARMUP} of warm-up; medians per ${work.per}, ratios to ${first!.name}`)
    for (const s of sampled) {
      const vs = s === first ? '' : `   wall ${ratio(s, 'wall')}  cpu ${ratio(s, 'cpu')}`
      console.log(`  ${s.name.padEnd(18)} wall ${median(s.wall).toFixed(1).padStart(7)} µs  cpu ${median(s.cpu).toFixed(1).padStart(7)} µs  gc pauses ${gcPerUnit(s).toFixed(1).padStart(5)} µs${vs}`)
    }
  } finally {
    await db.close()
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e)
    process.exit(1)
  },
)
