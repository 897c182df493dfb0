// Key rotation with AwsKmsKeyProvider against the local KMS server: direct mode moves each row's
// data key with one KMS ReEncrypt (the plaintext data key never leaves KMS); hierarchical mode makes
// one new tenant key per tenant and re-wraps the rows locally.
import { InMemoryTenantKeyStore, rotateKeys, verifyRows, withTenant } from '../../src'
import type { KmsDevServer } from '../../src/kms-dev-server'
import { openDatabase, type TestDatabase } from '../support/db'
import { awsProvider, startKms } from '../support/kms'
import { extend } from '../support/setup'

describe('key rotation with AWS KMS (local KMS server, SQLite)', () => {
  let db: TestDatabase
  let kms: KmsDevServer
  beforeAll(async () => {
    db = await openDatabase('sqlite', 'rotation_kms')
    kms = (await startKms()).server
  })
  afterAll(async () => {
    await kms.stop()
    await db.close()
  })
  beforeEach(() => db.raw('DELETE FROM "User"'))

  async function seed(prisma: ReturnType<typeof extend>, tenants: string[], perTenant: number): Promise<void> {
    for (const t of tenants)
      await withTenant(t, () => prisma.user.createMany({ data: Array.from({ length: perTenant }, (_, i) => ({ name: `${t}${i}`, email: `${t}_${i}@example.com`, ssn: '123-45-6789' })) }))
  }

  it('direct mode: one ReEncrypt per row and no other KMS call; every row then decrypts under v2', async () => {
    await seed(extend(db, awsProvider(kms, { mode: 'direct' })), ['k_a', 'k_b'], 20)
    const rotator = extend(db, awsProvider(kms, { mode: 'direct', activeVersion: 'v2' }))
    kms.resetStats()
    expect(await rotateKeys({ prisma: rotator, batchSize: 8, concurrency: 4 })).toBe(40)
    expect(kms.calls()).toEqual({ ReEncrypt: 40 })
    const moved = kms.requests().filter((r) => r.operation === 'ReEncrypt')
    expect(moved[0]).toMatchObject({ encryptionContext: { purpose: 'row-dek', model: 'User', keyVersion: 'v2' } })
    expect((await db.raw<{ v: string }>('SELECT DISTINCT "keyVersion" AS v FROM "User"')).map((r) => r.v)).toEqual(['v2'])
    expect((await verifyRows({ prisma: rotator })).failed).toBe(0)
    const users = await withTenant('k_a', () => rotator.user.findMany({ select: { email: true } }))
    expect(users.map((u) => u.email).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `k_a_${i}@example.com`).sort())
  })

  it('direct mode re-key: a fresh data key from KMS per row (GenerateDataKey), fields re-encrypted', async () => {
    await seed(extend(db, awsProvider(kms, { mode: 'direct' })), ['k_c'], 10)
    const rotator = extend(db, awsProvider(kms, { mode: 'direct', activeVersion: 'v2' }))
    kms.resetStats()
    expect(await rotateKeys({ prisma: rotator, rekey: true, maxKmsRps: 1000 })).toBe(10)
    expect(kms.calls()).toEqual({ Decrypt: 10, GenerateDataKey: 10 })
    expect((await verifyRows({ prisma: rotator })).failed).toBe(0)
  })

  it('hierarchical mode: KMS calls grow with tenants, not rows (one new tenant key per tenant)', async () => {
    const store = new InMemoryTenantKeyStore()
    await seed(extend(db, awsProvider(kms, { tenantKeyStore: store })), ['h_a', 'h_b', 'h_c'], 30)
    const rotator = extend(db, awsProvider(kms, { tenantKeyStore: store, activeVersion: 'v2' }))
    kms.resetStats()
    expect(await rotateKeys({ prisma: rotator, batchSize: 16 })).toBe(90)
    // Per tenant: Decrypt of its v1 tenant key, GenerateDataKey of its v2 tenant key.
    expect(kms.calls()).toEqual({ Decrypt: 3, GenerateDataKey: 3 })
    expect((await verifyRows({ prisma: rotator })).failed).toBe(0)
  })
})
