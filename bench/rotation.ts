// Key rotation benchmark (issue 5): rows per second and peak memory of `rotateKeys` re-wrapping
// (v1 -> v2) and re-keying (v2 -> v3) 10,000 and 100,000 rows on PostgreSQL, with the bench's
// Customer model (four encrypted fields, one a 1 KB text) and LocalKeyProvider.
//
//   npm run bench:rotation                      both sizes
//   npm run bench:rotation -- --rows 10000      one size
//
// Each rotation runs in a child process of its own, so its peak RSS (getrusage maxrss) is the
// rotation's alone and not the seeding's; the live heap (after a full GC every 20 batches) shows
// what it keeps. Results go to stdout and bench/results/rotation.json.
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PrismaPg } from '@prisma/adapter-pg'
import { LocalKeyProvider, rotateKeys, withTenant } from '../src'
import { PrismaClient } from './generated/client/client'
import { extend, openBenchDatabase, PG_URL } from './setup'

const KEYS = { v1: Buffer.alloc(32, 11).toString('base64'), v2: Buffer.alloc(32, 12).toString('base64'), v3: Buffer.alloc(32, 13).toString('base64') }
const TENANTS = 10
const NOTES = 'n'.repeat(1024)

interface WorkerResult {
  mode: 'rewrap' | 'rekey'
  rows: number
  rotated: number
  elapsedMs: number
  rowsPerSecond: number
  rssBeforeMb: number
  peakRssMb: number
  /** Heap in use after a full GC, before the rotation and at its highest during it. */
  liveHeapBeforeMb: number
  liveHeapMaxMb: number
  batchSize: number
  concurrency: number
}

function provider(active: 'v1' | 'v2' | 'v3'): LocalKeyProvider {
  return new LocalKeyProvider({ keys: KEYS, activeVersion: active })
}

/** Child process: one rotation on an existing bench schema; prints a JSON result line. */
async function worker(schema: string, mode: 'rewrap' | 'rekey', rows: number, batchSize: number, concurrency: number): Promise<void> {
  const base = new PrismaClient({ adapter: new PrismaPg({ connectionString: PG_URL }, { schema }) })
  const prisma = extend(base, provider(mode === 'rewrap' ? 'v2' : 'v3'))
  await base.$connect()
  ;(globalThis as { gc?: () => void }).gc?.()
  const gc = (globalThis as { gc?: () => void }).gc
  const rssBefore = process.memoryUsage().rss
  const heapBefore = process.memoryUsage().heapUsed
  // Live heap: after a full GC every 20 batches, so garbage does not count, only what is kept.
  let liveHeapMax = heapBefore
  let batches = 0
  const onProgress = () => {
    if (gc === undefined || ++batches % 20 !== 0) return
    gc()
    liveHeapMax = Math.max(liveHeapMax, process.memoryUsage().heapUsed)
  }
  const started = performance.now()
  const rotated = await rotateKeys({ prisma, rekey: mode === 'rekey', batchSize, concurrency, onProgress })
  const elapsedMs = performance.now() - started
  const peakRss = process.resourceUsage().maxRSS * 1024
  await base.$disconnect()
  const mb = (n: number) => n / 2 ** 20
  const result: WorkerResult = {
    mode,
    rows,
    rotated,
    elapsedMs,
    rowsPerSecond: (rotated * 1000) / elapsedMs,
    rssBeforeMb: mb(rssBefore),
    peakRssMb: mb(peakRss),
    liveHeapBeforeMb: mb(heapBefore),
    liveHeapMaxMb: mb(liveHeapMax),
    batchSize,
    concurrency,
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

async function seed(rows: number): Promise<{ schema: string; close: () => Promise<void> }> {
  const db = await openBenchDatabase(`rotation_${rows}`)
  const prisma = extend(db.base, provider('v1'))
  const chunk = 1000
  for (let i = 0; i < rows; i += chunk) {
    const tenant = `tenant_${(i / chunk) % TENANTS}`
    const n = Math.min(chunk, rows - i)
    await withTenant(tenant, () =>
      prisma.customer.createMany({ data: Array.from({ length: n }, (_, j) => ({ email: `c${i + j}@example.com`, name: `Customer ${i + j}`, ssn: '123-45-6789', notes: NOTES, seq: i + j })) }),
    )
  }
  await db.vacuum()
  return { schema: db.schema, close: () => db.close() }
}

function runWorker(schema: string, mode: 'rewrap' | 'rekey', rows: number, batchSize: number, concurrency: number): WorkerResult {
  const r = spawnSync(process.execPath, ['--expose-gc', '-r', 'ts-node/register/transpile-only', __filename, '--worker', schema, mode, String(rows), String(batchSize), String(concurrency)], {
    cwd: join(__dirname, '..'),
    encoding: 'utf8',
    maxBuffer: 16 * 2 ** 20,
  })
  if (r.status !== 0) throw new Error(`rotation worker failed (${r.status}): ${r.stderr}`)
  const line = r.stdout.trim().split('\n').at(-1) ?? ''
  return JSON.parse(line) as WorkerResult
}

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  if (args[0] === '--worker') {
    await worker(args[1]!, args[2] as 'rewrap' | 'rekey', Number(args[3]), Number(args[4]), Number(args[5]))
    return
  }
  const rowsArg = args.indexOf('--rows')
  const sizes = rowsArg >= 0 ? [Number(args[rowsArg + 1])] : [10_000, 100_000]
  const batchSize = 500
  const concurrency = 8
  const results: WorkerResult[] = []
  for (const rows of sizes) {
    const t0 = performance.now()
    const db = await seed(rows)
    process.stderr.write(`seeded ${rows} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
    try {
      for (const mode of ['rewrap', 'rekey'] as const) {
        const r = runWorker(db.schema, mode, rows, batchSize, concurrency)
        if (r.rotated !== rows) throw new Error(`${mode}: rotated ${r.rotated} of ${rows} rows`)
        results.push(r)
        process.stderr.write(`${mode} ${rows}: ${r.rowsPerSecond.toFixed(0)} rows/s, peak RSS ${r.peakRssMb.toFixed(0)} MB\n`)
      }
    } finally {
      await db.close()
    }
  }
  const lines = [
    `Key rotation on PostgreSQL (LocalKeyProvider, batch ${batchSize}, concurrency ${concurrency}, Customer: 4 encrypted fields incl. 1 KB text)`,
    '',
    '| mode | rows | rows/s | elapsed | RSS before | peak RSS | live heap before | live heap max |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.mode} | ${r.rows.toLocaleString('en-US')} | ${Math.round(r.rowsPerSecond).toLocaleString('en-US')} | ${(r.elapsedMs / 1000).toFixed(1)} s | ${r.rssBeforeMb.toFixed(0)} MB | ${r.peakRssMb.toFixed(0)} MB | ${r.liveHeapBeforeMb.toFixed(0)} MB | ${r.liveHeapMaxMb.toFixed(0)} MB |`,
    ),
    '',
    'Peak RSS includes garbage not yet collected; live heap (after a full GC every 20 batches) is what the rotation keeps.',
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
  const dir = join(__dirname, 'results')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'rotation.json'), `${JSON.stringify({ date: new Date().toISOString(), node: process.version, results }, null, 2)}\n`)
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
  process.exit(1)
})
