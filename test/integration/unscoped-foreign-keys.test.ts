// A model left out of `models` (unscoped) that holds a foreign key into a scoped model: a write
// setting that key directly must still point at a row of the current tenant (per-model plans list
// these relations once; this checks the plan is used for unscoped models too).
import { rowcrypt, withTenant } from '../../src'
import { DATABASES, type DatabaseKind, openDatabase, type TestDatabase } from '../support/db'
import { rlsOf, testKeyProvider } from '../support/setup'

describe.each(DATABASES.filter((k) => k !== 'postgres-rls'))('an unscoped model pointing into a scoped one, on %s', (kind: DatabaseKind) => {
  let db: TestDatabase
  let prisma: ReturnType<typeof extendUserOnly>
  const extendUserOnly = (d: TestDatabase) => d.prisma.$extends(rowcrypt({ ...rlsOf(d), schema: d.manifest, keyProvider: testKeyProvider(), models: { User: { fields: ['email'] } } }))
  beforeAll(async () => {
    db = await openDatabase(kind, 'unscoped_fk')
    prisma = extendUserOnly(db)
  })
  afterAll(() => db?.close())

  it("refuses a post whose author is another tenant's user, and takes one of the tenant", async () => {
    const a = await withTenant('tenant-a', () => prisma.user.create({ data: { name: 'a', email: 'a@x.io' } }))
    const b = await withTenant('tenant-b', () => prisma.user.create({ data: { name: 'b', email: 'b@x.io' } }))
    let code: unknown
    try {
      await withTenant('tenant-a', () => prisma.post.create({ data: { title: 'wrong author', authorId: b.id } }))
    } catch (e) {
      code = (e as { code?: unknown }).code
    }
    expect(code).toBe('P2003')
    expect(await db.prisma.post.count({ where: { title: 'wrong author' } })).toBe(0)
    const ok = await withTenant('tenant-a', () => prisma.post.create({ data: { title: 'right author', authorId: a.id } }))
    expect(ok.authorId).toBe(a.id)
  })
})
