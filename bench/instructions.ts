// `npm run bench:instructions`: the instructions each variant executes per call, counted by
// valgrind's callgrind. On a shared 2-core machine a sample's wall time moves by tens of per cent
// with what other machines do on the same host (a CPU-bound loop alone in its process ranges over
// 2× from batch to batch), so `npm run bench` cannot tell 1.00 from 1.05. An instruction count
// does not move with that load: it shows what work a variant does, not how long the machine took.
// It leaves out the database (another process) and what instructions do not show (cache misses,
// waits), so it complements `npm run bench`, whose wall-time ratios the targets are stated in.
//
// V8 runs with its baseline tiers only (Ignition and Sparkplug for JavaScript, Liftoff for
// Prisma's WebAssembly; `--no-turbofan --no-maglev --liftoff-only --single-threaded`) and a garbage
// collection schedule that does not depend on time (`--predictable-gc-schedule`). With the
// optimising compilers on, a sample also counts whatever they compile while it runs: even after 600
// untimed calls, TurboFan's own work was up to 60% of an update's sample and the same sample moved
// by 2× between repetitions. Without the fixed schedule, a collection the memory reducer started on
// a timer landed in one repetition and not the next (+30%). With both, repetitions of a sample
// agree to within about 1%. The price: JavaScript costs more instructions than it would
// optimised, so rowcrypt's and the bound's own JavaScript weigh more against node:crypto and
// Prisma's WebAssembly than in `npm run bench`.
//
//   npm run bench:instructions
//   npm run bench:instructions -- --variants plain,bound,rowcrypt --workloads findUnique,update --rows 100 --reps 3 --warmup 2
//
// The runner starts itself again under `valgrind --tool=callgrind --instr-atstart=no`. That child
// seeds each variant's rows, runs every workload `--warmup` times untimed (so V8 has optimised the
// code, as in a long-running application), then `--reps` times with counting switched on around
// each sample only (`callgrind_control --instr=on/off`, then a dump labelled with the sample), the
// variants in the orders of a Williams design. The parent reads the dumps and reports instructions
// per row (per call for the per-row workloads) with their ratios. Every thread of the process
// counts: garbage collection, V8's compilers and libuv's pool included.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseDump, renderInstructions, sampleLabel, tabulate, type InstructionSample } from './instruction-report'
import { SliceOrders } from './order'
import { openBenchDatabase } from './setup'
import { buildVariant, freshTarget, isVariantName, runsWorkload, type BuiltVariant, type VariantName } from './variants'
import { makeInputs, seed, WORKLOADS, type Target, type Workload } from './workloads'

// The baseline tiers only, no background threads, collections on a fixed schedule (see the header).
const V8_FLAGS = ['--expose-gc', '--no-turbofan', '--no-maglev', '--liftoff-only', '--single-threaded', '--predictable-gc-schedule']
const DEFAULT_VARIANTS = ['plain', 'bound', 'bound-twin', 'rowcrypt', 'rowcrypt-core', 'rowcrypt-kms', 'pfe']
// findManyLarge is left out: its 10× rows under valgrind would take most of the run.
const COUNTED_WORKLOADS = WORKLOADS.filter((w) => w.scale === undefined)

interface Options {
  variants: string[]
  workloads: Workload[]
  rows: number
  reps: number
  warmup: number
  write: boolean
  markdown: string | undefined
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { variants: DEFAULT_VARIANTS, workloads: [...COUNTED_WORKLOADS], rows: 100, reps: 3, warmup: 2, write: true, markdown: undefined }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const value = (): string => {
      const v = argv[++i]
      if (v === undefined || v.startsWith('--')) throw new Error(`${a} needs a value`)
      return v
    }
    if (a === '--variants') o.variants = value().split(',')
    else if (a === '--workloads') {
      const names = value().split(',')
      o.workloads = names.map((n) => {
        const w = COUNTED_WORKLOADS.find((x) => x.name === n)
        if (w === undefined) throw new Error(`unknown workload ${n} (${COUNTED_WORKLOADS.map((x) => x.name).join(', ')})`)
        return w
      })
    } else if (a === '--rows') o.rows = Number(value())
    else if (a === '--reps') o.reps = Number(value())
    else if (a === '--warmup') o.warmup = Number(value())
    else if (a === '--markdown') o.markdown = value()
    else if (a === '--no-write') o.write = false
    else if (a === '--child') continue
    else throw new Error(`unknown argument ${a}`)
  }
  for (const v of o.variants) if (!isVariantName(v)) throw new Error(`unknown variant ${v}`)
  if (!Number.isInteger(o.rows) || o.rows < 1) throw new Error('--rows must be a positive integer')
  if (!Number.isInteger(o.reps) || o.reps < 1) throw new Error('--reps must be a positive integer')
  if (!Number.isInteger(o.warmup) || o.warmup < 0) throw new Error('--warmup must be a whole number')
  return o
}

const log = (msg: string) => process.stderr.write(`[bench:instructions] ${msg}\n`)

// ---- the parent: starts the child under callgrind and reports its dumps ----

async function parent(argv: readonly string[]): Promise<void> {
  const opts = parseArgs(argv)
  const valgrind = spawnSync('valgrind', ['--version'], { encoding: 'utf8' })
  if (valgrind.status !== 0) throw new Error('valgrind is not installed here (Debian package valgrind); bench:instructions counts instructions with it')
  const dir = mkdtempSync(join(tmpdir(), 'rowcrypt-instructions-'))
  try {
    const started = Date.now()
    const child = spawn(
      'valgrind',
      [
        '--tool=callgrind',
        '--instr-atstart=no',
        `--callgrind-out-file=${join(dir, 'callgrind.%p')}`,
        process.execPath,
        ...V8_FLAGS,
        '-r',
        'ts-node/register/transpile-only',
        __filename,
        '--child',
        ...argv,
      ],
      { stdio: ['ignore', 'inherit', 'pipe'] },
    )
    // Valgrind's own lines start with ==pid==; the child's progress lines pass through.
    let pending = ''
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n')
      pending = lines.pop()!
      for (const line of lines) if (!/^==\d+==/.test(line)) process.stderr.write(`${line}\n`)
    })
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    if (code !== 0) throw new Error(`the counted run failed (exit ${code})`)
    const samples = readdirSync(dir)
      .map((f) => parseDump(readFileSync(join(dir, f), 'utf8')))
      .filter((s): s is InstructionSample => s !== undefined)
    const expected = opts.reps * opts.workloads.reduce((n, w) => n + opts.variants.filter((v) => runsWorkload(v, w)).length, 0)
    if (samples.length !== expected) throw new Error(`expected ${expected} counted samples, found ${samples.length}`)
    const table = tabulate(samples.sort((a, b) => order(opts, a) - order(opts, b)))
    const report = renderInstructions(table)
    const seconds = Math.round((Date.now() - started) / 1000)
    const header = `Instructions per row (per call for create, findUnique and update), median of ${opts.reps} counted repetitions of ${opts.rows} rows after ${opts.warmup} untimed; ratio to plain Prisma in parentheses. V8 on its baseline tiers (${V8_FLAGS.slice(1).join(' ')}). Counted by valgrind ${valgrind.stdout.trim()} (callgrind), ${seconds} s.`
    console.log(`${header}\n\n${report}`)
    if (opts.markdown !== undefined) writeFileSync(opts.markdown, `${header}\n\n${report}\n`)
    if (opts.write) {
      const out = join(__dirname, 'results')
      mkdirSync(out, { recursive: true })
      writeFileSync(join(out, 'instructions.json'), `${JSON.stringify({ date: new Date().toISOString(), options: { ...opts, workloads: opts.workloads.map((w) => w.name) }, samples }, null, 2)}\n`)
      log('wrote bench/results/instructions.json')
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

// Report rows and columns in the order the options name them.
function order(opts: Options, s: InstructionSample): number {
  return opts.workloads.findIndex((w) => w.name === s.workload) * 100 + opts.variants.indexOf(s.variant)
}

// ---- the child: runs under callgrind, counting only the samples ----

/** Sends one command to callgrind about this process; resolves once it is done. */
function callgrind(command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('callgrind_control', [command, String(process.pid)], { stdio: 'ignore' })
    p.on('error', reject)
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`callgrind_control ${command} exited with ${code}`))))
  })
}

interface Running {
  name: VariantName
  built: BuiltVariant
  target: Target
  tenant: string
  ids: string[]
}

async function child(argv: readonly string[]): Promise<void> {
  const opts = parseArgs(argv)
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run node with --expose-gc')
  const db = await openBenchDatabase('instructions')
  const running: Running[] = []
  try {
    for (const name of opts.variants as VariantName[]) {
      const built = await buildVariant(db, name)
      if (built.target === undefined) throw new Error(`variant ${name}: ${built.status}`)
      const tenant = `ins-${name}`
      running.push({ name, built, target: built.target, tenant, ids: await seed(built.target, tenant, makeInputs(opts.rows, 1)) })
    }
    await db.vacuum()
    const inputs = makeInputs(opts.rows, 2)
    const orders = new Map(opts.workloads.map((w) => [w.name, new SliceOrders(running.filter((v) => runsWorkload(v.name, w)))]))
    let fresh = 0
    for (let rep = 0; rep < opts.warmup + opts.reps; rep++) {
      const counted = rep >= opts.warmup
      for (const w of opts.workloads) {
        for (const v of orders.get(w.name)!.next()) {
          const tenant = w.fresh ? `ins-fresh-${v.name}-${++fresh}` : v.tenant
          const target = w.cold === true || v.built.freshEachRepetition === true ? await freshTarget(db, v.name, v.built) : v.target
          gc()
          if (counted) await callgrind('--instr=on')
          const rows = await w.run(target, { tenant, inputs, ids: v.ids, rep })
          if (counted) {
            await callgrind('--instr=off')
            await callgrind(`--dump=${sampleLabel({ workload: w.name, variant: v.name, rep: rep - opts.warmup, rows })}`)
          }
          if (rows !== opts.rows) throw new Error(`${w.name}/${v.name}: touched ${rows} rows, expected ${opts.rows}`)
          if (w.fresh) await db.clearTenant(tenant)
        }
      }
      log(`${counted ? `counted repetition ${rep - opts.warmup + 1}/${opts.reps}` : `warm-up ${rep + 1}/${opts.warmup}`} done`)
    }
  } finally {
    await running.find((v) => v.built.kms !== undefined)?.built.kms?.stop()
    await db.close()
  }
}

const argv = process.argv.slice(2)
;(argv.includes('--child') ? child(argv) : parent(argv)).catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
