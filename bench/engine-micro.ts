// `npm run bench:engine`: rowcrypt's query engine per call without Prisma or a database. A
// findUnique and an update by id of the bench's rows, each three ways:
//   engine   through `QueryEngine.handle`, as the extension calls it (the quick paths included);
//   general  the general path alone (engine/cas.ts `update`; the walk and `run` for findUnique);
//   core     the same cryptography in a bare function (`RowLevelEncryption`: the row's key, the
//            values, the compare-and-swap condition), as the bench's `rowcrypt-core` variant does.
// `query` answers from memory at once. With `--thrash` every call is preceded by work that pushes
// code out of the CPU's caches (3,000 small functions, each run once), as an application's own work
// and Prisma's do between two calls: then a call also pays for the code it touches, which a loop of
// calls alone hides. The thrash itself is in every variant's time; compare the differences.
//
//   npm run bench:engine [-- --thrash --rows 500 --reps 11]
import { performance } from 'node:perf_hooks'
import { randomUUID } from 'node:crypto'
import { withTenant } from '../src'
import { RowLevelEncryption } from '../src/fields/row'
import { newCallStats } from '../src/metrics/observer'
import { buildModelTable, type RowcryptOptions } from '../src/prisma/config'
import { update } from '../src/prisma/engine/cas'
import type { Engine, Obj } from '../src/prisma/engine/context'
import { run } from '../src/prisma/engine/decrypt'
import { encryptNew } from '../src/prisma/engine/encrypt'
import { newKnownKeys } from '../src/prisma/engine/known-keys'
import { searchableFields } from '../src/prisma/engine/recheck'
import { QueryEngine, type QueryIO } from '../src/prisma/query'
import { Scope } from '../src/prisma/scope'
import { walkReadArgs } from '../src/prisma/walk/read'
import { manifest } from './generated/rowcrypt'
import { ENCRYPTED_FIELDS, localKeyProvider } from './setup'
import { coreDecrypt, makeInputs } from './workloads'

const args = process.argv.slice(2)
const flag = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt
}
const THRASH = args.includes('--thrash')
const ROWS = Number(flag('rows', THRASH ? '300' : '2000'))
const REPS = Number(flag('reps', '11'))
const TENANT = 'tenant-engine'
const NONE: ReadonlySet<string> = new Set()
const gc = (globalThis as { gc?: () => void }).gc

// Code for the thrash: distinct functions over objects of a few shapes, each run once per call.
const thrashers = Array.from(
  { length: 3000 },
  (_, k) =>
    new Function('o', `let s = ${k}; for (const key in o) { if (o[key] === ${k}) s += key.length * ${k % 7}; else s ^= ${k}; } return o.a${k % 50} === undefined ? s : s + 1`) as (o: Obj) => number,
)
const shapes: Obj[] = Array.from({ length: 64 }, (_, k) => Object.fromEntries(Array.from({ length: 5 + (k % 7) }, (_, j) => [`a${(j * 7 + k) % 50}`, j])))
/** Their results, kept so that no call can be dropped. */
export let thrashSum = 0
function thrash(): void {
  for (let k = 0; k < thrashers.length; k++) thrashSum += thrashers[k]!(shapes[k & 63]!)
}

async function main(): Promise<void> {
  const provider = localKeyProvider()
  const table = buildModelTable({ schema: manifest, keyProvider: provider, models: { Customer: { fields: [...ENCRYPTED_FIELDS] } } } as unknown as RowcryptOptions)
  const info = table.get('Customer')!
  const rle = RowLevelEncryption.fromSpecs(provider, [info.spec!])
  const spec = info.spec!
  const engine = new QueryEngine(table, rle)
  // The general path's own engine state (its known keys are warmed like the engine's).
  const general: Engine = { table, rle, knownKeys: newKnownKeys(), searchable: searchableFields(table) }
  const inputs = makeInputs(ROWS)
  const rows = new Map<string, Obj>()
  const ids: string[] = []
  for (const input of inputs) {
    const id = randomUUID()
    rows.set(id, await encryptNew(general, info, { id, ...input }, scopeOf()))
    ids.push(id)
  }
  const same = (a: unknown, b: unknown) => (a instanceof Uint8Array && b instanceof Uint8Array ? Buffer.compare(a, b) === 0 : a === b)
  // Prisma's part, answered from memory: whole rows, an update only under its where.
  const query = (a: Obj): Promise<unknown> => {
    const where = a.where as Obj
    const row = rows.get(where.id as string)
    if (row === undefined || Object.keys(where).some((k) => !same(row[k], where[k]))) return Promise.reject(Object.assign(new Error('not found'), { code: 'P2025' }))
    if (a.data !== undefined) Object.assign(row, a.data)
    return Promise.resolve({ ...row })
  }
  const io: QueryIO = { readUnique: async () => null, readMany: async () => [], exists: async () => false, inBatch: () => false, globallyOmitted: () => NONE }
  const sidecars = (id: string): Obj => {
    const r = rows.get(id)!
    return { id, wrappedDek: r.wrappedDek, keyVersion: r.keyVersion, tenantId: r.tenantId }
  }
  const field = (name: string) => spec.fields.get(name)!
  const others = ['email', 'ssn', 'notes']

  const variants: Record<string, (id: string, i: number) => Promise<unknown>> = {
    'findUnique engine': (id) => withTenant(TENANT, () => engine.handle('Customer', 'findUnique', { where: { id } }, query, io, newCallStats())),
    'findUnique general': (id) =>
      withTenant(TENANT, () => {
        const scope = scopeOf()
        const a: Obj = { where: { id } }
        walkReadArgs({ table, scope }, info, a, { top: true, unique: true, operation: 'findUnique' }, '', true)
        return run(general, info, a, query, scope)
      }),
    'findUnique core': (id) => withTenant(TENANT, () => query({ where: { id, tenantId: TENANT } }).then((r) => coreDecrypt(rle, spec, r as Obj, TENANT))),
    'update engine': (id, i) => withTenant(TENANT, () => engine.handle('Customer', 'update', { where: { id }, data: { name: `n${i}` } }, query, io, newCallStats())),
    'update general': (id, i) => withTenant(TENANT, () => update(general, info, { where: { id }, data: { name: `n${i}` } }, query, io, scopeOf())),
    'update core': (id, i) =>
      withTenant(TENANT, () => {
        const row = sidecars(id)
        const key = rle.openRowKeySync(spec, row, TENANT)!
        return query({ where: { id, tenantId: TENANT, wrappedDek: row.wrappedDek }, data: { name: key.encryptValue(field('name'), `n${i}`) } }).then(
          (r) => {
            const out = r as Obj
            try {
              for (const f of others) out[f] = key.decryptValue(field(f), out[f])
              out.name = `n${i}`
              return out
            } finally {
              key.dispose()
            }
          },
          (e: unknown) => {
            key.dispose()
            throw e
          },
        )
      }),
  }
  for (const id of ids) {
    await withTenant(TENANT, () => engine.handle('Customer', 'findUnique', { where: { id } }, query, io, newCallStats()))
    await withTenant(TENANT, () => variants['findUnique general']!(id, 0))
  }
  const names = Object.keys(variants)
  const samples = new Map(names.map((n) => [n, [] as number[]]))
  for (let rep = 0; rep < REPS + 1; rep++) {
    // Alternating orders, so that no variant always runs after the same one.
    for (const name of rep % 2 === 0 ? names : [...names].reverse()) {
      gc?.()
      const started = performance.now()
      for (let i = 0; i < ids.length; i++) {
        if (THRASH) thrash()
        const r = (await variants[name]!(ids[i]!, rep * ROWS + i)) as Obj
        if (r.email !== inputs[i]!.email) throw new Error(`${name}: row ${i} read back wrong`)
      }
      if (rep > 0) samples.get(name)!.push(((performance.now() - started) * 1000) / ids.length)
    }
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!
  console.log(`[bench:engine] ${ROWS} rows, ${REPS} repetitions${THRASH ? ', caches thrashed before each call' : ''}; µs per call (median), and over core`)
  for (const op of ['findUnique', 'update']) {
    const core = median(samples.get(`${op} core`)!)
    for (const how of ['engine', 'general', 'core']) {
      const m = median(samples.get(`${op} ${how}`)!)
      console.log(`  ${`${op} ${how}`.padEnd(20)} ${m.toFixed(1).padStart(8)} µs${how === 'core' ? '' : `   ${m >= core ? '+' : ''}${(m - core).toFixed(1)} µs`}`)
    }
  }
}

function scopeOf(): Scope {
  return new Scope(TENANT, false, newCallStats(), () => NONE)
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
