// Node.js copies the store of every AsyncLocalStorage that has ever run onto each new promise of
// the process, for good. rowcrypt keeps all its async context (tenant scope, each client's
// transactions, its own reads, RLS pinning) in one storage: extending and using more clients adds
// none, so the application's promises do not get slower with every client ever made.
import { AsyncLocalStorage } from 'node:async_hooks'
import { withTenant } from '../../src'
import { DATABASES, openDatabase, type DatabaseKind, type TestDatabase } from '../support/db'
import { extend } from '../support/setup'

describe.each(DATABASES)('async storage on %s', (kind: DatabaseKind) => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await openDatabase(kind, 'async_storage')
  })
  afterAll(async () => {
    await db?.close()
  })

  it('uses one AsyncLocalStorage however many extended clients run transactions, updates and reads', async () => {
    const used = new Set<unknown>()
    const original = AsyncLocalStorage.prototype.run
    const exercise = async (clients: number, tenant: string) => {
      for (let i = 0; i < clients; i++) {
        const prisma = extend(db)
        await withTenant(tenant, async () => {
          const u = await prisma.user.create({ data: { name: `c${i}`, email: `c${i}@example.com` } })
          // A new client does not know the row's key: the update reads it first (rowcrypt's own read).
          await extend(db).user.update({ where: { id: u.id }, data: { email: `d${i}@example.com` } })
          await prisma.$transaction(async (tx) => tx.user.update({ where: { id: u.id }, data: { ssn: `${i}` } }))
          await prisma.$transaction([prisma.user.findUnique({ where: { id: u.id } }), prisma.user.count()])
          expect(await prisma.user.findUniqueOrThrow({ where: { id: u.id } })).toMatchObject({ email: `d${i}@example.com`, ssn: `${i}` })
        })
      }
    }
    AsyncLocalStorage.prototype.run = function (this: AsyncLocalStorage<unknown>, ...args: Parameters<typeof original>) {
      used.add(this)
      return original.apply(this, args)
    } as typeof original
    let afterOne: number
    try {
      await exercise(1, `als_${kind}_1`)
      afterOne = used.size
      await exercise(6, `als_${kind}_2`)
    } finally {
      AsyncLocalStorage.prototype.run = original
    }
    expect(afterOne).toBeGreaterThan(0)
    // Prisma's own storages, if any, are the same for one client or seven: rowcrypt adds none.
    expect(used.size).toBe(afterOne)
  })
})
