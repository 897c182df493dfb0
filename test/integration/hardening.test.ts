// Paths a security review found open, each closed and pinned here: the fluent API, `set` on a
// scoped relation, filters inside nested writes, cursors on other tenants' rows, Prisma errors that
// render arguments, client-level omits, key-provider outages, and observer failures.
import { LocalKeyProvider, rowcrypt, unsafeBypassTenantScope, withTenant } from '../../src'
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { extend, rlsOf, testKeyProvider, type Extended } from '../support/setup'

describe.each(DATABASES)('hardening on %s', (kind) => {
  let db: TestDatabase
  let prisma: Extended
  let ids: { userA: number; userB: number; postA: string; postB: string; team: number }

  beforeAll(async () => {
    db = await openDatabase(kind, 'hardening')
    prisma = extend(db)
    const team = await db.prisma.team.create({ data: { name: 'shared' } })
    const userA = await withTenant('A', () => prisma.user.create({ data: { name: 'alice', email: 'alice-secret@a', teamId: team.id } }))
    const userB = await withTenant('B', () => prisma.user.create({ data: { name: 'zed', email: 'zed-secret@b', teamId: team.id } }))
    const postA = await withTenant('A', () => prisma.post.create({ data: { title: 'a-title-secret', body: 'a-body-secret', authorId: userA.id } }))
    const postB = await withTenant('B', () => prisma.post.create({ data: { title: 'b-title-secret', authorId: userB.id } }))
    ids = { userA: userA.id, userB: userB.id, postA: postA.id, postB: postB.id, team: team.id }
  })
  afterAll(() => db.close())

  describe('fluent API', () => {
    it('decrypts the related rows it returns, confined to the tenant', async () => {
      const posts = await withTenant('A', () => prisma.user.findUnique({ where: { id: ids.userA } }).posts())
      expect(posts).toEqual([expect.objectContaining({ id: ids.postA, title: 'a-title-secret', body: 'a-body-secret' })])
      const author = await withTenant('A', () => prisma.post.findUnique({ where: { id: ids.postA } }).author())
      expect(author).toMatchObject({ id: ids.userA, email: 'alice-secret@a' })
      expect(author).not.toHaveProperty('tenantId')
      const members = await withTenant('A', () => prisma.team.findUnique({ where: { id: ids.team } }).members())
      expect(members!.map((m) => m.email)).toEqual(['alice-secret@a'])
    })

    it('returns nothing of another tenant through a fluent call', async () => {
      expect(await withTenant('B', () => prisma.user.findUnique({ where: { id: ids.userA } }).posts())).toBeNull()
      expect(await withTenant('B', () => prisma.post.findUnique({ where: { id: ids.postA } }).author())).toBeNull()
    })
  })

  it('`set` on a scoped relation never disconnects other tenants rows', async () => {
    const r = await withTenant('A', () => prisma.team.update({ where: { id: ids.team }, data: { members: { set: [{ id: ids.userA }] } }, include: { members: true } }))
    expect(r.members.map((m) => m.id)).toEqual([ids.userA])
    const [b] = await db.raw<{ teamId: unknown }>('SELECT "teamId" FROM "User" WHERE id = $1', [ids.userB])
    expect(Number(b!.teamId)).toBe(ids.team)
  })

  it('confines relation filters inside nested connects and updates through an unscoped model', async () => {
    // A filter on B's unencrypted column must not decide whether A's write succeeds.
    const probe = (name: string) => withTenant('A', () => prisma.user.update({ where: { id: ids.userA }, data: { team: { connect: { id: ids.team, members: { some: { name } } } } } }))
    await expect(probe('zed')).rejects.toMatchObject({ code: 'P2025' })
    await expect(probe('alice')).resolves.toMatchObject({ id: ids.userA })
    // An encrypted field inside such a filter is refused before any SQL.
    const before = db.queries.length
    await expect(
      withTenant('A', () => prisma.user.update({ where: { id: ids.userA }, data: { team: { connect: { id: ids.team, members: { some: { email: 'zed-secret@b' } } } } } })),
    ).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_UNSUPPORTED_QUERY' })
    expect(db.queries.length).toBe(before)
  })

  it('checks foreign keys written directly: same tenant ok (also inside a transaction), other tenant refused', async () => {
    const before = Number((await db.raw<{ n: unknown }>('SELECT COUNT(*) AS n FROM "Post"'))[0]!.n)
    await expect(
      withTenant('A', () =>
        prisma.post.createMany({
          data: [
            { title: 'ok', authorId: ids.userA },
            { title: 'sneaky', authorId: ids.userB },
          ],
        }),
      ),
    ).rejects.toMatchObject({ code: 'P2003' })
    await expect(withTenant('A', () => prisma.post.create({ data: { title: 'ghost', authorId: 999999 } }))).rejects.toMatchObject({ code: 'P2003' })
    expect(Number((await db.raw<{ n: unknown }>('SELECT COUNT(*) AS n FROM "Post"'))[0]!.n)).toBe(before)
    const made = await withTenant('A', () =>
      prisma.$transaction(async (tx) => {
        const u = await tx.user.create({ data: { name: 'in-tx', email: 'in-tx-secret' } })
        return tx.post.create({ data: { title: 'fk-in-tx', authorId: u.id } })
      }),
    )
    expect(made.title).toBe('fk-in-tx')
  })

  it('confines cursors: another tenant row as cursor matches nothing', async () => {
    // A row of A after B's in id order: an unconfined cursor on B's row would page onto it.
    const later = await withTenant('A', () => prisma.user.create({ data: { name: 'later', email: 'later-secret' } }))
    expect(later.id).toBeGreaterThan(ids.userB)
    const page = await withTenant('A', () => prisma.user.findMany({ cursor: { id: ids.userB }, orderBy: { id: 'asc' } }))
    expect(page).toEqual([])
    const own = await withTenant('A', () => prisma.user.findMany({ cursor: { id: ids.userA }, orderBy: { id: 'asc' }, omit: { tenantId: false } }))
    expect(own.map((u) => u.id)).toEqual(expect.arrayContaining([ids.userA, later.id]))
    expect(own.every((u) => u.tenantId === 'A')).toBe(true)
    expect(await withTenant('A', () => prisma.user.count({ cursor: { id: ids.userB } }))).toBe(0)
    await withTenant('A', () => prisma.user.delete({ where: { id: later.id } }))
  })

  it('redacts ciphertext from Prisma errors that render the query arguments', async () => {
    let caught: unknown
    await withTenant('A', () => prisma.user.create({ data: { name: 12345, email: 'bogus-secret' } as never })).catch((e: unknown) => (caught = e))
    expect(caught).toBeInstanceOf(Error)
    const text = `${(caught as Error).message}\n${(caught as Error).stack}`
    expect(text).toContain('<ciphertext>')
    expect(text).not.toMatch(/rc1\.A256GCM\.[a-z]\.[A-Za-z0-9_-]+/)
    expect(text).not.toContain('bogus-secret')
  })

  it('refuses an invalid tenant id in a bypass create', async () => {
    await expect(unsafeBypassTenantScope('test', () => prisma.user.create({ data: { name: 'x', email: 'e', tenantId: '' } }))).rejects.toMatchObject({
      code: 'ERR_ROWCRYPT_TENANT_INVALID',
    })
  })

  it('still decrypts and checks tenants when the client omits sidecar columns globally', async () => {
    const omitting = await openDatabase(kind, 'hardening_omit', { omit: { user: { tenantId: true, wrappedDek: true, keyVersion: true } } })
    try {
      // rowcrypt reads the client's default omit from this Prisma-internal field: pin its shape.
      expect((omitting.prisma as unknown as { _globalOmit: unknown })._globalOmit).toEqual({ user: { tenantId: true, wrappedDek: true, keyVersion: true } })
      const p = extend(omitting)
      const u = await withTenant('A', () => p.user.create({ data: { name: 'o', email: 'omit-secret' } }))
      const back = await withTenant('A', () => p.user.findUniqueOrThrow({ where: { id: u.id } }))
      expect(back.email).toBe('omit-secret')
      // The client's default omit still holds for the caller: what rowcrypt un-hid is removed again.
      expect(back).not.toHaveProperty('wrappedDek')
      expect(back).not.toHaveProperty('keyVersion')
      expect(back).not.toHaveProperty('tenantId')
      expect(u).not.toHaveProperty('wrappedDek')
      // Asked for explicitly, a hidden column is returned.
      const asked = await withTenant('A', () => p.user.findUniqueOrThrow({ where: { id: u.id }, omit: { keyVersion: false } }))
      expect(asked.keyVersion).toBe('v1')
      expect(asked).not.toHaveProperty('wrappedDek')
      expect(await withTenant('B', () => p.user.findUnique({ where: { id: u.id } }))).toBeNull()
    } finally {
      await omitting.close()
    }
  })

  // With adapter pinning, a findUnique outside transactions goes out as findFirst (rls-pinning.ts).
  const sentAs = (op: string) => (db.rlsPinning === 'adapter' ? op.replace('findUnique', 'findFirst') : op)

  it('sends Prisma an omit only for columns it must un-hide (none when the client hides none)', async () => {
    const seen: Array<[string, unknown]> = []
    // Prisma runs query extensions in the order they were applied: one applied after rowcrypt sees
    // the arguments rowcrypt passes on.
    const p = db.prisma
      .$extends(rowcrypt({ ...rlsOf(db), schema: db.manifest, keyProvider: testKeyProvider(), models: { User: { fields: ['email'] } } }))
      .$extends({ query: { $allModels: { $allOperations: ({ operation, args, query }) => (seen.push([operation, (args as { omit?: unknown }).omit]), query(args)) } } })
    const u = await withTenant('A', () => p.user.create({ data: { name: 'no-omit', email: 'no-omit@x' } }))
    const back = await withTenant('A', () => p.user.findUniqueOrThrow({ where: { id: u.id } }))
    expect(back.email).toBe('no-omit@x')
    expect(back).not.toHaveProperty('wrappedDek')
    expect(seen.filter(([op]) => op === 'create' || op === sentAs('findUniqueOrThrow'))).toEqual([
      ['create', undefined],
      [sentAs('findUniqueOrThrow'), undefined],
    ])
    // The caller's own omit of a needed column is un-hidden for rowcrypt and removed from the result.
    seen.length = 0
    const om = await withTenant('A', () => p.user.findUniqueOrThrow({ where: { id: u.id }, omit: { wrappedDek: true, name: true } }))
    expect(seen.filter(([op]) => op === sentAs('findUniqueOrThrow'))).toEqual([[sentAs('findUniqueOrThrow'), { wrappedDek: false, name: true }]])
    expect(om).not.toHaveProperty('wrappedDek')
    expect(om).not.toHaveProperty('name')
    expect(om.email).toBe('no-omit@x')
  })

  it("un-hides every column it needs when the client's default omit has a shape it does not know", async () => {
    const odd = await openDatabase(kind, 'hardening_odd_omit')
    try {
      ;(odd.prisma as unknown as { _globalOmit: unknown })._globalOmit = new Map([['user', { wrappedDek: true }]])
      const seen: Array<[string, unknown]> = []
      const p = odd.prisma
        .$extends(rowcrypt({ ...rlsOf(odd), schema: odd.manifest, keyProvider: testKeyProvider(), models: { User: { fields: ['email'] } } }))
        .$extends({ query: { $allModels: { $allOperations: ({ operation, args, query }) => (seen.push([operation, (args as { omit?: unknown }).omit]), query(args)) } } })
      const u = await withTenant('A', () => p.user.create({ data: { name: 'odd', email: 'odd@x' } }))
      expect(await withTenant('A', () => p.user.findUniqueOrThrow({ where: { id: u.id } }))).toMatchObject({ email: 'odd@x' })
      expect(seen.filter(([op]) => op === sentAs('findUniqueOrThrow'))).toEqual([[sentAs('findUniqueOrThrow'), { wrappedDek: false, keyVersion: false, tenantId: false, id: false }]])
    } finally {
      await odd.close()
    }
  })

  it('fails closed when something after rowcrypt hides the tenant column of a scoped row', async () => {
    const p = extend(db).$extends({
      query: { $allModels: { $allOperations: ({ args, query }) => query({ ...(args as object), omit: { ...((args as { omit?: object }).omit ?? {}), tenantId: true } }) } },
    })
    await expect(withTenant('A', () => p.user.findUnique({ where: { id: ids.userA } }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_TENANT_MISMATCH' })
    await expect(withTenant('A', () => p.user.findMany())).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_TENANT_MISMATCH' })
  })

  it('reports a key-provider outage as ERR_ROWCRYPT_KEY_PROVIDER, not as tampering', async () => {
    const real = testKeyProvider()
    const down = Object.assign(Object.create(LocalKeyProvider.prototype) as LocalKeyProvider, {
      activeKeyVersion: real.activeKeyVersion,
      generateDataKey: (c: never) => real.generateDataKey(c),
      wrapDataKey: (k: Uint8Array, c: never, v?: string) => real.wrapDataKey(k, c, v),
      unwrapDataKey: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:4599')
      },
    })
    const p = extend(db, down)
    await expect(withTenant('A', () => p.user.findUniqueOrThrow({ where: { id: ids.userA } }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_KEY_PROVIDER' })
  })

  it('an async observer that rejects never breaks a query nor crashes the process', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (e: unknown) => unhandled.push(e)
    process.on('unhandledRejection', onUnhandled)
    try {
      const p = db.prisma.$extends(
        rowcrypt({
          ...rlsOf(db),
          schema: db.manifest,
          keyProvider: testKeyProvider(),
          models: { User: { fields: ['email'] } },
          observers: [
            {
              operation: (async () => {
                throw new Error('observer down')
              }) as () => void,
            },
          ],
        }),
      )
      await expect(withTenant('A', () => p.user.count())).resolves.toBeGreaterThan(0)
      await new Promise((r) => setTimeout(r, 20))
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })
})
