// PrismaTenantKeyStore on every database: the RowcryptTenantKey table from the migration, start-up
// validation, the insert race, and shredding tombstones.
import { PrismaTenantKeyStore, withTenant, type Manifest, type TenantKeyRecord } from '../../src'
import type { KmsDevServer } from '../../src/kms-dev-server'
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { awsProvider, startKms } from '../support/kms'
import { extend } from '../support/setup'

const record = (tenantId: string, keyVersion: string, byte: number): TenantKeyRecord => ({
  tenantId,
  keyVersion,
  kmsKeyId: 'arn:aws:kms:us-east-1:111122223333:key/test',
  wrappedKey: Uint8Array.from(Buffer.alloc(184, byte)),
  createdAt: new Date('2026-11-29T10:00:00.000Z'),
  shreddedAt: null,
})

async function rejected(p: Promise<unknown>): Promise<{ code?: string; cause?: unknown; message: string }> {
  try {
    await p
  } catch (e) {
    return e as { code?: string; message: string }
  }
  throw new Error('expected a rejection')
}

describe.each(DATABASES)('PrismaTenantKeyStore on %s', (kind) => {
  let db: TestDatabase
  let kms: KmsDevServer
  beforeAll(async () => {
    db = await openDatabase(kind, 'tenant_keys')
    kms = (await startKms()).server
  })
  afterAll(async () => {
    await kms.stop()
    await db.close()
  })
  const store = () => new PrismaTenantKeyStore({ prisma: db.prisma, schema: db.manifest })

  it('validates against the migrated table and the manifest', async () => {
    await expect(store().validate()).resolves.toBeUndefined()
    await expect(new PrismaTenantKeyStore({ prisma: db.prisma }).validate()).resolves.toBeUndefined()
  })

  it('stores, reads back and keeps the first record when two processes insert at once', async () => {
    const s = store()
    expect(await s.get('ts_a', 'v1')).toBeNull()
    const [first, second] = await Promise.all([s.putIfAbsent(record('ts_a', 'v1', 1)), store().putIfAbsent(record('ts_a', 'v1', 2))])
    expect(Buffer.from(first.wrappedKey!).equals(Buffer.from(second.wrappedKey!))).toBe(true)
    const read = (await s.get('ts_a', 'v1'))!
    expect(read).toEqual({ ...first, wrappedKey: expect.any(Uint8Array) })
    expect(read.wrappedKey).toHaveLength(184)
    expect(read.createdAt.toISOString()).toBe('2026-11-29T10:00:00.000Z')
    expect(await s.get('ts_a', 'v2')).toBeNull()
    expect(await s.get('ts_b', 'v1')).toBeNull()
  })

  it('accepts the longest tenant id rowcrypt allows', async () => {
    const long = 't'.repeat(256)
    await store().putIfAbsent(record(long, 'v1', 3))
    expect((await store().get(long, 'v1'))!.tenantId).toBe(long)
  })

  it('shreds: every key of the tenant destroyed, a tombstone reported for any version, other tenants untouched', async () => {
    const s = store()
    await s.putIfAbsent(record('ts_x', 'v1', 4))
    await s.putIfAbsent(record('ts_x', 'v2', 5))
    await s.putIfAbsent(record('ts_y', 'v1', 6))
    const at = new Date('2026-11-29T12:00:00.000Z')
    expect(await s.shred('ts_x', at)).toEqual({ keysDestroyed: 2 })
    for (const v of ['v1', 'v2', 'v3']) {
      const r = (await s.get('ts_x', v))!
      expect(r.shreddedAt?.toISOString()).toBe(at.toISOString())
      expect(r.wrappedKey).toBeNull()
    }
    expect((await s.get('ts_y', 'v1'))!.shreddedAt).toBeNull()
    expect(await s.shred('ts_x', at)).toEqual({ keysDestroyed: 0 })
    const rows = await db.raw<{ keyVersion: string }>(`SELECT "keyVersion" FROM "RowcryptTenantKey" WHERE "tenantId" = $1 AND "wrappedKey" IS NULL ORDER BY "keyVersion"`, ['ts_x'])
    expect(rows.map((r) => r.keyVersion)).toEqual(['*', 'v1', 'v2'])
  })

  it('refuses a client without the model, a manifest that lacks it or types it wrongly, with ConfigError', async () => {
    expect((await rejected(new PrismaTenantKeyStore({ prisma: {} }).validate())).code).toBe('ERR_ROWCRYPT_CONFIG')
    expect((await rejected(new PrismaTenantKeyStore({ prisma: db.prisma, model: 'Missing' }).get('t', 'v1'))).code).toBe('ERR_ROWCRYPT_CONFIG')
    const without: Manifest = { ...db.manifest, models: { ...db.manifest.models } }
    delete (without.models as Record<string, unknown>).RowcryptTenantKey
    expect((await rejected(new PrismaTenantKeyStore({ prisma: db.prisma, schema: without }).validate())).code).toBe('ERR_ROWCRYPT_CONFIG')
    const model = db.manifest.models.RowcryptTenantKey
    const wrongType: Manifest = {
      ...db.manifest,
      models: { ...db.manifest.models, RowcryptTenantKey: { ...model, fields: { ...model.fields, wrappedKey: { ...model.fields.wrappedKey, type: 'String' } } } },
    }
    expect((await rejected(new PrismaTenantKeyStore({ prisma: db.prisma, schema: wrongType }).validate())).message).toContain('wrappedKey')
    const wrongKey: Manifest = { ...db.manifest, models: { ...db.manifest.models, RowcryptTenantKey: { ...model, primaryKey: ['tenantId'] } } }
    expect((await rejected(new PrismaTenantKeyStore({ prisma: db.prisma, schema: wrongKey }).validate())).code).toBe('ERR_ROWCRYPT_CONFIG')
    // A model that exists but is not the tenant key table.
    expect((await rejected(new PrismaTenantKeyStore({ prisma: db.prisma, model: 'Team' }).validate())).code).toBe('ERR_ROWCRYPT_CONFIG')
    expect(() => new PrismaTenantKeyStore({ prisma: undefined })).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
  })

  // Last: it drops the table.
  it('a missing table fails validation with ConfigError, and writes fail before any SQL on the scoped table', async () => {
    await db.raw(`DROP TABLE "RowcryptTenantKey"`)
    const e = await rejected(store().validate())
    expect(e.code).toBe('ERR_ROWCRYPT_CONFIG')
    expect((e.cause as { code?: string }).code).toBe('P2021')
    const keyProvider = awsProvider(kms, { tenantKeyStore: store() })
    const prisma = extend(db, keyProvider)
    const from = db.queries.length
    await expect(withTenant('ts_missing', () => prisma.user.create({ data: { name: 'n', email: 'n@x.test' } }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
    expect(db.queries.slice(from).some((q) => /"User"|`User`/.test(q))).toBe(false)
    await expect(keyProvider.validate()).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
    expect(kms.callCount()).toBe(0)
  })
})
