// Queries rowcrypt cannot answer correctly on encrypted data, and writes it must refuse, fail with
// a stable error code before any SQL reaches the database and without writing anything.
import { withTenant } from '../../src'
import { DATABASES, openDatabase, type DatabaseKind, type TestDatabase } from '../support/db'
import { extend, type Extended } from '../support/setup'

const UNSUPPORTED = 'ERR_ROWCRYPT_UNSUPPORTED_QUERY'
const MISMATCH = 'ERR_ROWCRYPT_TENANT_MISMATCH'
const NOT_FOUND = 'P2025'
const INVALID_VALUE = 'ERR_ROWCRYPT_INVALID_VALUE'

const T = 'tenant_errors'
const OTHER = 'tenant_errors_other'

describe.each(DATABASES)('refused queries on %s', (kind: DatabaseKind) => {
  let db: TestDatabase
  let prisma: Extended
  let userId: number
  let postId: string
  let otherUserId: number

  const count = async (table: string) => Number((await db.raw<{ n: unknown }>(`SELECT COUNT(*) AS n FROM "${table}"`))[0]!.n)
  const rawUser = async (id: number) => (await db.raw(`SELECT * FROM "User" WHERE "id" = $1`, [id]))[0]!

  /** Runs `fn` in the tenant, expects it to reject with `code`, and checks no SQL was sent. */
  async function expectRefusedWithoutSql(code: string, fn: () => Promise<unknown>, tenant = T): Promise<void> {
    const before = db.queries.length
    await expect(withTenant(tenant, fn)).rejects.toMatchObject({ code })
    expect(db.queries.slice(before)).toEqual([])
  }

  beforeAll(async () => {
    db = await openDatabase(kind, 'errors')
    prisma = extend(db)
    const u = await withTenant(T, () => prisma.user.create({ data: { name: 'Err', email: 'err-secret@example.com', ssn: '111-22-3333' } }))
    userId = u.id
    postId = (await withTenant(T, () => prisma.post.create({ data: { title: 'err-title', authorId: u.id } }))).id
    otherUserId = (await withTenant(OTHER, () => prisma.user.create({ data: { name: 'Other', email: 'other-secret@example.com' } }))).id
  })
  afterAll(async () => {
    await db?.close()
  })

  it('the query log sees SQL of an allowed query (so "no SQL" below means something)', async () => {
    const before = db.queries.length
    const users = await withTenant(T, () => prisma.user.findMany({ where: { name: 'Err' } }))
    expect(users.map((u) => u.email)).toEqual(['err-secret@example.com'])
    expect(db.queries.length).toBeGreaterThan(before)
  })

  describe('encrypted fields in filters, sorts, distinct and cursors', () => {
    const cases: Array<[string, (p: Extended) => Promise<unknown>]> = [
      ['findMany where', (p) => p.user.findMany({ where: { email: 'err-secret@example.com' } })],
      ['findMany where with a filter object', (p) => p.user.findMany({ where: { ssn: { startsWith: '111' } } })],
      ['findMany where null check', (p) => p.user.findMany({ where: { notes: null } })],
      ['findFirst where', (p) => p.user.findFirst({ where: { prefs: { equals: 'x' } } })],
      ['findFirstOrThrow where', (p) => p.user.findFirstOrThrow({ where: { avatar: Buffer.from('x') } })],
      ['findUnique where with an id', (p) => p.user.findUnique({ where: { id: userId, email: 'err-secret@example.com' } })],
      ['findUniqueOrThrow where with an id', (p) => p.user.findUniqueOrThrow({ where: { id: userId, ssn: '111-22-3333' } })],
      ['count where', (p) => p.user.count({ where: { email: 'x' } })],
      ['update where', (p) => p.user.update({ where: { id: userId, email: 'x' }, data: { name: 'changed' } })],
      ['delete where', (p) => p.user.delete({ where: { id: userId, email: 'x' } })],
      ['deleteMany where', (p) => p.user.deleteMany({ where: { email: 'x' } })],
      ['updateMany where', (p) => p.user.updateMany({ where: { email: 'x' }, data: { name: 'changed' } })],
      ['upsert where', (p) => p.user.upsert({ where: { id: userId, email: 'x' }, create: { name: 'n', email: 'e' }, update: { name: 'changed' } })],
      ['Post where', (p) => p.post.findMany({ where: { title: 'err-title' } })],
      ['Document where', (p) => p.document.findMany({ where: { body: 'x' } })],
      ['orderBy', (p) => p.user.findMany({ orderBy: { email: 'asc' } })],
      ['orderBy in a list', (p) => p.user.findMany({ orderBy: [{ name: 'asc' }, { ssn: 'desc' }] })],
      ['orderBy through a relation', (p) => p.post.findMany({ orderBy: { author: { email: 'asc' } } })],
      ['distinct', (p) => p.user.findMany({ distinct: ['email'] })],
      ['distinct in a list', (p) => p.user.findMany({ distinct: ['name', 'notes'] })],
      ['cursor', (p) => p.user.findMany({ cursor: { id: userId, email: 'x' } })],
      ['Post cursor', (p) => p.post.findMany({ cursor: { id: postId, title: 'x' } })],
      ['AND', (p) => p.user.findMany({ where: { AND: [{ name: 'Err' }, { email: 'x' }] } })],
      ['OR', (p) => p.user.findMany({ where: { OR: [{ name: 'Err' }, { ssn: 'x' }] } })],
      ['NOT', (p) => p.user.findMany({ where: { NOT: { notes: 'x' } } })],
      ['NOT as a list', (p) => p.user.findMany({ where: { NOT: [{ name: 'x' }, { email: 'x' }] } })],
      ['deeply nested AND/OR/NOT', (p) => p.user.findMany({ where: { AND: { OR: [{ name: 'a' }, { NOT: { AND: [{ email: 'x' }] } }] } } })],
      ['relation filter some', (p) => p.user.findMany({ where: { posts: { some: { title: 'x' } } } })],
      ['relation filter every', (p) => p.user.findMany({ where: { posts: { every: { body: 'x' } } } })],
      ['relation filter none', (p) => p.user.findMany({ where: { posts: { none: { title: 'x' } } } })],
      ['relation filter is', (p) => p.post.findMany({ where: { author: { is: { email: 'x' } } } })],
      ['relation filter isNot', (p) => p.post.findMany({ where: { author: { isNot: { ssn: 'x' } } } })],
      ['relation filter without an operator', (p) => p.post.findMany({ where: { author: { email: 'x' } } })],
      ['relation filter inside OR', (p) => p.user.findMany({ where: { OR: [{ name: 'x' }, { posts: { some: { title: 'x' } } }] } })],
      ['relation filter from an unscoped model', (p) => p.team.findMany({ where: { members: { some: { email: 'x' } } } })],
      ['include where', (p) => p.user.findMany({ include: { posts: { where: { title: 'x' } } } })],
      ['include orderBy', (p) => p.user.findMany({ include: { posts: { orderBy: { body: 'asc' } } } })],
      ['include distinct', (p) => p.user.findMany({ include: { posts: { distinct: ['title'] } } })],
      ['include cursor', (p) => p.user.findMany({ include: { posts: { cursor: { id: postId, title: 'x' } } } })],
      ['select of a relation with where', (p) => p.user.findMany({ select: { name: true, posts: { where: { body: { not: null } } } } })],
      ['include of a to-one relation with a filtered nested include', (p) => p.post.findMany({ include: { author: { include: { posts: { where: { title: 'x' } } } } } })],
      ['relation count where', (p) => p.user.findMany({ select: { _count: { select: { posts: { where: { title: 'x' } } } } } })],
      ['groupBy by', (p) => p.user.groupBy({ by: ['email'] })],
      ['aggregate _min', (p) => p.user.aggregate({ _min: { ssn: true } })],
      ['unscoped model ordered by the count of a scoped relation', (p) => p.team.findMany({ orderBy: { members: { _count: 'desc' } } })],
    ]

    it.each(cases)('%s is refused without sending SQL', async (_label, fn) => {
      await expectRefusedWithoutSql(UNSUPPORTED, () => fn(prisma))
    })

    it('nothing was changed or deleted by the refused writes', async () => {
      const row = await rawUser(userId)
      expect(row.name).toBe('Err')
      const u = await withTenant(T, () => prisma.user.findUniqueOrThrow({ where: { id: userId } }))
      expect(u).toMatchObject({ name: 'Err', email: 'err-secret@example.com', ssn: '111-22-3333' })
    })
  })

  describe('writes of managed columns', () => {
    const cases: Array<[string, (p: Extended) => Promise<unknown>]> = [
      ['update wrappedDek', (p) => p.user.update({ where: { id: userId }, data: { wrappedDek: new Uint8Array([1, 2, 3]) } })],
      ['update wrappedDek to null', (p) => p.user.update({ where: { id: userId }, data: { wrappedDek: null } })],
      ['update keyVersion', (p) => p.user.update({ where: { id: userId }, data: { keyVersion: 'v2' } })],
      ['update keyVersion with { set }', (p) => p.user.update({ where: { id: userId }, data: { keyVersion: { set: 'v2' } } })],
      ['update tenantId', (p) => p.user.update({ where: { id: userId }, data: { tenantId: OTHER } })],
      ['update tenantId to the same tenant', (p) => p.user.update({ where: { id: userId }, data: { tenantId: T } })],
      ['update tenantId along with an encrypted field', (p) => p.user.update({ where: { id: userId }, data: { tenantId: OTHER, email: 'moved@example.com' } })],
      ['update of the id of a row-bound Post', (p) => p.post.update({ where: { id: postId }, data: { id: 'another-id' } })],
      ['update of the Document tenant column orgId', (p) => p.document.update({ where: { id: 'any' }, data: { orgId: OTHER } })],
      ['updateMany tenantId', (p) => p.user.updateMany({ where: { name: 'Err' }, data: { tenantId: OTHER } })],
      ['updateMany keyVersion', (p) => p.user.updateMany({ data: { keyVersion: 'v2' } })],
      ['upsert update wrappedDek', (p) => p.user.upsert({ where: { id: userId }, create: { name: 'n', email: 'e' }, update: { wrappedDek: new Uint8Array([1]) } })],
      ['upsert create keyVersion', (p) => p.user.upsert({ where: { id: 999999 }, create: { name: 'n', email: 'e', keyVersion: 'v2' }, update: { name: 'x' } })],
      ['create wrappedDek', (p) => p.user.create({ data: { name: 'n', email: 'e', wrappedDek: new Uint8Array([1]) } })],
      ['create keyVersion', (p) => p.user.create({ data: { name: 'n', email: 'e', keyVersion: 'v1' } })],
      [
        'createMany keyVersion',
        (p) =>
          p.user.createMany({
            data: [
              { name: 'n', email: 'e' },
              { name: 'n2', email: 'e2', keyVersion: 'v1' },
            ],
          }),
      ],
    ]

    it.each(cases)('%s is refused without sending SQL', async (_label, fn) => {
      const users = await count('User')
      await expectRefusedWithoutSql(UNSUPPORTED, () => fn(prisma))
      expect(await count('User')).toBe(users)
    })

    it('left the row, its key and its tenant as they were', async () => {
      const row = await rawUser(userId)
      expect(row.tenantId).toBe(T)
      expect(row.keyVersion).toBe('v1')
      const u = await withTenant(T, () => prisma.user.findUniqueOrThrow({ where: { id: userId } }))
      expect(u.email).toBe('err-secret@example.com')
      const p = await withTenant(T, () => prisma.post.findUniqueOrThrow({ where: { id: postId } }))
      expect(p.title).toBe('err-title')
    })
  })

  describe('tenant in data', () => {
    const cases: Array<[string, (p: Extended) => Promise<unknown>]> = [
      ['create', (p) => p.user.create({ data: { name: 'n', email: 'mismatch@example.com', tenantId: OTHER } })],
      ['create of a Document with another orgId', (p) => p.document.create({ data: { id: 'doc-mismatch', title: 't', body: 'b', orgId: OTHER } })],
      [
        'createMany with one row of another tenant',
        (p) =>
          p.user.createMany({
            data: [
              { name: 'ok', email: 'ok@example.com' },
              { name: 'n', email: 'e', tenantId: OTHER },
            ],
          }),
      ],
      ['createManyAndReturn', (p) => p.post.createManyAndReturn({ data: [{ title: 't', authorId: userId, tenantId: OTHER }] })],
      ['upsert create branch', (p) => p.user.upsert({ where: { id: 999999 }, create: { name: 'n', email: 'e', tenantId: OTHER }, update: { name: 'x' } })],
    ]

    it.each(cases)('%s naming another tenant fails with TENANT_MISMATCH and writes nothing', async (_label, fn) => {
      const [users, posts, docs] = [await count('User'), await count('Post'), await count('Document')]
      await expectRefusedWithoutSql(MISMATCH, () => fn(prisma))
      expect([await count('User'), await count('Post'), await count('Document')]).toEqual([users, posts, docs])
    })

    it('naming the current tenant is accepted', async () => {
      const u = await withTenant(T, () => prisma.user.create({ data: { name: 'same-tenant', email: 'same@example.com', tenantId: T }, omit: { tenantId: false } }))
      expect(u.tenantId).toBe(T)
      expect(u.email).toBe('same@example.com')
      const [stored] = await db.raw(`SELECT "email" FROM "User" WHERE "id" = $1`, [u.id])
      expect(stored!.email).toMatch(/^rc1\.A256GCM\.s\./)
    })
  })

  describe('nested writes that cannot be answered', () => {
    const cases: Array<[string, (p: Extended) => Promise<unknown>]> = [
      ['nested updateMany setting an encrypted field', (p) => p.user.update({ where: { id: userId }, data: { posts: { updateMany: { where: {}, data: { title: 'nested-title' } } } } })],
      ['nested update filtering on an encrypted field', (p) => p.user.update({ where: { id: userId }, data: { posts: { updateMany: { where: { title: 'x' }, data: { published: true } } } } })],
      ['set on a scoped relation without ids', (p) => p.team.update({ where: { id: 1 }, data: { members: { set: [{ id: undefined as unknown as number }] } } })],
    ]

    it.each(cases)('%s is refused without sending SQL and writes nothing', async (_label, fn) => {
      const [users, posts, teams] = [await count('User'), await count('Post'), await count('Team')]
      await expectRefusedWithoutSql(UNSUPPORTED, () => fn(prisma))
      expect([await count('User'), await count('Post'), await count('Team')]).toEqual([users, posts, teams])
    })
  })

  describe('updateMany of encrypted fields', () => {
    const cases: Array<[string, (p: Extended) => Promise<unknown>]> = [
      ['a string field', (p) => p.user.updateMany({ where: { name: 'Err' }, data: { email: 'bulk@example.com' } })],
      ['a field set to null', (p) => p.user.updateMany({ data: { ssn: null } })],
      ['a { set } value', (p) => p.user.updateMany({ data: { notes: { set: 'bulk' } } })],
      ['json and a plain field together', (p) => p.user.updateMany({ data: { name: 'bulk', prefs: '{}' } })],
      ['a Post field', (p) => p.post.updateMany({ data: { title: 'bulk' } })],
      ['updateManyAndReturn', (p) => p.user.updateManyAndReturn({ data: { email: 'bulk@example.com' } })],
    ]

    it.each(cases)('setting %s is refused without sending SQL', async (_label, fn) => {
      await expectRefusedWithoutSql(UNSUPPORTED, () => fn(prisma))
      const u = await withTenant(T, () => prisma.user.findUniqueOrThrow({ where: { id: userId } }))
      expect(u).toMatchObject({ name: 'Err', email: 'err-secret@example.com', ssn: '111-22-3333' })
    })
  })

  describe('update of an encrypted field of a row that is not there', () => {
    it('a missing id fails with NOT_FOUND', async () => {
      const users = await count('User')
      await expect(withTenant(T, () => prisma.user.update({ where: { id: 987654 }, data: { email: 'ghost@example.com' } }))).rejects.toMatchObject({ code: NOT_FOUND })
      await expect(withTenant(T, () => prisma.post.update({ where: { id: 'no-such-post' }, data: { title: { set: 'ghost' } } }))).rejects.toMatchObject({ code: NOT_FOUND })
      await expect(withTenant(T, () => prisma.document.update({ where: { id: 'no-such-doc' }, data: { body: 'ghost' } }))).rejects.toMatchObject({ code: NOT_FOUND })
      expect(await count('User')).toBe(users)
    })

    it('a row of another tenant fails with NOT_FOUND and is left alone', async () => {
      const before = await rawUser(otherUserId)
      await expect(withTenant(T, () => prisma.user.update({ where: { id: otherUserId }, data: { email: 'hijack@example.com' } }))).rejects.toMatchObject({ code: NOT_FOUND })
      const after = await rawUser(otherUserId)
      expect(after.email).toBe(before.email)
      const u = await withTenant(OTHER, () => prisma.user.findUniqueOrThrow({ where: { id: otherUserId } }))
      expect(u.email).toBe('other-secret@example.com')
    })
  })

  describe('values of the wrong type', () => {
    const cases: Array<[string, (p: Extended) => Promise<unknown>]> = [
      ['create with a number for email', (p) => p.user.create({ data: { name: 'bad', email: 42 as never } })],
      ['create with an object for a string field', (p) => p.user.create({ data: { name: 'bad', email: 'bad@example.com', ssn: { nope: 1 } as never } })],
      ['create with a string for a bytes field', (p) => p.user.create({ data: { name: 'bad', email: 'bad@example.com', avatar: 'not-bytes' as never } })],
      ['create with a BigInt for a json field', (p) => p.user.create({ data: { name: 'bad', email: 'bad@example.com', prefs: 10n as never } })],
      ['create with undefined-only json (not serializable)', (p) => p.user.create({ data: { name: 'bad', email: 'bad@example.com', prefs: (() => 1) as never } })],
      [
        'createMany with one bad row',
        (p) =>
          p.user.createMany({
            data: [
              { name: 'ok', email: 'ok@example.com' },
              { name: 'bad', email: 7 as never },
            ],
          }),
      ],
      ['create of a Post with a boolean title', (p) => p.post.create({ data: { title: true as never, authorId: userId } })],
      ['create of a Document with a number body', (p) => p.document.create({ data: { id: 'doc-bad', title: 't', body: 1 as never } })],
      ['upsert create with a number for email', (p) => p.user.upsert({ where: { id: 999999 }, create: { name: 'bad', email: 42 as never }, update: { name: 'x' } })],
    ]

    it.each(cases)('%s fails with INVALID_VALUE and writes nothing', async (_label, fn) => {
      const [users, posts, docs] = [await count('User'), await count('Post'), await count('Document')]
      await expectRefusedWithoutSql(INVALID_VALUE, () => fn(prisma))
      expect([await count('User'), await count('Post'), await count('Document')]).toEqual([users, posts, docs])
    })

    it('update with a number for email fails with INVALID_VALUE and changes nothing', async () => {
      const before = await rawUser(userId)
      await expect(withTenant(T, () => prisma.user.update({ where: { id: userId }, data: { email: 42 as never } }))).rejects.toMatchObject({ code: INVALID_VALUE })
      await expect(withTenant(T, () => prisma.user.update({ where: { id: userId }, data: { avatar: { set: 'not-bytes' as never } } }))).rejects.toMatchObject({ code: INVALID_VALUE })
      const after = await rawUser(userId)
      expect(after.email).toBe(before.email)
      expect(after.avatar).toBe(before.avatar)
    })
  })
})
