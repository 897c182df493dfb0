// `npm run bench:profile`: CPU profiles of rowcrypt's hot paths with `node --cpu-prof`.
//
// For each workload (default: findMany and update, the two the issue asks about; pass others as
// arguments, e.g. `npm run bench:profile -- findMany update create findUnique`), runs
// `bench/run.ts --profile --only <workload>` (rowcrypt variant only, after its warm-up) in a child
// `node --cpu-prof`, then summarizes the samples taken inside the timed repetitions with
// bench/profile-summary.ts. Profiles and summaries land in bench/results/profiles/<workload>/
// (open a .cpuprofile in Chrome DevTools or speedscope for the flame graph).
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { alignedWindows, renderSummary, summarizeProfile } from './profile-summary'

const REPS: Record<string, number> = { findMany: 40, update: 4, create: 4, findUnique: 4, createMany: 20 }
const workloads = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['findMany', 'update']
const root = join(__dirname, 'results', 'profiles')
const variant = process.env.ROWCRYPT_PROFILE_VARIANT ?? 'rowcrypt'
const out: string[] = []

for (const w of workloads) {
  const dir = join(root, w)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const args = [
    '--expose-gc',
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    '--cpu-prof-interval=200',
    '-r',
    'ts-node/register/transpile-only',
    join(__dirname, 'run.ts'),
    '--profile',
    '--only',
    w,
    '--variants',
    variant,
    '--reps',
    String(REPS[w] ?? 4),
    '--cheap-repeats',
    '1',
  ]
  process.stderr.write(`[profile] node ${args.join(' ')}\n`)
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'], cwd: join(__dirname, '..') })
  if (r.status !== 0) throw new Error(`profiling ${w} failed (exit ${r.status})`)
  // The profile and the windows file are written into dir (the profile) and profiles/ (windows).
  const profileFile = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
  const windowsFile = readdirSync(root).find((f) => f.startsWith('windows-'))
  if (profileFile === undefined || windowsFile === undefined) throw new Error(`no profile for ${w}`)
  const windows = JSON.parse(readFileSync(join(root, windowsFile), 'utf8')) as Parameters<typeof alignedWindows>[1]
  rmSync(join(root, windowsFile))
  writeFileSync(join(dir, 'windows.json'), JSON.stringify(windows, null, 2))
  const profile = JSON.parse(readFileSync(join(dir, profileFile), 'utf8'))
  const summary = summarizeProfile(profile, alignedWindows(profile, windows), `${variant} ${w}`)
  writeFileSync(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`)
  const text = renderSummary(summary)
  writeFileSync(join(dir, 'summary.txt'), `${text}\n`)
  out.push(text)
}
console.log(out.join('\n\n'))
