// Tenant isolation through the extension: another tenant's rows are invisible and unwritable
// whatever the operation, and outside withTenant every query on a scoped model fails closed
// before any SQL reaches the database.
import { setImmediate as tick } from 'node:timers/promises'
import { unsafeBypassTenantScope, withTenant } from '../../src'
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { extend, type Extended } from '../support/setup'

type Row = Record<string, unknown>

const TENANT_MISSING = 'ERR_ROWCRYPT_TENANT_MISSING'
const A = 'tenant_a'
const B = 'tenant_b'

async function rejection(run: () => PromiseLike<unknown>): Promise<{ code?: unknown }> {
  try {
    await run()
  } catch (e) {
    return e as { code?: unknown }
  }
  throw new Error('expected the call to reject')
}

describe.each(DATABASES)('tenant isolation (%s)', (kind) => {
  let db: TestDatabase
  let prisma: Extended
  let userA: { id: number; email: string; ssn: string }
  let userA2: { id: number; email: string; ssn: string }
  let userB: { id: number; email: string; ssn: string }
  let postsA: string[]
  let postB: string
  let teamId: number
  const docA = 'doc-of-a'

  beforeAll(async () => {
    db = await openDatabase(kind, 'isolation')
    prisma = extend(db)
    const team = await prisma.team.create({ data: { name: 'shared team' } })
    teamId = team.id
    const mkUser = async (tenant: string, label: string) => {
      const data = { name: label, email: `${label}@${tenant}.example`, ssn: `ssn-${label}-${tenant}`, teamId }
      const u = await withTenant(tenant, () => prisma.user.create({ data }))
      return { id: u.id, email: data.email, ssn: data.ssn }
    }
    userA = await mkUser(A, 'alice')
    userA2 = await mkUser(A, 'anna')
    userB = await mkUser(B, 'bob')
    postsA = []
    for (const title of ['a post one', 'a post two']) {
      const p = await withTenant(A, () => prisma.post.create({ data: { title, body: `${title} body`, authorId: userA.id } }))
      postsA.push(p.id)
    }
    postB = (await withTenant(B, () => prisma.post.create({ data: { title: 'b post', authorId: userB.id } }))).id
    await withTenant(A, () => prisma.document.create({ data: { id: docA, title: 'contract', body: 'secret terms of a' } }))
  })
  afterAll(async () => {
    await db.close()
  })

  const rawRow = async (table: string, id: unknown): Promise<Row | undefined> => (await db.raw(`SELECT * FROM "${table}" WHERE "id" = $1`, [id]))[0]
  const rawCount = async (table: string, tenantCol = 'tenantId', tenant = A): Promise<number> =>
    Number((await db.raw<{ n: unknown }>(`SELECT COUNT(*) AS n FROM "${table}" WHERE "${tenantCol}" = $1`, [tenant]))[0]!.n)

  /** Runs `fn` and checks that A's row (and A's row count) is exactly as before. */
  async function expectUntouched(table: string, id: unknown, fn: () => Promise<void>, tenantCol = 'tenantId'): Promise<void> {
    const before = await rawRow(table, id)
    const countBefore = await rawCount(table, tenantCol)
    expect(before).toBeDefined()
    await fn()
    expect(await rawRow(table, id)).toEqual(before)
    expect(await rawCount(table, tenantCol)).toBe(countBefore)
  }

  describe("tenant B and tenant A's rows", () => {
    it('A reads its own rows (control)', async () => {
      const u = await withTenant(A, () => prisma.user.findUnique({ where: { id: userA.id }, include: { posts: { orderBy: { id: 'asc' } } }, omit: { tenantId: false } }))
      expect(u).toMatchObject({ email: userA.email, ssn: userA.ssn, tenantId: A })
      expect(u!.posts.map((p) => p.id).sort()).toEqual([...postsA].sort())
      expect(await withTenant(A, () => prisma.user.count())).toBe(2)
      expect(await withTenant(A, () => prisma.document.findUnique({ where: { id: docA }, omit: { orgId: false } }))).toMatchObject({ body: 'secret terms of a', orgId: A })
    })

    it('findUnique returns null and findUniqueOrThrow rejects', async () => {
      expect(await withTenant(B, () => prisma.user.findUnique({ where: { id: userA.id } }))).toBeNull()
      expect(await withTenant(B, () => prisma.user.findUnique({ where: { id: userA.id }, select: { name: true } }))).toBeNull()
      expect(await withTenant(B, () => prisma.post.findUnique({ where: { id: postsA[0]! } }))).toBeNull()
      const e = await rejection(() => withTenant(B, () => prisma.user.findUniqueOrThrow({ where: { id: userA.id } })))
      expect(e.code).toBe('P2025')
      const e2 = await rejection(() => withTenant(B, () => prisma.post.findUniqueOrThrow({ where: { id: postsA[0]! } })))
      expect(e2.code).toBe('P2025')
      // B's own row through the same call (control).
      expect(await withTenant(B, () => prisma.user.findUniqueOrThrow({ where: { id: userB.id } }))).toMatchObject({ email: userB.email })
    })

    it('findFirst, findFirstOrThrow and findMany see none of A', async () => {
      expect(await withTenant(B, () => prisma.user.findFirst({ where: { id: userA.id } }))).toBeNull()
      expect(await withTenant(B, () => prisma.user.findFirst({ where: { name: 'alice' } }))).toBeNull()
      expect((await rejection(() => withTenant(B, () => prisma.user.findFirstOrThrow({ where: { id: userA.id } })))).code).toBe('P2025')
      expect(await withTenant(B, () => prisma.user.findMany({ where: { id: userA.id } }))).toEqual([])
      expect(await withTenant(B, () => prisma.user.findMany({ where: { OR: [{ id: userA.id }, { id: userA2.id }] } }))).toEqual([])
      const all = await withTenant(B, () => prisma.user.findMany())
      expect(all.map((u) => u.id)).toEqual([userB.id])
      expect(all[0]).toMatchObject({ email: userB.email })
      // An explicit filter on A's tenant id finds nothing either.
      expect(await withTenant(B, () => prisma.user.findMany({ where: { tenantId: A } }))).toEqual([])
      expect(await withTenant(B, () => prisma.user.findMany({ where: { OR: [{ tenantId: A }, { tenantId: B }] } }))).toHaveLength(1)
    })

    it('count and aggregate are 0 for A', async () => {
      expect(await withTenant(B, () => prisma.user.count({ where: { id: userA.id } }))).toBe(0)
      expect(await withTenant(B, () => prisma.user.count())).toBe(1)
      expect(await withTenant(B, () => prisma.post.count({ where: { authorId: userA.id } }))).toBe(0)
      const agg = await withTenant(B, () => prisma.user.aggregate({ where: { id: userA.id }, _count: { _all: true }, _max: { id: true } }))
      expect(agg._count._all).toBe(0)
      expect(agg._max.id).toBeNull()
      const groups = await withTenant(B, () => prisma.post.groupBy({ by: ['authorId'], _count: { _all: true } }))
      expect(groups).toEqual([{ authorId: userB.id, _count: { _all: 1 } }])
    })

    it('update rejects and leaves the row unchanged', async () => {
      await expectUntouched('User', userA.id, async () => {
        const plain = await rejection(() => withTenant(B, () => prisma.user.update({ where: { id: userA.id }, data: { name: 'hijacked' } })))
        expect(plain.code).toBe('P2025')
        const enc = await rejection(() => withTenant(B, () => prisma.user.update({ where: { id: userA.id }, data: { email: 'evil@b.example' } })))
        expect(enc.code).toBe('P2025')
        const post = await rejection(() => withTenant(B, () => prisma.post.update({ where: { id: postsA[0]! }, data: { published: true } })))
        expect(post.code).toBe('P2025')
      })
      expect(await rawRow('Post', postsA[0]!)).toMatchObject({ tenantId: A })
      expect(Boolean((await rawRow('Post', postsA[0]!))!.published)).toBe(false)
    })

    it("upsert on A's id never modifies A's row", async () => {
      await expectUntouched('User', userA.id, async () => {
        // Plain and encrypted update branches, create without an id: B gets a new row of its own.
        for (const update of [{ name: 'hijacked' }, { email: 'evil@b.example', ssn: 'evil' }]) {
          const made = await withTenant(B, () => prisma.user.upsert({ where: { id: userA.id }, create: { name: 'bee', email: 'bee@b.example' }, update, omit: { tenantId: false } }))
          expect(made.id).not.toBe(userA.id)
          expect(made).toMatchObject({ tenantId: B, name: 'bee', email: 'bee@b.example' })
          await withTenant(B, () => prisma.user.delete({ where: { id: made.id } }))
        }
        // A create that collides with A's id must fail rather than take over the row.
        for (const update of [{ name: 'hijacked' }, { email: 'evil@b.example' }]) {
          const e = await rejection(() => withTenant(B, () => prisma.user.upsert({ where: { id: userA.id }, create: { id: userA.id, name: 'bee', email: 'bee@b.example' }, update })))
          expect(typeof e.code).toBe('string')
        }
      })
      expect(await withTenant(B, () => prisma.user.count())).toBe(1)
    })

    it('delete rejects and deleteMany deletes nothing of A', async () => {
      await expectUntouched('User', userA.id, async () => {
        expect((await rejection(() => withTenant(B, () => prisma.user.delete({ where: { id: userA.id } })))).code).toBe('P2025')
        expect(await withTenant(B, () => prisma.user.deleteMany({ where: { id: userA.id } }))).toEqual({ count: 0 })
        expect(await withTenant(B, () => prisma.user.deleteMany({ where: { name: 'alice' } }))).toEqual({ count: 0 })
      })
      await expectUntouched('Post', postsA[0]!, async () => {
        expect((await rejection(() => withTenant(B, () => prisma.post.delete({ where: { id: postsA[0]! } })))).code).toBe('P2025')
        expect(await withTenant(B, () => prisma.post.deleteMany({ where: { authorId: userA.id } }))).toEqual({ count: 0 })
      })
      // An unfiltered deleteMany of a third tenant removes nothing at all.
      const total = Number((await db.raw<{ n: unknown }>('SELECT COUNT(*) AS n FROM "Post"'))[0]!.n)
      expect(await withTenant('tenant_c', () => prisma.post.deleteMany())).toEqual({ count: 0 })
      expect(Number((await db.raw<{ n: unknown }>('SELECT COUNT(*) AS n FROM "Post"'))[0]!.n)).toBe(total)
    })

    it('updateMany updates nothing of A', async () => {
      await expectUntouched('User', userA.id, async () => {
        expect(await withTenant(B, () => prisma.user.updateMany({ where: { id: userA.id }, data: { name: 'hijacked' } }))).toEqual({ count: 0 })
        expect(await withTenant('tenant_c', () => prisma.user.updateMany({ data: { name: 'hijacked' } }))).toEqual({ count: 0 })
      })
      await expectUntouched('User', userA2.id, async () => {
        expect(await withTenant(B, () => prisma.post.updateMany({ where: { authorId: userA.id }, data: { published: true } }))).toEqual({ count: 0 })
      })
      for (const id of postsA) expect(Boolean((await rawRow('Post', id))!.published)).toBe(false)
    })

    it("B sees none of A's users and posts through relations", async () => {
      expect(await withTenant(B, () => prisma.post.findMany({ where: { authorId: userA.id } }))).toEqual([])
      expect(await withTenant(B, () => prisma.post.findMany({ where: { author: { id: userA.id } } }))).toEqual([])
      expect(await withTenant(B, () => prisma.user.findMany({ where: { posts: { some: { id: postsA[0]! } } } }))).toEqual([])
      const withPosts = await withTenant(B, () => prisma.user.findMany({ include: { posts: true } }))
      expect(withPosts.map((u) => u.id)).toEqual([userB.id])
      expect(withPosts[0]!.posts.map((p) => p.id)).toEqual([postB])
      const posts = await withTenant(B, () => prisma.post.findMany({ include: { author: true } }))
      expect(posts.map((p) => p.id)).toEqual([postB])
      expect(posts[0]!.author).toMatchObject({ id: userB.id, email: userB.email })
      const counted = await withTenant(B, () => prisma.user.findMany({ select: { id: true, _count: { select: { posts: true } } } }))
      expect(counted).toEqual([{ id: userB.id, _count: { posts: 1 } }])
    })

    it("B cannot connect its post to A's user", async () => {
      const e = await rejection(() => withTenant(B, () => prisma.post.create({ data: { title: 'sneaky', author: { connect: { id: userA.id } } } })))
      expect(typeof e.code).toBe('string')
      expect(await rawCount('Post', 'tenantId', B)).toBe(1)
      expect(await withTenant(A, () => prisma.post.count({ where: { authorId: userA.id } }))).toBe(2)
    })

    it("a post of B whose raw authorId names A's user is refused, and never exposes that user", async () => {
      // A foreign key written directly must name a row of the writer's tenant.
      expect((await rejection(() => withTenant(B, () => prisma.post.create({ data: { title: 'sneaky', authorId: userA.id } })))).code).toBe('P2003')
      const postOfB = await withTenant(B, () => prisma.post.findFirstOrThrow())
      expect((await rejection(() => withTenant(B, () => prisma.post.update({ where: { id: postOfB.id }, data: { authorId: userA.id } })))).code).toBe('P2003')
      // Written around that check (an admin job), reading through it must still not reach A's row.
      const sneaky = await unsafeBypassTenantScope('test: plant a cross-tenant reference', () => prisma.post.create({ data: { title: 'sneaky', authorId: userA.id, tenantId: B } }))
      try {
        const withAuthor = () => withTenant(B, () => prisma.post.findMany({ include: { author: true } }))
        const authorName = () => withTenant(B, () => prisma.post.findUnique({ where: { id: sneaky.id }, select: { author: { select: { name: true } } } }))
        if (kind === 'postgres-rls') {
          // Row-level security hides A's user from B before rowcrypt sees it: the relation is empty.
          expect((await withAuthor()).find((p) => p.id === sneaky.id)!.author).toBeNull()
          expect((await authorName())!.author).toBeNull()
        } else {
          expect((await rejection(withAuthor)).code).toBe('ERR_ROWCRYPT_TENANT_MISMATCH')
          expect((await rejection(authorName)).code).toBe('ERR_ROWCRYPT_TENANT_MISMATCH')
        }
        expect(await withTenant(B, () => prisma.post.findMany({ where: { author: { name: 'alice' } } }))).toEqual([])
        expect(await withTenant(B, () => prisma.post.count({ where: { author: { is: { tenantId: A } } } }))).toBe(0)
        // A does not see B's post under its user either.
        const a = await withTenant(A, () => prisma.user.findUnique({ where: { id: userA.id }, include: { posts: true, _count: { select: { posts: true } } } }))
        expect(a!.posts.map((p) => p.id).sort()).toEqual([...postsA].sort())
        expect(a!._count.posts).toBe(2)
        expect(await withTenant(A, () => prisma.user.count({ where: { posts: { some: { tenantId: B } } } }))).toBe(0)
      } finally {
        await withTenant(B, () => prisma.post.delete({ where: { id: sneaky.id } }))
      }
    })

    it("B cannot read A's document (tenant column orgId)", async () => {
      expect(await withTenant(B, () => prisma.document.findUnique({ where: { id: docA } }))).toBeNull()
      expect(await withTenant(B, () => prisma.document.findFirst())).toBeNull()
      expect(await withTenant(B, () => prisma.document.findMany())).toEqual([])
      expect(await withTenant(B, () => prisma.document.count())).toBe(0)
      expect(await withTenant(B, () => prisma.document.findMany({ where: { orgId: A } }))).toEqual([])
      await expectUntouched(
        'Document',
        docA,
        async () => {
          expect((await rejection(() => withTenant(B, () => prisma.document.update({ where: { id: docA }, data: { body: 'overwritten' } })))).code).toBe('P2025')
          expect((await rejection(() => withTenant(B, () => prisma.document.update({ where: { id: docA }, data: { title: 'overwritten' } })))).code).toBe('P2025')
          expect((await rejection(() => withTenant(B, () => prisma.document.delete({ where: { id: docA } })))).code).toBe('P2025')
          expect(await withTenant(B, () => prisma.document.deleteMany())).toEqual({ count: 0 })
          expect(await withTenant(B, () => prisma.document.updateMany({ data: { title: 'overwritten' } }))).toEqual({ count: 0 })
          const up = await rejection(() => withTenant(B, () => prisma.document.upsert({ where: { id: docA }, create: { id: docA, title: 't', body: 'b' }, update: { body: 'overwritten' } })))
          expect(typeof up.code).toBe('string')
          const dup = await rejection(() => withTenant(B, () => prisma.document.create({ data: { id: docA, title: 't', body: 'b' } })))
          expect(typeof dup.code).toBe('string')
        },
        'orgId',
      )
      expect(await withTenant(A, () => prisma.document.findUnique({ where: { id: docA } }))).toMatchObject({ title: 'contract', body: 'secret terms of a' })
    })
  })

  describe('outside withTenant', () => {
    const ops: Array<[string, (p: Extended) => PromiseLike<unknown>]> = [
      ['user.findUnique', (p) => p.user.findUnique({ where: { id: 1 } })],
      ['user.findUniqueOrThrow', (p) => p.user.findUniqueOrThrow({ where: { id: 1 } })],
      ['user.findFirst', (p) => p.user.findFirst()],
      ['user.findFirstOrThrow', (p) => p.user.findFirstOrThrow()],
      ['user.findMany', (p) => p.user.findMany()],
      ['user.findMany (plain select)', (p) => p.user.findMany({ select: { id: true } })],
      ['user.count', (p) => p.user.count()],
      ['user.aggregate', (p) => p.user.aggregate({ _count: { _all: true } })],
      ['user.groupBy', (p) => p.user.groupBy({ by: ['name'], _count: { _all: true } })],
      ['user.create', (p) => p.user.create({ data: { name: 'x', email: 'x@x.example' } })],
      ['user.createMany', (p) => p.user.createMany({ data: [{ name: 'x', email: 'x@x.example' }] })],
      ['user.update (plain)', (p) => p.user.update({ where: { id: 1 }, data: { name: 'x' } })],
      ['user.update (encrypted)', (p) => p.user.update({ where: { id: 1 }, data: { email: 'x@x.example' } })],
      ['user.upsert', (p) => p.user.upsert({ where: { id: 1 }, create: { name: 'x', email: 'x@x.example' }, update: { name: 'x' } })],
      ['user.delete', (p) => p.user.delete({ where: { id: 1 } })],
      ['user.deleteMany', (p) => p.user.deleteMany()],
      ['user.updateMany', (p) => p.user.updateMany({ data: { name: 'x' } })],
      ['post.findMany', (p) => p.post.findMany()],
      ['post.count', (p) => p.post.count()],
      ['post.deleteMany', (p) => p.post.deleteMany()],
      ['document.findUnique', (p) => p.document.findUnique({ where: { id: docA } })],
      ['document.findMany', (p) => p.document.findMany()],
      ['document.update', (p) => p.document.update({ where: { id: docA }, data: { title: 'x' } })],
      ['document.deleteMany', (p) => p.document.deleteMany()],
      ['team.findUnique include members', (p) => p.team.findUnique({ where: { id: teamId }, include: { members: true } })],
      ['team.findMany select members', (p) => p.team.findMany({ select: { members: { select: { id: true } } } })],
      ['team.findMany _count members', (p) => p.team.findMany({ include: { _count: { select: { members: true } } } })],
      ['team.findMany where members some', (p) => p.team.findMany({ where: { members: { some: { name: 'alice' } } } })],
      ['team.count where members none', (p) => p.team.count({ where: { members: { none: {} } } })],
      ['team.update where members every', (p) => p.team.update({ where: { id: teamId, members: { every: { name: 'alice' } } }, data: { name: 'x' } })],
    ]

    it.each(ops)('%s rejects with ERR_ROWCRYPT_TENANT_MISSING and sends no SQL', async (_label, op) => {
      // Control: the query log does record statements.
      const start = db.queries.length
      await withTenant(A, () => prisma.user.count())
      await tick()
      expect(db.queries.length).toBeGreaterThan(start)

      const before = db.queries.length
      const usersBefore = await db.raw('SELECT * FROM "User" ORDER BY "id"')
      const e = await rejection(() => op(prisma))
      expect(e.code).toBe(TENANT_MISSING)
      await tick()
      await new Promise((r) => setTimeout(r, 5))
      expect(db.queries.slice(before)).toEqual([])
      expect(await db.raw('SELECT * FROM "User" ORDER BY "id"')).toEqual(usersBefore)
    })

    it('the unscoped Team model alone needs no tenant (control)', async () => {
      const teams = await prisma.team.findMany()
      expect(teams.map((t) => t.id)).toEqual([teamId])
    })
  })

  describe('shared Team with scoped members', () => {
    it('includes only the members of the current tenant', async () => {
      const ofA = await withTenant(A, () => prisma.team.findUnique({ where: { id: teamId }, include: { members: { orderBy: { id: 'asc' }, omit: { tenantId: false } } } }))
      expect(ofA!.members.map((m) => m.id)).toEqual([userA.id, userA2.id])
      expect(ofA!.members.map((m) => m.email)).toEqual([userA.email, userA2.email])
      for (const m of ofA!.members) expect(m.tenantId).toBe(A)

      const ofB = await withTenant(B, () => prisma.team.findMany({ select: { id: true, members: { select: { email: true, ssn: true } } } }))
      expect(ofB).toEqual([{ id: teamId, members: [{ email: userB.email, ssn: userB.ssn }] }])

      const counts = await withTenant(A, () => prisma.team.findUnique({ where: { id: teamId }, select: { _count: { select: { members: true } } } }))
      expect(counts).toEqual({ _count: { members: 2 } })
      // Both tenants' users really are members (raw).
      const raw = await db.raw<{ tenantId: string }>('SELECT "tenantId" FROM "User" WHERE "teamId" = $1 ORDER BY "id"', [teamId])
      expect(raw.map((r) => r.tenantId)).toEqual([A, A, B])
    })
  })

  describe('relation filters from the unscoped Team model', () => {
    // A filter through `members` must behave as if other tenants' users did not exist: otherwise it
    // is an oracle on their plain columns (here: does tenant A have a member named alice?).
    it('some / none / every / count / update only consider the current tenant', async () => {
      const ids = async (tenant: string, where: object) => (await withTenant(tenant, () => prisma.team.findMany({ where }))).map((t) => t.id)
      expect(await ids(B, { members: { some: { id: userA.id } } })).toEqual([])
      expect(await ids(B, { members: { some: { name: 'alice' } } })).toEqual([])
      expect(await ids(B, { members: { some: { tenantId: A } } })).toEqual([])
      expect(await ids(B, { OR: [{ members: { some: { name: 'alice' } } }, { name: 'no such team' }] })).toEqual([])
      expect(await ids(B, { members: { none: { name: 'alice' } } })).toEqual([teamId])
      expect(await ids(B, { members: { every: { name: 'bob' } } })).toEqual([teamId])
      expect(await ids('tenant_c', { members: { some: {} } })).toEqual([])
      expect(await ids('tenant_c', { members: { none: {} } })).toEqual([teamId])
      // Controls: the same filters from A.
      expect(await ids(A, { members: { some: { name: 'alice' } } })).toEqual([teamId])
      expect(await ids(A, { members: { none: { name: 'alice' } } })).toEqual([])
      expect(await ids(A, { members: { every: { name: 'bob' } } })).toEqual([])
      expect(await ids(A, { members: { every: { name: { startsWith: 'a' } } } })).toEqual([teamId])

      expect(await withTenant(B, () => prisma.team.count({ where: { members: { some: { name: 'alice' } } } }))).toBe(0)
      expect(await withTenant(B, () => prisma.team.findFirst({ where: { id: teamId, members: { some: { name: 'alice' } } } }))).toBeNull()
      expect(await withTenant(B, () => prisma.team.findUnique({ where: { id: teamId, members: { some: { name: 'alice' } } } }))).toBeNull()
      const upd = await rejection(() => withTenant(B, () => prisma.team.update({ where: { id: teamId, members: { some: { name: 'alice' } } }, data: { name: 'renamed' } })))
      expect(upd.code).toBe('P2025')
      expect(await withTenant(B, () => prisma.team.updateMany({ where: { members: { some: { name: 'alice' } } }, data: { name: 'renamed' } }))).toEqual({ count: 0 })
      expect((await rawRow('Team', teamId))!.name).toBe('shared team')
      // From a scoped model, a nested filter through Team back to users is confined too.
      const viaTeam = await withTenant(B, () => prisma.user.findMany({ where: { team: { members: { some: { name: 'alice' } } } } }))
      expect(viaTeam).toEqual([])
      const viaTeamA = await withTenant(A, () => prisma.user.findMany({ where: { team: { members: { some: { name: 'alice' } } } } }))
      expect(viaTeamA.map((u) => u.id).sort()).toEqual([userA.id, userA2.id].sort())
    })

    it('inside unsafeBypassTenantScope relation filters span all tenants', async () => {
      const teams = await unsafeBypassTenantScope('test', () => prisma.team.findMany({ where: { members: { some: { name: 'alice' } } } }))
      expect(teams.map((t) => t.id)).toEqual([teamId])
    })
  })

  describe('unsafeBypassTenantScope', () => {
    it("sees every tenant's rows, each decrypted under its own tenant", async () => {
      const all = await unsafeBypassTenantScope('test', () => prisma.user.findMany({ orderBy: { id: 'asc' }, omit: { tenantId: false } }))
      const expected = [
        { id: userA.id, tenantId: A, email: userA.email, ssn: userA.ssn },
        { id: userA2.id, tenantId: A, email: userA2.email, ssn: userA2.ssn },
        { id: userB.id, tenantId: B, email: userB.email, ssn: userB.ssn },
      ]
      expect(all.map((u) => ({ id: u.id, tenantId: u.tenantId, email: u.email, ssn: u.ssn }))).toEqual(expected)
      const rawEmails = await db.raw<{ email: string }>('SELECT "email" FROM "User" ORDER BY "id"')
      for (const r of rawEmails) expect(r.email.startsWith('rc1.')).toBe(true)
      const docs = await unsafeBypassTenantScope('test', () => prisma.document.findMany({ omit: { orgId: false } }))
      expect(docs).toEqual([expect.objectContaining({ id: docA, orgId: A, body: 'secret terms of a' })])
    })
  })
})
