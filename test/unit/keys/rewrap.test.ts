// The optional KeyProvider.rewrapDataKey (key rotation), for every provider rowcrypt ships, and the
// core's use of it: reEncryptRow moves a row's key without seeing it when the provider can.
import { InMemoryTenantKeyStore, LocalKeyProvider, RowLevelEncryption, type KeyProvider, type RowcryptError } from '../../../src'
import type { KmsDevServer } from '../../../src/kms-dev-server'
import { awsProvider, startKms } from '../../support/kms'

const ctx = { purpose: 'row-dek', model: 'User', tenantId: 'rw_tenant', rowId: '7' } as const
const equal = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b))

async function rejected(p: Promise<unknown>): Promise<RowcryptError> {
  try {
    await p
  } catch (e) {
    return e as RowcryptError
  }
  throw new Error('expected a rejection')
}

let kms: KmsDevServer
beforeAll(async () => {
  kms = (await startKms()).server
})
afterAll(() => kms.stop())

const providers: Array<[string, () => KeyProvider & Required<Pick<KeyProvider, 'rewrapDataKey'>>]> = [
  ['LocalKeyProvider', () => new LocalKeyProvider({ keys: { v1: Buffer.alloc(32, 1), v2: Buffer.alloc(32, 2) }, activeVersion: 'v1' })],
  ['AwsKmsKeyProvider (direct)', () => awsProvider(kms, { mode: 'direct' })],
  ['AwsKmsKeyProvider (hierarchical)', () => awsProvider(kms, { mode: 'hierarchical', tenantKeyStore: new InMemoryTenantKeyStore() })],
]

describe.each(providers)('rewrapDataKey: %s', (_name, make) => {
  it('moves a wrapped key to another version: it unwraps there to the same key, and no longer under the old version', async () => {
    const p = make()
    const g = await p.generateDataKey(ctx)
    const dek = Buffer.from(g.plaintextKey)
    const moved = await p.rewrapDataKey(g.wrappedKey, 'v1', 'v2', ctx)
    expect(moved.keyVersion).toBe('v2')
    expect(equal(moved.wrappedKey, g.wrappedKey)).toBe(false)
    expect(Buffer.from(moved.wrappedKey).includes(dek)).toBe(false)
    expect(equal(await p.unwrapDataKey(moved.wrappedKey, 'v2', ctx), dek)).toBe(true)
    expect((await rejected(p.unwrapDataKey(moved.wrappedKey, 'v1', ctx))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    // The binding stays: another tenant's context does not open it.
    expect((await rejected(p.unwrapDataKey(moved.wrappedKey, 'v2', { ...ctx, tenantId: 'rw_other' }))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
  })

  it('fails like unwrap for a wrong source (DecryptionError) and for unknown versions (KeyVersionError)', async () => {
    const p = make()
    const g = await p.generateDataKey(ctx)
    expect((await rejected(p.rewrapDataKey(g.wrappedKey, 'v1', 'v2', { ...ctx, rowId: '8' }))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    expect((await rejected(p.rewrapDataKey(g.wrappedKey, 'v2', 'v1', ctx))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    expect((await rejected(p.rewrapDataKey(g.wrappedKey, 'v1', 'v9', ctx))).code).toBe('ERR_ROWCRYPT_KEY_VERSION_UNKNOWN')
    expect((await rejected(p.rewrapDataKey(g.wrappedKey, 'v9', 'v2', ctx))).code).toBe('ERR_ROWCRYPT_KEY_VERSION_UNKNOWN')
  })
})

describe('RowLevelEncryption re-wrapping and re-keying', () => {
  const models = { User: { fields: ['email', { name: 'prefs', type: 'json' as const }], idField: 'id' } }

  it('reEncryptRow uses the provider rewrap (AWS direct: one ReEncrypt, no Decrypt), keeping field ciphertexts', async () => {
    const rle = new RowLevelEncryption({ keyProvider: awsProvider(kms, { mode: 'direct' }), models })
    const stored = await rle.encryptRow({ model: 'User', data: { id: 5, email: 'a@x.io', prefs: { a: [1] } }, tenantId: 'rw_t' })
    kms.resetStats()
    const rotated = await rle.reEncryptRow(stored, 'v2', { model: 'User', tenantId: 'rw_t' })
    expect(kms.calls()).toEqual({ ReEncrypt: 1 })
    expect(rotated).toMatchObject({ keyVersion: 'v2', email: stored.email, prefs: stored.prefs })
    expect(await rle.decryptRow(rotated, { model: 'User', tenantId: 'rw_t' })).toMatchObject({ email: 'a@x.io', prefs: { a: [1] } })
    expect((await rejected(rle.reEncryptRow(rotated, 'v1', { model: 'User', tenantId: 'rw_other' }))).code).toBe('ERR_ROWCRYPT_TENANT_MISMATCH')
  })

  it('rekeyRow gives a fresh data key under the named version and re-encrypts the fields present', async () => {
    const rle = new RowLevelEncryption({ keyProvider: new LocalKeyProvider({ keys: { v1: Buffer.alloc(32, 1), v2: Buffer.alloc(32, 2) }, activeVersion: 'v1' }), models })
    const stored = await rle.encryptRow({ model: 'User', data: { id: 'u1', email: 'b@x.io', prefs: null }, tenantId: 'rw_t' })
    const rekeyed = await rle.rekeyRow(stored, 'v2', { model: 'User', tenantId: 'rw_t' })
    expect(rekeyed.keyVersion).toBe('v2')
    expect(rekeyed.email).not.toBe(stored.email)
    expect(rekeyed.prefs).toBeNull()
    expect(equal(rekeyed.wrappedDek as Uint8Array, stored.wrappedDek as Uint8Array)).toBe(false)
    expect(await rle.decryptRow(rekeyed, { model: 'User', tenantId: 'rw_t' })).toMatchObject({ email: 'b@x.io', prefs: null })
    // The new ciphertext does not open under the old data key.
    expect((await rejected(rle.decryptRow({ ...rekeyed, wrappedDek: stored.wrappedDek, keyVersion: 'v1' }, { model: 'User', tenantId: 'rw_t' }))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
  })
})
