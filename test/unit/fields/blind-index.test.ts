// Blind indexes without a database: known-answer vectors (through the library and recomputed
// independently with node:crypto), truncation, normalizers, and both key providers.
import { createHmac, hkdfSync } from 'node:crypto'
import vectors from '../../vectors/blind-index-v1.json'
import { blindIndexHex } from '../../../src/crypto/blind-index'
import { BlindIndexes } from '../../../src/fields/blind-index'
import { buildModelSpec } from '../../../src/fields/spec'
import { LocalKeyProvider, RowLevelEncryption, InMemoryTenantKeyStore, type Normalizer } from '../../../src'
import type { KmsDevServer } from '../../../src/kms-dev-server'
import { awsProvider, startKms } from '../../support/kms'

type Case = (typeof vectors.cases)[number]

const provider = new LocalKeyProvider({ keys: vectors.masterKeys, activeVersion: 'v1' })

function rle(c: Case): RowLevelEncryption {
  return new RowLevelEncryption({
    keyProvider: provider,
    blindIndex: { keyVersion: c.keyVersion },
    models: { [c.model]: { fields: [{ name: c.field, searchable: true, normalize: c.normalize as Normalizer, indexBits: c.bits }] } },
  })
}

// The vector recipe, written out with node:crypto only (not rowcrypt's helpers).
function independent(c: Case): string {
  const encode = (ctx: Record<string, string>) => {
    const parts = [
      'rowcrypt/context/v1',
      ...Object.keys(ctx)
        .sort()
        .flatMap((k) => [k, ctx[k]!]),
    ]
    return Buffer.concat(parts.map((s) => Buffer.concat([Buffer.from([0, 0, 0, 0].map((_, i) => (Buffer.byteLength(s) >>> (8 * (3 - i))) & 0xff)), Buffer.from(s)])))
  }
  const hk = (key: Buffer, info: Buffer) => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, 32))
  const root = hk(Buffer.from(vectors.masterKeys[c.keyVersion as 'v1' | 'v2'], 'hex'), Buffer.from('rowcrypt/local-key-provider/blind-index/v1'))
  const tenant = hk(root, encode({ purpose: 'blind-index', tenantId: c.tenantId, keyVersion: c.keyVersion }))
  const field = hk(tenant, Buffer.concat([Buffer.from('rowcrypt/blind-index/field-key/v1'), encode({ purpose: 'blind-index-field', model: c.model, field: c.field })]))
  const normalize = { none: (v: string) => v, lowercase: (v: string) => v.toLowerCase(), trim: (v: string) => v.trim(), 'lowercase-trim': (v: string) => v.trim().toLowerCase() }[c.normalize]!
  const mac = createHmac('sha256', field).update(normalize(c.value)).digest()
  const bytes = Math.ceil(c.bits / 8)
  if (c.bits % 8 !== 0) mac[bytes - 1]! &= (0xff << (8 - (c.bits % 8))) & 0xff
  return `${c.keyVersion}:${mac.subarray(0, bytes).toString('hex')}`
}

describe('blind-index known-answer vectors', () => {
  it.each(vectors.cases.map((c) => [`${c.model}.${c.field} ${c.keyVersion} ${c.tenantId} ${c.bits} bits`, c] as const))('%s', async (_name, c) => {
    expect(independent(c)).toBe(c.index)
    const column = `${c.field}Index`
    expect(await rle(c).blindIndexes({ model: c.model, tenantId: c.tenantId, data: { [c.field]: c.value } })).toEqual({ [column]: c.index })
  })

  it('encryptRow stores the index beside the ciphertext, and null for null', async () => {
    const c = vectors.cases[0]!
    const stored = await rle(c).encryptRow({ model: c.model, tenantId: c.tenantId, data: { [c.field]: c.value, other: 1 } })
    expect(stored[`${c.field}Index`]).toBe(c.index)
    expect(String(stored[c.field])).toMatch(/^rc1\./)
    const empty = await rle(c).encryptRow({ model: c.model, tenantId: c.tenantId, data: { [c.field]: null } })
    expect(empty[`${c.field}Index`]).toBeNull()
  })

  it('differs across tenants, fields and versions for one plaintext', () => {
    const [a, b, v2] = vectors.cases
    expect(a!.index).not.toBe(b!.index)
    expect(b!.index.slice(3)).not.toBe(v2!.index.slice(3))
  })
})

describe('blindIndexHex', () => {
  const key = Buffer.alloc(32, 7)
  it.each([8, 9, 12, 15, 16, 64, 255, 256])('keeps exactly %i bits', (bits) => {
    const full = Buffer.from(blindIndexHex(key, 'x', 256), 'hex')
    const cut = Buffer.from(blindIndexHex(key, 'x', bits), 'hex')
    expect(cut.length).toBe(Math.ceil(bits / 8))
    for (let i = 0; i < bits; i++) expect((cut[i >> 3]! >> (7 - (i & 7))) & 1).toBe((full[i >> 3]! >> (7 - (i & 7))) & 1)
    for (let i = bits; i < cut.length * 8; i++) expect((cut[i >> 3]! >> (7 - (i & 7))) & 1).toBe(0)
  })
})

describe('a user normalizer and bad values', () => {
  const custom = new RowLevelEncryption({
    keyProvider: provider,
    blindIndex: { keyVersion: 'v1' },
    models: { C: { fields: [{ name: 'phone', searchable: true, normalize: (v: string) => v.replace(/\D/g, '') }] } },
  })
  it('indexes what the function returns', async () => {
    const a = await custom.blindIndexes({ model: 'C', tenantId: 't', data: { phone: '+1 (555) 0100' } })
    const b = await custom.blindIndexes({ model: 'C', tenantId: 't', data: { phone: '15550100' } })
    expect(a.phoneIndex).toBe(b.phoneIndex)
  })
  it('refuses a non-string value and a lone surrogate (UTF-8 would fold it into U+FFFD) with a coded error', async () => {
    await expect(custom.blindIndexes({ model: 'C', tenantId: 't', data: { phone: 5 } })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_INVALID_VALUE' })
    const plain = new RowLevelEncryption({ keyProvider: provider, blindIndex: { keyVersion: 'v1' }, models: { C: { fields: [{ name: 'email', searchable: true }] } } })
    await expect(plain.blindIndexes({ model: 'C', tenantId: 't', data: { email: 'a\uD800' } })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_INVALID_VALUE' })
    expect((await plain.blindIndexes({ model: 'C', tenantId: 't', data: { email: 'a\uFFFD' } })).emailIndex).toMatch(/^v1:/)
  })
})

describe('field index keys within one session', () => {
  // Model `A\u0000x` field `y`, and model `A` field `x\u0000y`: a key joining model, field and
  // version with U+0000 names both fields the same way, so one would be indexed under the other's key.
  const specA = buildModelSpec('A\u0000x', { fields: [{ name: 'y', searchable: true }] })
  const specB = buildModelSpec('A', { fields: [{ name: 'x\u0000y', searchable: true }] })
  const fieldOf = (spec: typeof specA) => spec.indexed[0]!

  it.each([
    ['A\\u0000x.y first', [specA, specB]],
    ['A.x\\u0000y first', [specB, specA]],
  ] as const)('never share a key between fields whose names differ only in where U+0000 falls (%s)', async (_name, order) => {
    const indexes = new BlindIndexes(provider, { keyVersion: 'v1' })
    const shared = await indexes.session('t')
    const alone = async (spec: typeof specA) => {
      const s = await indexes.session('t')
      try {
        return s.active(spec, fieldOf(spec), 'same value')
      } finally {
        s.dispose()
      }
    }
    try {
      const values = order.map((spec) => shared.active(spec, fieldOf(spec), 'same value'))
      expect(values[0]).not.toBe(values[1])
      // Each equals the value a session computing only that field gives.
      expect(values[0]).toBe(await alone(order[0]))
      expect(values[1]).toBe(await alone(order[1]))
    } finally {
      shared.dispose()
    }
  })
})

describe('AwsKmsKeyProvider.indexKey', () => {
  let server: KmsDevServer
  beforeAll(async () => {
    server = (await startKms()).server
  })
  afterAll(async () => server.stop())

  it('hierarchical: derived from the tenant key, stable, unrelated across tenants, one KMS call per tenant', async () => {
    const store = new InMemoryTenantKeyStore()
    const p = awsProvider(server, { tenantKeyStore: store })
    server.resetStats()
    const a1 = Buffer.from(await p.indexKey('a', 'v1')).toString('hex')
    const a2 = Buffer.from(await p.indexKey('a', 'v1')).toString('hex')
    const b = Buffer.from(await p.indexKey('b', 'v1')).toString('hex')
    expect(a1).toHaveLength(64)
    expect(a2).toBe(a1)
    expect(b).not.toBe(a1)
    // A second process (cold cache, same store) derives the same key.
    const other = awsProvider(server, { tenantKeyStore: store })
    expect(Buffer.from(await other.indexKey('a', 'v1')).toString('hex')).toBe(a1)
    expect(server.callCount('GenerateDataKey')).toBe(2)
    expect(server.callCount('Decrypt')).toBe(1)
  })

  it('direct mode refuses with ConfigError', async () => {
    const p = awsProvider(server, { mode: 'direct' })
    await expect(p.indexKey('a', 'v1')).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
  })
})
