// Nested writes through relations at any depth: every nested row of a scoped model is encrypted
// under its own data key (new rows) or its existing one (updates), bound to the tenant, and never
// reaches another tenant's rows.
import { withTenant } from '../../src'
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { extend, type Extended } from '../support/setup'

const CIPHERTEXT = /^rc1\.A256GCM\.s\./

describe.each(DATABASES)('nested writes on %s', (kind) => {
  let db: TestDatabase
  let prisma: Extended
  let n = 0
  const tenant = () => `nw_${kind}_${++n}`
  const rawPosts = (authorId: number) => db.raw<Record<string, unknown>>('SELECT * FROM "Post" WHERE "authorId" = $1 ORDER BY "id"', [authorId])
  const rawRow = async (table: string, id: unknown) => (await db.raw<Record<string, unknown>>(`SELECT * FROM "${table}" WHERE "id" = $1`, [id]))[0]!
  const hex = (v: unknown) => Buffer.from(v as Uint8Array).toString('hex')

  /** Every stored value of the tables: no secret may appear in it. */
  async function expectNoPlaintext(...secrets: string[]): Promise<void> {
    for (const table of ['User', 'Post', 'Team']) {
      const text = JSON.stringify(await db.raw(`SELECT * FROM "${table}"`), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))
      for (const s of secrets) expect(text.includes(s)).toBe(false)
    }
  }

  beforeAll(async () => {
    db = await openDatabase(kind, 'nested_writes')
    prisma = extend(db)
  })
  afterAll(() => db.close())

  it('create with nested create, createMany and connectOrCreate encrypts each nested row under its own key', async () => {
    const t = tenant()
    const u = await withTenant(t, () =>
      prisma.user.create({
        data: {
          name: 'nest',
          email: 'nest-owner-secret',
          posts: {
            create: [{ title: 'nest-title-1-secret', body: 'nest-body-1-secret' }, { title: 'nest-title-2-secret' }],
            connectOrCreate: { where: { id: '00000000-0000-4000-8000-000000000000' }, create: { title: 'nest-coc-secret' } },
          },
        },
        include: { posts: { orderBy: { id: 'asc' }, omit: { tenantId: false } } },
      }),
    )
    expect(u.posts.map((p) => p.title).sort()).toEqual(['nest-coc-secret', 'nest-title-1-secret', 'nest-title-2-secret'])
    expect(u.posts.every((p) => p.tenantId === t)).toBe(true)
    const rows = await rawPosts(u.id)
    expect(rows).toHaveLength(3)
    expect(new Set(rows.map((r) => hex(r.wrappedDek))).size).toBe(3)
    for (const r of rows) {
      expect(r.title).toMatch(CIPHERTEXT)
      expect(r.tenantId).toBe(t)
      expect(r.keyVersion).toBe('v1')
    }
    const more = await withTenant(t, () =>
      prisma.user.create({ data: { name: 'nest2', email: 'e', posts: { createMany: { data: [{ title: 'nest-cm-1-secret' }, { title: 'nest-cm-2-secret' }] } } }, include: { posts: true } }),
    )
    expect(more.posts.map((p) => p.title).sort()).toEqual(['nest-cm-1-secret', 'nest-cm-2-secret'])
    expect((await rawPosts(more.id)).every((r) => CIPHERTEXT.test(r.title as string))).toBe(true)
    await expectNoPlaintext('nest-owner-secret', 'nest-title-1-secret', 'nest-body-1-secret', 'nest-title-2-secret', 'nest-coc-secret', 'nest-cm-1-secret')
  })

  it('to-one nested create and update (post author) and depth three (team > members > posts)', async () => {
    const t = tenant()
    const p = await withTenant(t, () => prisma.post.create({ data: { title: 'p-secret', author: { create: { name: 'auth', email: 'author-secret' } } }, include: { author: true } }))
    expect(p.author.email).toBe('author-secret')
    const before = await rawRow('User', p.authorId)
    expect(before.email).toMatch(CIPHERTEXT)
    const updated = await withTenant(t, () => prisma.post.update({ where: { id: p.id }, data: { author: { update: { email: 'author-new-secret' } } }, include: { author: true } }))
    expect(updated.author.email).toBe('author-new-secret')
    const after = await rawRow('User', p.authorId)
    expect(hex(after.wrappedDek)).toBe(hex(before.wrappedDek)) // the author's own key, not a new one
    expect(after.email).not.toBe(before.email)

    const team = await withTenant(t, () =>
      prisma.team.create({
        data: { name: 'deep', members: { create: { name: 'deep-member', email: 'deep-member-secret', posts: { create: { title: 'deep-post-secret' } } } } },
        include: { members: { include: { posts: true } } },
      }),
    )
    expect(team.members[0]!.email).toBe('deep-member-secret')
    expect(team.members[0]!.posts[0]!.title).toBe('deep-post-secret')
    await expectNoPlaintext('author-secret', 'author-new-secret', 'deep-member-secret', 'deep-post-secret', 'p-secret')
  })

  it('update with nested update, upsert (both branches), delete and deleteMany of scoped rows', async () => {
    const t = tenant()
    const u = await withTenant(t, () =>
      prisma.user.create({ data: { name: 'upd', email: 'upd@x', posts: { create: [{ title: 'keep' }, { title: 'change' }, { title: 'drop' }, { title: 'drop-many' }] } }, include: { posts: true } }),
    )
    const byTitle = Object.fromEntries(u.posts.map((p) => [p.title, p]))
    const keyBefore = hex((await rawRow('Post', byTitle.change!.id)).wrappedDek)
    const r = await withTenant(t, () =>
      prisma.user.update({
        where: { id: u.id },
        data: {
          email: 'upd-new-secret',
          posts: {
            update: { where: { id: byTitle.change!.id }, data: { title: 'changed-secret', body: 'changed-body-secret' } },
            upsert: [
              { where: { id: byTitle.keep!.id }, create: { title: 'never' }, update: { body: 'upserted-body-secret' } },
              { where: { id: '00000000-0000-4000-8000-00000000abcd' }, create: { title: 'upsert-created-secret' }, update: { title: 'never' } },
            ],
            delete: { id: byTitle.drop!.id },
            deleteMany: { published: false, id: byTitle['drop-many']!.id },
          },
        },
        include: { posts: true },
      }),
    )
    expect(r.email).toBe('upd-new-secret')
    const titles = r.posts.map((p) => [p.title, p.body]).sort()
    expect(titles).toEqual([
      ['changed-secret', 'changed-body-secret'],
      ['keep', 'upserted-body-secret'],
      ['upsert-created-secret', null],
    ])
    expect(hex((await rawRow('Post', byTitle.change!.id)).wrappedDek)).toBe(keyBefore)
    await expectNoPlaintext('upd-new-secret', 'changed-secret', 'changed-body-secret', 'upserted-body-secret', 'upsert-created-secret')
  })

  it('never reaches another tenant: nested update, connect and delete of its rows fail and change nothing', async () => {
    const a = tenant()
    const b = tenant()
    const ua = await withTenant(a, () => prisma.user.create({ data: { name: 'a', email: 'a@x', posts: { create: { title: 'a-post-secret' } } }, include: { posts: true } }))
    const ub = await withTenant(b, () => prisma.user.create({ data: { name: 'b', email: 'b@x' } }))
    const aPost = ua.posts[0]!
    const before = await rawRow('Post', aPost.id)
    await expect(withTenant(b, () => prisma.user.update({ where: { id: ub.id }, data: { posts: { update: { where: { id: aPost.id }, data: { title: 'hijack' } } } } }))).rejects.toMatchObject({
      code: 'P2025',
    })
    // Prisma's own "record not found" codes: P2018 for a connect, P2017/P2025 for a delete.
    const notFound = async (fn: () => Promise<unknown>) => expect(['P2017', 'P2018', 'P2025']).toContain(((await fn().catch((e: unknown) => e)) as { code?: string }).code)
    await notFound(() => withTenant(b, () => prisma.user.update({ where: { id: ub.id }, data: { posts: { connect: { id: aPost.id } } } })))
    await notFound(() => withTenant(b, () => prisma.user.update({ where: { id: ub.id }, data: { posts: { delete: { id: aPost.id } } } })))
    // connectOrCreate with A's id does not connect A's row: B gets a row of its own instead, or the
    // database refuses the duplicate id; A's row is unchanged either way.
    await withTenant(b, () => prisma.user.update({ where: { id: ub.id }, data: { posts: { connectOrCreate: { where: { id: aPost.id }, create: { title: 'b-own-secret' } } } } })).catch(() => undefined)
    expect(await rawRow('Post', aPost.id)).toEqual(before)
    const bPosts = await withTenant(b, () => prisma.post.findMany({ omit: { tenantId: false } }))
    expect(bPosts.every((p) => p.tenantId === b && p.id !== aPost.id)).toBe(true)
  })

  it('set on a scoped relation replaces only the tenant rows, leaving other tenants connected', async () => {
    const a = tenant()
    const b = tenant()
    const team = await db.prisma.team.create({ data: { name: 'shared-set' } })
    const [a1, a2] = await withTenant(a, () => Promise.all([prisma.user.create({ data: { name: 'a1', email: 'e', teamId: team.id } }), prisma.user.create({ data: { name: 'a2', email: 'e' } })]))
    const b1 = await withTenant(b, () => prisma.user.create({ data: { name: 'b1', email: 'e', teamId: team.id } }))
    const r = await withTenant(a, () => prisma.team.update({ where: { id: team.id }, data: { members: { set: [{ id: a2!.id }] } }, include: { members: true } }))
    expect(r.members.map((m) => m.id)).toEqual([a2!.id])
    const teamOf = async (id: number) => (await rawRow('User', id)).teamId
    expect(await teamOf(a1!.id)).toBeNull()
    expect(Number(await teamOf(a2!.id))).toBe(team.id)
    expect(Number(await teamOf(b1.id))).toBe(team.id)
  })

  it('a failure in a nested write leaves nothing written (the whole create is one statement tree)', async () => {
    const t = tenant()
    const users = Number((await db.raw<{ n: unknown }>('SELECT COUNT(*) AS n FROM "User"'))[0]!.n)
    await expect(withTenant(t, () => prisma.user.create({ data: { name: 'x', email: 'x', posts: { create: [{ title: 'ok' }, { title: 42 as unknown as string }] } } }))).rejects.toMatchObject({
      code: 'ERR_ROWCRYPT_INVALID_VALUE',
    })
    expect(Number((await db.raw<{ n: unknown }>('SELECT COUNT(*) AS n FROM "User"'))[0]!.n)).toBe(users)
  })
})
