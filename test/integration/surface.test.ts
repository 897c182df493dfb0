// The rest of the query surface: relation load strategies, composition with other extensions,
// raw queries (untouched) with decryptRow, and odd values that must round-trip exactly.
import { Prisma } from '@prisma/client/extension'
import { RowLevelEncryption, rowcrypt, withTenant } from '../../src'
import { DATABASES, isPostgres, openDatabase, type TestDatabase } from '../support/db'
import { extend, rlsOf, testKeyProvider, type Extended } from '../support/setup'

const MODELS = {
  User: { fields: ['email', 'ssn', 'notes', { name: 'prefs', type: 'json' }, { name: 'avatar', type: 'bytes' }] },
  Post: { fields: ['title', 'body'] },
  Document: { fields: ['body'], columns: { tenantId: 'orgId' } },
} as const

describe.each(DATABASES)('query surface on %s', (kind) => {
  let db: TestDatabase
  let prisma: Extended
  let n = 0
  const tenant = () => `sf_${kind}_${++n}`

  beforeAll(async () => {
    db = await openDatabase(kind, 'surface')
    prisma = extend(db)
  })
  afterAll(() => db.close())

  if (isPostgres(kind)) {
    it.each(['join', 'query'])("relationLoadStrategy '%s' decrypts nested rows and confines them to the tenant", async (strategy) => {
      const [a, b] = [tenant(), tenant()]
      const team = await db.prisma.team.create({ data: { name: `strategy-${strategy}` } })
      await withTenant(a, () => prisma.user.create({ data: { name: 'a', email: 'strategy-a-secret', teamId: team.id, posts: { create: { title: 'strategy-post-secret' } } } }))
      await withTenant(b, () => prisma.user.create({ data: { name: 'b', email: 'strategy-b-secret', teamId: team.id } }))
      const args = { where: { id: team.id }, relationLoadStrategy: strategy, include: { members: { include: { posts: { where: { published: false }, take: 5 } }, orderBy: { id: 'asc' } } } }
      const r = (await withTenant(a, () => prisma.team.findUniqueOrThrow(args as never))) as unknown as { members: Array<{ email: string; posts: Array<{ title: string }> }> }
      expect(r.members.map((m) => m.email)).toEqual(['strategy-a-secret'])
      expect(r.members[0]!.posts.map((p) => p.title)).toEqual(['strategy-post-secret'])
    })
  }

  describe('composition with other extensions', () => {
    // A query extension that rewrites arguments, and a result extension adding a computed field.
    const tagging = Prisma.defineExtension({
      name: 'tagging',
      query: {
        user: {
          async create({ args, query }) {
            const data = args.data as Record<string, unknown>
            return query({ ...args, data: { ...data, name: `${String(data.name)}!` } } as typeof args)
          },
        },
      },
    })
    const shouting = Prisma.defineExtension({
      name: 'shouting',
      result: { user: { loudName: { needs: { name: true }, compute: (u: { name: string }) => u.name.toUpperCase() } } },
    })
    const build = (order: 'before' | 'after') => {
      const rc = rowcrypt({ ...rlsOf(db), schema: db.manifest, keyProvider: testKeyProvider(), models: MODELS })
      return order === 'before' ? db.prisma.$extends(tagging).$extends(shouting).$extends(rc) : db.prisma.$extends(rc).$extends(tagging).$extends(shouting)
    }

    it.each(['before', 'after'] as const)('works with other extensions applied %s it', async (order) => {
      const p = build(order) as unknown as Extended
      const t = tenant()
      const u = await withTenant(t, () => p.user.create({ data: { name: 'comp', email: 'comp-secret' } }))
      expect(u.name).toBe('comp!')
      expect(u.email).toBe('comp-secret')
      const back = (await withTenant(t, () => p.user.findUniqueOrThrow({ where: { id: u.id } }))) as unknown as { email: string; loudName: string }
      expect(back).toMatchObject({ email: 'comp-secret', loudName: 'COMP!' })
      const [stored] = await db.raw<{ email: string }>('SELECT email FROM "User" WHERE id = $1', [u.id])
      expect(stored!.email).toMatch(/^rc1\./)
      expect(await withTenant(tenant(), () => p.user.findUnique({ where: { id: u.id } }))).toBeNull()
    })
  })

  it('raw queries pass through untouched, and decryptRow decrypts what they return', async () => {
    const t = tenant()
    const u = await withTenant(t, () => prisma.user.create({ data: { name: 'raw', email: 'raw-secret', prefs: { a: [1, null] } as never } }))
    const select = () => prisma.$queryRawUnsafe<Array<Record<string, unknown>>>(`SELECT * FROM ${db.table('User')} WHERE id = ${String(u.id)}`)
    // No tenant needed for raw SQL: rowcrypt does not see it (documented). Under RLS the database
    // confines it instead: outside a tenant it sees no scoped row (test/integration/rls.test.ts).
    if (kind === 'postgres-rls') expect(await select()).toEqual([])
    const rows = kind === 'postgres-rls' ? await withTenant(t, select) : await select()
    const raw = rows[0]!
    expect(raw.email).toMatch(/^rc1\.A256GCM\.s\./)
    const rle = new RowLevelEncryption({ keyProvider: testKeyProvider(), models: { User: { fields: MODELS.User.fields as never, idField: 'id' } } })
    const plain = await rle.decryptRow(raw, { model: 'User', tenantId: t })
    expect(plain).toMatchObject({ email: 'raw-secret', prefs: { a: [1, null] } })
    const changed = await withTenant(t, () => prisma.$executeRawUnsafe(`UPDATE ${db.table('User')} SET name = 'raw2' WHERE id = ${String(u.id)}`))
    expect(Number(changed)).toBe(1)
  })

  it('odd values round-trip exactly: empty, unicode with NUL and RTL, nested JSON, empty bytes, 10 MB', async () => {
    const t = tenant()
    const big = 'x'.repeat(5 * 1024 * 1024) + '🔐'.repeat(1024 * 1024 + 1) // > 10 MB of UTF-8
    const odd = {
      email: '',
      ssn: 'a\u0000b\u0000', // NUL characters
      notes: 'שלום עולם مرحبا 👩🏽‍💻 \u202Eevil\u202C e\u0301',
      prefs: { deep: { list: [1, 'two', null, { three: [true, false, null] }], empty: {}, nothing: null }, arr: [] },
      avatar: new Uint8Array(0),
    }
    const u = await withTenant(t, () => prisma.user.create({ data: { name: 'odd', ...odd } as never }))
    const back = await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: u.id } }))
    expect(back.email).toBe('')
    expect(back.ssn).toBe(odd.ssn)
    expect(back.notes).toBe(odd.notes)
    expect(back.prefs as unknown).toEqual(odd.prefs)
    expect(back.avatar as unknown).toEqual(new Uint8Array(0))
    await withTenant(t, () => prisma.user.update({ where: { id: u.id }, data: { notes: big } }))
    const bigBack = await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: u.id }, select: { notes: true } }))
    expect(bigBack.notes!.length).toBe(big.length)
    expect(bigBack.notes === big).toBe(true)
  })
})
