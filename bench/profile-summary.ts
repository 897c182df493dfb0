// Reads a V8 .cpuprofile written by `node --cpu-prof` during `bench/run.ts --profile`, keeps only
// the samples taken while a timed workload ran (the windows run.ts wrote), and prints where the
// time went: by category, by rowcrypt source file, and the top functions by self and inclusive time.
//
//   node -r ts-node/register/transpile-only bench/profile-summary.ts <profile.cpuprofile> <windows.json> [label]
import { readFileSync, writeFileSync } from 'node:fs'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}
interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}
interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}
interface Windows {
  windows: Array<{ workload: string; variant: string; startUs: number; endUs: number }>
  /** process.hrtime when run.ts exited, when it recorded it (the profile ends then too). */
  exitUs?: number
}

export interface ProfileSummary {
  label: string
  sampledMs: number
  wallMs: number
  categories: Array<{ name: string; ms: number; pct: number }>
  rowcryptFiles: Array<{ name: string; selfMs: number; pct: number }>
  topSelf: Array<{ name: string; ms: number; pct: number }>
  topInclusiveRowcrypt: Array<{ name: string; ms: number; pct: number }>
  topInclusiveAll: Array<{ name: string; ms: number; pct: number }>
}

/** Which part of the process a frame belongs to. */
export function category(f: CallFrame): string {
  const u = f.url
  if (f.functionName === '(garbage collector)') return 'GC'
  if (f.functionName === '(idle)') return 'idle (waiting for PostgreSQL)'
  if (f.functionName === '(program)') return 'V8/native (program)'
  if (u.includes('/src/')) return 'rowcrypt (src/)'
  if (u.startsWith('wasm://')) return 'Prisma query compiler (wasm)'
  if (u.includes('/bench/generated/')) return 'Prisma generated client'
  if (u.includes('/bench/')) return 'bench harness'
  if (u.includes('@prisma/client')) return 'Prisma client runtime'
  if (u.includes('@prisma/adapter-pg') || u.includes('@prisma/driver-adapter-utils')) return 'Prisma pg adapter'
  if (/node_modules\/(pg|pg-protocol|pg-types|postgres-|pg-pool)/.test(u)) return 'pg driver'
  if (u.startsWith('node:internal/crypto/random')) return 'node:crypto randomBytes'
  if (u.startsWith('node:internal/crypto') || u === 'node:crypto') return 'node:crypto (JS + native calls)'
  if (u === 'node:buffer' || u.startsWith('node:internal/buffer')) return 'node:buffer'
  if (u.startsWith('node:internal/async_hooks') || u.startsWith('node:async_hooks') || u.includes('async_local_storage')) return 'AsyncLocalStorage / async hooks'
  if (u.startsWith('node:internal/process/task_queues') || u.startsWith('node:internal/timers')) return 'Node event loop / microtasks'
  if (u.startsWith('node:')) return `node:* other`
  if (u === '') return f.functionName === '' ? 'native (anonymous)' : `native: ${f.functionName}`
  return 'other JS'
}

function frameName(f: CallFrame): string {
  const file = f.url.replace(/^file:\/\//, '').replace(/^.*\/(src|bench|node_modules)\//, '$1/')
  return `${f.functionName || '(anonymous)'} ${file}${f.url ? `:${f.lineNumber + 1}` : ''}`
}

/**
 * The windows on the profile's clock. V8 stamps samples with a clock of its own, which on some
 * machines is not process.hrtime's (seconds apart here): the two are lined up at exit, when both
 * run.ts's last time and the profile's end were taken.
 */
export function alignedWindows(profile: CpuProfile, w: Windows): Windows['windows'] {
  if (w.exitUs === undefined) return w.windows
  let end = profile.startTime
  for (const dt of profile.timeDeltas) end += dt
  const shift = end - w.exitUs
  return w.windows.map((x) => ({ ...x, startUs: x.startUs + shift, endUs: x.endUs + shift }))
}

export function summarizeProfile(profile: CpuProfile, windows: Windows['windows'], label: string): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const inWindow = (t: number) => windows.some((w) => t >= w.startUs && t <= w.endUs)

  const self = new Map<number, number>()
  let t = profile.startTime
  let sampled = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0
    t += dt
    if (!inWindow(t)) continue
    // A sample stands for the interval that follows it; use the next delta (or this one at the end).
    const weight = (profile.timeDeltas[i + 1] ?? dt) / 1000
    sampled += weight
    const id = profile.samples[i]!
    self.set(id, (self.get(id) ?? 0) + weight)
  }

  const cats = new Map<string, number>()
  const files = new Map<string, number>()
  const selfFn = new Map<string, number>()
  const incl = new Map<string, number>()
  for (const [id, ms] of self) {
    const f = byId.get(id)!.callFrame
    cats.set(category(f), (cats.get(category(f)) ?? 0) + ms)
    if (f.url.includes('/src/')) {
      const file = f.url.replace(/^.*\/src\//, 'src/')
      files.set(file, (files.get(file) ?? 0) + ms)
    }
    selfFn.set(frameName(f), (selfFn.get(frameName(f)) ?? 0) + ms)
    // Inclusive: every distinct function on the stack.
    const seen = new Set<string>()
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const name = frameName(byId.get(n)!.callFrame)
      if (seen.has(name)) continue
      seen.add(name)
      incl.set(name, (incl.get(name) ?? 0) + ms)
    }
  }
  const wall = windows.reduce((s, w) => s + (w.endUs - w.startUs) / 1000, 0)
  const rank = (m: Map<string, number>, n: number, filter: (k: string) => boolean = () => true) =>
    [...m.entries()]
      .filter(([k]) => filter(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, ms]) => ({ name, ms: Math.round(ms), pct: Math.round((ms / sampled) * 1000) / 10 }))
  return {
    label,
    sampledMs: Math.round(sampled),
    wallMs: Math.round(wall),
    categories: rank(cats, 30),
    rowcryptFiles: rank(files, 30).map((x) => ({ name: x.name, selfMs: x.ms, pct: x.pct })),
    topSelf: rank(selfFn, 30),
    topInclusiveRowcrypt: rank(incl, 30, (k) => k.includes(' src/')),
    topInclusiveAll: rank(incl, 40, (k) => !k.startsWith('(root)') && !k.startsWith('(program)')),
  }
}

export function renderSummary(s: ProfileSummary): string {
  const table = (rows: Array<{ name: string; ms?: number; selfMs?: number; pct: number }>) =>
    rows.map((r) => `  ${String(r.ms ?? r.selfMs).padStart(7)} ms ${r.pct.toFixed(1).padStart(5)}%  ${r.name}`).join('\n')
  return [
    `== ${s.label}: ${s.sampledMs} ms of samples in ${s.wallMs} ms of timed workload ==`,
    'by category (self time):',
    table(s.categories),
    'rowcrypt source files (self time):',
    table(s.rowcryptFiles),
    'top functions, self time:',
    table(s.topSelf),
    'rowcrypt functions, inclusive time:',
    table(s.topInclusiveRowcrypt),
  ].join('\n')
}

if (require.main === module) {
  const [profilePath, windowsPath, label = 'profile'] = process.argv.slice(2)
  if (profilePath === undefined || windowsPath === undefined) {
    console.error('usage: profile-summary.ts <profile.cpuprofile> <windows.json> [label]')
    process.exit(2)
  }
  const profile = JSON.parse(readFileSync(profilePath, 'utf8')) as CpuProfile
  const windows = JSON.parse(readFileSync(windowsPath, 'utf8')) as Windows
  const s = summarizeProfile(profile, alignedWindows(profile, windows), label)
  console.log(renderSummary(s))
  writeFileSync(profilePath.replace(/\.cpuprofile$/, '.summary.json'), `${JSON.stringify(s, null, 2)}\n`)
}
