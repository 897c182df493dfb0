// PostgreSQL row-level security behind the tenant scope (`rowcrypt({ rls: true })` with the
// policies of `rowcrypt rls sql`), reached through a role without SUPERUSER or BYPASSRLS: raw SQL
// through the same client sees only the current tenant's rows, none outside a tenant, cannot
// write another tenant's rows, and the settings stay inside each transaction.
import { Client } from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { rowcrypt, unsafeBypassTenantScope, withTenant } from '../../src'
import { Prisma, PrismaClient as PostgresClient } from '../../generated/postgres/client/client'
import { PG_URL, RLS_ROLE, openDatabase, roleUrl, type TestDatabase } from '../support/db'
import { extend, testKeyProvider, type Extended } from '../support/setup'

type Row = Record<string, unknown>
/** PostgreSQL refused the write: "new row violates row-level security policy" (SQLSTATE 42501). */
const REFUSED = { meta: { driverAdapterError: { cause: { code: '42501' } } } }

describe('row-level security on PostgreSQL (postgres-rls)', () => {
  let db: TestDatabase
  let prisma: Extended
  let schema: string
  const A = 'rls_tenant_a'
  const B = 'rls_tenant_b'
  const users = (rows: Row[]) => rows.map((r) => r.tenantId).sort()
  const settingSql = `SELECT current_setting('app.tenant_id', true) AS tenant, current_setting('app.rowcrypt_admin', true) AS admin, txid_current()::text AS txid`
  const setConfigs = (from: number) => db.queries.slice(from).filter((q) => q.includes('set_config')).length

  beforeAll(async () => {
    db = await openDatabase('postgres-rls', 'rls')
    schema = db.table('User').split('.')[0]!.replace(/"/g, '')
    prisma = extend(db)
    await withTenant(A, () =>
      prisma.user.createMany({
        data: [
          { name: 'a1', email: 'a1@rls' },
          { name: 'a2', email: 'a2@rls' },
        ],
      }),
    )
    await withTenant(B, () => prisma.user.create({ data: { name: 'b1', email: 'b1@rls', posts: { create: { title: 'b-post' } } } }))
    await withTenant(A, () => prisma.document.create({ data: { id: 'rls-doc-a', title: 'd', body: 'doc-a' } }))
  })
  afterAll(() => db?.close())

  it('the client reaches the database as a role without SUPERUSER or BYPASSRLS', async () => {
    const [me] = await prisma.$queryRawUnsafe<Row[]>('SELECT current_user AS name, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user')
    expect(me).toEqual({ name: RLS_ROLE, rolsuper: false, rolbypassrls: false })
    const [forced] = await db.raw<{ n: unknown }>(
      `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1 AND c.relrowsecurity AND c.relforcerowsecurity`,
      [schema],
    )
    // User, Post, Document and the blind-index models Customer and Invoice.
    expect(forced!.n).toBe(5)
  })

  it('a raw SELECT * inside withTenant(A) returns only A rows, in every raw form', async () => {
    expect(Number((await db.raw<{ n: unknown }>(`SELECT count(*) AS n FROM ${db.table('User')}`))[0]!.n)).toBe(3)
    const unsafe = await withTenant(A, () => prisma.$queryRawUnsafe<Row[]>(`SELECT * FROM ${db.table('User')}`))
    expect(users(unsafe)).toEqual([A, A])
    const tagged = await withTenant(B, () => prisma.$queryRaw<Row[]>`SELECT * FROM ${Prisma.raw(db.table('User'))}`)
    expect(users(tagged)).toEqual([B])
    const posts = await withTenant(A, () => prisma.$queryRawUnsafe<Row[]>(`SELECT * FROM ${db.table('Post')}`))
    expect(posts).toEqual([])
    const docs = await withTenant(A, () => prisma.$queryRawUnsafe<Row[]>(`SELECT "orgId" FROM ${db.table('Document')}`))
    expect(docs).toEqual([{ orgId: A }])
    // Updates and deletes reach only the tenant's rows too.
    expect(await withTenant(B, () => prisma.$executeRawUnsafe(`UPDATE ${db.table('User')} SET name = name`))).toBe(1)
    expect(await withTenant(B, () => prisma.$executeRaw`DELETE FROM ${Prisma.raw(db.table('Document'))}`)).toBe(0)
  })

  it('outside any tenant a raw SELECT returns no scoped rows (and unscoped tables stay readable)', async () => {
    expect(await prisma.$queryRawUnsafe(`SELECT * FROM ${db.table('User')}`)).toEqual([])
    expect(await prisma.$queryRaw`SELECT * FROM ${Prisma.raw(db.table('Post'))}`).toEqual([])
    await db.prisma.team.create({ data: { name: 'rls-shared' } })
    expect(await prisma.$queryRawUnsafe<Row[]>(`SELECT name FROM ${db.table('Team')} WHERE name = 'rls-shared'`)).toEqual([{ name: 'rls-shared' }])
    const [s] = await prisma.$queryRawUnsafe<Row[]>(settingSql)
    expect(s).toMatchObject({ tenant: '', admin: '' })
  })

  it('an insert of a tenant-B row from A context is refused by the database', async () => {
    const before = Number((await db.raw<{ n: unknown }>(`SELECT count(*) AS n FROM ${db.table('User')} WHERE "tenantId" = $1`, [B]))[0]!.n)
    const insert = `INSERT INTO ${db.table('User')} (name, email, "tenantId") VALUES ('planted', 'x', '${B}')`
    const refused = await withTenant(A, () => prisma.$executeRawUnsafe(insert)).catch((e: unknown) => e)
    expect(refused).toMatchObject({ code: 'P2010', ...REFUSED })
    // Moving an own row to B is refused as well (WITH CHECK on UPDATE).
    await expect(withTenant(A, () => prisma.$executeRawUnsafe(`UPDATE ${db.table('User')} SET "tenantId" = '${B}'`))).rejects.toMatchObject(REFUSED)
    // Outside any tenant no row can be inserted at all.
    await expect(prisma.$executeRawUnsafe(insert)).rejects.toMatchObject(REFUSED)
    expect(Number((await db.raw<{ n: unknown }>(`SELECT count(*) AS n FROM ${db.table('User')} WHERE "tenantId" = $1`, [B]))[0]!.n)).toBe(before)
  })

  it('a second client without the extension, on the same role, sees and writes nothing of the scoped tables', async () => {
    expect(await db.prisma.user.findMany()).toEqual([])
    expect(await db.prisma.post.count()).toBe(0)
    expect(await db.prisma.user.updateMany({ data: { name: 'changed' } })).toEqual({ count: 0 })
    await expect(db.prisma.document.create({ data: { id: 'plain-doc', title: 't', body: 'b', orgId: A } })).rejects.toMatchObject(REFUSED)
    expect(await db.raw(`SELECT id FROM ${db.table('Document')} WHERE id = 'plain-doc'`)).toEqual([])
  })

  it('the settings are local to each transaction: the pool keeps no tenant afterwards', async () => {
    await withTenant(A, () => Promise.all(Array.from({ length: 8 }, () => prisma.user.findMany())))
    const after = await Promise.all(
      Array.from({ length: 8 }, () => db.prisma.$queryRawUnsafe<Row[]>(`SELECT current_setting('app.tenant_id', true) AS tenant, (SELECT count(*)::int FROM ${db.table('User')}) AS n`)),
    )
    for (const [r] of after) {
      expect(r!.n).toBe(0)
      expect([null, '']).toContain(r!.tenant)
    }
  })

  it("outside a tenant the settings are pinned to '', whatever the connection's session holds", async () => {
    // One connection, on which raw SQL sets the tenant for the whole session (SET outlives COMMIT).
    const single = new PostgresClient({ adapter: new PrismaPg({ connectionString: roleUrl(RLS_ROLE), max: 1 }, { schema }) })
    try {
      const p = single.$extends(rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), models: { User: { fields: ['email'] as const } }, rls: true }))
      await p.$executeRawUnsafe(`SET app.tenant_id = '${B}'`)
      const select = `SELECT "tenantId" FROM ${db.table('User')}`
      // Without the extension the poisoned session shows B's rows: why raw SQL must not set it.
      expect(users(await single.$queryRawUnsafe<Row[]>(select))).toEqual([B])
      expect(await p.$queryRawUnsafe(select)).toEqual([])
      expect(await p.user.count().catch((e: { code?: string }) => e.code)).toBe('ERR_ROWCRYPT_TENANT_MISSING')
      expect(new Set(users(await withTenant(A, () => p.$queryRawUnsafe<Row[]>(select))))).toEqual(new Set([A]))
    } finally {
      await single.$disconnect()
    }
  })

  it('a batch transaction pins the tenant once, in the same transaction as every item', async () => {
    const from = db.queries.length
    const [setting, rows, found, again] = await withTenant(A, () =>
      prisma.$transaction([
        prisma.$queryRawUnsafe<Row[]>(settingSql),
        prisma.$queryRawUnsafe<Row[]>(`SELECT * FROM ${db.table('User')}`),
        prisma.user.findMany({ orderBy: { id: 'asc' } }),
        prisma.$queryRawUnsafe<Row[]>(settingSql),
      ]),
    )
    expect(setting![0]).toMatchObject({ tenant: A, admin: '' })
    expect(again![0]!.txid).toBe(setting![0]!.txid)
    expect(users(rows)).toEqual([A, A])
    expect(found.map((u) => u.email)).toEqual(['a1@rls', 'a2@rls'])
    expect(setConfigs(from)).toBe(1)
  })

  it('a batch that writes a row of another tenant by raw SQL fails whole', async () => {
    await expect(
      withTenant(A, () =>
        prisma.$transaction([
          prisma.user.create({ data: { name: 'batch-a', email: 'batch-a@rls' } }),
          prisma.$executeRawUnsafe(`INSERT INTO ${db.table('User')} (name, email, "tenantId") VALUES ('planted', 'x', '${B}')`),
        ]),
      ),
    ).rejects.toMatchObject({ code: 'P2010', ...REFUSED })
    expect(await db.raw(`SELECT id FROM ${db.table('User')} WHERE name IN ('batch-a', 'planted')`)).toEqual([])
  })

  it('an interactive transaction sets the tenant through tx, before every statement, inside the transaction', async () => {
    const from = db.queries.length
    const seen = await withTenant(A, () =>
      prisma.$transaction(async (tx) => {
        const first = (await tx.$queryRawUnsafe<Row[]>(settingSql))[0]!
        const created = await tx.user.create({ data: { name: 'itx', email: 'itx-a@rls' } })
        // rowcrypt's own read of the row key joins the transaction and sees the new row.
        const updated = await tx.user.update({ where: { id: created.id }, data: { email: 'itx-a2@rls' } })
        const raw = await tx.$queryRawUnsafe<Row[]>(`SELECT * FROM ${db.table('User')}`)
        const inB = await withTenant(B, () => tx.$queryRawUnsafe<Row[]>(`SELECT * FROM ${db.table('User')}`))
        const admin = await unsafeBypassTenantScope('rls test: all tenants inside a transaction', () => tx.$queryRawUnsafe<Row[]>(`SELECT * FROM ${db.table('User')}`))
        const last = (await tx.$queryRawUnsafe<Row[]>(settingSql))[0]!
        return { first, updated, raw, inB, admin, last }
      }),
    )
    expect(seen.first).toMatchObject({ tenant: A, admin: '' })
    expect(seen.last).toMatchObject({ tenant: A, admin: '', txid: seen.first.txid })
    expect(seen.updated.email).toBe('itx-a2@rls')
    expect(users(seen.raw)).toEqual([A, A, A])
    expect(users(seen.inB)).toEqual([B])
    expect(users(seen.admin)).toEqual([A, A, A, B])
    // Pinned before every guarded statement (seven calls here, some with rowcrypt's own reads).
    expect(setConfigs(from)).toBeGreaterThanOrEqual(7)
  })

  it('a nested transaction rolled back to its savepoint leaves no stale tenant or admin setting behind', async () => {
    const probe = (tx: { $queryRawUnsafe: <T>(q: string) => Promise<T> }) => tx.$queryRawUnsafe<Row[]>(`SELECT * FROM ${db.table('User')}`)
    const seen = await unsafeBypassTenantScope('rls test: admin outer transaction', () =>
      prisma.$transaction(async (tx) => {
        await probe(tx)
        // The inner transaction sets B, then rolls back to its savepoint: the database is back on
        // the admin setting, and B must be set again for the next statement.
        await withTenant(B, () =>
          (tx as unknown as { $transaction: (fn: (inner: typeof tx) => Promise<unknown>) => Promise<unknown> }).$transaction(async (inner) => {
            await probe(inner)
            throw new Error('roll back to the savepoint')
          }),
        ).catch(() => undefined)
        return withTenant(B, () => probe(tx))
      }),
    )
    expect(users(seen)).toEqual([B])
  })

  it('concurrent queries of different tenants in one interactive transaction each see their own rows', async () => {
    const results = await prisma.$transaction(async (tx) =>
      Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          withTenant(i % 2 ? A : B, async () => ({ t: i % 2 ? A : B, rows: await tx.$queryRawUnsafe<Row[]>(`SELECT "tenantId" FROM ${db.table('User')}`), n: await tx.user.count() })),
        ),
      ),
    )
    for (const r of results) {
      expect(new Set(users(r.rows))).toEqual(new Set([r.t]))
      expect(r.n).toBe(r.rows.length)
    }
  })

  it("rowcrypt's own transactions take rls.transactionOptions (default: no limit, as for a plain query)", async () => {
    const sleep = `SELECT pg_sleep(0.5)::text AS slept`
    expect(await withTenant(A, () => prisma.$queryRawUnsafe(sleep))).toEqual([{ slept: '' }])
    const hasty = db.prisma.$extends(rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), models: { User: { fields: ['email'] as const } }, rls: { transactionOptions: { timeout: 100 } } }))
    await expect(withTenant(A, () => hasty.$queryRawUnsafe(sleep))).rejects.toMatchObject({ code: 'P2028' })
  })

  it('rowcrypt reads and writes work under RLS, and another tenant cannot reach them', async () => {
    const u = await withTenant(A, () => prisma.user.create({ data: { name: 'rw', email: 'rw-old@rls' } }))
    const updated = await withTenant(A, () => prisma.user.update({ where: { id: u.id }, data: { email: 'rw-new@rls' } }))
    expect(updated.email).toBe('rw-new@rls')
    await expect(withTenant(B, () => prisma.user.update({ where: { id: u.id }, data: { email: 'stolen' } }))).rejects.toMatchObject({ code: 'P2025' })
    expect(await withTenant(B, () => prisma.user.findUnique({ where: { id: u.id } }))).toBeNull()
  })

  it('inside unsafeBypassTenantScope the admin setting shows every tenant', async () => {
    const all = await unsafeBypassTenantScope('rls test: export', () => prisma.$queryRawUnsafe<Row[]>(`SELECT "tenantId" FROM ${db.table('User')}`))
    expect(new Set(users(all))).toEqual(new Set([A, B]))
    const [s] = await unsafeBypassTenantScope('rls test: setting', () => prisma.$queryRawUnsafe<Row[]>(settingSql))
    expect(s).toMatchObject({ tenant: '', admin: 'on' })
    const found = await unsafeBypassTenantScope('rls test: findMany', () => prisma.user.findMany({ select: { email: true, tenantId: true } }))
    expect(found.map((u) => u.email)).toEqual(expect.arrayContaining(['a1@rls', 'b1@rls']))
    const made = await unsafeBypassTenantScope('rls test: create', () => prisma.document.create({ data: { id: 'rls-admin-doc', title: 't', body: 'admin', orgId: B }, select: { orgId: true } }))
    expect(made.orgId).toBe(B)
    expect(await withTenant(B, () => prisma.document.findUnique({ where: { id: 'rls-admin-doc' } }))).toMatchObject({ body: 'admin' })
  })

  it('with adminSetting: false the bypass sees nothing through this role; a BYPASSRLS role sees everything', async () => {
    const strict = db.prisma.$extends(rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), models: { User: { fields: ['email'] as const } }, rls: { adminSetting: false } }))
    expect(await unsafeBypassTenantScope('rls test: no admin setting', () => strict.user.findMany())).toEqual([])
    expect((await withTenant(A, () => strict.user.findMany())).length).toBeGreaterThan(0)

    // The documented alternative for admin and rotation jobs: a role with BYPASSRLS.
    const role = `rowcrypt_rls_admin_${process.pid}`
    const admin = new Client({ connectionString: PG_URL })
    await admin.connect()
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN BYPASSRLS PASSWORD '${role}'`)
      await admin.query(`GRANT USAGE ON SCHEMA "${schema}" TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA "${schema}" TO ${role}`)
      const job = new PostgresClient({ adapter: new PrismaPg({ connectionString: roleUrl(role) }, { schema }) })
      try {
        const jobClient = job.$extends(rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), models: { User: { fields: ['email'] as const } }, rls: { adminSetting: false } }))
        const every = await unsafeBypassTenantScope('rls test: BYPASSRLS job', () => jobClient.user.findMany({ select: { email: true, tenantId: true } }))
        expect(new Set(every.map((u) => u.tenantId))).toEqual(new Set([A, B]))
      } finally {
        await job.$disconnect()
      }
    } finally {
      await admin.query(`DROP OWNED BY ${role}; DROP ROLE IF EXISTS ${role}`)
      await admin.end()
    }
  })
})
