// Regression tests for confinement through shared (unscoped) rows, on the fuzzer's schema: a shared
// Team whose `owner` is tenant B's user and whose one-to-one `profile` slot is held by B's profile.
// Tenant A must see that team exactly as it sees a team with no owner and no profile (`twin`):
// the same results, the same error codes, and B's rows untouched at rest.
import { randomUUID } from 'node:crypto'
import { withTenant } from '../../src'
import { openFuzzDatabases, type AnyClient, type FuzzDatabases, type Side } from '../fuzz/db'

const A = 'tenant_a'
const B = 'tenant_b'
const UNSUPPORTED = 'ERR_ROWCRYPT_UNSUPPORTED_QUERY'

async function outcome(run: () => PromiseLike<unknown>): Promise<{ ok: unknown } | { code: unknown }> {
  try {
    return { ok: await run() }
  } catch (e) {
    return { code: (e as { code?: unknown }).code ?? (e as Error).name }
  }
}

describe.each(['sqlite', 'postgres', 'mysql'] as const)('confinement through shared rows (%s)', (kind) => {
  let dbs: FuzzDatabases
  let side: Side
  let prisma: AnyClient
  let base: AnyClient
  let bobId: number
  let bobProfile: string
  const teams: { taken: number; twin: number } = { taken: 0, twin: 0 }
  // The fuzzer schema client is driven untyped, and so are its results.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  const asA = (fn: () => PromiseLike<any>): Promise<any> => withTenant(A, fn)

  // B's rows, raw, as stored: any change through A's calls is a leak.
  const bRows = async () => JSON.stringify(await side.snapshot().then((s) => Object.fromEntries(Object.entries(s.tables).map(([t, rows]) => [t, rows.filter((r) => r.tenantId === B)]))))

  beforeAll(async () => {
    dbs = await openFuzzDatabases(kind, true)
    side = dbs.d1
    prisma = side.extended
    base = side.base
    const bob = await withTenant(B, () => prisma.user.create({ data: { name: 'bob', email: 'bob@b.example' } }))
    bobId = bob.id
    teams.taken = (await base.team.create({ data: { name: 'taken', ownerId: bobId } })).id
    teams.twin = (await base.team.create({ data: { name: 'twin' } })).id
    bobProfile = randomUUID()
    await withTenant(B, () => prisma.profile.create({ data: { id: bobProfile, bio: 'b secret', teamId: teams.taken } }))
    await withTenant(B, () => prisma.comment.create({ data: { text: 'b comment', position: 1 } }))
    await asA(() => prisma.user.create({ data: { name: 'alice', email: 'alice@a.example' } }))
  })
  afterAll(async () => dbs.close())

  /** The call on the team B's rows hang from and on its twin behaves the same, and B's rows stay. */
  async function sameAsTwin(call: (teamId: number) => PromiseLike<unknown>, normalize: (r: unknown) => unknown = (r) => r): Promise<unknown> {
    const before = await bRows()
    const taken = await outcome(() => asA(() => call(teams.taken)))
    const twin = await outcome(() => asA(() => call(teams.twin)))
    const norm = (o: { ok: unknown } | { code: unknown }) => ('ok' in o ? { ok: normalize(o.ok) } : o)
    expect(norm(taken)).toEqual(norm(twin))
    expect(await bRows()).toBe(before)
    return taken
  }
  // The shared row's own foreign key may name B's row: a channel a shared schema has by nature.
  const withoutIdAndName = (r: unknown) => (r !== null && typeof r === 'object' ? { ...(r as object), id: 0, name: '', ownerId: 0 } : r)

  it('a to-one read of another tenant row from a shared row is null: include, select, fluent, after a write', async () => {
    await sameAsTwin((id) => prisma.team.findUnique({ where: { id }, include: { owner: true, profile: true } }), withoutIdAndName)
    await sameAsTwin((id) => prisma.team.findMany({ where: { id }, select: { owner: { select: { name: true } }, profile: true } }))
    await sameAsTwin((id) => prisma.team.findUnique({ where: { id } }).owner())
    await sameAsTwin((id) => prisma.team.findUnique({ where: { id } }).profile())
    const r = await sameAsTwin((id) => prisma.team.update({ where: { id }, data: { rank: 1 }, include: { owner: true } }), withoutIdAndName)
    expect(r).toMatchObject({ ok: { owner: null } })
  })

  it('a fluent chain through a to-one into a scoped model from a shared row is refused, whoever holds it', async () => {
    expect(await sameAsTwin((id) => prisma.team.findFirst({ where: { id } }).profile().team())).toEqual({ code: UNSUPPORTED })
    expect(await sameAsTwin((id) => prisma.team.findUniqueOrThrow({ where: { id } }).owner().comments())).toEqual({ code: UNSUPPORTED })
    expect(
      await sameAsTwin((id) =>
        prisma.team
          .findUnique({ where: { id } })
          .profile({ select: { team: true } })
          .user(),
      ),
    ).toEqual({ code: UNSUPPORTED })
    expect(
      await sameAsTwin((id) =>
        prisma.team
          .findUnique({ where: { id } })
          .owner({ select: { manager: true } })
          .memberships(),
      ),
    ).toEqual({ code: UNSUPPORTED })
  })

  it('null filters on to-one relations ask about the tenant rows only', async () => {
    const ids = async (where: object) => ((await asA(() => prisma.team.findMany({ where, orderBy: { id: 'asc' } }))) as Array<{ id: number }>).map((t) => t.id)
    expect(await ids({ profile: null })).toEqual(expect.arrayContaining([teams.taken, teams.twin]))
    expect(await ids({ profile: { is: null } })).toEqual(expect.arrayContaining([teams.taken, teams.twin]))
    expect(await ids({ owner: { isNot: null } })).not.toContain(teams.taken)
    expect(await ids({ NOT: { owner: null } })).not.toContain(teams.taken)
  })

  it('nested to-one delete and disconnect with true reach only the tenant row', async () => {
    await sameAsTwin((id) => prisma.team.update({ where: { id }, data: { owner: { delete: true } } }), withoutIdAndName)
    await sameAsTwin((id) => prisma.team.update({ where: { id }, data: { profile: { disconnect: true } } }), withoutIdAndName)
    await sameAsTwin((id) => prisma.team.update({ where: { id }, data: { profile: { delete: true } } }), withoutIdAndName)
    expect(await side.snapshot().then((s) => s.tables.Profile!.find((p) => p.id === bobProfile)?.teamId)).toBe(teams.taken)
  })

  it('a nested to-one update of another tenant row is as not found as no row', async () => {
    await sameAsTwin((id) => prisma.team.update({ where: { id }, data: { owner: { update: { email: 'x@a.example' } } } }), withoutIdAndName)
    await sameAsTwin((id) => prisma.team.update({ where: { id }, data: { owner: { update: { name: 'renamed' } } } }), withoutIdAndName)
  })

  it('a nested to-one upsert whose relation holds no row of the tenant creates one', async () => {
    for (const id of [teams.twin, teams.taken]) {
      const before = await bRows()
      const t = await asA(() =>
        prisma.team.update({
          where: { id },
          data: { owner: { upsert: { create: { name: 'new', email: `n${id}@a.example` }, update: { name: 'upd' } } } },
          include: { owner: { omit: { tenantId: false } } },
        }),
      )
      expect(t.owner).toMatchObject({ name: 'new', email: `n${id}@a.example`, tenantId: A })
      expect(await bRows()).toBe(before)
      // Now the relation holds the tenant's row: the update branch runs.
      const again = await asA(() => prisma.team.update({ where: { id }, data: { owner: { upsert: { create: { name: 'x', email: `x${id}` }, update: { name: 'upd' } } } }, include: { owner: true } }))
      expect(again.owner).toMatchObject({ id: t.owner.id, name: 'upd' })
      await base.team.update({ where: { id }, data: { ownerId: id === teams.taken ? bobId : null } })
    }
  })

  it('refuses sorting by a scoped to-one from a shared model, and taking a one-to-one slot another tenant may hold', async () => {
    expect(await outcome(() => asA(() => prisma.team.findMany({ orderBy: { owner: { name: 'asc' } } })))).toEqual({ code: UNSUPPORTED })
    expect(await outcome(() => asA(() => prisma.team.findMany({ orderBy: { profile: { score: 'desc' } } })))).toEqual({ code: UNSUPPORTED })
    const before = await bRows()
    const connect = await outcome(() => asA(() => prisma.profile.create({ data: { id: randomUUID(), bio: 'a', team: { connect: { id: teams.taken } } } })))
    expect(connect).toEqual({ code: UNSUPPORTED })
    expect(await outcome(() => asA(() => prisma.team.update({ where: { id: teams.taken }, data: { profile: { create: { id: randomUUID(), bio: 'a' } } } })))).toEqual({ code: UNSUPPORTED })
    // Written as a foreign key, the unique constraint answers (a channel a shared schema has by nature).
    expect(await outcome(() => asA(() => prisma.profile.create({ data: { id: randomUUID(), bio: 'a', teamId: teams.taken } })))).toEqual({ code: 'P2002' })
    expect(await bRows()).toBe(before)
  })

  it('groupBy refuses sorting by an aggregate of an encrypted field', async () => {
    expect(await outcome(() => asA(() => prisma.user.groupBy({ by: ['age'], _min: { age: true }, orderBy: { _min: { email: 'asc' } } })))).toEqual({ code: UNSUPPORTED })
  })

  it('a model without encrypted fields is confined like any other', async () => {
    const before = await bRows()
    const mine = await asA(() => prisma.comment.create({ data: { text: 'a comment', position: 7 }, omit: { tenantId: false } }))
    expect(mine.tenantId).toBe(A)
    const bComment = (await side.snapshot()).tables.Comment!.find((c) => c.tenantId === B)!
    expect(await asA(() => prisma.comment.findMany({ omit: { tenantId: false } }))).toEqual([mine])
    const { tenantId: _hidden, ...visible } = mine
    expect(await asA(() => prisma.comment.findMany())).toEqual([visible])
    expect(await asA(() => prisma.comment.count())).toBe(1)
    expect(await asA(() => prisma.comment.findUnique({ where: { id: bComment.id } }))).toBeNull()
    expect(await outcome(() => asA(() => prisma.comment.update({ where: { id: bComment.id }, data: { text: 'x' } })))).toEqual({ code: 'P2025' })
    expect(await outcome(() => asA(() => prisma.comment.delete({ where: { id: bComment.id } })))).toEqual({ code: 'P2025' })
    expect(await asA(() => prisma.comment.updateMany({ data: { text: 'all' } }))).toEqual({ count: 1 })
    expect(await outcome(() => asA(() => prisma.comment.update({ where: { id: mine.id }, data: { tenantId: B } })))).toEqual({ code: UNSUPPORTED })
    expect(await outcome(() => asA(() => prisma.comment.create({ data: { text: 'x', tenantId: B } })))).toEqual({ code: 'ERR_ROWCRYPT_TENANT_MISMATCH' })
    expect(await outcome(() => prisma.comment.findMany())).toEqual({ code: 'ERR_ROWCRYPT_TENANT_MISSING' })
    // Through a relation from a shared row too.
    const bUser = await asA(() => prisma.user.findMany({ select: { comments: true } }))
    expect(bUser.flatMap((u: { comments: unknown[] }) => u.comments)).toEqual([])
    expect(await asA(() => prisma.comment.deleteMany())).toEqual({ count: 1 })
    expect(await bRows()).toBe(before)
  })

  it('a declared view reads back decrypted and confined to the tenant', async () => {
    const cards = await asA(() => prisma.userCard.findMany({ orderBy: { id: 'asc' }, omit: { tenantId: false } }))
    expect(cards.length).toBeGreaterThan(0)
    expect(cards.every((c: { tenantId: string }) => c.tenantId === A)).toBe(true)
    expect(cards.find((c: { name: string }) => c.name === 'alice')).toMatchObject({ email: 'alice@a.example' })
    expect(await asA(() => prisma.userCard.count())).toBe(cards.length)
    expect(await asA(() => prisma.userCard.findUnique({ where: { id: bobId } }))).toBeNull()
    expect(await asA(() => prisma.userCard.findFirst({ where: { name: 'bob' } }))).toBeNull()
    expect(await asA(() => prisma.userCard.findMany({ select: { name: true } }))).toEqual(expect.not.arrayContaining([{ name: 'bob' }]))
    expect(await withTenant(B, () => prisma.userCard.findUnique({ where: { id: bobId } }))).toMatchObject({ name: 'bob', email: 'bob@b.example' })
    // Encrypted fields stay encrypted for the database here too, and there is no tenant outside withTenant.
    expect(await outcome(() => asA(() => prisma.userCard.findMany({ where: { ssn: 'x' } })))).toEqual({ code: UNSUPPORTED })
    expect(await outcome(() => prisma.userCard.findMany())).toEqual({ code: 'ERR_ROWCRYPT_TENANT_MISSING' })
    // At rest the view shows ciphertext: rowcrypt decrypts it under User's binding.
    const raw = await base.userCard.findUnique({ where: { id: bobId } })
    expect(raw.email).toMatch(/^rc1\./)
  })

  it('refuses argument keys it does not know, with their path, before any SQL', async () => {
    const e = await asA(() => prisma.user.findMany({ where: { team: { is: { brandNew: 1 } } } })).catch((x: unknown) => x)
    expect(e).toMatchObject({ code: UNSUPPORTED })
    expect((e as Error).message).toContain('where.team.is.brandNew')
  })
})
