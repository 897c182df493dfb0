// The differential non-interference fuzzer: random calls as tenant A, each run on D1 (tenants A and
// B plus shared rows) and on D2 (the same without B's rows), compared by the oracle (oracle.ts).
//
//   npm run fuzz -- --seconds 30 --seed 42 [--db sqlite|postgres|mysql|all] [--calls N] [--control]
//                   [--index I] [--no-shrink] [--scope-only on|off] [--verbose]
//
// Isolation between calls: every call starts from the same state, the one seeded once at startup.
// After each call the oracle needs a raw snapshot of every table of both databases anyway (that is
// how it compares states and checks B's rows byte for byte), so the runner compares each table with
// the seeded state it keeps in memory and restores only the tables the call changed, from a copy
// kept beside each database (DELETE + INSERT ... SELECT with foreign-key checks off, one round trip
// on PostgreSQL). Reads and failed writes, most calls, restore nothing. This keeps calls as the
// application makes them: top level, in a real batch or interactive transaction of their own (a
// rollback-based reset would have to wrap every call in a transaction, which changes what rowcrypt
// does and rules out batch transactions). Autoincrement counters are not restored: both databases
// advance them alike, and the runner re-aligns them after any call where they came apart.
import { randomInt } from 'node:crypto'
import { generateCall, type Call, type Obj, type OpCall } from './gen'
import type { FuzzKind } from './migrate'
import { openFuzzDatabases, type FuzzDatabases, type RawState } from './db'
import { execute, Oracle, type ClientMode, type Outcome, type Verdict } from './oracle'
import { renderCall, signature } from './render'
import { seed as seedDatabases, type World } from './seed'
import { SCOPE_ONLY } from './schema'

export interface FuzzOptions {
  kind: FuzzKind
  seed: number
  /** Stop after this many calls (default 200 when `seconds` is not given either). */
  calls?: number
  /** Stop after this many seconds. */
  seconds?: number
  /** D2 an exact copy of D1 (B's rows kept): any difference at all is the harness's own. */
  control?: boolean
  /**
   * Self-test of the oracle: make the calls around rowcrypt (`plain`: the bare PrismaClient) or
   * inside `unsafeBypassTenantScope` (`bypass`). The oracle must then report findings.
   */
  leaky?: 'plain' | 'bypass'
  /** Shrink failing calls (default true); a number caps how many findings are shrunk (default 20). */
  shrink?: boolean | number
  /** Time for shrinking, all findings together (default 120 s; each finding gets at most 30 s). */
  shrinkSeconds?: number
  /** Only these call indexes (replaying findings of an earlier run of the same seed). */
  indexes?: number[]
  /** Scope-only models (Comment, Membership) scoped; default SCOPE_ONLY.enabled. */
  scopeOnly?: boolean
  /** Progress lines (each call with `verbose`). */
  log?: (line: string) => void
  verbose?: boolean
}

export interface Finding {
  seed: number
  /** The call's index in the run: `--seed S --index I` replays it. */
  index: number
  /** The (shrunk) call as source text. */
  call: string
  /** The call as generated, when shrinking changed it. */
  original?: string
  /** Normalized outcomes on D1 and D2 (JSON). */
  d1: string
  d2: string
  reason: string
  category: string
  /** The call's shape with its values masked: findings with one signature are one class. */
  signature: string
}

export interface FuzzStats {
  kind: FuzzKind
  seed: number
  control: boolean
  calls: number
  /** Wall time of the run, shrinking included. */
  seconds: number
  /** Time spent shrinking findings. */
  shrinkSeconds: number
  /** Calls per second, shrinking excluded. */
  callsPerSecond: number
  /** Calls that succeeded on both sides, failed on both sides with the same code. */
  bothOk: number
  bothFailed: number
  /** Error codes of calls that failed on both sides, with counts. */
  errorCodes: Record<string, number>
  /** How often channels (a) and (b) explained a difference. */
  channels: Record<string, number>
  findings: number
}

export type FuzzResult = Finding[] & { stats: FuzzStats }

export interface Checked {
  o1: Outcome
  o2: Outcome
  verdict: Verdict
}

/** Runs the fuzzer and returns its findings (with run statistics in `.stats`). */
export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const { kind, seed } = options
  const control = options.control === true
  const mode: ClientMode = options.leaky ?? 'rowcrypt'
  const log = options.log ?? (() => {})
  const shrinkCap = options.shrink === false ? 0 : typeof options.shrink === 'number' ? options.shrink : 20
  const limit = options.indexes !== undefined ? options.indexes.length : (options.calls ?? (options.seconds === undefined ? 200 : Infinity))
  const session = await openSession(kind, { control, mode, scopeOnly: options.scopeOnly })
  const { d, world, check } = session
  const findings: Finding[] = []
  const stats: FuzzStats = { kind, seed, control, calls: 0, seconds: 0, shrinkSeconds: 0, callsPerSecond: 0, bothOk: 0, bothFailed: 0, errorCodes: {}, channels: {}, findings: 0 }
  try {
    const started = Date.now()
    const shrunkFingerprints = new Map<string, number>()
    const shrinkDeadline = { left: (options.shrinkSeconds ?? 120) * 1000 }
    for (let n = 0; n < limit; n++) {
      if (options.seconds !== undefined && Date.now() - started > options.seconds * 1000) break
      const index = options.indexes?.[n] ?? n
      const call = generateCall(seed, index, d.schema, world, kind)
      const r = await check(call)
      stats.calls++
      if (r.o1.ok && r.o2.ok) stats.bothOk++
      else if (!r.o1.ok && !r.o2.ok && r.o1.code === r.o2.code) {
        stats.bothFailed++
        stats.errorCodes[r.o1.code] = (stats.errorCodes[r.o1.code] ?? 0) + 1
      }
      for (const c of r.verdict.channels) stats.channels[c] = (stats.channels[c] ?? 0) + 1
      if (options.verbose) log(`#${index} ${r.verdict.problems.length > 0 ? 'FINDING' : 'ok'} ${renderCall(call)} -> ${short(JSON.stringify(r.verdict.d1), 300)}`)
      if (r.verdict.problems.length === 0) continue
      const primary = r.verdict.problems[0]!
      // Shrink the first findings of each kind; later ones of the same fingerprint, op and model
      // are most likely the same class and are reported as generated.
      const coarse = `${primary.fingerprint}|${call.kind === 'op' ? `${call.model}.${call.op}${call.fluent ? '.fluent' : ''}` : call.kind}`
      let final = { call, r }
      if (shrinkCap > 0 && shrinkDeadline.left > 0 && [...shrunkFingerprints.values()].reduce((a, b) => a + b, 0) < shrinkCap && (shrunkFingerprints.get(coarse) ?? 0) < 2) {
        shrunkFingerprints.set(coarse, (shrunkFingerprints.get(coarse) ?? 0) + 1)
        const t = Date.now()
        final = await shrink(call, r, primary.fingerprint, check, Math.min(SHRINK_SECONDS * 1000, shrinkDeadline.left))
        shrinkDeadline.left -= Date.now() - t
        stats.shrinkSeconds += (Date.now() - t) / 1000
      }
      const problems = final.r.verdict.problems
      const finding: Finding = {
        seed,
        index,
        call: renderCall(final.call),
        ...(final.call !== call ? { original: renderCall(call) } : {}),
        d1: short(JSON.stringify(final.r.verdict.d1), 2000),
        d2: short(JSON.stringify(final.r.verdict.d2), 2000),
        reason: problems.map((p) => `[${p.category}] ${p.reason}`).join(' | ') + outcomeNote(final.r),
        category: problems[0]?.category ?? primary.category,
        signature: `${problems[0]?.fingerprint ?? primary.fingerprint} ${signature(final.call)}`,
      }
      findings.push(finding)
      log(`finding at #${index}: ${finding.reason}\n  ${finding.call}`)
    }
    stats.seconds = (Date.now() - started) / 1000
    stats.callsPerSecond = stats.calls / Math.max(stats.seconds - stats.shrinkSeconds, 0.001)
    stats.findings = findings.length
  } finally {
    await session.close()
  }
  return Object.assign(findings, { stats })
}

/** Seeded D1 and D2 of `kind` and a way to check calls on them (the runner's loop, without the loop). */
export interface FuzzSession {
  readonly d: FuzzDatabases
  readonly world: World
  check(call: Call): Promise<Checked>
  close(): Promise<void>
}

export async function openSession(kind: FuzzKind, options: { control?: boolean; mode?: ClientMode; scopeOnly?: boolean } = {}): Promise<FuzzSession> {
  const control = options.control === true
  const d = await openFuzzDatabases(kind, options.scopeOnly ?? SCOPE_ONLY.enabled)
  try {
    const world = await seedDatabases(d, control)
    const [base1, base2] = [await d.d1.snapshot(), await d.d2.snapshot()]
    const mode = options.mode ?? 'rowcrypt'
    const oracle = new Oracle(d, world, control, base1, base2, (call) => execute(d.d2, call, mode))
    return { d, world, check: (call) => checkCall(d, oracle, call, mode), close: () => d.close() }
  } catch (e) {
    await d.close()
    throw e
  }
}

function outcomeNote(r: Checked): string {
  const one = (o: Outcome) => (o.ok ? 'ok' : `${o.code}: ${short(o.message.replace(/\s+/g, ' '), 200)}`)
  return r.o1.ok && r.o2.ok ? '' : ` (D1 ${one(r.o1)}; D2 ${one(r.o2)})`
}

function short(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s
}

/** One call on both sides, the verdict, then both databases put back as seeded. */
async function checkCall(d: FuzzDatabases, oracle: Oracle, call: Call, mode: ClientMode): Promise<Checked> {
  const [o1, o2] = await Promise.all([execute(d.d1, call, mode), execute(d.d2, call, mode)])
  // One admin connection serves both sides: one statement at a time.
  const s1 = await d.d1.snapshot()
  const s2 = await d.d2.snapshot()
  const verdict = await oracle.judge(call, o1, o2, s1, s2)
  await reset(d, oracle, s1, s2)
  // The two sides took different paths (a channel, a finding, the counterfactual's run): what each
  // client's rowcrypt remembers of rows it touched may now differ, and the restore made some of it
  // stale. Fresh clients keep the next calls comparable.
  if (verdict.channels.length > 0 || verdict.problems.length > 0) {
    d.d1.reextend()
    d.d2.reextend()
  }
  return { o1, o2, verdict }
}

async function reset(d: FuzzDatabases, oracle: Oracle, s1: RawState, s2: RawState): Promise<void> {
  await d.d1.restore(oracle.changedTables('D1', s1))
  await d.d2.restore(oracle.changedTables('D2', s2))
  for (const [t, n1] of Object.entries(s1.next)) {
    const n2 = s2.next[t] ?? n1
    if (n1 === n2) continue
    const n = Math.max(n1, n2)
    await d.d1.setNext(t, n)
    await d.d2.setNext(t, n)
  }
}

// ---- shrinking ------------------------------------------------------------------------------

const SHRINK_ATTEMPTS = 250
const SHRINK_SECONDS = 30

/**
 * Greedy shrinking: try dropping a transaction item, a fluent step, an object key or an array
 * element, or replacing a subtree by `{}` or `true`, biggest first; keep any change after which the
 * call still fails with the same fingerprint; stop when nothing more can go.
 */
async function shrink(call: Call, r: Checked, fingerprint: string, check: (c: Call) => Promise<Checked>, ms: number): Promise<{ call: Call; r: Checked }> {
  let best = { call, r }
  let attempts = 0
  const started = Date.now()
  const budgetLeft = () => attempts < SHRINK_ATTEMPTS && Date.now() - started < ms
  let improved = true
  while (improved && budgetLeft()) {
    improved = false
    for (const candidate of candidates(best.call)) {
      if (!budgetLeft()) break
      attempts++
      const cr = await check(candidate)
      if (cr.verdict.problems.some((p) => p.fingerprint === fingerprint)) {
        best = { call: candidate, r: cr }
        improved = true
        break
      }
    }
  }
  return best
}

function* candidates(call: Call): Generator<Call> {
  if (call.kind !== 'op') {
    for (const item of call.items) yield item
    if (call.items.length > 2) for (let i = 0; i < call.items.length; i++) yield { ...call, items: call.items.filter((_, j) => j !== i) }
    for (let i = 0; i < call.items.length; i++) {
      for (const smaller of candidates(call.items[i]!)) if (smaller.kind === 'op') yield { ...call, items: call.items.map((x, j) => (j === i ? smaller : x)) }
    }
    return
  }
  const fluent = call.fluent ?? []
  const withStep = (i: number, step: { rel: string; args?: Obj }): OpCall => ({ ...call, fluent: fluent.map((s, j) => (j === i ? step : s)) })
  if (fluent.length > 1) yield { ...call, fluent: fluent.slice(0, -1) }
  for (let i = 0; i < fluent.length; i++) if (fluent[i]!.args !== undefined) yield withStep(i, { rel: fluent[i]!.rel })
  for (const args of simplerValues(call.args, 0)) if (isObjectValue(args)) yield { ...call, args }
  for (let i = 0; i < fluent.length; i++) {
    const step = fluent[i]!
    for (const a of step.args === undefined ? [] : simplerValues(step.args, 0)) if (isObjectValue(a)) yield withStep(i, { rel: step.rel, args: a })
  }
}

function isObjectValue(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Date)
}

/**
 * Variants of `v` with one thing removed or simplified, shallow changes first. What keeps a call
 * deterministic stays: every `orderBy` as generated (a total order where the result depends on
 * it), string ids of new rows (else a random uuid, different in each database), and the columns of
 * each row of a multi-row create (rows with different columns may get their ids in another order).
 */
function* simplerValues(v: unknown, depth: number, key?: string, inArray = false): Generator<unknown> {
  if (Array.isArray(v)) {
    if (v.length > 1) for (let i = 0; i < v.length; i++) yield v.filter((_, j) => j !== i)
    if (v.length === 1 && depth > 0) yield v[0]
    for (let i = 0; i < v.length; i++) for (const x of simplerValues(v[i], depth + 1, key, true)) yield v.map((y, j) => (j === i ? x : y))
    return
  }
  if (!isObjectValue(v)) return
  const keys = Object.keys(v).filter((k) => k !== 'orderBy')
  for (const k of inArray ? [] : keys) {
    if (k === 'id' && typeof v[k] === 'string' && key !== 'where') continue
    const rest = { ...v }
    delete rest[k]
    yield rest
  }
  for (const k of keys) {
    const x = v[k]
    if (isObjectValue(x) && Object.keys(x).length > 0) {
      yield { ...v, [k]: true }
      yield { ...v, [k]: {} }
    }
    for (const s of simplerValues(x, depth + 1, k)) yield { ...v, [k]: s }
  }
}

// ---- command line -------------------------------------------------------------------------------

interface Cli {
  dbs: FuzzKind[]
  seed: number
  seconds?: number
  calls?: number
  control: boolean
  indexes?: number[]
  shrink: boolean
  scopeOnly?: boolean
  verbose: boolean
}

function parseCli(argv: string[]): Cli {
  const cli: Cli = { dbs: ['sqlite'], seed: randomInt(1, 2 ** 31 - 1), control: false, shrink: true, verbose: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const next = () => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${a} needs a value`)
      return v
    }
    if (a === '--seconds') cli.seconds = Number(next())
    else if (a === '--calls') cli.calls = Number(next())
    else if (a === '--seed') cli.seed = Number(next())
    else if (a === '--db') {
      const v = next()
      cli.dbs = v === 'all' ? ['sqlite', 'postgres', 'mysql'] : (v.split(',') as FuzzKind[])
    } else if (a === '--control') cli.control = true
    else if (a === '--index') cli.indexes = next().split(',').map(Number)
    else if (a === '--no-shrink') cli.shrink = false
    else if (a === '--scope-only') cli.scopeOnly = next() !== 'off'
    else if (a === '--verbose') cli.verbose = true
    else throw new Error(`unknown option ${a} (see the header of test/fuzz/run.ts)`)
  }
  for (const db of cli.dbs) if (!['sqlite', 'postgres', 'mysql'].includes(db)) throw new Error(`--db: unknown database ${db}`)
  if (!Number.isInteger(cli.seed)) throw new Error('--seed takes an integer')
  return cli
}

/** Findings grouped by signature, as the CLI prints them. */
export function classes(findings: readonly Finding[]): Array<{ signature: string; count: number; first: Finding }> {
  const out = new Map<string, { signature: string; count: number; first: Finding }>()
  for (const f of findings) {
    const c = out.get(f.signature)
    if (c === undefined) out.set(f.signature, { signature: f.signature, count: 1, first: f })
    else c.count++
  }
  return [...out.values()]
}

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2))
  let total = 0
  for (const kind of cli.dbs) {
    console.log(
      `fuzz ${kind}: seed ${cli.seed}${cli.control ? ' (control: D2 is an exact copy of D1)' : ''}${cli.seconds !== undefined ? `, ${cli.seconds} s` : ''}${cli.calls !== undefined ? `, ${cli.calls} calls` : ''}`,
    )
    const result = await runFuzz({
      kind,
      seed: cli.seed,
      seconds: cli.seconds,
      calls: cli.calls,
      control: cli.control,
      indexes: cli.indexes,
      shrink: cli.shrink,
      scopeOnly: cli.scopeOnly,
      verbose: cli.verbose,
      log: (l) => console.log(l),
    })
    const s = result.stats
    const codes = Object.entries(s.errorCodes)
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${c} ${n}`)
      .join(', ')
    console.log(
      `${kind}: ${s.calls} calls in ${s.seconds.toFixed(1)} s (${s.callsPerSecond.toFixed(1)} calls/s${s.shrinkSeconds > 0 ? `, shrinking ${s.shrinkSeconds.toFixed(1)} s` : ''}), seed ${s.seed}; ok on both ${s.bothOk}, same error on both ${s.bothFailed} (${codes}); channels ${JSON.stringify(s.channels)}; ${result.length} findings`,
    )
    const groups = classes(result)
    groups.forEach((g, i) => {
      const f = g.first
      console.log(`\n[${kind} ${i + 1}/${groups.length}] ${f.category} x${g.count}, first at --seed ${f.seed} --index ${f.index}`)
      console.log(`  reason: ${f.reason}`)
      console.log(`  call:   ${f.call}`)
      if (f.original !== undefined) console.log(`  (shrunk from ${f.original})`)
      console.log(`  D1:     ${f.d1}`)
      console.log(`  D2:     ${f.d2}`)
    })
    total += result.length
  }
  console.log(`\n${total} findings`)
  process.exitCode = total > 0 ? 1 : 0
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e)
    process.exit(2)
  })
}
