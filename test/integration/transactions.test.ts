// rowcrypt inside interactive transactions: its own reads (the row key of an update) join the
// caller's transaction, its errors roll the transaction back, and the tenant context flows in.
import { currentTenant, withTenant } from '../../src'
import { DATABASES, openDatabase, type DatabaseKind, type TestDatabase } from '../support/db'
import { extend, type Extended } from '../support/setup'

const CIPHERTEXT = /^rc1\.A256GCM\.[sjb]\./

describe.each(DATABASES)('transactions on %s', (kind: DatabaseKind) => {
  let db: TestDatabase
  let prisma: Extended
  let n = 0
  const tenant = () => `tx_${kind}_${++n}`

  const count = async (table: string, t: string, column = 'tenantId') => Number((await db.raw<{ n: unknown }>(`SELECT COUNT(*) AS n FROM "${table}" WHERE "${column}" = $1`, [t]))[0]!.n)
  const stored = async (table: string, id: unknown) => (await db.raw(`SELECT * FROM "${table}" WHERE "id" = $1`, [id]))[0]

  beforeAll(async () => {
    db = await openDatabase(kind, 'transactions')
    prisma = extend(db)
  })
  afterAll(async () => {
    await db?.close()
  })

  it('creates a row and updates its encrypted fields in the same transaction', async () => {
    const t = tenant()
    const result = await withTenant(t, () =>
      prisma.$transaction(async (tx) => {
        const u = await tx.user.create({ data: { name: 'tx', email: 'tx-first-secret@example.com', ssn: '000-11-2222' } })
        // The row exists only inside this transaction: rowcrypt must read its key through `tx`.
        const updated = await tx.user.update({ where: { id: u.id }, data: { email: 'tx-second-secret@example.com', prefs: { inTx: ['yes', null] } } })
        const reread = await tx.user.findUniqueOrThrow({ where: { id: u.id } })
        return { u, updated, reread }
      }),
    )
    expect(result.u.email).toBe('tx-first-secret@example.com')
    expect(result.updated).toMatchObject({ email: 'tx-second-secret@example.com', ssn: '000-11-2222', prefs: { inTx: ['yes', null] } })
    expect(result.reread).toMatchObject({ email: 'tx-second-secret@example.com', ssn: '000-11-2222', prefs: { inTx: ['yes', null] } })

    const after = await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: result.u.id } }))
    expect(after).toMatchObject({ email: 'tx-second-secret@example.com', ssn: '000-11-2222', prefs: { inTx: ['yes', null] } })
    const row = await stored('User', result.u.id)
    expect(row!.email).toMatch(CIPHERTEXT)
    // A Json column holds the ciphertext as a JSON string (the driver may give it as JSON text).
    expect(typeof row!.prefs === 'string' && row!.prefs.startsWith('"') ? JSON.parse(row!.prefs) : row!.prefs).toMatch(CIPHERTEXT)
    expect(JSON.stringify(row)).not.toContain('tx-second-secret')
    expect(JSON.stringify(row)).not.toContain('000-11-2222')
  })

  it('updates a row-bound Post and upserts into an existing row in the same transaction', async () => {
    const t = tenant()
    const { post, upserted } = await withTenant(t, () =>
      prisma.$transaction(async (tx) => {
        const u = await tx.user.create({ data: { name: 'tx2', email: 'tx2@example.com', notes: 'old-notes' } })
        const p = await tx.post.create({ data: { title: 'tx-title-old', authorId: u.id } })
        const post = await tx.post.update({ where: { id: p.id }, data: { title: 'tx-title-new', body: 'tx-body' }, include: { author: true } })
        const upserted = await tx.user.upsert({ where: { id: u.id }, create: { name: 'never', email: 'never' }, update: { notes: 'upserted-notes' } })
        return { post, upserted }
      }),
    )
    expect(post).toMatchObject({ title: 'tx-title-new', body: 'tx-body' })
    expect(post.author.email).toBe('tx2@example.com')
    expect(upserted).toMatchObject({ email: 'tx2@example.com', notes: 'upserted-notes' })
    const back = await withTenant(t, () => prisma.post.findUniqueOrThrow({ where: { id: post.id }, include: { author: true } }))
    expect(back).toMatchObject({ title: 'tx-title-new', body: 'tx-body' })
    expect(back.author.notes).toBe('upserted-notes')
    expect(await count('User', t)).toBe(1)
  })

  it('an error thrown after a create rolls the create back', async () => {
    const t = tenant()
    await withTenant(t, () => prisma.user.create({ data: { name: 'kept', email: 'kept@example.com' } }))
    const before = await count('User', t)
    class Boom extends Error {}
    let createdId: number | undefined
    await expect(
      withTenant(t, () =>
        prisma.$transaction(async (tx) => {
          const u = await tx.user.create({ data: { name: 'rolled', email: 'rolled-back@example.com' } })
          createdId = u.id
          expect(u.email).toBe('rolled-back@example.com')
          throw new Boom('after the create')
        }),
      ),
    ).rejects.toBeInstanceOf(Boom)
    expect(createdId).toBeDefined()
    expect(await count('User', t)).toBe(before)
    expect(await stored('User', createdId)).toBeUndefined()
  })

  it('a RowcryptError for an invalid value rolls back earlier writes of the transaction', async () => {
    const t = tenant()
    const existing = await withTenant(t, () => prisma.user.create({ data: { name: 'existing', email: 'existing@example.com' } }))
    const before = { users: await count('User', t), docs: await count('Document', t, 'orgId') }
    await expect(
      withTenant(t, () =>
        prisma.$transaction(async (tx) => {
          await tx.user.create({ data: { name: 'first', email: 'first-in-tx@example.com' } })
          await tx.document.create({ data: { id: `doc-${t}`, title: 't', body: 'doc-in-tx' } })
          await tx.user.update({ where: { id: existing.id }, data: { email: 'changed-in-tx@example.com' } })
          // A BigInt is not JSON: rowcrypt refuses to encrypt it.
          await tx.user.create({ data: { name: 'bad', email: 'bad@example.com', prefs: 10n as never } })
        }),
      ),
    ).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_INVALID_VALUE' })
    expect(await count('User', t)).toBe(before.users)
    expect(await count('Document', t, 'orgId')).toBe(before.docs)
    const u = await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: existing.id } }))
    expect(u.email).toBe('existing@example.com')
  })

  it('a RowcryptError for a bytes field of the wrong type rolls back earlier writes', async () => {
    const t = tenant()
    await expect(
      withTenant(t, () =>
        prisma.$transaction(async (tx) => {
          const u = await tx.user.create({ data: { name: 'first', email: 'first@example.com' } })
          await tx.user.update({ where: { id: u.id }, data: { avatar: 'not bytes' as never } })
        }),
      ),
    ).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_INVALID_VALUE' })
    expect(await count('User', t)).toBe(0)
  })

  it('a refused query (where on an encrypted field) rolls back earlier writes', async () => {
    const t = tenant()
    await expect(
      withTenant(t, () =>
        prisma.$transaction(async (tx) => {
          await tx.user.create({ data: { name: 'w1', email: 'w1@example.com' } })
          await tx.user.createMany({ data: [{ name: 'w2', email: 'w2@example.com' }] })
          return tx.user.findMany({ where: { email: 'w1@example.com' } })
        }),
      ),
    ).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_UNSUPPORTED_QUERY' })
    expect(await count('User', t)).toBe(0)
  })

  it('an update of a row that is not there (NOT_FOUND) rolls back earlier writes', async () => {
    const t = tenant()
    await expect(
      withTenant(t, () =>
        prisma.$transaction(async (tx) => {
          await tx.user.create({ data: { name: 'nf', email: 'nf@example.com' } })
          await tx.user.update({ where: { id: 987654 }, data: { email: 'ghost@example.com' } })
        }),
      ),
    ).rejects.toMatchObject({ code: 'P2025' })
    expect(await count('User', t)).toBe(0)
  })

  it('the tenant context flows into the transaction callback and its queries', async () => {
    const t = tenant()
    const seen = await withTenant(t, () =>
      prisma.$transaction(async (tx) => {
        const atStart = currentTenant()
        const u = await tx.user.create({ data: { name: 'ctx', email: 'ctx@example.com' } })
        const afterQuery = currentTenant()
        const inner = await withTenant(`${t}_inner`, async () => currentTenant())
        const afterInner = currentTenant()
        const visible = await tx.user.findMany()
        return { atStart, afterQuery, inner, afterInner, u, visible }
      }),
    )
    expect(seen.atStart).toBe(t)
    expect(seen.afterQuery).toBe(t)
    expect(seen.inner).toBe(`${t}_inner`)
    expect(seen.afterInner).toBe(t)
    expect(seen.u).not.toHaveProperty('tenantId')
    expect(seen.visible.map((u) => u.email)).toEqual(['ctx@example.com'])
    expect(currentTenant()).toBeUndefined()
    const row = await stored('User', seen.u.id)
    expect(row!.tenantId).toBe(t)
  })

  it('a transaction started outside withTenant refuses scoped queries and rolls back', async () => {
    const before = Number((await db.raw<{ n: unknown }>(`SELECT COUNT(*) AS n FROM "Team"`))[0]!.n)
    await expect(
      prisma.$transaction(async (tx) => {
        await tx.team.create({ data: { name: 'unscoped-in-tx' } })
        return tx.user.findMany()
      }),
    ).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_TENANT_MISSING' })
    expect(Number((await db.raw<{ n: unknown }>(`SELECT COUNT(*) AS n FROM "Team"`))[0]!.n)).toBe(before)
  })

  it('a batch transaction of creates encrypts each row', async () => {
    const t = tenant()
    const [a, b] = await withTenant(t, () =>
      prisma.$transaction([
        prisma.user.create({ data: { name: 'batch-a', email: 'batch-a-secret@example.com' } }),
        prisma.user.create({ data: { name: 'batch-b', email: 'batch-b-secret@example.com', ssn: '999-99-9999' } }),
      ]),
    )
    expect(a.email).toBe('batch-a-secret@example.com')
    expect(b).toMatchObject({ email: 'batch-b-secret@example.com', ssn: '999-99-9999' })
    for (const u of [a, b]) {
      const row = await stored('User', u.id)
      expect(row!.email).toMatch(CIPHERTEXT)
      expect(row!.tenantId).toBe(t)
    }
  })

  it('a batch transaction updates encrypted fields of several rows under their own keys', async () => {
    const t = tenant()
    const [a, b] = await withTenant(t, () => Promise.all([prisma.user.create({ data: { name: 'ba', email: 'ba-old' } }), prisma.user.create({ data: { name: 'bb', email: 'bb-old' } })]))
    const [ua, ub] = await withTenant(t, () =>
      prisma.$transaction([prisma.user.update({ where: { id: a.id }, data: { email: 'ba-new-secret' } }), prisma.user.update({ where: { id: b.id }, data: { email: { set: 'bb-new-secret' } } })]),
    )
    expect([ua.email, ub.email]).toEqual(['ba-new-secret', 'bb-new-secret'])
    const back = await withTenant(t, () => prisma.user.findMany({ where: { id: { in: [a.id, b.id] } }, orderBy: { id: 'asc' } }))
    // a and b were created concurrently: either may have the lower id.
    expect(back.map((u) => [u.id, u.email])).toEqual(
      expect.arrayContaining([
        [a.id, 'ba-new-secret'],
        [b.id, 'bb-new-secret'],
      ]),
    )
    expect(back).toHaveLength(2)
    expect((await stored('User', a.id))!.email).toMatch(CIPHERTEXT)
  })

  it('a batch whose last item fails commits none of its items', async () => {
    const t = tenant()
    const a = await withTenant(t, () => prisma.user.create({ data: { name: 'keep', email: 'keep-old' } }))
    await expect(
      withTenant(t, () =>
        prisma.$transaction([
          prisma.user.update({ where: { id: a.id }, data: { email: 'must-not-commit' } }),
          prisma.user.create({ data: { name: 'batch-new', email: 'batch-new-secret' } }),
          // Fails in the database (no such row), after the first two items ran.
          prisma.user.update({ where: { id: 987654321 }, data: { name: 'nobody' } }),
        ]),
      ),
    ).rejects.toMatchObject({ code: 'P2025' })
    expect(await count('User', t)).toBe(1)
    const back = await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: a.id } }))
    expect(back.email).toBe('keep-old')
  })

  it('the second of three writes fails to encrypt: nothing of the three is in the database (interactive and batch)', async () => {
    const t = tenant()
    const bad = { name: 'w2', email: 'w2', prefs: { big: 10n } as never } // a BigInt is not JSON
    await expect(
      withTenant(t, () =>
        prisma.$transaction(async (tx) => {
          await tx.user.create({ data: { name: 'w1', email: 'three-1-secret' } })
          await tx.user.create({ data: bad })
          await tx.user.create({ data: { name: 'w3', email: 'three-3-secret' } })
        }),
      ),
    ).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_INVALID_VALUE' })
    expect(await count('User', t)).toBe(0)
    await expect(
      withTenant(t, () =>
        prisma.$transaction([
          prisma.user.create({ data: { name: 'w1', email: 'three-1-secret' } }),
          prisma.user.create({ data: bad }),
          prisma.user.create({ data: { name: 'w3', email: 'three-3-secret' } }),
        ]),
      ),
    ).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_INVALID_VALUE' })
    expect(await count('User', t)).toBe(0)
  })
})
