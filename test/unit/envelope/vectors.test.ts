// Known-answer vectors (test/vectors/ciphertext-v1.json, written once by scripts/make-vectors.ts).
// Stored data must keep decrypting: a change of the ciphertext format, the AAD layout, the
// wrapped-key layout or the key derivation fails here. Never regenerate the file to make this pass.
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as aesGcm from '../../../src/crypto/aes-gcm'
import * as xaes from '../../../src/crypto/xaes'
import { parseCiphertext, type ValueType } from '../../../src/envelope/ciphertext'
import { formatWrappedKey, parseWrappedKey } from '../../../src/envelope/wrapped-key'
import { LocalKeyProvider, RowLevelEncryption, type BindingContext, type GeneratedDataKey, type KeyProvider } from '../../../src'

interface FieldVector {
  name: string
  dek: string
  model: string
  field: string
  tenantId: string
  type: ValueType
  aad?: string
  iv: string
  plaintext?: unknown
  plaintextHex?: string
  stored: string
}

interface WrappedKeyVector {
  name: string
  masterKey: string
  keyVersion: string
  context: Record<string, string>
  dek: string
  iv: string
  providerBlob: string
  storedWrappedDek: string
}

type Hexed = { hex: string }

interface RowVector {
  name: string
  model: string
  tenantId: string
  idField?: string
  aad?: string
  fields: Array<{ name: string; type: ValueType }>
  masterKeys: Record<string, string>
  stored: Record<string, string | Hexed>
  expected: Record<string, unknown>
}

interface VectorFile {
  formatVersion: string
  algorithm: string
  fields: FieldVector[]
  wrappedKeys: WrappedKeyVector[]
  rows: RowVector[]
}

const vectors = JSON.parse(readFileSync(join(__dirname, '..', '..', 'vectors', 'ciphertext-v1.json'), 'utf8')) as VectorFile
const hex = (s: string) => Buffer.from(s, 'hex')
const unhex = (v: unknown): unknown => (v !== null && typeof v === 'object' && 'hex' in v ? new Uint8Array(hex((v as Hexed).hex)) : v)

/** A key provider that hands out one fixed data key and records the contexts it was asked for. */
class FixedKeyProvider implements KeyProvider {
  readonly activeKeyVersion = 'vtest'
  readonly contexts: BindingContext[] = []
  constructor(private readonly dek: Buffer) {}
  async generateDataKey(context: BindingContext): Promise<GeneratedDataKey> {
    this.contexts.push(context)
    return { plaintextKey: Buffer.from(this.dek), wrappedKey: new Uint8Array([0xaa, 0xbb, 0xcc]), keyVersion: this.activeKeyVersion }
  }
  async wrapDataKey(_key: Uint8Array, context: BindingContext, keyVersion = this.activeKeyVersion) {
    this.contexts.push(context)
    return { wrappedKey: new Uint8Array([0xaa, 0xbb, 0xcc]), keyVersion }
  }
  async unwrapDataKey(_wrapped: Uint8Array, _version: string, context: BindingContext): Promise<Uint8Array> {
    this.contexts.push(context)
    // A fresh copy each call: the caller zeroes what it gets.
    return Buffer.from(this.dek)
  }
}

function coreFor(v: FieldVector, provider: KeyProvider): RowLevelEncryption {
  return new RowLevelEncryption({ keyProvider: provider, models: { [v.model]: { fields: [{ name: v.field, type: v.type }] } } })
}

function expectedPlaintext(v: FieldVector): unknown {
  return v.type === 'bytes' ? new Uint8Array(hex(v.plaintextHex as string)) : v.plaintext
}

function storedRow(v: FieldVector): Record<string, unknown> {
  return {
    [v.field]: v.stored,
    wrappedDek: formatWrappedKey({ rowBound: false, providerBlob: new Uint8Array([0xaa, 0xbb, 0xcc]) }),
    keyVersion: 'vtest',
    tenantId: v.tenantId,
  }
}

// ---- An independent implementation of the rc1 format, from the README's description, using only
// node:crypto. Shares no code with src/.
function lp(s: string): Buffer {
  const b = Buffer.from(s, 'utf8')
  const n = Buffer.alloc(4)
  n.writeUInt32BE(b.length)
  return Buffer.concat([n, b])
}
function rawContext(ctx: Record<string, string>): Buffer {
  const entries = Object.entries(ctx).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return Buffer.concat([lp('rowcrypt/context/v1'), ...entries.flatMap(([k, val]) => [lp(k), lp(val)])])
}
const TYPE_CODE: Record<ValueType, string> = { string: 's', json: 'j', bytes: 'b' }
function rawFieldAad(v: FieldVector): Buffer {
  const ctx: Record<string, string> = {
    purpose: 'field',
    format: 'rc1',
    alg: 'A256GCM',
    model: v.model,
    tenantId: v.tenantId,
    field: v.field,
    type: TYPE_CODE[v.type],
  }
  if (v.aad !== undefined) ctx.aad = hex(v.aad).toString('base64url')
  return rawContext(ctx)
}
function rawPlaintextBytes(v: FieldVector): Buffer {
  if (v.type === 'string') return Buffer.from(v.plaintext as string, 'utf8')
  if (v.type === 'json') return Buffer.from(JSON.stringify(v.plaintext), 'utf8')
  return hex(v.plaintextHex as string)
}
function rawKek(masterHex: string): Buffer {
  return Buffer.from(hkdfSync('sha256', hex(masterHex), Buffer.alloc(0), Buffer.from('rowcrypt/local-key-provider/wrap/v1', 'utf8'), 32))
}

describe('vector file', () => {
  it('is format rc1 / A256GCM', () => {
    expect(vectors.formatVersion).toBe('rc1')
    expect(vectors.algorithm).toBe('A256GCM')
  })

  it('covers string, unicode, empty string, json object, bytes and extra aad', () => {
    const f = vectors.fields
    expect(f.some((v) => v.type === 'string' && v.plaintext === '' && v.aad === undefined)).toBe(true)
    expect(f.some((v) => v.type === 'string' && /\P{ASCII}/u.test(v.plaintext as string) && /\p{Extended_Pictographic}/u.test(v.plaintext as string))).toBe(true)
    expect(f.some((v) => v.type === 'string' && /^[\x20-\x7e]+$/.test(v.plaintext as string))).toBe(true)
    expect(f.some((v) => v.type === 'json' && v.plaintext !== null && typeof v.plaintext === 'object' && !Array.isArray(v.plaintext))).toBe(true)
    expect(f.some((v) => v.type === 'bytes' && typeof v.plaintextHex === 'string' && v.plaintextHex.length > 0)).toBe(true)
    expect(f.some((v) => typeof v.aad === 'string' && v.aad.length > 0)).toBe(true)
  })

  it('covers a row-bound and an unbound wrapped key', () => {
    const w = vectors.wrappedKeys
    expect(w.some((v) => v.context.rowId !== undefined && v.storedWrappedDek.startsWith('0101'))).toBe(true)
    expect(w.some((v) => v.context.rowId === undefined && v.storedWrappedDek.startsWith('0100'))).toBe(true)
    expect(vectors.rows.length).toBeGreaterThanOrEqual(2)
  })
})

describe.each(vectors.fields.map((v) => [v.name, v] as const))('field vector: %s', (_name, v) => {
  afterEach(() => jest.restoreAllMocks())

  it('parses without a key into its documented parts', () => {
    const p = parseCiphertext(v.stored)
    expect(p.version).toBe('rc1')
    expect(p.algorithm).toBe('A256GCM')
    expect(p.type).toBe(v.type)
    expect(p.iv.toString('hex')).toBe(v.iv)
    expect(p.ciphertext.length).toBe(rawPlaintextBytes(v).length)
    expect(v.stored.startsWith(`rc1.A256GCM.${TYPE_CODE[v.type]}.`)).toBe(true)
  })

  it('decrypts through RowLevelEncryption.decryptRow', async () => {
    const provider = new FixedKeyProvider(hex(v.dek))
    const aad = v.aad === undefined ? undefined : new Uint8Array(hex(v.aad))
    const out = await coreFor(v, provider).decryptRow(storedRow(v), { model: v.model, tenantId: v.tenantId, ...(aad ? { aad } : {}) })
    expect(out[v.field]).toEqual(expectedPlaintext(v))
    expect(provider.contexts).toEqual([{ purpose: 'row-dek', model: v.model, tenantId: v.tenantId }])
  })

  it('fails to decrypt under a different tenant, field name or aad (the vector really binds them)', async () => {
    const provider = new FixedKeyProvider(hex(v.dek))
    const core = coreFor(v, provider)
    const aad = v.aad === undefined ? undefined : new Uint8Array(hex(v.aad))
    const otherTenant = { ...storedRow(v), tenantId: v.tenantId + 'x' }
    await expect(core.decryptRow(otherTenant, { model: v.model, tenantId: v.tenantId + 'x', ...(aad ? { aad } : {}) })).rejects.toMatchObject({
      code: 'ERR_ROWCRYPT_DECRYPTION_FAILED',
    })
    const renamed = new RowLevelEncryption({ keyProvider: provider, models: { [v.model]: { fields: [{ name: v.field + '2', type: v.type }] } } })
    const row = storedRow(v)
    await expect(renamed.decryptRow({ ...row, [v.field + '2']: v.stored }, { model: v.model, tenantId: v.tenantId, ...(aad ? { aad } : {}) })).rejects.toMatchObject({
      code: 'ERR_ROWCRYPT_DECRYPTION_FAILED',
    })
    const wrongAad = aad === undefined ? { aad: new Uint8Array([1]) } : {}
    await expect(core.decryptRow(row, { model: v.model, tenantId: v.tenantId, ...wrongAad })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_DECRYPTION_FAILED' })
  })

  it('is reproduced exactly by RowLevelEncryption.encryptRow given the same IV', async () => {
    jest.spyOn(aesGcm, 'generateIv').mockImplementation(() => hex(v.iv))
    const provider = new FixedKeyProvider(hex(v.dek))
    const aad = v.aad === undefined ? undefined : new Uint8Array(hex(v.aad))
    const out = await coreFor(v, provider).encryptRow({ model: v.model, tenantId: v.tenantId, data: { [v.field]: expectedPlaintext(v) }, ...(aad ? { aad } : {}) })
    expect(out[v.field]).toBe(v.stored)
  })

  it('decrypts and re-encrypts with raw node:crypto (independent of src/)', () => {
    const [version, alg, code, ivText, bodyText] = v.stored.split('.') as [string, string, string, string, string]
    expect([version, alg, code]).toEqual(['rc1', 'A256GCM', TYPE_CODE[v.type]])
    const iv = Buffer.from(ivText, 'base64url')
    const body = Buffer.from(bodyText, 'base64url')
    const d = createDecipheriv('aes-256-gcm', hex(v.dek), iv)
    d.setAAD(rawFieldAad(v))
    d.setAuthTag(body.subarray(body.length - 16))
    const plain = Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()])
    expect(plain.equals(rawPlaintextBytes(v))).toBe(true)

    const c = createCipheriv('aes-256-gcm', hex(v.dek), hex(v.iv))
    c.setAAD(rawFieldAad(v))
    const ct = Buffer.concat([c.update(rawPlaintextBytes(v)), c.final()])
    const stored = ['rc1', 'A256GCM', TYPE_CODE[v.type], hex(v.iv).toString('base64url'), Buffer.concat([ct, c.getAuthTag()]).toString('base64url')].join('.')
    expect(stored).toBe(v.stored)
  })
})

describe.each(vectors.wrappedKeys.map((v) => [v.name, v] as const))('wrapped-key vector: %s', (_name, v) => {
  afterEach(() => jest.restoreAllMocks())
  const provider = () => new LocalKeyProvider({ keys: { [v.keyVersion]: v.masterKey }, activeVersion: v.keyVersion })

  it('unwraps through LocalKeyProvider.unwrapDataKey', async () => {
    const dek = await provider().unwrapDataKey(new Uint8Array(hex(v.providerBlob)), v.keyVersion, v.context)
    expect(Buffer.from(dek).toString('hex')).toBe(v.dek)
  })

  it('unwraps with the master key given as base64 too', async () => {
    const p = new LocalKeyProvider({ keys: { [v.keyVersion]: hex(v.masterKey).toString('base64') }, activeVersion: v.keyVersion })
    const dek = await p.unwrapDataKey(hex(v.providerBlob), v.keyVersion, v.context)
    expect(Buffer.from(dek).toString('hex')).toBe(v.dek)
  })

  it('fails to unwrap with any context entry changed or removed', async () => {
    const p = provider()
    for (const k of Object.keys(v.context)) {
      await expect(p.unwrapDataKey(hex(v.providerBlob), v.keyVersion, { ...v.context, [k]: v.context[k] + '_' })).rejects.toMatchObject({
        code: 'ERR_ROWCRYPT_DECRYPTION_FAILED',
      })
      const { [k]: _dropped, ...rest } = v.context
      await expect(p.unwrapDataKey(hex(v.providerBlob), v.keyVersion, rest)).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_DECRYPTION_FAILED' })
    }
  })

  it('stores the blob in the wrappedDek column as 0x01 | flags | blob', () => {
    const parsed = parseWrappedKey(new Uint8Array(hex(v.storedWrappedDek)))
    expect(parsed.rowBound).toBe(v.context.rowId !== undefined)
    expect(Buffer.from(parsed.providerBlob).toString('hex')).toBe(v.providerBlob)
    expect(v.storedWrappedDek).toBe((v.context.rowId !== undefined ? '0101' : '0100') + v.providerBlob)
  })

  it('is a blob of an earlier release: new wraps use the XAES-256-GCM format, and re-wrapping moves it there', async () => {
    const p = provider()
    const { wrappedKey } = await p.wrapDataKey(hex(v.dek), v.context, v.keyVersion)
    expect(wrappedKey).toHaveLength(73)
    expect(wrappedKey[0]).toBe(0x04)
    const moved = await p.rewrapDataKey(hex(v.providerBlob), v.keyVersion, v.keyVersion, v.context)
    expect(moved.wrappedKey[0]).toBe(0x04)
    expect(Buffer.from(await p.unwrapDataKey(moved.wrappedKey, v.keyVersion, v.context)).toString('hex')).toBe(v.dek)
  })

  it('unwraps with raw node:crypto: HKDF-SHA256 wrapping key, AAD = context + keyVersion (independent of src/)', () => {
    const blob = hex(v.providerBlob)
    expect(blob).toHaveLength(12 + 32 + 16)
    expect(blob.subarray(0, 12).toString('hex')).toBe(v.iv)
    const d = createDecipheriv('aes-256-gcm', rawKek(v.masterKey), blob.subarray(0, 12))
    d.setAAD(rawContext({ ...v.context, keyVersion: v.keyVersion }))
    d.setAuthTag(blob.subarray(44))
    const dek = Buffer.concat([d.update(blob.subarray(12, 44)), d.final()])
    expect(dek.toString('hex')).toBe(v.dek)
  })
})

describe.each(vectors.rows.map((v) => [v.name, v] as const))('stored row vector: %s', (_name, v) => {
  const core = () =>
    new RowLevelEncryption({
      keyProvider: new LocalKeyProvider({ keys: v.masterKeys, activeVersion: Object.keys(v.masterKeys)[0] as string }),
      models: { [v.model]: { fields: v.fields, ...(v.idField !== undefined ? { idField: v.idField } : {}) } },
    })
  const stored = () => Object.fromEntries(Object.entries(v.stored).map(([k, val]) => [k, unhex(val)]))
  const aad = () => (v.aad === undefined ? {} : { aad: new Uint8Array(hex(v.aad)) })

  it('decrypts end to end through RowLevelEncryption with LocalKeyProvider', async () => {
    const out = await core().decryptRow(stored(), { model: v.model, tenantId: v.tenantId, ...aad() })
    const expected = Object.fromEntries(Object.entries(v.expected).map(([k, val]) => [k, unhex(val)]))
    for (const [k, val] of Object.entries(expected)) expect(out[k]).toEqual(val)
    expect(Object.keys(expected).sort()).toEqual(v.fields.map((f) => f.name).sort())
  })

  it('re-wraps to another key version and still decrypts, with field ciphertext unchanged', async () => {
    const version = Object.keys(v.masterKeys)[0] as string
    const keyProvider = new LocalKeyProvider({ keys: { ...v.masterKeys, vnext: Buffer.alloc(32, 9) }, activeVersion: version })
    const rle = new RowLevelEncryption({ keyProvider, models: { [v.model]: { fields: v.fields, ...(v.idField !== undefined ? { idField: v.idField } : {}) } } })
    const rotated = await rle.reEncryptRow(stored(), 'vnext', { model: v.model, tenantId: v.tenantId, ...aad() })
    expect(rotated.keyVersion).toBe('vnext')
    for (const f of v.fields) expect(rotated[f.name]).toBe(v.stored[f.name])
    const out = await rle.decryptRow(rotated, { model: v.model, tenantId: v.tenantId, ...aad() })
    for (const [k, val] of Object.entries(v.expected)) expect(out[k]).toEqual(unhex(val))
  })
})

const xaesVectors = JSON.parse(readFileSync(join(__dirname, '../../vectors/wrapped-key-xaes-v1.json'), 'utf8')) as {
  wrappedKeys: Array<{ name: string; masterKey: string; keyVersion: string; context: Record<string, string>; dek: string; nonce: string; providerBlob: string }>
}

// XAES-256-GCM from raw node:crypto (independent of src/): K1 from AES(K, 0), a key per nonce from
// two AES blocks, then AES-256-GCM with the nonce's last 12 bytes.
function rawXaesOpen(key: Buffer, nonce: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  const ecb = (b: Buffer) => {
    const c = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false)
    return Buffer.concat([c.update(b), c.final()])
  }
  const l = ecb(Buffer.alloc(16))
  const k1 = Buffer.alloc(16)
  for (let i = 0; i < 16; i++) k1[i] = ((l[i]! << 1) | (i < 15 ? l[i + 1]! >>> 7 : 0)) & 0xff
  if (l[0]! & 0x80) k1[15] = k1[15]! ^ 0x87
  const m = Buffer.concat([Buffer.from([0, 1, 0x58, 0]), nonce.subarray(0, 12), Buffer.from([0, 2, 0x58, 0]), nonce.subarray(0, 12)])
  for (let i = 0; i < 32; i++) m[i] = m[i]! ^ k1[i % 16]!
  const d = createDecipheriv('aes-256-gcm', ecb(m), nonce.subarray(12))
  d.setAAD(aad)
  d.setAuthTag(sealed.subarray(sealed.length - 16))
  return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()])
}

describe.each(xaesVectors.wrappedKeys.map((v) => [v.name, v] as const))('wrapped-key vector, XAES-256-GCM format: %s', (_name, v) => {
  afterEach(() => jest.restoreAllMocks())
  const provider = () => new LocalKeyProvider({ keys: { [v.keyVersion]: v.masterKey }, activeVersion: v.keyVersion })

  it('unwraps through LocalKeyProvider, sync and async', async () => {
    const p = provider()
    expect(Buffer.from(await p.unwrapDataKey(hex(v.providerBlob), v.keyVersion, v.context)).toString('hex')).toBe(v.dek)
    expect(Buffer.from(p.unwrapDataKeySync(hex(v.providerBlob), v.keyVersion, v.context)!).toString('hex')).toBe(v.dek)
  })

  it('is reproduced exactly by LocalKeyProvider.wrapDataKey given the same nonce', async () => {
    jest.spyOn(xaes, 'xaesNonce').mockImplementation(() => hex(v.nonce))
    const { wrappedKey } = await provider().wrapDataKey(hex(v.dek), v.context, v.keyVersion)
    expect(Buffer.from(wrappedKey).toString('hex')).toBe(v.providerBlob)
  })

  it('unwraps with raw node:crypto: XAES-256-GCM under HKDF-SHA256(master, ".../wrap/xaes/v1"), AAD = context + keyVersion (independent of src/)', () => {
    const blob = hex(v.providerBlob)
    expect(blob).toHaveLength(1 + 24 + 32 + 16)
    expect(blob[0]).toBe(0x04)
    expect(blob.subarray(1, 25).toString('hex')).toBe(v.nonce)
    const kek = Buffer.from(hkdfSync('sha256', hex(v.masterKey), Buffer.alloc(0), Buffer.from('rowcrypt/local-key-provider/wrap/xaes/v1'), 32))
    expect(rawXaesOpen(kek, blob.subarray(1, 25), blob.subarray(25), rawContext({ ...v.context, keyVersion: v.keyVersion })).toString('hex')).toBe(v.dek)
  })

  it('fails to unwrap with any context entry changed', async () => {
    for (const k of Object.keys(v.context)) {
      await expect(provider().unwrapDataKey(hex(v.providerBlob), v.keyVersion, { ...v.context, [k]: v.context[k] + '_' })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_DECRYPTION_FAILED' })
    }
  })
})
