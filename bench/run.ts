// `npm run bench`: plain Prisma 7 against rowcrypt on PostgreSQL (issue 8).
//
//   npm run bench                      full run (1,000 rows, 12 rounds), writes bench/results/latest.json, bench/RESULTS.md and bench/README-table.md
//   npm run bench -- --quick           smoke run (100 rows, 2 rounds), writes bench/results/quick.json only
//   npm run bench -- --workloads findMany,update --reps 7 --size 1000 --variants plain,rowcrypt --no-write
//   npm run bench -- --quick --markdown /tmp/md   also writes RESULTS.md and README-table.md of this run into /tmp/md
//   npm run bench:profile              CPU profiles (node --cpu-prof) of rowcrypt's findMany and update
//
// Everything runs in one process on one table (plain Prisma is the base client, rowcrypt the same
// client extended; rowcrypt-rls and rowcrypt-rls-tx clients of their own connected as a restricted
// role, with rowcrypt's RLS policies on the table), after a warm-up of every workload and variant, in interleaved rounds
// that alternate which variant goes first. The variants are built in bench/variants.ts.
import { execSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { GCProfiler } from 'node:v8'
import { withTenant } from '../src'
import type { KmsVariant } from './kms'
import { SliceOrders } from './order'
import { mib, renderMarkdown, renderReadmeTable, renderTable, round2, summarize, type BenchResults, type FloorResult, type VariantResult, type WorkloadResult } from './report'
import { extend, localKeyProvider, openBenchDatabase, type BenchDatabase } from './setup'
import { buildVariant, freshTarget, isVariantName, runsWorkload, VARIANT_NAMES, type BuiltVariant, type VariantName } from './variants'
import { coreDecryptor, floorDecrypt, floorDecryptWithUnwrap, makeFloorRows, makeInputs, seed, WORKLOADS, type Fixture, type Target, type Workload } from './workloads'

interface Options {
  quick: boolean
  size: number
  reps: number
  /** How often the short workloads (findMany, createMany) run per round. */
  cheapRepeats: number
  /** How often the scaled workloads (findManyLarge) run per round. */
  largeRepeats: number
  only: string[] | undefined
  variants: string[] | undefined
  /** Also write RESULTS.md and README-table.md of this run (whatever its options) into this folder. */
  markdown: string | undefined
  profile: boolean
  write: boolean
  floor: boolean
  /** Slices per repetition of the per-row workloads. */
  slices: number
}

const CHEAP = new Set(['findMany', 'createMany'])
const RESULTS_DIR = join(__dirname, 'results')

function parseArgs(argv: string[]): Options {
  const o: Options = {
    quick: false,
    size: 1000,
    reps: 12,
    cheapRepeats: 5,
    largeRepeats: 3,
    only: undefined,
    variants: undefined,
    markdown: undefined,
    profile: false,
    write: true,
    floor: true,
    slices: 10,
  }
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1]
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`)
    return v
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    switch (a) {
      case '--quick':
        o.quick = true
        break
      case '--size':
        o.size = Number(value(i++, a))
        break
      case '--reps':
        o.reps = Number(value(i++, a))
        break
      case '--cheap-repeats':
        o.cheapRepeats = Number(value(i++, a))
        break
      case '--large-repeats':
        o.largeRepeats = Number(value(i++, a))
        break
      case '--only':
      case '--workloads':
        o.only = value(i++, a).split(',')
        break
      case '--markdown':
        o.markdown = value(i++, a)
        break
      case '--variants':
        o.variants = value(i++, a).split(',')
        break
      case '--profile':
        o.profile = true
        break
      case '--no-write':
        o.write = false
        break
      case '--slices':
        o.slices = Number(value(i++, a))
        break
      case '--no-floor':
        o.floor = false
        break
      case '--help':
      case '-h':
        console.log(readFileSync(__filename, 'utf8').split('\n').slice(0, 7).join('\n'))
        console.log(`//\n// variants:  ${VARIANT_NAMES.join(', ')}\n// workloads: ${WORKLOADS.map((w) => w.name).join(', ')}`)
        process.exit(0)
        break
      default:
        throw new Error(`unknown argument ${a} (see --help)`)
    }
  }
  if (o.quick) {
    if (!argv.includes('--size')) o.size = 100
    if (!argv.includes('--reps')) o.reps = 2
    if (!argv.includes('--cheap-repeats')) o.cheapRepeats = 2
    if (!argv.includes('--large-repeats')) o.largeRepeats = 1
  }
  if (o.profile) o.floor = false
  const counts = { '--size': o.size, '--reps': o.reps, '--slices': o.slices, '--cheap-repeats': o.cheapRepeats, '--large-repeats': o.largeRepeats }
  for (const [flag, n] of Object.entries(counts)) if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer`)
  if (o.only !== undefined) for (const w of o.only) if (!WORKLOADS.some((x) => x.name === w)) throw new Error(`unknown workload ${w}`)
  return o
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`)

/** Peak RSS and heap per label, sampled every 5 ms while workloads run. */
class MemorySampler {
  label = ''
  readonly peaks = new Map<string, { rss: number; heapUsed: number }>()
  #timer: NodeJS.Timeout | undefined
  #window: { rss: number; heapUsed: number; external: number } | undefined

  start(): void {
    this.#timer = setInterval(() => this.sample(), 5)
    this.#timer.unref()
  }

  sample(): void {
    if (this.label === '' && this.#window === undefined) return
    const m = process.memoryUsage()
    if (this.#window !== undefined) {
      this.#window.rss = Math.max(this.#window.rss, m.rss)
      this.#window.heapUsed = Math.max(this.#window.heapUsed, m.heapUsed)
      this.#window.external = Math.max(this.#window.external, m.external)
    }
    if (this.label === '') return
    const p = this.peaks.get(this.label) ?? { rss: 0, heapUsed: 0 }
    p.rss = Math.max(p.rss, m.rss)
    p.heapUsed = Math.max(p.heapUsed, m.heapUsed)
    this.peaks.set(this.label, p)
  }

  stop(): void {
    clearInterval(this.#timer)
  }

  /**
   * Growth of heap, external memory (Buffers) and RSS over one call, from `before` (taken after a
   * full collection) to their peak: the highest of the heap sizes V8 reports just before each
   * collection during the call (where the heap peaks), the samples taken during it and one at its end
   * (its result still in the heap).
   */
  openWindow(): { close(): CallMemory } {
    const before = process.memoryUsage()
    this.#window = { rss: before.rss, heapUsed: before.heapUsed, external: before.external }
    const gcs = new GCProfiler()
    gcs.start()
    return {
      close: () => {
        this.sample()
        const peak = this.#window!
        this.#window = undefined
        for (const { beforeGC } of gcs.stop()?.statistics ?? []) {
          peak.heapUsed = Math.max(peak.heapUsed, beforeGC.heapStatistics.usedHeapSize)
          peak.external = Math.max(peak.external, beforeGC.heapStatistics.externalMemory)
        }
        return { rssMiB: mib(peak.rss - before.rss), heapMiB: mib(peak.heapUsed - before.heapUsed), externalMiB: mib(peak.external - before.external) }
      },
    }
  }
}

interface CallMemory {
  rssMiB: number
  heapMiB: number
  externalMiB: number
}

interface Variant {
  name: VariantName
  built: BuiltVariant
  target: Target
  /** Tenant of the seeded rows (reads and updates). */
  seededTenant: string
  ids: string[]
  /** Tenant of the rows of the scaled workloads (findManyLarge), when the variant runs one. */
  largeTenant: string
  largeIds: string[]
  kms?: KmsVariant
}

const gc = (globalThis as { gc?: (o?: { type: 'minor' | 'major' }) => void }).gc
let loadAtStart: number[] = []

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2))
  const started = performance.now()
  loadAtStart = loadavg()
  const workloads = WORKLOADS.filter((w) => opts.only === undefined || opts.only.includes(w.name))
  if (gc === undefined) log('warning: run node with --expose-gc (npm run bench does) so each sample starts after a collection')

  const db = await openBenchDatabase(opts.profile ? 'profile' : 'bench')
  const sampler = new MemorySampler()
  let kmsStatus = 'not run (--variants excludes it)'
  let kmsVariant: KmsVariant | undefined
  try {
    // ---- variants (built in bench/variants.ts) ----
    const wanted = opts.variants ?? (opts.profile ? ['rowcrypt'] : [...VARIANT_NAMES])
    const variants = new Map<string, Variant>()
    for (const name of wanted) {
      if (!isVariantName(name)) throw new Error(`unknown variant ${name} (${VARIANT_NAMES.join(', ')})`)
      const built = await buildVariant(db, name)
      if (name === 'rowcrypt-kms' || (name === 'rowcrypt-kms-cold' && (built.kms === undefined || !wanted.includes('rowcrypt-kms')))) kmsStatus = built.status ?? kmsStatus
      kmsVariant = built.kms ?? kmsVariant
      if (built.target === undefined) {
        log(`variant ${name}: ${built.status}`)
        continue
      }
      variants.set(name, {
        name,
        built,
        target: built.target,
        seededTenant: `seed-${name}`,
        ids: [],
        largeTenant: `large-${name}`,
        largeIds: [],
        ...(built.kms !== undefined ? { kms: built.kms } : {}),
      })
    }
    const names = [...variants.keys()]
    log(`PostgreSQL ${db.serverVersion}, schema ${db.schema}; variants ${names.join(', ')}; ${opts.size} rows, ${opts.reps} rounds`)
    /** The variants that run `w`, in the bench's order. */
    const namesOf = (w: Workload) => names.filter((n) => runsWorkload(n, w))
    /** Rows per repetition of `w`. */
    const sizeOf = (w: Workload) => opts.size * (w.scale ?? 1)

    // ---- seed ----
    const seedInputs = makeInputs(opts.size, 1)
    const freshInputs = makeInputs(opts.size, 2)
    for (const [name, v] of variants) {
      v.ids = await seed(v.target, v.seededTenant, seedInputs)
      if (v.ids.length !== opts.size) throw new Error(`seeding ${name}: ${v.ids.length} rows`)
    }
    // The scaled workloads' tenants (one size for all of them: the largest scale asked for).
    const largeSize = Math.max(0, ...workloads.filter((w) => w.scale !== undefined).map(sizeOf))
    if (largeSize > 0) {
      const largeInputs = makeInputs(largeSize, 3)
      for (const name of new Set(workloads.filter((w) => w.scale !== undefined).flatMap(namesOf))) {
        const v = variants.get(name)!
        log(`seeding ${largeSize} rows for ${name}`)
        v.largeIds = await seed(v.target, v.largeTenant, largeInputs)
        if (v.largeIds.length !== largeSize) throw new Error(`seeding ${name}: ${v.largeIds.length} rows`)
      }
    }
    await db.vacuum()

    // ---- one repetition ----
    // A repetition of a per-row workload is split into slices of rows; the variants alternate slice
    // by slice, and each variant's sample is the sum of its slices. Short bursts of load on the
    // machine then hit every variant alike. Single-call workloads (findMany, createMany) alternate
    // call by call instead. The order changes from slice to slice (bench/order.ts), so that no
    // variant keeps the same place or the same predecessor.
    const samples = new Map<string, number[]>()
    // CPU time of this process (user + system) per sample, beside wall time: on a busy machine it
    // moves much less than wall time, so it shows what a change costs while load blurs the ratios.
    const cpuSamples = new Map<string, number[]>()
    const kmsCalls = new Map<string, number[]>()
    // Growth of heap and RSS over each call of the workloads that measure memory (findManyLarge).
    const memorySamples = new Map<string, CallMemory[]>()
    const windows: Array<{ workload: string; variant: string; startUs: number; endUs: number }> = []
    let freshCounter = 0
    const slices = (w: Workload) => (w.sliceable ? Math.min(opts.slices, sizeOf(w)) : 1)
    // Timed slices run in the orders of a Williams design, per workload (bench/order.ts).
    const sliceOrders = new Map<string, SliceOrders<string>>()
    const repetition = async (w: Workload, order: string[], rep: number, timed: boolean): Promise<void> => {
      let orders = timed ? sliceOrders.get(w.name) : undefined
      if (timed && orders === undefined) sliceOrders.set(w.name, (orders = new SliceOrders(order)))
      const fixtures = new Map<string, Fixture>()
      const total = new Map<string, { ms: number; cpuMs: number; rows: number; calls: number }>()
      // The instance of each variant this repetition runs on: a new one (untimed) for the cold workloads
      // and for the variants that are cold in every repetition (rowcrypt-kms-cold).
      const targets = new Map<string, Target>()
      const size = sizeOf(w)
      for (const name of order) {
        const v = variants.get(name)!
        const tenant = w.fresh ? `fresh-${name}-${++freshCounter}` : w.scale !== undefined ? v.largeTenant : v.seededTenant
        fixtures.set(name, { tenant, inputs: freshInputs, ids: w.scale !== undefined ? v.largeIds : v.ids, rep })
        total.set(name, { ms: 0, cpuMs: 0, rows: 0, calls: 0 })
        targets.set(name, w.cold === true || v.built.freshEachRepetition === true ? await freshTarget(db, v.name, v.built) : v.target)
      }
      const n = slices(w)
      if (n > 1) gc?.()
      for (let s = 0; s < n; s++) {
        const from = Math.floor((s * size) / n)
        const to = Math.floor(((s + 1) * size) / n)
        for (const name of orders?.next() ?? (s % 2 === 0 ? order : [...order].reverse())) {
          const v = variants.get(name)!
          const acc = total.get(name)!
          // Sliced: a full collection per repetition (above), a young-generation one per slice.
          // Single calls: a full collection before each.
          if (n > 1) gc?.({ type: 'minor' })
          else gc?.()
          const calls0 = v.kms?.calls() ?? 0
          sampler.label = timed ? `${w.name}/${name}` : ''
          const memory = w.memory === true && timed ? sampler.openWindow() : undefined
          const startUs = Number(process.hrtime.bigint() / 1000n)
          const cpu0 = process.cpuUsage()
          const t0 = performance.now()
          acc.rows += await w.run(targets.get(name)!, fixtures.get(name)!, from, to)
          acc.ms += performance.now() - t0
          const cpu = process.cpuUsage(cpu0)
          if (memory !== undefined) memorySamples.set(`${w.name}/${name}`, [...(memorySamples.get(`${w.name}/${name}`) ?? []), memory.close()])
          acc.cpuMs += (cpu.user + cpu.system) / 1000
          const endUs = Number(process.hrtime.bigint() / 1000n)
          sampler.sample()
          sampler.label = ''
          acc.calls += (v.kms?.calls() ?? 0) - calls0
          if (timed) windows.push({ workload: w.name, variant: name, startUs, endUs })
        }
      }
      for (const name of order) {
        const acc = total.get(name)!
        if (acc.rows !== size) throw new Error(`${w.name}/${name}: touched ${acc.rows} rows, expected ${size}`)
        if (w.fresh) await db.clearTenant(fixtures.get(name)!.tenant)
        if (!timed) continue
        const key = `${w.name}/${name}`
        samples.set(key, [...(samples.get(key) ?? []), acc.ms])
        cpuSamples.set(key, [...(cpuSamples.get(key) ?? []), acc.cpuMs])
        if (variants.get(name)!.kms !== undefined) kmsCalls.set(key, [...(kmsCalls.get(key) ?? []), acc.calls])
      }
    }

    // ---- the floor's data: the same four values per row, and rowcrypt's stored rows ----
    let floorSample: { samples: { decrypt: number[]; withUnwrap: number[]; core: number[] }; run(timed: boolean): Promise<void> } | undefined
    if (opts.floor) {
      const { kek, rows } = makeFloorRows(seedInputs)
      const stored = variants.has('rowcrypt') ? ((await db.base.customer.findMany({ where: { tenantId: variants.get('rowcrypt')!.seededTenant } })) as unknown as Record<string, unknown>[]) : []
      const core = coreDecryptor(localKeyProvider())
      const samples = { decrypt: [] as number[], withUnwrap: [] as number[], core: [] as number[] }
      floorSample = {
        samples,
        async run(timed) {
          gc?.()
          let t0 = performance.now()
          floorDecrypt(rows)
          const a = performance.now() - t0
          gc?.()
          t0 = performance.now()
          floorDecryptWithUnwrap(kek, rows)
          const b = performance.now() - t0
          let c = NaN
          if (stored.length > 0) {
            const copies = stored.map((r) => ({ ...r }))
            gc?.()
            t0 = performance.now()
            await core(copies, variants.get('rowcrypt')!.seededTenant)
            c = performance.now() - t0
          }
          if (!timed) return
          samples.decrypt.push(a)
          samples.withUnwrap.push(b)
          samples.core.push(c)
        },
      }
      await floorSample.run(false) // warm-up
    }

    // ---- warm-up: every workload once per variant ----
    log('warm-up')
    for (const w of workloads) await repetition(w, namesOf(w), 0, false)
    await db.vacuum()

    // ---- interleaved rounds ----
    // No memory sampling in profile mode: its own calls would show up in the profile.
    if (!opts.profile) sampler.start()
    for (let rep = 1; rep <= opts.reps; rep++) {
      for (const w of workloads) {
        // The single-call workloads run several times per round, so that their medians rest on as
        // many samples as the load on the machine needs (a 10,000-row findMany once per round gave
        // medians of 12 samples, which one busy round could move by several per cent).
        const repeats = CHEAP.has(w.name) ? opts.cheapRepeats : w.scale !== undefined ? opts.largeRepeats : 1
        const its = namesOf(w)
        for (let k = 0; k < repeats; k++) {
          await repetition(w, its, rep, true)
          if (w.name === 'findMany') await floorSample?.run(true)
        }
        const last = its.map((n) => `${n} ${(samples.get(`${w.name}/${n}`)?.at(-1) ?? NaN).toFixed(0)} ms`).join(', ')
        log(`round ${rep}/${opts.reps} ${w.name}: ${last}`)
      }
      await db.vacuum()
    }
    sampler.stop()

    // ---- the floor ----
    // Taken inside the rounds, right after each findMany repetition, so that it runs under the
    // same conditions (load on the machine) as the findMany it is compared with.
    let floor: FloorResult | undefined
    if (floorSample !== undefined && floorSample.samples.decrypt.length === 0) {
      // findMany was not run (--only): take the floor on its own.
      log('floor')
      for (let i = 0; i < Math.max(opts.reps * opts.cheapRepeats, 5); i++) await floorSample.run(true)
    }
    if (floorSample !== undefined) {
      const f = floorSample.samples
      floor = { rows: opts.size, decrypt: summarize(f.decrypt), decryptWithUnwrap: summarize(f.withUnwrap), coreDecryptRow: summarize(f.core) }
    }

    // ---- KMS: cold findMany ----
    let coldFindManyCalls: number | undefined
    const kmsSeeded = [...variants.values()].find((v) => v.kms !== undefined)
    if (kmsVariant !== undefined && kmsSeeded !== undefined) {
      // A new provider: empty key cache; the tenant key is in the (shared) store, wrapped by KMS.
      const cold = extend(db.base, kmsVariant.newProvider())
      const before = kmsVariant.calls()
      const rows = await withTenant(kmsSeeded.seededTenant, () => cold.customer.findMany())
      if (rows.length !== opts.size) throw new Error(`cold findMany: ${rows.length} rows`)
      coldFindManyCalls = kmsVariant.calls() - before
      log(`KMS: cold findMany of ${rows.length} rows: ${coldFindManyCalls} call(s); calls by operation over the run: ${JSON.stringify(kmsVariant.callsByOperation())}`)
    }

    // ---- results ----
    const results: WorkloadResult[] = workloads.map((w) => {
      const plain = samples.get(`${w.name}/plain`)
      const plainMedian = plain === undefined ? undefined : summarize(plain).medianMs
      const plainMin = plain === undefined ? undefined : summarize(plain).minMs
      const out: Record<string, VariantResult> = {}
      const size = sizeOf(w)
      for (const name of namesOf(w)) {
        const s = summarize(samples.get(`${w.name}/${name}`) ?? [])
        const peak = sampler.peaks.get(`${w.name}/${name}`) ?? { rss: 0, heapUsed: 0 }
        const r: VariantResult = {
          ...s,
          cpuMedianMs: summarize(cpuSamples.get(`${w.name}/${name}`) ?? []).medianMs,
          perRowUs: round2((s.medianMs * 1000) / size),
          peakRssMiB: mib(peak.rss),
          peakHeapUsedMiB: mib(peak.heapUsed),
        }
        if (name !== 'plain' && plainMedian !== undefined) {
          r.ratio = round2(s.medianMs / plainMedian)
          const plainCpu = summarize(cpuSamples.get(`${w.name}/plain`) ?? []).medianMs
          r.cpuRatio = round2(summarize(cpuSamples.get(`${w.name}/${name}`) ?? []).medianMs / plainCpu)
          r.minRatio = round2(s.minMs / plainMin!)
          // Samples of one repetition ran side by side (same slices, same moment): their ratio
          // cancels load that hit the whole repetition.
          const mine = samples.get(`${w.name}/${name}`) ?? []
          r.pairedRatio = round2(summarize(mine.map((x, i) => x / plain![i]!)).medianMs)
          r.meetsTarget = s.medianMs / plainMedian <= w.target
        }
        const calls = kmsCalls.get(`${w.name}/${name}`)
        if (calls !== undefined) {
          const cs = summarize(calls)
          r.kmsCalls = { min: cs.minMs, median: cs.medianMs, max: cs.maxMs }
        }
        const memory = memorySamples.get(`${w.name}/${name}`)
        if (memory !== undefined) {
          const median = (f: (m: CallMemory) => number) => summarize(memory.map(f)).medianMs
          r.callMemory = { heapMiB: median((m) => m.heapMiB), externalMiB: median((m) => m.externalMiB), rssMiB: median((m) => m.rssMiB), heapMaxMiB: summarize(memory.map((m) => m.heapMiB)).maxMs }
        }
        out[name] = r
      }
      return { name: w.name, label: w.label, size, callsPerRepetition: w.sliceable ? size : 1, target: w.target, variants: out }
    })
    const mem = process.memoryUsage()
    const bench: BenchResults = {
      meta: metadata(db, opts),
      config: {
        size: opts.size,
        repetitions: opts.reps,
        cheapRepeats: opts.cheapRepeats,
        largeRepeats: opts.largeRepeats,
        slices: opts.slices,
        warmup: true,
        variants: names,
        workloads: workloads.map((w) => w.name),
      },
      workloads: results,
      ...(floor !== undefined ? { floor } : {}),
      memory: { maxRssMiB: round2(process.resourceUsage().maxRSS / 1024), rssAtEndMiB: mib(mem.rss), heapUsedAtEndMiB: mib(mem.heapUsed) },
      kms: { status: kmsStatus, ...(coldFindManyCalls !== undefined ? { coldFindManyCalls } : {}) },
      durationSeconds: round2((performance.now() - started) / 1000),
    }

    console.log(renderTable(bench))
    mkdirSync(RESULTS_DIR, { recursive: true })
    if (opts.profile) {
      // The windows of the timed samples, so bench/profile-summary.ts reads only those from the profile.
      mkdirSync(join(RESULTS_DIR, 'profiles'), { recursive: true })
      // Written at exit with the time then: node --cpu-prof ends its profile at exit too, so the
      // summary can line the windows up with the profile's clock (which may be another one).
      process.once('exit', () => {
        const exitUs = Number(process.hrtime.bigint() / 1000n)
        writeFileSync(join(RESULTS_DIR, 'profiles', `windows-${process.pid}.json`), JSON.stringify({ pid: process.pid, only: opts.only, exitUs, windows }, null, 2))
      })
    }
    if (opts.markdown !== undefined) {
      mkdirSync(opts.markdown, { recursive: true })
      writeFileSync(join(opts.markdown, 'RESULTS.md'), renderMarkdown(bench))
      writeFileSync(join(opts.markdown, 'README-table.md'), renderReadmeTable(bench))
      log(`wrote RESULTS.md and README-table.md into ${opts.markdown}`)
    }
    if (!opts.write || opts.profile) return
    const file = opts.quick ? 'quick.json' : 'latest.json'
    writeFileSync(join(RESULTS_DIR, file), `${JSON.stringify(bench, null, 2)}\n`)
    log(`wrote bench/results/${file}`)
    const full = !opts.quick && opts.only === undefined && opts.variants === undefined && opts.size === 1000 && opts.reps >= 5
    if (full) {
      writeFileSync(join(__dirname, 'RESULTS.md'), renderMarkdown(bench))
      writeFileSync(join(__dirname, 'README-table.md'), renderReadmeTable(bench))
      log('wrote bench/RESULTS.md and bench/README-table.md')
    }
  } finally {
    sampler.stop()
    await kmsVariant?.stop().catch(() => undefined)
    await db.close()
  }
}

function metadata(db: BenchDatabase, opts: Options): Record<string, unknown> {
  const version = (p: string) => {
    try {
      return (JSON.parse(readFileSync(join(__dirname, '..', 'node_modules', p, 'package.json'), 'utf8')) as { version: string }).version
    } catch {
      return 'unknown'
    }
  }
  const git = (cmd: string) => {
    try {
      return execSync(cmd, { cwd: join(__dirname, '..'), stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim()
    } catch {
      return 'unknown'
    }
  }
  const dirty = git('git status --porcelain -- src') !== ''
  return {
    date: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    options: opts,
    node: process.versions.node,
    v8: process.versions.v8,
    platform: `${process.platform} ${process.arch}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memory: `${Math.round(totalmem() / 1024 ** 3)} GiB RAM`,
    postgres: db.serverVersion,
    prisma: version('@prisma/client'),
    adapterPg: version('@prisma/adapter-pg'),
    prismaCli: version('prisma'),
    pfe: version('prisma-field-encryption'),
    awsSdkKms: version('@aws-sdk/client-kms'),
    commit: `${git('git rev-parse --short HEAD')}${dirty ? ' (src/ modified)' : ''}`,
    gcBetweenSamples: gc !== undefined,
    // Other processes on the machine (load average over 1, 5, 15 minutes): a busy machine widens min–max.
    loadAverageAtStart: loadAtStart.map((x) => round2(x)),
    loadAverageAtEnd: loadavg().map((x) => round2(x)),
  }
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
