// Data keys wrapped by earlier releases (LocalKeyProvider: AES-256-GCM with a random 96-bit IV under
// HKDF(master); AWS KMS hierarchical: AES-256-GCM under HKDF(tenant key, salt)) stay readable after
// the move to XAES-256-GCM, and `rotateKeys` moves them to the current format, on every database.
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { DecryptCommand } from '@aws-sdk/client-kms'
import { InMemoryTenantKeyStore, LocalKeyProvider, rotateKeys, withTenant, type BindingContext, type KeyProvider } from '../../src'
import { encodeContext } from '../../src/crypto/context'
import type { KmsDevServer } from '../../src/kms-dev-server'
import { formatWrappedKey, parseWrappedKey } from '../../src/envelope/wrapped-key'
import { openDatabase, type DatabaseKind, type TestDatabase } from '../support/db'
import { awsProvider, kmsClient, startKms } from '../support/kms'
import { extend, TEST_KEYS } from '../support/setup'

const KEYS = { ...TEST_KEYS, v3: '03'.repeat(32) }
const local = (active: 'v1' | 'v3') => new LocalKeyProvider({ keys: KEYS, activeVersion: active })

// The earlier LocalKeyProvider blob: IV (12) | AES-256-GCM(data key) | tag, under
// HKDF-SHA256(master, "rowcrypt/local-key-provider/wrap/v1"), AAD = context + keyVersion.
function legacyLocalBlob(dataKey: Uint8Array, keyVersion: 'v1', context: BindingContext): Buffer {
  const kek = Buffer.from(hkdfSync('sha256', Buffer.from(KEYS[keyVersion], 'base64'), Buffer.alloc(0), Buffer.from('rowcrypt/local-key-provider/wrap/v1'), 32))
  const iv = randomBytes(12)
  const c = createCipheriv('aes-256-gcm', kek, iv).setAAD(encodeContext({ ...context, keyVersion }))
  const ct = Buffer.concat([c.update(dataKey), c.final()])
  return Buffer.concat([iv, ct, c.getAuthTag()])
}

// The earlier AWS hierarchical blob: 0x01 | salt (16) | IV (12) | AES-256-GCM(data key) | tag, under
// HKDF-SHA256(tenant key, salt, "rowcrypt/aws-kms/hierarchical/row-dek/v1").
function legacyAwsBlob(tenantKey: Uint8Array, dataKey: Uint8Array, keyVersion: string, context: BindingContext): Buffer {
  const salt = randomBytes(16)
  const k = Buffer.from(hkdfSync('sha256', tenantKey, salt, Buffer.from('rowcrypt/aws-kms/hierarchical/row-dek/v1'), 32))
  const iv = randomBytes(12)
  const c = createCipheriv('aes-256-gcm', k, iv).setAAD(encodeContext({ ...context, keyVersion }))
  const ct = Buffer.concat([c.update(dataKey), c.final()])
  return Buffer.concat([Buffer.from([0x01]), salt, iv, ct, c.getAuthTag()])
}

/** Creates users of tenant `t`, then rewrites each stored wrapped key in the earlier format (same data key). */
async function seedLegacy(db: TestDatabase, provider: KeyProvider, t: string, legacy: (dataKey: Uint8Array, context: BindingContext) => Buffer): Promise<number[]> {
  const prisma = extend(db, provider)
  const ids: number[] = []
  for (let i = 0; i < 5; i++) ids.push((await withTenant(t, () => prisma.user.create({ data: { name: `n${i}`, email: `u${i}@legacy.test`, ssn: `ssn-${i}` } }))).id)
  for (const id of ids) {
    const [row] = await db.raw<{ wrappedDek: Uint8Array; keyVersion: string }>(`SELECT "wrappedDek", "keyVersion" FROM "User" WHERE "id" = $1`, [id])
    const parsed = parseWrappedKey(new Uint8Array(row!.wrappedDek))
    const context: BindingContext = { purpose: 'row-dek', model: 'User', tenantId: t, ...(parsed.rowBound ? { rowId: String(id) } : {}) }
    const dataKey = await provider.unwrapDataKey(parsed.providerBlob, row!.keyVersion, context)
    const stored = formatWrappedKey({ rowBound: parsed.rowBound, providerBlob: legacy(dataKey, context) })
    await db.raw(`UPDATE "User" SET "wrappedDek" = $1 WHERE "id" = $2`, [Buffer.from(stored), id])
  }
  return ids
}

async function providerBlobs(db: TestDatabase, ids: number[]): Promise<Array<{ blob: Uint8Array; keyVersion: string }>> {
  const out = []
  for (const id of ids) {
    const [row] = await db.raw<{ wrappedDek: Uint8Array; keyVersion: string }>(`SELECT "wrappedDek", "keyVersion" FROM "User" WHERE "id" = $1`, [id])
    out.push({ blob: parseWrappedKey(new Uint8Array(row!.wrappedDek)).providerBlob, keyVersion: row!.keyVersion })
  }
  return out
}

async function readEmails(db: TestDatabase, provider: KeyProvider, t: string): Promise<string[]> {
  const users = await withTenant(t, () => extend(db, provider).user.findMany({ orderBy: { id: 'asc' } }))
  return users.map((u) => u.email ?? '')
}

const expected = [0, 1, 2, 3, 4].map((i) => `u${i}@legacy.test`)

describe.each(['sqlite', 'postgres', 'mysql'] as DatabaseKind[])('data keys wrapped by earlier releases on %s', (kind) => {
  let db: TestDatabase
  let kms: KmsDevServer
  beforeAll(async () => {
    db = await openDatabase(kind, 'legacy_wraps')
    kms = (await startKms()).server
  })
  afterAll(async () => {
    await kms.stop()
    await db.close()
  })

  it('LocalKeyProvider: earlier blobs read; rotate moves them to v3 in the XAES format', async () => {
    const ids = await seedLegacy(db, local('v1'), 'lt', (dataKey, context) => legacyLocalBlob(dataKey, 'v1', context))
    for (const { blob } of await providerBlobs(db, ids)) expect(blob).toHaveLength(60)
    expect(await readEmails(db, local('v1'), 'lt')).toEqual(expected)
    await rotateKeys({ prisma: extend(db, local('v3')), tenantId: 'lt', model: 'User' })
    for (const { blob, keyVersion } of await providerBlobs(db, ids)) {
      expect(keyVersion).toBe('v3')
      expect(blob).toHaveLength(73)
      expect(blob[0]).toBe(0x04)
    }
    expect(await readEmails(db, local('v3'), 'lt')).toEqual(expected)
  })

  it('AwsKmsKeyProvider (hierarchical): earlier blobs read; rotate moves them to v2 in the XAES format', async () => {
    const tenantKeyStore = new InMemoryTenantKeyStore()
    const provider = (active: 'v1' | 'v2') => awsProvider(kms, { tenantKeyStore, activeVersion: active })
    const v1 = provider('v1')
    // The tenant's intermediate key, as the store keeps it (wrapped by the KMS dev server).
    await v1.generateDataKey({ purpose: 'row-dek', model: 'User', tenantId: 'at' })
    const record = await tenantKeyStore.get('at', 'v1')
    const opened = await kmsClient(kms).send(new DecryptCommand({ CiphertextBlob: record!.wrappedKey!, EncryptionContext: { purpose: 'tenant-key', tenantId: 'at', keyVersion: 'v1' } }))
    const tenantKey = opened.Plaintext!
    const ids = await seedLegacy(db, v1, 'at', (dataKey, context) => legacyAwsBlob(tenantKey, dataKey, 'v1', context))
    for (const { blob } of await providerBlobs(db, ids)) expect(blob).toHaveLength(77)
    expect(await readEmails(db, provider('v1'), 'at')).toEqual(expected)
    await rotateKeys({ prisma: extend(db, provider('v2')), tenantId: 'at', model: 'User' })
    for (const { blob, keyVersion } of await providerBlobs(db, ids)) {
      expect(keyVersion).toBe('v2')
      expect(blob).toHaveLength(73)
      expect(blob[0]).toBe(0x03)
    }
    expect(await readEmails(db, provider('v2'), 'at')).toEqual(expected)
  })
})
