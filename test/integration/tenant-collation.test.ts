// Tenant ids are compared as bytes, in the database too. Under MariaDB's default collations `acme`,
// `ACME`, `acme ` and `Acmé` are one value; so they are under a non-deterministic PostgreSQL
// collation and SQLite's COLLATE NOCASE / RTRIM. rowcrypt refuses to run on such a tenant column
// (ERR_ROWCRYPT_CONFIG, naming it) before any row is changed, or, with tenantIds: 'canonical',
// refuses every tenant id a collation could conflate. With byte-exact columns (the test migrations),
// each of the four tenants sees and changes only its own rows.
import { Client } from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaTenantKeyStore, rowcrypt, unsafeBypassTenantScope, withTenant } from '../../src'
import { PrismaClient as PostgresClient } from '../../generated/postgres/client/client'
import { manifest as postgresManifest } from '../../generated/postgres/rowcrypt'
import { applyPostgresMigrations } from '../../prisma/migrate'
import { applyRls, openDatabase, PG_URL, RLS_ROLE, roleUrl, type TestClient, type TestDatabase } from '../support/db'
import { rlsOf, testKeyProvider } from '../support/setup'

const CONFIG = 'ERR_ROWCRYPT_CONFIG'
const INVALID_TENANT = 'ERR_ROWCRYPT_TENANT_INVALID'
const FOREIGN_KEY = 'P2003'
/** Four distinct tenants that a case-insensitive, accent-insensitive, PAD SPACE collation takes for one. */
const TENANTS = ['acme', 'ACME', 'acme ', 'Acmé'] as const

const MODELS = {
  User: { fields: ['email', 'ssn', 'notes', { name: 'prefs', type: 'json' }, { name: 'avatar', type: 'bytes' }] },
  Post: { fields: ['title', 'body'] },
  Document: { fields: ['body'], columns: { tenantId: 'orgId' } },
} as const

function extendWith(db: Pick<TestDatabase, 'kind' | 'prisma' | 'manifest'>, tenantIds?: 'any' | 'canonical') {
  return db.prisma.$extends(rowcrypt({ ...rlsOf(db), ...(tenantIds !== undefined ? { tenantIds } : {}), schema: db.manifest, keyProvider: testKeyProvider(), models: MODELS }))
}

type Failure = Error & { code?: string; columns?: Array<Record<string, unknown>> }
async function rejection(run: () => PromiseLike<unknown>): Promise<Failure> {
  try {
    await run()
  } catch (e) {
    return e as Failure
  }
  throw new Error('expected a rejection')
}

const count = async (db: TestDatabase, sql: string, params: unknown[] = []) => Number(Object.values((await db.raw(sql, params))[0]!)[0])

describe('tenant ids on MariaDB', () => {
  describe('a tenant column with the default collation utf8mb4_unicode_ci (case and accent insensitive and PAD SPACE)', () => {
    let db: TestDatabase
    beforeAll(async () => {
      db = await openDatabase('mysql', 'collation_ci')
      await db.raw("ALTER TABLE `User` MODIFY `tenantId` VARCHAR(191) NOT NULL DEFAULT '' COLLATE utf8mb4_unicode_ci")
    })
    afterAll(() => db?.close())

    it('refuses the first scoped call with ERR_ROWCRYPT_CONFIG naming the column before any row is changed', async () => {
      // The victim's row, written through a canonical client (which skips the check).
      const victim = await withTenant('acme', () => extendWith(db, 'canonical').user.create({ data: { name: 'victim', email: 'victim@acme' } }))
      await withTenant('acme', () => extendWith(db, 'canonical').post.create({ data: { title: 'victim post', authorId: victim.id } }))
      // Control: the database itself takes the four ids for one.
      for (const t of TENANTS) expect(await count(db, 'SELECT COUNT(*) FROM `User` WHERE `tenantId` = ?', [t])).toBe(1)
      const before = { users: await db.raw('SELECT * FROM `User` ORDER BY `id`'), posts: await db.raw('SELECT * FROM `Post` ORDER BY `id`') }

      const prisma = extendWith(db)
      const first = await rejection(() => withTenant('ACME', () => prisma.user.updateMany({ data: { name: 'hijacked' } })))
      expect(first.code).toBe(CONFIG)
      expect(first.columns).toEqual([expect.objectContaining({ model: 'User', field: 'tenantId', table: 'User', column: 'tenantId' })])
      // Every later call fails closed with the same error, whatever it is.
      const later: Array<() => PromiseLike<unknown>> = [
        () => withTenant('ACME', () => prisma.user.count()),
        () => withTenant('ACME', () => prisma.user.groupBy({ by: ['name'], _count: true })),
        () => withTenant('ACME', () => prisma.user.deleteMany()),
        () => withTenant('ACME', () => prisma.user.update({ where: { id: victim.id }, data: { name: 'hijacked' } })),
        () => withTenant('ACME', () => prisma.user.delete({ where: { id: victim.id } })),
        () => withTenant('ACME', () => prisma.post.create({ data: { title: 'planted', authorId: victim.id } })),
        () => unsafeBypassTenantScope('collation test', () => prisma.user.findMany()),
      ]
      for (const run of later) expect(await rejection(run)).toBe(first)
      expect({ users: await db.raw('SELECT * FROM `User` ORDER BY `id`'), posts: await db.raw('SELECT * FROM `Post` ORDER BY `id`') }).toEqual(before)
    })

    it('a first call that is a batch transaction is refused too and writes nothing', async () => {
      const before = await count(db, 'SELECT COUNT(*) FROM `User`')
      const prisma = extendWith(db)
      const e = await rejection(() =>
        withTenant('ACME', () => prisma.$transaction([prisma.user.create({ data: { name: 'b1', email: 'b1' } }), prisma.user.create({ data: { name: 'b2', email: 'b2' } })])),
      )
      expect(e.code).toBe(CONFIG)
      expect(await count(db, 'SELECT COUNT(*) FROM `User`')).toBe(before)
    })

    it('with tenantIds: canonical it runs for acme and refuses ACME and "acme " and Acmé as tenant ids before any SQL', async () => {
      const prisma = extendWith(db, 'canonical')
      const own = await withTenant('acme', () => prisma.user.create({ data: { name: 'canonical', email: 'canonical@acme' } }))
      expect((await withTenant('acme', () => prisma.user.findMany())).map((u) => u.name)).toContain('canonical')
      const users = await db.raw('SELECT * FROM `User` ORDER BY `id`')
      for (const t of TENANTS.slice(1)) {
        const sent = db.queries.length
        const runs: Array<() => PromiseLike<unknown>> = [
          () => prisma.user.findMany(),
          () => prisma.user.count(),
          () => prisma.user.updateMany({ data: { name: 'hijacked' } }),
          () => prisma.user.deleteMany(),
          () => prisma.user.update({ where: { id: own.id }, data: { name: 'hijacked' } }),
          () => prisma.user.create({ data: { name: 'x', email: 'x' } }),
        ]
        for (const run of runs) {
          expect([t, (await rejection(() => withTenant(t, run))).code]).toEqual([t, INVALID_TENANT])
        }
        // Inside unsafeBypassTenantScope: a create naming the tenant, and a filter on the tenant column.
        expect((await rejection(() => unsafeBypassTenantScope('collation test', () => prisma.user.create({ data: { name: 'x', email: 'x', tenantId: t } })))).code).toBe(INVALID_TENANT)
        expect((await rejection(() => unsafeBypassTenantScope('collation test', () => prisma.user.deleteMany({ where: { tenantId: t } })))).code).toBe(INVALID_TENANT)
        expect(db.queries.slice(sent)).toEqual([])
      }
      expect(await db.raw('SELECT * FROM `User` ORDER BY `id`')).toEqual(users)
      // A canonical id names its tenant inside the bypass too.
      const made = await unsafeBypassTenantScope('collation test', () => prisma.user.create({ data: { name: 'bypass', email: 'b@acme', tenantId: 'acme' }, select: { tenantId: true } }))
      expect(made.tenantId).toBe('acme')
    })
  })

  it('a PAD SPACE binary collation (utf8mb4_bin) is refused too: it takes "acme " for acme', async () => {
    const db = await openDatabase('mysql', 'collation_pad')
    try {
      await db.raw("ALTER TABLE `Post` MODIFY `tenantId` VARCHAR(191) NOT NULL DEFAULT '' COLLATE utf8mb4_bin")
      await db.raw("INSERT INTO `User` (`name`, `email`, `tenantId`) VALUES ('u', 'x', 'acme')")
      await db.raw("INSERT INTO `Post` (`id`, `title`, `authorId`, `tenantId`) VALUES ('p1', 't', LAST_INSERT_ID(), 'acme')")
      expect(await count(db, 'SELECT COUNT(*) FROM `Post` WHERE `tenantId` = ?', ['acme '])).toBe(1)
      const e = await rejection(() => withTenant('acme ', () => extendWith(db).post.count()))
      expect(e.code).toBe(CONFIG)
      expect(e.columns).toEqual([expect.objectContaining({ model: 'Post', table: 'Post', column: 'tenantId' })])
    } finally {
      await db.close()
    }
  })

  describe('byte-exact tenant columns (the test migration: utf8mb4_nopad_bin)', () => {
    let db: TestDatabase
    let prisma: ReturnType<typeof extendWith>
    const users = new Map<string, number>()
    const posts = new Map<string, string>()
    const nameOf = (t: string) => `user of ${JSON.stringify(t)}`
    beforeAll(async () => {
      db = await openDatabase('mysql', 'collation_bin')
      prisma = extendWith(db)
      for (const t of TENANTS) {
        const u = await withTenant(t, () => prisma.user.create({ data: { name: nameOf(t), email: `${t}@example.com` } }))
        users.set(t, u.id)
        posts.set(t, (await withTenant(t, () => prisma.post.create({ data: { title: `post of ${t}`, authorId: u.id } }))).id)
      }
    })
    afterAll(() => db?.close())

    const others = (t: string) => TENANTS.filter((o) => o !== t)

    it('each of the four tenants counts and groups and finds only its own rows', async () => {
      for (const t of TENANTS) {
        expect([t, await withTenant(t, () => prisma.user.count())]).toEqual([t, 1])
        expect(await withTenant(t, () => prisma.user.groupBy({ by: ['name'], _count: true }))).toEqual([{ name: nameOf(t), _count: 1 }])
        expect((await withTenant(t, () => prisma.user.findMany({ omit: { tenantId: false } }))).map((u) => [u.name, u.email, u.tenantId])).toEqual([[nameOf(t), `${t}@example.com`, t]])
        expect((await withTenant(t, () => prisma.post.findMany())).map((p) => p.title)).toEqual([`post of ${t}`])
      }
    })

    it("updateMany changes only the tenant's own row", async () => {
      for (const t of TENANTS) expect(await withTenant(t, () => prisma.user.updateMany({ data: { name: `${nameOf(t)}, updated` } }))).toEqual({ count: 1 })
      for (const t of TENANTS) {
        const [row] = await db.raw<{ name: string; tenantId: string }>('SELECT `name`, `tenantId` FROM `User` WHERE `id` = ?', [users.get(t)])
        expect(row).toEqual({ name: `${nameOf(t)}, updated`, tenantId: t })
      }
    })

    it("update and delete by another tenant's id fail with P2025 and leave the row unchanged at rest", async () => {
      const before = await db.raw('SELECT * FROM `User` ORDER BY `id`')
      for (const t of TENANTS) {
        for (const o of others(t)) {
          const id = users.get(o)!
          expect([t, o, (await rejection(() => withTenant(t, () => prisma.user.update({ where: { id }, data: { name: 'hijacked' } })))).code]).toEqual([t, o, 'P2025'])
          expect([t, o, (await rejection(() => withTenant(t, () => prisma.user.delete({ where: { id } })))).code]).toEqual([t, o, 'P2025'])
          expect(await withTenant(t, () => prisma.user.findUnique({ where: { id } }))).toBeNull()
        }
      }
      expect(await db.raw('SELECT * FROM `User` ORDER BY `id`')).toEqual(before)
    })

    it("a foreign key naming another of these tenants' rows is refused", async () => {
      const before = await count(db, 'SELECT COUNT(*) FROM `Post`')
      for (const t of TENANTS) {
        for (const o of others(t)) {
          const e = await rejection(() => withTenant(t, () => prisma.post.create({ data: { title: 'planted', authorId: users.get(o)! } })))
          expect([t, o, e.code]).toEqual([t, o, FOREIGN_KEY])
        }
      }
      expect(await count(db, 'SELECT COUNT(*) FROM `Post`')).toBe(before)
    })

    it("deleteMany deletes only the tenant's own rows", async () => {
      const [first, ...rest] = TENANTS
      expect(await withTenant(first, () => prisma.post.deleteMany())).toEqual({ count: 1 })
      expect(await withTenant(first, () => prisma.user.deleteMany())).toEqual({ count: 1 })
      for (const t of rest) {
        expect(await count(db, 'SELECT COUNT(*) FROM `User` WHERE `id` = ?', [users.get(t)])).toBe(1)
        expect(await count(db, 'SELECT COUNT(*) FROM `Post` WHERE `id` = ?', [posts.get(t)])).toBe(1)
      }
    })

    it('a fresh client checks before its first batch and interactive transaction and both run', async () => {
      const batchClient = extendWith(db)
      const [made, n] = await withTenant('ACME', () =>
        batchClient.$transaction([batchClient.user.create({ data: { name: 'batch', email: 'b' }, omit: { tenantId: false } }), batchClient.user.count()]),
      )
      expect([made.tenantId, n]).toEqual(['ACME', 2])
      const itxClient = extendWith(db)
      expect(await withTenant('Acmé', () => itxClient.$transaction(async (tx) => tx.user.count()))).toBe(1)
    })

    it('the tenant key store shreds only the named tenant', async () => {
      const store = new PrismaTenantKeyStore({ prisma: db.prisma, schema: db.manifest })
      for (const t of TENANTS) await store.putIfAbsent({ tenantId: t, keyVersion: 'v1', kmsKeyId: `arn:${t}`, wrappedKey: Uint8Array.from([1, 2, 3]), createdAt: new Date(), shreddedAt: null })
      expect(await store.shred('ACME', new Date())).toEqual({ keysDestroyed: 1 })
      for (const t of TENANTS) expect([t, (await store.get(t, 'v1'))?.shreddedAt === null]).toEqual([t, t !== 'ACME'])
    })
  })

  describe('the tenant key store table with a case-insensitive tenantId', () => {
    let db: TestDatabase
    beforeAll(async () => {
      db = await openDatabase('mysql', 'collation_keys')
      await db.raw('ALTER TABLE `RowcryptTenantKey` MODIFY `tenantId` VARCHAR(256) NOT NULL COLLATE utf8mb4_unicode_ci')
      await db.raw("INSERT INTO `RowcryptTenantKey` (`tenantId`, `keyVersion`, `kmsKeyId`, `wrappedKey`) VALUES ('acme', 'v1', 'arn:acme', x'0102')")
    })
    afterAll(() => db?.close())

    it.each([
      ['with the manifest', () => new PrismaTenantKeyStore({ prisma: db.prisma, schema: db.manifest })],
      ['without it (the provider asked from the server)', () => new PrismaTenantKeyStore({ prisma: db.prisma })],
    ])('PrismaTenantKeyStore %s is refused: shred("ACME") cannot destroy the key of acme', async (_how, make) => {
      expect(await count(db, 'SELECT COUNT(*) FROM `RowcryptTenantKey` WHERE `tenantId` = ?', ['ACME'])).toBe(1)
      const store = make()
      const e = await rejection(() => store.shred('ACME', new Date()))
      expect(e.code).toBe(CONFIG)
      expect(e.columns).toEqual([expect.objectContaining({ model: 'RowcryptTenantKey', table: 'RowcryptTenantKey', column: 'tenantId' })])
      expect(await rejection(() => store.get('ACME', 'v1'))).toBe(e)
      expect(await rejection(() => store.validate())).toBe(e)
      expect(await db.raw('SELECT `tenantId`, `keyVersion`, `wrappedKey`, `shreddedAt` FROM `RowcryptTenantKey`')).toEqual([
        { tenantId: 'acme', keyVersion: 'v1', wrappedKey: Buffer.from([1, 2]), shreddedAt: null },
      ])
    })

    it('with tenantIds: canonical the store runs and refuses ACME as a tenant id', async () => {
      const store = new PrismaTenantKeyStore({ prisma: db.prisma, schema: db.manifest, tenantIds: 'canonical' })
      expect((await rejection(() => store.shred('ACME', new Date()))).code).toBe(INVALID_TENANT)
      expect((await store.get('acme', 'v1'))?.kmsKeyId).toBe('arn:acme')
      expect(await count(db, 'SELECT COUNT(*) FROM `RowcryptTenantKey` WHERE `shreddedAt` IS NOT NULL')).toBe(0)
    })
  })
})

// PostgreSQL: a database of its own, since the check looks for the table in every schema and this
// one must not make other test files' schemas in the shared database look unsafe.
interface PgDatabase extends Pick<TestDatabase, 'kind' | 'prisma' | 'manifest'> {
  admin: Client
  close(): Promise<void>
}

async function openPostgres(label: string, opts: { rls: boolean; collation: string }): Promise<PgDatabase> {
  const name = `rc_${label}_${process.pid}`
  const server = new Client({ connectionString: PG_URL })
  await server.connect()
  await server.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
  await server.query(`CREATE DATABASE "${name}"`)
  const url = new URL(PG_URL)
  url.pathname = `/${name}`
  const admin = new Client({ connectionString: url.toString() })
  await admin.connect()
  const { rows } = await admin.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_collation WHERE collprovider = 'i'")
  if (rows[0]!.n === 0) throw new Error('this PostgreSQL server has no ICU collations: the non-deterministic collation tests need a server built with ICU')
  await admin.query("CREATE COLLATION public.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)")
  await admin.query("CREATE COLLATION public.cs (provider = icu, locale = 'und')")
  await applyPostgresMigrations(admin, 'app')
  // Before the policies: a column a policy uses cannot change its type.
  await admin.query(`ALTER TABLE app."User" ALTER COLUMN "tenantId" TYPE text COLLATE ${opts.collation}`)
  if (opts.rls) await applyRls(admin, 'app')
  const clientUrl = new URL(opts.rls ? roleUrl(RLS_ROLE) : PG_URL)
  clientUrl.pathname = `/${name}`
  const prisma = new PostgresClient({ adapter: new PrismaPg({ connectionString: clientUrl.toString() }, { schema: 'app' }) }) as unknown as TestClient
  return {
    kind: opts.rls ? 'postgres-rls' : 'postgres',
    prisma,
    manifest: postgresManifest as unknown as TestDatabase['manifest'],
    admin,
    close: async () => {
      await prisma.$disconnect()
      await admin.end()
      await server.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      await server.end()
    },
  }
}

describe.each([false, true])('tenant ids on PostgreSQL (rls: %s)', (rls) => {
  it('a tenant column with a non-deterministic ICU collation is refused before any row is changed', async () => {
    const db = await openPostgres(`collation_ci_${rls ? 'rls' : 'plain'}`, { rls, collation: 'public.ci' })
    try {
      await db.admin.query(`INSERT INTO app."User" ("name", "email", "tenantId") VALUES ('victim', 'x', 'acme')`)
      const n = await db.admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM app."User" WHERE "tenantId" = 'ACME'`)
      expect(n.rows[0]!.n).toBe(1) // control: the collation takes ACME for acme
      const before = (await db.admin.query('SELECT * FROM app."User"')).rows
      const prisma = extendWith(db)
      const e = await rejection(() => withTenant('ACME', () => prisma.user.updateMany({ data: { name: 'hijacked' } })))
      expect(e.code).toBe(CONFIG)
      expect(e.columns).toEqual([expect.objectContaining({ model: 'User', table: 'User', column: 'tenantId', schema: 'app' })])
      expect(await rejection(() => withTenant('ACME', () => prisma.user.count()))).toBe(e)
      expect((await db.admin.query('SELECT * FROM app."User"')).rows).toEqual(before)
    } finally {
      await db.close()
    }
  })

  it('a deterministic ICU collation passes (checked before a first call that is a batch) and ACME and acme stay apart', async () => {
    const db = await openPostgres(`collation_cs_${rls ? 'rls' : 'plain'}`, { rls, collation: 'public.cs' })
    try {
      const prisma = extendWith(db)
      const [made, n] = await withTenant('acme', () => prisma.$transaction([prisma.user.create({ data: { name: 'lower', email: 'l' }, omit: { tenantId: false } }), prisma.user.count()]))
      expect([made.tenantId, n]).toEqual(['acme', 1])
      await withTenant('ACME', () => prisma.user.create({ data: { name: 'upper', email: 'u' } }))
      expect((await withTenant('acme', () => prisma.user.findMany())).map((u) => u.name)).toEqual(['lower'])
      expect(await withTenant('ACME', () => prisma.user.count())).toBe(1)
    } finally {
      await db.close()
    }
  })
})

describe.each(['NOCASE', 'RTRIM'])('tenant ids on SQLite (COLLATE %s)', (collation) => {
  it('a tenant column declared with it is refused', async () => {
    const db = await openDatabase('sqlite', `collation_${collation}`)
    try {
      await db.raw('DROP TABLE "Document"')
      await db.raw(
        `CREATE TABLE "Document" ("id" TEXT NOT NULL PRIMARY KEY, "title" TEXT NOT NULL, "body" TEXT NOT NULL, "orgId" TEXT NOT NULL DEFAULT '' COLLATE ${collation}, "wrappedDek" BLOB, "keyVersion" TEXT)`,
      )
      await db.raw(`INSERT INTO "Document" ("id", "title", "body", "orgId") VALUES ('d1', 't', 'b', 'acme')`)
      expect(await count(db, `SELECT COUNT(*) FROM "Document" WHERE "orgId" = $1`, [collation === 'NOCASE' ? 'ACME' : 'acme '])).toBe(1)
      const before = await db.raw('SELECT * FROM "Document"')
      const e = await rejection(() => withTenant('ACME', () => extendWith(db).document.updateMany({ data: { title: 'hijacked' } })))
      expect(e.code).toBe(CONFIG)
      expect(e.columns).toEqual([expect.objectContaining({ model: 'Document', field: 'orgId', table: 'Document', column: 'orgId' })])
      expect(await db.raw('SELECT * FROM "Document"')).toEqual(before)
    } finally {
      await db.close()
    }
  })
})
