// PostgreSQL row-level security behind the tenant scope (`rowcrypt({ rls })` with the policies of
// `rowcrypt rls sql`), reached through a role without SUPERUSER or BYPASSRLS: raw SQL through the
// same client sees only the current tenant's rows, none outside a tenant, cannot write another
// tenant's rows. Both pinnings: `transaction` (set_config in a transaction around each statement)
// and `adapter` (withRlsPinning: the setting pinned per connection, sent only when it differs), then
// the hazards of the adapter's: pool reuse, errors, rollbacks, dropped connections, Prisma's
// request batching, concurrency, and what each call costs on the wire.
import pg, { Client } from 'pg'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaPg } from '@prisma/adapter-pg'
import { rowcrypt, unsafeBypassTenantScope, withRlsPinning, withTenant } from '../../src'
import { Prisma, PrismaClient as PostgresClient } from '../../generated/postgres/client/client'
import { PG_URL, RLS_ROLE, openDatabase, roleUrl, type RlsPinningMode, type TestDatabase } from '../support/db'
import { extend, testKeyProvider, type Extended } from '../support/setup'

type Row = Record<string, unknown>
/** PostgreSQL refused the write: "new row violates row-level security policy" (SQLSTATE 42501). */
const REFUSED = { meta: { driverAdapterError: { cause: { code: '42501' } } } }
const MODES: RlsPinningMode[] = ['adapter', 'transaction']

describe.each(MODES)('row-level security on PostgreSQL (postgres-rls, pinning %s)', (mode) => {
  let db: TestDatabase
  let prisma: Extended
  let schema: string
  const A = 'rls_tenant_a'
  const B = 'rls_tenant_b'
  const users = (rows: Row[]) => rows.map((r) => r.tenantId).sort()
  const settingSql = `SELECT current_setting('app.tenant_id', true) AS tenant, current_setting('app.rowcrypt_admin', true) AS admin, txid_current()::text AS txid`
  const setConfigs = (from: number) => db.queries.slice(from).filter((q) => q.includes('set_config')).length
  // The same options as extend(db) gives, for clients made in a test: the pinning of this run.
  const pinning = mode === 'adapter' ? ({ pinning: 'adapter' } as const) : {}

  beforeAll(async () => {
    db = await openDatabase('postgres-rls', `rls_${mode}`, {}, mode)
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

  it('no tenant outlives its statements for anything else on the pool: a client without the extension sees none afterwards', async () => {
    // transaction: the settings are local to each transaction. adapter: the connections keep A, and
    // every other statement on them is pinned to '' first.
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
    const plain = new PrismaPg({ connectionString: roleUrl(RLS_ROLE), max: 1 }, { schema })
    const single = new PostgresClient({ adapter: mode === 'adapter' ? withRlsPinning(plain) : plain })
    try {
      const p = single.$extends(rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), models: { User: { fields: ['email'] as const } }, rls: { ...pinning } }))
      await p.$executeRawUnsafe(`SET app.tenant_id = '${B}'`)
      const select = `SELECT "tenantId" FROM ${db.table('User')}`
      // Without the extension the poisoned session shows B's rows on a plain adapter (why raw SQL
      // must not set it); a pinned adapter pins '' before the next statement of anyone.
      expect(users(await single.$queryRawUnsafe<Row[]>(select))).toEqual(mode === 'adapter' ? [] : [B])
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

  it("rowcrypt's own transactions take rls.transactionOptions (default: no limit, as for a plain query; the adapter opens none)", async () => {
    const sleep = `SELECT pg_sleep(0.5)::text AS slept`
    expect(await withTenant(A, () => prisma.$queryRawUnsafe(sleep))).toEqual([{ slept: '' }])
    const hasty = db.prisma.$extends(
      rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), models: { User: { fields: ['email'] as const } }, rls: { ...pinning, transactionOptions: { timeout: 100 } } }),
    )
    const slow = withTenant(A, () => hasty.$queryRawUnsafe(sleep))
    if (mode === 'transaction') await expect(slow).rejects.toMatchObject({ code: 'P2028' })
    else expect(await slow).toEqual([{ slept: '' }])
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
    const noAdmin = { adminSetting: false, ...pinning } as const
    // A client of its own: a pinned adapter takes the same setting names as rowcrypt.
    const strictBase =
      mode === 'adapter'
        ? (new PostgresClient({ adapter: withRlsPinning(new PrismaPg({ connectionString: roleUrl(RLS_ROLE) }, { schema }), noAdmin) }) as unknown as TestDatabase['prisma'])
        : db.prisma
    const strict = strictBase.$extends(rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), models: { User: { fields: ['email'] as const } }, rls: noAdmin }))
    expect(await unsafeBypassTenantScope('rls test: no admin setting', () => strict.user.findMany())).toEqual([])
    expect((await withTenant(A, () => strict.user.findMany())).length).toBeGreaterThan(0)
    if (strictBase !== db.prisma) await strictBase.$disconnect()

    // The documented alternative for admin and rotation jobs: a role with BYPASSRLS.
    const role = `rowcrypt_rls_admin_${process.pid}`
    const admin = new Client({ connectionString: PG_URL })
    await admin.connect()
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN BYPASSRLS PASSWORD '${role}'`)
      await admin.query(`GRANT USAGE ON SCHEMA "${schema}" TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA "${schema}" TO ${role}`)
      const plain = new PrismaPg({ connectionString: roleUrl(role) }, { schema })
      const job = new PostgresClient({ adapter: mode === 'adapter' ? withRlsPinning(plain, noAdmin) : plain })
      try {
        const jobClient = job.$extends(rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), models: { User: { fields: ['email'] as const } }, rls: noAdmin }))
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

/** One statement a connection sent to the server. */
interface Sent {
  pid: number
  sql: string
  values: unknown[]
}

/**
 * A client of its own through a pinned adapter, on a pg pool of `max` connections that log every
 * statement they send: what reaches the server, set_config included (Prisma's query log does not
 * show what the adapter sends).
 */
function wiredClient(db: TestDatabase, schema: string, max: number, options: { rls?: true | { pinning: 'adapter' | 'transaction' }; wrap?: boolean } = {}) {
  const wire: Sent[] = []
  class WiredClient extends pg.Client {}
  const send = pg.Client.prototype.query as unknown as (...args: unknown[]) => unknown
  ;(WiredClient.prototype as unknown as { query: unknown }).query = function (this: pg.Client, ...args: unknown[]) {
    const c = args[0] as string | { text: string; values?: unknown[] }
    const values = typeof c === 'string' ? args[1] : c.values
    wire.push({ pid: (this as unknown as { processID: number }).processID, sql: typeof c === 'string' ? c : c.text, values: Array.isArray(values) ? values : [] })
    return send.apply(this, args)
  }
  const pool = new pg.Pool({ connectionString: roleUrl(RLS_ROLE), max, Client: WiredClient as never })
  const adapter = new PrismaPg(pool, { schema, disposeExternalPool: true })
  const base = new PostgresClient({ adapter: options.wrap === false ? adapter : withRlsPinning(adapter) })
  const prisma = base.$extends(
    rowcrypt({
      schema: db.manifest,
      keyProvider: testKeyProvider(),
      models: { User: { fields: ['email', 'ssn', 'notes', 'prefs', 'avatar'] }, Post: { fields: ['title', 'body'] }, Document: { fields: ['body'], columns: { tenantId: 'orgId' } } },
      rls: options.rls ?? { pinning: 'adapter' },
    }),
  )
  const isPin = (s: Sent) => s.sql.startsWith('SELECT set_config($1, $2, false)')
  return {
    base,
    prisma,
    pool,
    wire,
    /** The tenants set_config was sent for since `from` ('' for none; 'admin' for the admin setting on). */
    pins: (from: number) =>
      wire
        .slice(from)
        .filter(isPin)
        .map((s) => (s.values[3] === 'on' ? 'admin' : (s.values[1] as string))),
    /** The other statements since `from`, first words only. */
    statements: (from: number) =>
      wire
        .slice(from)
        .filter((s) => !isPin(s))
        .map((s) => s.sql.split(' ')[0]!),
    /** What connections sent since `from`. */
    pids: (from: number) => new Set(wire.slice(from).map((s) => s.pid)),
  }
}

describe('adapter pinning (withRlsPinning): what a call costs, and the hazards of a pinned connection', () => {
  let db: TestDatabase
  let schema: string
  const A = 'pin_tenant_a'
  const B = 'pin_tenant_b'
  const C = 'pin_tenant_c'
  const ids: Record<string, number> = {}
  const clients: Array<ReturnType<typeof wiredClient>> = []
  const wired = (max: number, options?: Parameters<typeof wiredClient>[3]) => {
    const w = wiredClient(db, schema, max, options)
    clients.push(w)
    return w
  }
  const tenantsOf = (rows: Row[]) => rows.map((r) => r.tenantId).sort()
  // rowcrypt leaves its tenant column out of results unless asked for.
  const T = { select: { tenantId: true } } as const
  const settingSql = `SELECT current_setting('app.tenant_id', true) AS tenant, current_setting('app.rowcrypt_admin', true) AS admin`
  const rawUsers = () => `SELECT "tenantId" FROM ${db.table('User')}`
  /** The tenant column of each of `t`'s users, as the database holds them (read as the owner, past the policies). */
  const own = async (t: string) => (await db.raw<{ tenantId: string }>(`SELECT "tenantId" FROM ${db.table('User')} WHERE "tenantId" = $1`, [t])).map((r) => r.tenantId)

  beforeAll(async () => {
    db = await openDatabase('postgres-rls', 'rls_pin')
    schema = db.table('User').split('.')[0]!.replace(/"/g, '')
    const prisma = extend(db)
    for (const [t, names] of [
      [A, ['a1', 'a2']],
      [B, ['b1']],
      [C, ['c1']],
    ] as const) {
      for (const name of names) ids[name] = (await withTenant(t, () => prisma.user.create({ data: { name, email: `${name}@pin` } }))).id
    }
  })
  afterAll(async () => {
    for (const c of clients) await c.base.$disconnect()
    await db?.close()
  })

  it('a findUnique of a tenant already pinned on its connection is one statement; a change of tenant adds one set_config', async () => {
    const w = wired(1)
    await withTenant(A, () => w.prisma.user.findUnique({ where: { id: ids.a1! } }))
    let from = w.wire.length
    expect((await withTenant(A, () => w.prisma.user.findUnique({ where: { id: ids.a2! } })))?.email).toBe('a2@pin')
    expect(w.statements(from)).toEqual(['SELECT'])
    expect(w.pins(from)).toEqual([])

    from = w.wire.length
    const made = await withTenant(A, () => w.prisma.user.create({ data: { name: 'a3', email: 'a3@pin' } }))
    expect(await withTenant(A, () => w.prisma.user.update({ where: { id: made.id }, data: { email: 'a3-new@pin' } }))).toMatchObject({ email: 'a3-new@pin' })
    expect(w.statements(from)).toEqual(['INSERT', 'UPDATE'])
    expect(w.pins(from)).toEqual([])

    // Tenants in turn: one set_config per change, none while the tenant stays.
    from = w.wire.length
    expect((await withTenant(B, () => w.prisma.user.findUnique({ where: { id: ids.b1! } })))?.email).toBe('b1@pin')
    expect((await withTenant(B, () => w.prisma.user.findMany())).map((u) => u.email)).toEqual(['b1@pin'])
    expect((await withTenant(A, () => w.prisma.user.findUniqueOrThrow({ where: { id: ids.a1! } }))).email).toBe('a1@pin')
    const [none] = await w.prisma.$queryRawUnsafe<Row[]>(settingSql)
    expect(none).toMatchObject({ tenant: '', admin: '' })
    expect(await unsafeBypassTenantScope('rls test: count every tenant', () => w.prisma.user.count())).toBeGreaterThanOrEqual(5)
    expect(w.pins(from)).toEqual([B, A, '', 'admin'])

    // Raw SQL may set the tenant itself: the connection is pinned again before the next statement.
    from = w.wire.length
    await withTenant(A, () => w.prisma.$executeRawUnsafe(`SELECT set_config('app.tenant_id', '${B}', false)`))
    expect(tenantsOf(await withTenant(A, () => w.prisma.user.findMany(T)))).toEqual(await own(A))
    expect(w.pins(from)).toEqual([A, A])
  })

  it('without a pinning option the adapter decides: wrapped, the tenant is pinned per connection; not wrapped, in a transaction per statement', async () => {
    const calls = async (w: ReturnType<typeof wiredClient>) => {
      await withTenant(A, () => w.prisma.user.findMany())
      const from = w.wire.length
      expect((await withTenant(A, () => w.prisma.user.findUnique({ where: { id: ids.a2! } })))?.email).toBe('a2@pin')
      expect(tenantsOf(await withTenant(B, () => w.prisma.user.findMany(T)))).toEqual(await own(B))
      expect(await w.prisma.$queryRawUnsafe<Row[]>(settingSql)).toEqual([{ tenant: '', admin: '' }])
      return { statements: w.statements(from), pins: w.pins(from) }
    }
    // rls: true on a wrapped adapter: adapter pinning (one probe before the first statement).
    const wrapped = wired(1, { rls: true })
    expect(await calls(wrapped)).toEqual({ statements: ['SELECT', 'SELECT', 'SELECT'], pins: [B, ''] })
    expect(wrapped.wire.filter((q) => q.sql.includes('adapter pinning probe'))).toHaveLength(1)
    // rls: true on a plain adapter: set_config(..., true) in a transaction around each statement.
    const plain = wired(1, { rls: true, wrap: false })
    const tx = await calls(plain)
    expect(tx.pins).toEqual([])
    expect(tx.statements.filter((q) => q === 'BEGIN').length).toBeGreaterThanOrEqual(3)
    expect(plain.wire.filter((q) => q.sql.includes('set_config') && q.sql.includes('true)')).length).toBeGreaterThanOrEqual(3)
    // An explicit pinning stays what it says, wrapped or not.
    const explicit = wired(1, { rls: { pinning: 'transaction' } })
    const ex = await calls(explicit)
    expect(ex.statements.filter((q) => q === 'BEGIN').length).toBeGreaterThanOrEqual(3)
    expect(explicit.wire.filter((q) => q.sql.includes('adapter pinning probe'))).toHaveLength(0)
  })

  it("Prisma's request batching: findUniques of different tenants in one tick each read their own row, in a statement of their own", async () => {
    const w = wired(4)
    await withTenant(A, () => w.prisma.user.findMany())
    const from = w.wire.length
    const own: Record<string, number> = { [A]: ids.a1!, [B]: ids.b1!, [C]: ids.c1! }
    const calls = Array.from({ length: 30 }, (_, i) => {
      const t = [A, B, C][i % 3]!
      const other = own[[A, B, C][(i + 1) % 3]!]!
      return Promise.all([
        withTenant(t, () => w.prisma.user.findUnique({ where: { id: own[t]! }, ...T })).then((u) => ({ t, got: u?.tenantId ?? u })),
        withTenant(t, () => w.prisma.user.findUniqueOrThrow({ where: { id: own[t]! }, ...T })).then((u) => ({ t, got: u.tenantId })),
        withTenant(t, () => w.prisma.user.findUnique({ where: { id: other }, ...T })).then((u) => ({ t, got: u === null ? 'none' : u.tenantId })),
        // A client without the extension on the same adapter, in the same tick: no tenant.
        w.base.user.findUnique({ where: { id: own[t]! } }).then((u) => ({ t, got: u === null ? 'none' : u.tenantId })),
      ])
    })
    for (const [first, orThrow, others, base] of await Promise.all(calls)) {
      expect(first.got).toBe(first.t)
      expect(orThrow.got).toBe(orThrow.t)
      expect(others.got).toBe('none')
      expect(base.got).toBe('none')
    }
    // Never one statement for the rows of two tenants (Prisma batches findUnique calls of one tick
    // into one query unless they go out otherwise).
    for (const s of w.wire.slice(from)) expect(s.values.filter((v) => v === A || v === B || v === C).length).toBeLessThanOrEqual(1)
  })

  it('a findUnique keeps its meaning when it goes out as findFirst: a filter without the value of a unique key is refused as before', async () => {
    const w = wired(1)
    for (const where of [{ name: 'a1' }, { id: { gt: 0 } }, { id: undefined, name: 'a1' }]) {
      const refused = await withTenant(A, () => w.prisma.user.findUnique({ where: where as never })).then(
        (row) => ({ row }),
        (e: unknown) => e,
      )
      expect(refused).toBeInstanceOf(Prisma.PrismaClientValidationError)
    }
  })

  it('concurrent calls of many tenants over a small pool see only their own rows, however the pool hands out connections', async () => {
    const w = wired(3)
    const from = w.wire.length
    const tenants = [A, B, C, undefined]
    const results = await Promise.all(
      Array.from({ length: 120 }, (_, i) => {
        const t = tenants[i % 4]
        const work = async (): Promise<{ t: string | undefined; setting: unknown; seen: unknown[] }> => {
          if (t === undefined || i % 3 === 0) {
            const rows = await w.prisma.$queryRawUnsafe<Row[]>(`SELECT current_setting('app.tenant_id', true) AS setting, "tenantId" FROM ${db.table('User')} RIGHT JOIN (SELECT 1) one ON true`)
            return { t, setting: rows[0]!.setting, seen: rows.map((r) => r.tenantId).filter((x) => x !== null) }
          }
          const users = i % 3 === 1 ? await w.prisma.user.findMany(T) : await w.prisma.user.findMany({ where: { name: { not: 'nobody' } }, select: { tenantId: true, posts: true } })
          return { t, setting: t, seen: users.map((u) => u.tenantId) }
        }
        return t === undefined ? work() : withTenant(t, work)
      }),
    )
    for (const r of results) {
      expect(r.setting).toBe(r.t ?? '')
      for (const seen of r.seen) expect(seen).toBe(r.t)
      if (r.t !== undefined) expect(r.seen.length).toBeGreaterThan(0)
    }
    expect(w.pids(from).size).toBeGreaterThan(1)
    expect(w.pins(from).length).toBeGreaterThan(3)
  })

  it('after an error the connection is not trusted: the next statement is pinned again', async () => {
    const w = wired(1)
    await withTenant(A, () => w.prisma.user.findMany())
    await expect(withTenant(B, () => w.prisma.$queryRawUnsafe('SELECT 1/0'))).rejects.toMatchObject({ code: 'P2010' })
    await expect(withTenant(B, () => w.prisma.document.create({ data: { id: 'pin-doc', title: 't', body: 'b' } }))).resolves.toMatchObject({ id: 'pin-doc' })
    await expect(withTenant(B, () => w.prisma.document.create({ data: { id: 'pin-doc', title: 't', body: 'b' } }))).rejects.toMatchObject({ code: 'P2002' })
    const [s] = await w.prisma.$queryRawUnsafe<Row[]>(settingSql)
    expect(s).toMatchObject({ tenant: '' })
    expect(tenantsOf(await withTenant(A, () => w.prisma.$queryRawUnsafe<Row[]>(rawUsers())))).toEqual(await own(A))
    expect(tenantsOf(await withTenant(A, () => w.prisma.user.findMany(T)))).toEqual(await own(A))
  })

  it('a ROLLBACK undoes a setting sent inside the transaction: the next statement is pinned again; a COMMIT keeps it', async () => {
    const w = wired(1)
    await withTenant(A, () => w.prisma.user.findMany())
    await expect(
      w.prisma.$transaction(async (tx) => {
        expect(tenantsOf(await withTenant(B, () => tx.user.findMany(T)))).toEqual([B])
        throw new Error('roll back')
      }),
    ).rejects.toThrow('roll back')
    // The session is back on A; a statement of B must not take the B sent inside for granted.
    let from = w.wire.length
    expect(tenantsOf(await withTenant(B, () => w.prisma.user.findMany(T)))).toEqual([B])
    expect(w.pins(from)).toEqual([B])

    await w.prisma.$transaction(async (tx) => withTenant(C, () => tx.user.findMany(T)))
    from = w.wire.length
    expect(tenantsOf(await withTenant(C, () => w.prisma.user.findMany(T)))).toEqual([C])
    expect(w.pins(from)).toEqual([])
  })

  it('a ROLLBACK TO SAVEPOINT undoes a setting sent after the savepoint: the next statement is pinned again', async () => {
    const w = wired(1)
    await withTenant(A, () => w.prisma.user.findMany())
    const seen = await w.prisma.$transaction(async (tx) => {
      const first = await withTenant(A, () => tx.user.findMany(T))
      await withTenant(B, () =>
        (tx as unknown as { $transaction: (fn: (inner: typeof tx) => Promise<unknown>) => Promise<unknown> }).$transaction(async (inner) => {
          expect(tenantsOf(await inner.user.findMany(T))).toEqual([B])
          throw new Error('to the savepoint')
        }),
      ).catch(() => undefined)
      // The database is back on A: B must be sent again.
      return { first, then: await withTenant(B, () => tx.user.findMany(T)) }
    })
    expect(tenantsOf(seen.first)).toEqual(await own(A))
    expect(tenantsOf(seen.then)).toEqual([B])
  })

  it('raw SQL that sets the tenant inside a transaction: the next statement in it, and after it, is pinned again', async () => {
    const w = wired(1)
    await withTenant(A, () => w.prisma.user.findMany(T))
    const poison = `SELECT set_config('app.tenant_id', '${B}', false)`
    const inTx = await withTenant(A, () =>
      w.prisma.$transaction(async (tx) => {
        await tx.$executeRawUnsafe(poison)
        return tx.user.findMany(T)
      }),
    )
    expect(tenantsOf(inTx)).toEqual(await own(A))
    // A batch with such an item commits B for the session: its connection is pinned again afterwards.
    await withTenant(A, () => w.prisma.$transaction([w.prisma.user.count(), w.prisma.$executeRawUnsafe(poison)]))
    expect(tenantsOf(await withTenant(A, () => w.prisma.user.findMany(T)))).toEqual(await own(A))
  })

  it("in an interactive transaction the tenant's statements cost no set_config while it stays, one per change", async () => {
    const w = wired(1)
    await withTenant(A, () => w.prisma.user.findMany())
    const from = w.wire.length
    const counts = await withTenant(A, () => w.prisma.$transaction(async (tx) => [await tx.user.count(), await tx.user.count(), await withTenant(B, () => tx.user.count()), await tx.user.count()]))
    const [a, b] = [(await own(A)).length, (await own(B)).length]
    expect(counts).toEqual([a, a, b, a])
    expect(w.statements(from)).toEqual(['BEGIN', 'SELECT', 'SELECT', 'SELECT', 'SELECT', 'COMMIT'])
    expect(w.pins(from)).toEqual([B, A])
  })

  it("Prisma's own transaction for a nested write runs under the call's tenant", async () => {
    const w = wired(1)
    await withTenant(A, () => w.prisma.user.findMany())
    const from = w.wire.length
    const made = await withTenant(B, () => w.prisma.user.create({ data: { name: 'b-nested', email: 'b-nested@pin', posts: { create: { title: 'nested' } } }, include: { posts: true } }))
    expect(made.posts.map((p) => p.title)).toEqual(['nested'])
    expect(w.statements(from)[0]).toBe('BEGIN')
    expect(w.pins(from)).toEqual([B])
    expect(await db.raw(`SELECT "tenantId" FROM ${db.table('Post')} WHERE id = $1`, [made.posts[0]!.id])).toEqual([{ tenantId: B }])
    await withTenant(B, () => w.prisma.post.deleteMany({ where: { authorId: made.id } }))
    await withTenant(B, () => w.prisma.user.delete({ where: { id: made.id } }))
  })

  it('another user of the pool (its query, or a connection it checks out) never leaves its setting to the next statement', async () => {
    const w = wired(1)
    await withTenant(A, () => w.prisma.user.findMany())
    await w.pool.query(`SET app.tenant_id = '${B}'`)
    expect(tenantsOf(await withTenant(A, () => w.prisma.user.findMany(T)))).toEqual(await own(A))
    // A connection checked out directly holds no tenant, whatever rowcrypt pinned on it last.
    await withTenant(A, () => w.prisma.user.findMany(T))
    const c = await w.pool.connect()
    expect((await c.query(`${settingSql}, (SELECT count(*)::int FROM ${db.table('User')}) AS n`)).rows).toEqual([{ tenant: '', admin: '', n: 0 }])
    await c.query(`SET app.tenant_id = '${B}'`)
    c.release()
    expect(tenantsOf(await withTenant(A, () => w.prisma.user.findMany(T)))).toEqual(await own(A))
    // A client without the extension, on the same adapter, in a transaction of its own.
    await w.base.$transaction(async (tx) => tx.$executeRawUnsafe(`SET app.tenant_id = '${B}'`))
    expect(await w.base.user.findMany()).toEqual([])
  })

  it('a dropped connection is replaced, and the new one pinned before its first statement', async () => {
    const w = wired(1)
    const [row] = await withTenant(A, () => w.prisma.$queryRawUnsafe<Array<{ pid: number }>>('SELECT pg_backend_pid() AS pid'))
    const pid = row!.pid
    await db.raw('SELECT pg_terminate_backend($1)', [pid])
    // The pool learns of it when the socket closes (or when its next statement fails).
    for (let i = 0; i < 50 && w.pool.totalCount > 0; i++) await new Promise((r) => setTimeout(r, 20))
    const from = w.wire.length
    const first = await withTenant(A, () => w.prisma.user.findMany(T)).catch((e: unknown) => e)
    const rows = Array.isArray(first) ? first : await withTenant(A, () => w.prisma.user.findMany(T))
    expect(tenantsOf(rows)).toEqual(await own(A))
    expect([...w.pids(from)].filter((p) => p !== pid).length).toBeGreaterThan(0)
    expect(w.pins(from)).toContain(A)
  })
})

describe('adapter pinning fails closed', () => {
  let db: TestDatabase
  let schema: string
  const models = { User: { fields: ['email'] as const } }
  beforeAll(async () => {
    db = await openDatabase('postgres-rls', 'rls_closed')
    schema = db.table('User').split('.')[0]!.replace(/"/g, '')
  })
  afterAll(() => db?.close())

  it("rls: { pinning: 'adapter' } on an adapter not wrapped is refused before any statement, on every call", async () => {
    const plain = new PostgresClient({ adapter: new PrismaPg({ connectionString: roleUrl(RLS_ROLE) }, { schema }) })
    try {
      const p = plain.$extends(rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), models, rls: { pinning: 'adapter' } }))
      const refused = { code: 'ERR_ROWCRYPT_CONFIG' }
      await expect(withTenant('closed_a', () => p.user.create({ data: { name: 'unpinned', email: 'x@closed' } }))).rejects.toMatchObject(refused)
      await expect(withTenant('closed_a', () => p.user.findMany())).rejects.toMatchObject(refused)
      await expect(withTenant('closed_a', () => p.$executeRawUnsafe(`INSERT INTO ${db.table('Team')} (name) VALUES ('unpinned')`))).rejects.toMatchObject(refused)
      await expect(withTenant('closed_a', () => p.$transaction([p.user.findMany()]))).rejects.toMatchObject(refused)
      await expect(p.$transaction(async (tx) => withTenant('closed_a', () => tx.user.findMany()))).rejects.toMatchObject(refused)
      expect(await db.raw(`SELECT name FROM ${db.table('User')} WHERE name = 'unpinned' UNION ALL SELECT name FROM ${db.table('Team')} WHERE name = 'unpinned'`)).toEqual([])
      // The transaction pinning needs no wrapper.
      const tx = plain.$extends(rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), models, rls: true }))
      expect(await withTenant('closed_a', () => tx.user.findMany())).toEqual([])
    } finally {
      await plain.$disconnect()
    }
  })

  it('an adapter wrapped for other setting names is refused too; withRlsPinning refuses what it cannot pin', async () => {
    const other = new PostgresClient({ adapter: withRlsPinning(new PrismaPg({ connectionString: roleUrl(RLS_ROLE) }, { schema }), { tenantSetting: 'app.org_id' }) })
    try {
      const p = other.$extends(rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), models, rls: { pinning: 'adapter' } }))
      await expect(withTenant('closed_a', () => p.user.findMany())).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
      // Without a pinning option too: the adapter pins other names than rowcrypt's policies read.
      const auto = other.$extends(rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), models, rls: true }))
      await expect(withTenant('closed_a', () => auto.user.findMany())).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
      await expect(withTenant('closed_a', () => auto.$executeRawUnsafe(`INSERT INTO ${db.table('Team')} (name) VALUES ('unpinned')`))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
      await expect(withTenant('closed_a', () => auto.$transaction([auto.user.findMany()]))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
      expect(await db.raw(`SELECT name FROM ${db.table('Team')} WHERE name = 'unpinned'`)).toEqual([])
      const same = other.$extends(rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), models, rls: { pinning: 'adapter', tenantSetting: 'app.org_id' } }))
      expect(await withTenant('closed_a', () => same.$queryRawUnsafe<Row[]>(`SELECT current_setting('app.org_id', true) AS t`))).toEqual([{ t: 'closed_a' }])
    } finally {
      await other.$disconnect()
    }
    const code = (fn: () => unknown) => {
      try {
        fn()
      } catch (e) {
        return (e as { code?: unknown }).code
      }
      return undefined
    }
    expect(code(() => withRlsPinning(new PrismaBetterSqlite3({ url: 'file::memory:' }) as never))).toBe('ERR_ROWCRYPT_CONFIG')
    expect(code(() => withRlsPinning(new PrismaPg({ connectionString: PG_URL }), { tenantSetting: 'tenant' }))).toBe('ERR_ROWCRYPT_CONFIG')
    expect(code(() => withRlsPinning(new PrismaPg({ connectionString: PG_URL }), { tenantSetting: 'app.x', adminSetting: 'app.x' }))).toBe('ERR_ROWCRYPT_CONFIG')
  })
})
