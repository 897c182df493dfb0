// Acceptance of AwsKmsKeyProvider through the real extension, on every database, counting calls on
// the local KMS-compatible server (reached through the real AWS SDK).
import { AwsKmsKeyProvider, PrismaTenantKeyStore, withTenant, type AwsKmsKeyProviderOptions } from '../../src'
import { KmsDevServer } from '../../src/kms-dev-server'
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { awsProvider } from '../support/kms'
import { extend } from '../support/setup'

const N = 1000

describe.each(DATABASES)('AwsKmsKeyProvider end to end on %s', (kind) => {
  let db: TestDatabase
  let kms: KmsDevServer
  beforeAll(async () => {
    db = await openDatabase(kind, 'aws_kms')
    kms = await KmsDevServer.start({ port: 0 })
    kms.createKey({ alias: 'alias/test-v1' })
    kms.createKey({ alias: 'alias/test-v2' })
    kms.createKey({ alias: 'alias/tenant-own' })
  })
  afterAll(async () => {
    await kms.stop()
    await db.close()
  })
  beforeEach(() => {
    kms.clearFaults()
    kms.latencyMs = 0
    kms.resetStats()
  })

  const provider = (options: Partial<AwsKmsKeyProviderOptions> & { maxAttempts?: number } = {}): AwsKmsKeyProvider =>
    awsProvider(kms, { ...((options.mode ?? 'hierarchical') === 'hierarchical' ? { tenantKeyStore: new PrismaTenantKeyStore({ prisma: db.prisma, schema: db.manifest }) } : {}), ...options })
  const count = async (table: string, tenantColumn: string, tenant: string) =>
    Number((await db.raw<{ n: number | bigint }>(`SELECT COUNT(*) AS n FROM "${table}" WHERE "${tenantColumn}" = $1`, [tenant]))[0]!.n)
  const writesSince = (from: number) => db.queries.slice(from).filter((q) => /^\s*(INSERT|UPDATE|DELETE)/i.test(q) && !q.includes('RowcryptTenantKey'))

  it(`hierarchical: ${N} rows created cold for one tenant make at most 1 KMS call, warm 0; a cold findMany of them at most 1, warm 0`, async () => {
    const writer = extend(db, provider())
    // A cold tenant: 100 concurrent create() calls racing one createMany of 900 rows, each row with its own data key.
    await withTenant('acc_h', () =>
      Promise.all([
        ...Array.from({ length: 100 }, (_, i) => writer.user.create({ data: { name: `u${i}`, email: `h${i}@acme.test` } })),
        writer.user.createMany({ data: Array.from({ length: N - 100 }, (_, i) => ({ name: `u${i + 100}`, email: `h${i + 100}@acme.test` })) }),
      ]),
    )
    expect(await count('User', 'tenantId', 'acc_h')).toBe(N)
    expect(kms.callCount()).toBeLessThanOrEqual(1)
    expect(kms.calls()).toEqual({ GenerateDataKey: 1 })
    kms.resetStats()
    await withTenant('acc_h', () => Promise.all(Array.from({ length: 50 }, (_, i) => writer.user.create({ data: { name: `w${i}`, email: `w${i}@acme.test` } }))))
    expect(kms.callCount()).toBe(0)

    // Another process: a cold cache over the same tenant key table.
    const reader = extend(db, provider())
    kms.resetStats()
    const rows = await withTenant('acc_h', () => reader.user.findMany())
    expect(rows).toHaveLength(N + 50)
    expect(new Set(rows.map((r) => r.email))).toEqual(new Set([...Array.from({ length: N }, (_, i) => `h${i}@acme.test`), ...Array.from({ length: 50 }, (_, i) => `w${i}@acme.test`)]))
    expect(kms.callCount()).toBeLessThanOrEqual(1)
    expect(kms.calls()).toEqual({ Decrypt: 1 })
    kms.resetStats()
    await withTenant('acc_h', () => reader.user.findMany())
    expect(kms.callCount()).toBe(0)
  })

  it(`direct: a result of ${N} distinct rows makes exactly one Decrypt per distinct wrapped key, never more than maxConcurrency at once`, async () => {
    const seeder = extend(db, provider({ mode: 'direct', maxConcurrency: 16 }))
    const authors = await withTenant('acc_d', () => Promise.all(Array.from({ length: 10 }, (_, i) => seeder.user.create({ data: { name: `a${i}`, email: `author${i}@acme.test` } }))))
    await withTenant('acc_d', () => seeder.post.createMany({ data: Array.from({ length: N - 10 }, (_, i) => ({ title: `title ${i}`, authorId: authors[i % 10]!.id })) }))
    const distinct = Number(
      (
        await db.raw<{ n: number | bigint }>(
          `SELECT COUNT(DISTINCT "wrappedDek") AS n FROM (SELECT "wrappedDek" FROM "Post" WHERE "tenantId" = $1 UNION ALL SELECT "wrappedDek" FROM "User" WHERE "tenantId" = $2) AS k`,
          ['acc_d', 'acc_d'],
        )
      )[0]!.n,
    )
    expect(distinct).toBe(N)

    const reader = extend(db, provider({ mode: 'direct', maxConcurrency: 4 }))
    kms.resetStats()
    kms.latencyMs = 2
    // 990 posts, each with its author: 1,980 rows decrypted, 1,000 distinct wrapped keys.
    const posts = await withTenant('acc_d', () => reader.post.findMany({ include: { author: true } }))
    expect(posts).toHaveLength(N - 10)
    expect(posts.every((p) => p.title.startsWith('title ') && /^author\d@acme\.test$/.test(p.author.email))).toBe(true)
    expect(kms.calls()).toEqual({ Decrypt: distinct })
    expect(kms.maxInFlight).toBeLessThanOrEqual(4)
    expect(kms.maxInFlight).toBeGreaterThan(1)
  }, 240_000) // 2,000 KMS requests over HTTP: minutes on a loaded machine

  it.each(['hierarchical', 'direct'] as const)('%s: a wrong encryption context (row or tenant moved) gives a coded error', async (mode) => {
    const prisma = extend(db, provider({ mode }))
    const t = `ctx_${mode}`
    await withTenant(t, () =>
      prisma.document.createMany({
        data: [
          { id: `${t}_1`, title: 'one', body: 'first' },
          { id: `${t}_2`, title: 'two', body: 'second' },
        ],
      }),
    )
    await withTenant(`${t}_b`, () => prisma.document.create({ data: { id: `${t}_b1`, title: 'b', body: 'of b' } }))
    // Row 1's key and ciphertext copied into row 2: bound to row 1's id.
    const [one] = await db.raw<{ wrappedDek: Uint8Array; body: string }>(`SELECT "wrappedDek", "body" FROM "Document" WHERE "id" = $1`, [`${t}_1`])
    await db.raw(`UPDATE "Document" SET "wrappedDek" = $1, "body" = $2 WHERE "id" = $3`, [Buffer.from(one!.wrappedDek), one!.body, `${t}_2`])
    // Tenant b's row moved into tenant t.
    await db.raw(`UPDATE "Document" SET "orgId" = $1 WHERE "id" = $2`, [t, `${t}_b1`])
    const fresh = extend(db, provider({ mode }))
    for (const client of [prisma, fresh]) {
      await expect(withTenant(t, () => client.document.findUnique({ where: { id: `${t}_2` } }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_DECRYPTION_FAILED' })
      await expect(withTenant(t, () => client.document.findUnique({ where: { id: `${t}_b1` } }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_DECRYPTION_FAILED' })
      expect((await withTenant(t, () => client.document.findUnique({ where: { id: `${t}_1` } })))!.body).toBe('first')
    }
  })

  it.each(['hierarchical', 'direct'] as const)("%s: another tenant's KMS key gives a coded error", async (mode) => {
    const own = `own_${mode}`
    const shared = `shared_${mode}`
    const options = { mode, tenantKeys: { [own]: { v1: 'alias/tenant-own' } } }
    const prisma = extend(db, provider(options))
    await withTenant(own, () => prisma.document.create({ data: { id: `${own}_1`, title: 't', body: 'own body' } }))
    await withTenant(shared, () => prisma.document.create({ data: { id: `${shared}_1`, title: 't', body: 'shared body' } }))
    if (mode === 'hierarchical') {
      // The shared tenant's wrapped tenant key (made under the shared KMS key) planted in the own tenant's record.
      const [rec] = await db.raw<{ wrappedKey: Uint8Array }>(`SELECT "wrappedKey" FROM "RowcryptTenantKey" WHERE "tenantId" = $1`, [shared])
      await db.raw(`UPDATE "RowcryptTenantKey" SET "wrappedKey" = $1 WHERE "tenantId" = $2`, [Buffer.from(rec!.wrappedKey), own])
      await expect(withTenant(own, () => extend(db, provider(options)).document.findMany())).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_DECRYPTION_FAILED' })
    } else {
      // The shared tenant's row (its key made under the shared KMS key) moved into the own tenant.
      await db.raw(`UPDATE "Document" SET "orgId" = $1 WHERE "id" = $2`, [own, `${shared}_1`])
      await expect(withTenant(own, () => prisma.document.findUnique({ where: { id: `${shared}_1` } }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_DECRYPTION_FAILED' })
      expect(kms.requests().at(-1)?.errorType).toBe('IncorrectKeyException')
      expect((await withTenant(own, () => prisma.document.findUnique({ where: { id: `${own}_1` } })))!.body).toBe('own body')
    }
  })

  it.each(['hierarchical', 'direct'] as const)('%s: throttled three times, then the query succeeds (SDK retries)', async (mode) => {
    const t = `thr_${mode}`
    await withTenant(t, () =>
      extend(db, provider({ mode })).user.createMany({
        data: [
          { name: 'a', email: 'a@thr.test' },
          { name: 'b', email: 'b@thr.test' },
        ],
      }),
    )
    const prisma = extend(db, provider({ mode, maxAttempts: 4 }))
    kms.resetStats()
    kms.inject({ error: 'ThrottlingException', times: 3 })
    const rows = await withTenant(t, () => prisma.user.findMany({ orderBy: { id: 'asc' } }))
    expect(rows.map((r) => r.email)).toEqual(['a@thr.test', 'b@thr.test'])
    expect(kms.requests().filter((r) => r.errorType === 'ThrottlingException')).toHaveLength(3)
    kms.inject({ error: 'ThrottlingException', times: 3 })
    const created = await withTenant(`${t}_new`, () => prisma.user.create({ data: { name: 'c', email: 'c@thr.test' } }))
    expect(created.email).toBe('c@thr.test')
  })

  it.each(['hierarchical', 'direct'] as const)('%s: KMS down: the write fails with ERR_ROWCRYPT_KMS_UNAVAILABLE before any SQL, the table unchanged', async (mode) => {
    const t = `down_${mode}`
    const prisma = extend(db, provider({ mode }))
    const existing = await withTenant(`${t}_old`, () => extend(db, provider({ mode: 'direct' })).user.create({ data: { name: 'old', email: 'old@down.test' } }))
    const before = await count('User', 'tenantId', t)
    const from = db.queries.length
    kms.resetStats()
    kms.inject({ error: 'ServiceUnavailableException', status: 503, times: Infinity })
    await expect(withTenant(t, () => prisma.user.create({ data: { name: 'x', email: 'x@down.test' } }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_KMS_UNAVAILABLE' })
    await expect(withTenant(t, () => prisma.user.createMany({ data: [{ name: 'y', email: 'y@down.test' }] }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_KMS_UNAVAILABLE' })
    // An update of an encrypted field needs the row's key: it fails after its key read, before writing.
    await expect(withTenant(`${t}_old`, () => extend(db, provider({ mode: 'direct' })).user.update({ where: { id: existing.id }, data: { email: 'new@down.test' } }))).rejects.toMatchObject({
      code: 'ERR_ROWCRYPT_KMS_UNAVAILABLE',
    })
    expect(writesSince(from)).toEqual([])
    expect(await count('User', 'tenantId', t)).toBe(before)
    expect(kms.requests().every((r) => r.status === 503)).toBe(true)
    kms.clearFaults()
    expect((await withTenant(`${t}_old`, () => prisma.user.findUnique({ where: { id: existing.id } })))!.email).toBe('old@down.test')
  })

  it('shredding tenant X (hierarchical, shared KMS key) makes its rows unreadable, here and in other processes, and leaves Y readable', async () => {
    const keyProvider = provider()
    const prisma = extend(db, keyProvider)
    await withTenant('shred_x', () =>
      prisma.user.createMany({
        data: [
          { name: 'x1', email: 'x1@shred.test' },
          { name: 'x2', email: 'x2@shred.test' },
        ],
      }),
    )
    await withTenant('shred_y', () => prisma.user.create({ data: { name: 'y1', email: 'y1@shred.test' } }))
    const result = await keyProvider.shredTenant('shred_x')
    expect(result).toEqual({ tenantId: 'shred_x', tenantKeysDestroyed: 1, kmsKeys: [] })
    const other = extend(db, provider())
    for (const client of [prisma, other]) {
      await expect(withTenant('shred_x', () => client.user.findMany())).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_TENANT_SHREDDED' })
      expect((await withTenant('shred_y', () => client.user.findMany())).map((u) => u.email)).toEqual(['y1@shred.test'])
    }
    const from = db.queries.length
    await expect(withTenant('shred_x', () => other.user.create({ data: { name: 'x3', email: 'x3@shred.test' } }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_TENANT_SHREDDED' })
    expect(writesSince(from)).toEqual([])
    const keys = await db.raw<{ keyVersion: string; wrappedKey: unknown }>(`SELECT "keyVersion", "wrappedKey" FROM "RowcryptTenantKey" WHERE "tenantId" = $1 ORDER BY "keyVersion"`, ['shred_x'])
    expect(keys).toEqual([
      { keyVersion: '*', wrappedKey: null },
      { keyVersion: 'v1', wrappedKey: null },
    ])
  })

  it("shredding tenant X with its own KMS key (direct mode) schedules the key's deletion; X unreadable, Y readable", async () => {
    const own = kms.createKey({ alias: `alias/shred-own-${kind}` })
    const options = { mode: 'direct' as const, tenantKeys: { shred_own: { v1: `alias/shred-own-${kind}` } } }
    const keyProvider = provider(options)
    const prisma = extend(db, keyProvider)
    await withTenant('shred_own', () => prisma.user.create({ data: { name: 'o', email: 'o@shred.test' } }))
    await withTenant('shred_other', () => prisma.user.create({ data: { name: 'p', email: 'p@shred.test' } }))
    const result = await keyProvider.shredTenant('shred_own', { pendingWindowInDays: 7 })
    expect(result.kmsKeys).toEqual([{ keyVersion: 'v1', keyArn: own.arn, action: 'scheduled-deletion', deletionDate: expect.any(Date) }])
    await expect(withTenant('shred_own', () => prisma.user.findMany())).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_TENANT_SHREDDED' })
    await expect(withTenant('shred_own', () => extend(db, provider(options)).user.findMany())).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_KMS_KEY_UNUSABLE' })
    expect((await withTenant('shred_other', () => extend(db, provider(options)).user.findMany())).map((u) => u.email)).toEqual(['p@shred.test'])
  })
})
