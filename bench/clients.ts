// `npm run bench:clients`: what extending and using more rowcrypt clients costs every later call of
// the process. Node.js copies the store of each AsyncLocalStorage that has ever run onto every new
// promise, for good; rowcrypt keeps all its async context in one (src/tenant/slots.ts), so the CPU
// per call should not move after more clients were made and used.
//
//   npm run bench:clients [-- --clients 50 --calls 200]
import { PrismaPg } from '@prisma/adapter-pg'
import { withTenant } from '../src'
import { PrismaClient } from './generated/client/client'
import { extend, localKeyProvider, openBenchDatabase, PG_URL } from './setup'
import { makeInputs, plainTarget, rowcryptTarget, seed } from './workloads'

const args = process.argv.slice(2)
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : dflt
}
const CLIENTS = flag('clients', 50)
const CALLS = flag('calls', 200)
const ROUNDS = 7

async function main(): Promise<void> {
  const db = await openBenchDatabase('clients')
  try {
    const base = new PrismaClient({ adapter: new PrismaPg({ connectionString: PG_URL }, { schema: db.schema }) })
    const plain = plainTarget(base)
    const rc = rowcryptTarget('rowcrypt', extend(base, localKeyProvider()))
    const plainIds = await seed(plain, 'plain', makeInputs(CALLS, 1))
    const ids = await seed(rc, 'rowcrypt', makeInputs(Math.max(CALLS, CLIENTS), 1))
    // Median CPU time (user + system) per findUnique, plain and rowcrypt, interleaved.
    const measure = async (label: string) => {
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
      const p: number[] = []
      const r: number[] = []
      for (let round = 0; round < ROUNDS; round++) {
        let t = process.cpuUsage()
        for (const id of plainIds) await plain.findUnique('plain', id)
        let c = process.cpuUsage(t)
        p.push((c.user + c.system) / CALLS)
        t = process.cpuUsage()
        for (const id of ids.slice(0, CALLS)) await rc.findUnique('rowcrypt', id)
        c = process.cpuUsage(t)
        r.push((c.user + c.system) / CALLS)
      }
      console.log(`${label}: plain findUnique ${median(p).toFixed(0)} µs CPU per call, rowcrypt findUnique ${median(r).toFixed(0)} µs`)
      return { plain: median(p), rowcrypt: median(r) }
    }
    const before = await measure('one rowcrypt client')
    for (let i = 0; i < CLIENTS; i++) {
      const c = extend(base, localKeyProvider())
      await withTenant('rowcrypt', () => c.$transaction(async (tx) => tx.customer.count()))
      // A new client does not know the row's key: the update reads it first.
      await withTenant('rowcrypt', () => c.customer.update({ where: { id: ids[i]! }, data: { name: `client ${i}` } }))
    }
    const after = await measure(`after ${CLIENTS} more clients, each used for a transaction and an update`)
    console.log(`after / before: plain ${(after.plain / before.plain).toFixed(2)}×, rowcrypt ${(after.rowcrypt / before.rowcrypt).toFixed(2)}×`)
  } finally {
    await db.close()
  }
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
