// `npm run bench:core`: rowcrypt's per-row cryptography without Prisma or a database, next to the
// bound's (bench/workloads.ts: the least an extension with a key per row and AES-256-GCM per value
// must do). 1,000 rows of the bench data (email, name, ssn, 1 KB notes), LocalKeyProvider, one
// tenant. The two columns are timed in interleaved samples, each after a full collection; the heap
// each allocates per row is sampled with V8's allocation profiler (objects collected by a GC
// included), since every byte allocated on this path is paid for again by the young-generation
// collections of a large read.
//
//   npm run bench:core [-- --reps 41]
import { Session } from 'node:inspector'
import { performance } from 'node:perf_hooks'
import { LocalKeyProvider, RowLevelEncryption } from '../src'
import { BENCH_MASTER_KEY, ENCRYPTED_FIELDS } from './setup'
import { BOUND_KEK, boundOpen, boundSeal, boundUnwrap, boundWrap, makeInputs } from './workloads'

const N = 1000
const TENANT = 'tenant-core'
const args = process.argv.slice(2)
const REPS = Number(args[args.indexOf('--reps') + 1] ?? 41) || 41
const gc = (globalThis as { gc?: () => void }).gc
type Row = Record<string, unknown>

async function main(): Promise<void> {
  const keyProvider = new LocalKeyProvider({ keys: { v1: BENCH_MASTER_KEY }, activeVersion: 'v1' })
  const rle = new RowLevelEncryption({ keyProvider, models: { Customer: { fields: [...ENCRYPTED_FIELDS], idField: 'id' } } })
  const spec = rle.spec('Customer')
  const inputs = makeInputs(N, 1)
  const ids = inputs.map((_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`)
  const stored: Row[] = await Promise.all(inputs.map((d, i) => rle.encryptRow({ model: 'Customer', data: { ...d, id: ids[i] }, tenantId: TENANT })))
  const boundRows: Row[] = inputs.map((d, i) => {
    const key = Buffer.alloc(32, i & 0xff)
    const row: Row = { ...d, id: ids[i], wrappedDek: boundWrap(BOUND_KEK, key), keyVersion: 'v1', tenantId: TENANT }
    for (const f of ENCRYPTED_FIELDS) row[f] = boundSeal(key, d[f])
    return row
  })

  // Each case works on fresh copies of the rows, as a read does on the rows Prisma returns.
  const cases: Array<[string, () => void]> = [
    [
      'rowcrypt: decrypt a row (openRowKeySync + decryptInto, as the query path does)',
      () => {
        for (const r of stored.map((x) => ({ ...x }))) {
          const k = rle.openRowKeySync(spec, r, TENANT)!
          try {
            k.decryptInto(r, r)
          } finally {
            k.dispose()
          }
        }
      },
    ],
    [
      'bound: decrypt a row (one unwrap, four opens)',
      () => {
        for (const r of boundRows.map((x) => ({ ...x }))) {
          const key = boundUnwrap(BOUND_KEK, r.wrappedDek as Uint8Array)
          for (const f of ENCRYPTED_FIELDS) r[f] = boundOpen(key, r[f] as string)
        }
      },
    ],
    ['rowcrypt: unwrap a row key', () => stored.forEach((r) => rle.openRowKeySync(spec, r, TENANT)!.dispose())],
    ['bound: unwrap a row key', () => boundRows.forEach((r) => boundUnwrap(BOUND_KEK, r.wrappedDek as Uint8Array))],
    [
      'rowcrypt: encrypt a new row (newRowKeySync + encryptInto, as create does)',
      () =>
        inputs.forEach((d, i) => {
          const k = rle.newRowKeySync(spec, TENANT, ids[i])!
          try {
            k.encryptInto({ ...d }, d as unknown as Row, true)
          } finally {
            k.dispose()
          }
        }),
    ],
    [
      'bound: encrypt a new row (a key, its wrap, four seals)',
      () =>
        inputs.forEach((d, i) => {
          const key = Buffer.alloc(32, i & 0xff)
          const row: Row = { ...d, wrappedDek: boundWrap(BOUND_KEK, key) }
          for (const f of ENCRYPTED_FIELDS) row[f] = boundSeal(key, d[f])
        }),
    ],
  ]
  const check = { ...stored[7]! }
  const k = rle.openRowKeySync(spec, check, TENANT)!
  k.decryptInto(check, check)
  k.dispose()
  if (check.notes !== inputs[7]!.notes) throw new Error('rowcrypt did not decrypt the row it wrote')

  for (const [, fn] of cases) for (let i = 0; i < 3; i++) fn()
  const samples = cases.map((): number[] => [])
  for (let r = 0; r < REPS; r++)
    cases.forEach(([, fn], i) => {
      gc?.()
      const t = performance.now()
      fn()
      samples[i]!.push(performance.now() - t)
    })
  console.log(`[bench:core] ${N} rows of 4 fields, LocalKeyProvider; median of ${REPS} interleaved samples${gc === undefined ? ' (run with --expose-gc for a collection before each)' : ''}`)
  for (const [i, [label, fn]] of cases.entries()) {
    const s = [...samples[i]!].sort((a, b) => a - b)
    const bytes = await allocatedBy(fn)
    console.log(`${label.padEnd(76)} ${((s[s.length >> 1]! * 1000) / N).toFixed(1).padStart(6)} µs/row  ${(bytes / N / 1024).toFixed(2).padStart(5)} KB/row allocated`)
  }
}

/** Bytes `fn` allocates, by V8's sampling heap profiler (every 256 bytes, collected objects included). */
async function allocatedBy(fn: () => void): Promise<number> {
  const session = new Session()
  session.connect()
  const post = <T>(method: string, params: object = {}) => new Promise<T>((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r as T))))
  try {
    await post('HeapProfiler.enable')
    await post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
    fn()
    const { profile } = await post<{ profile: { head: SamplingNode } }>('HeapProfiler.stopSampling')
    const total = (n: SamplingNode): number => n.selfSize + (n.children ?? []).reduce((sum, c) => sum + total(c), 0)
    return total(profile.head)
  } finally {
    session.disconnect()
  }
}

interface SamplingNode {
  selfSize: number
  children?: SamplingNode[]
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
