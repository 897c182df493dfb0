// The Prisma-free core, without any database: encryptRow / decryptRow / reEncryptRow, sidecar
// columns, row-id binding, and a tamper matrix in which every manipulation must fail closed.
import { createDecipheriv } from 'node:crypto'
import { formatCiphertext, isCiphertext, parseCiphertext } from '../../../src/envelope/ciphertext'
import { parseWrappedKey } from '../../../src/envelope/wrapped-key'
import {
  ConfigError,
  DecryptionError,
  LocalKeyProvider,
  RowLevelEncryption,
  RowcryptError,
  type BindingContext,
  type GeneratedDataKey,
  type KeyProvider,
  type ModelEncryptionConfig,
} from '../../../src'

type Row = Record<string, unknown>

const MASTER_V1 = '3b9f0c1d2e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e'
const MASTER_V2 = Buffer.alloc(32, 0x5c).toString('base64')

/** Delegates to LocalKeyProvider and keeps a copy of every data key it hands out (for leak checks). */
class RecordingProvider implements KeyProvider {
  readonly inner: LocalKeyProvider
  readonly seenKeys: Buffer[] = []
  readonly handedOut: Uint8Array[] = []
  constructor(keys: Record<string, string> = { v1: MASTER_V1, v2: MASTER_V2 }, active = 'v1') {
    this.inner = new LocalKeyProvider({ keys, activeVersion: active })
  }
  get activeKeyVersion(): string {
    return this.inner.activeKeyVersion
  }
  async generateDataKey(context: BindingContext): Promise<GeneratedDataKey> {
    const g = await this.inner.generateDataKey(context)
    this.seenKeys.push(Buffer.from(g.plaintextKey))
    this.handedOut.push(g.plaintextKey)
    return g
  }
  wrapDataKey(key: Uint8Array, context: BindingContext, keyVersion?: string) {
    return this.inner.wrapDataKey(key, context, keyVersion)
  }
  async unwrapDataKey(wrapped: Uint8Array, keyVersion: string, context: BindingContext): Promise<Uint8Array> {
    const k = await this.inner.unwrapDataKey(wrapped, keyVersion, context)
    this.seenKeys.push(Buffer.from(k))
    this.handedOut.push(k)
    return k
  }
}

const USER: ModelEncryptionConfig = { fields: ['email', 'ssn', 'notes', { name: 'prefs', type: 'json' }, { name: 'avatar', type: 'bytes' }] }
const POST: ModelEncryptionConfig = { fields: ['title', 'body'], idField: 'id' }
const DOC: ModelEncryptionConfig = { fields: ['body'], columns: { wrappedDek: 'dek', keyVersion: 'kv', tenantId: 'orgId' } }

function setup(keys?: Record<string, string>, active?: string) {
  const provider = new RecordingProvider(keys, active)
  const rle = new RowLevelEncryption({ keyProvider: provider, models: { User: USER, Post: POST, Document: DOC } })
  return { provider, rle }
}

const AVATAR = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 255, 1, 2, 3])
const PREFS = { theme: 'dark', langs: ['en', 'de'], n: 3, nested: { ok: true, none: null } }

function userData(tag: string): Row {
  return { id: 1, name: `Name ${tag}`, email: `${tag}@example.com`, ssn: `ssn-${tag}-6789`, notes: `notes about ${tag} 🔐`, prefs: { ...PREFS, tag }, avatar: AVATAR }
}

async function caughtAsync(p: Promise<unknown>): Promise<RowcryptError> {
  try {
    await p
  } catch (e) {
    if (!(e instanceof RowcryptError)) throw e
    return e
  }
  throw new Error('expected a rejection')
}

function flipDecodedByte(stored: string, part: 'iv' | 'body', index: number): string {
  const p = parseCiphertext(stored)
  const iv = Buffer.from(p.iv)
  const body = Buffer.concat([p.ciphertext, p.tag])
  const target = part === 'iv' ? iv : body
  const i = index < 0 ? target.length + index : index
  target[i] = (target[i] as number) ^ 0x01
  return formatCiphertext({ type: p.type, iv, ciphertext: body.subarray(0, body.length - 16), tag: body.subarray(body.length - 16) })
}

function cutToTag(stored: string): string {
  const p = parseCiphertext(stored)
  return formatCiphertext({ type: p.type, iv: p.iv, ciphertext: Buffer.alloc(0), tag: p.tag })
}

function withByte(bytes: unknown, index: number, xor: number): Uint8Array {
  const copy = Uint8Array.from(bytes as Uint8Array)
  copy[index] = (copy[index] as number) ^ xor
  return copy
}

describe('RowLevelEncryption: round trip', () => {
  it('encrypts string, json and bytes fields and decrypts them back', async () => {
    const { rle } = setup()
    const data = userData('alice')
    const stored = await rle.encryptRow({ model: 'User', data, tenantId: 'tenant_a' })
    for (const f of ['email', 'ssn', 'notes', 'prefs', 'avatar']) {
      expect(isCiphertext(stored[f])).toBe(true)
    }
    expect(parseCiphertext(stored.email).type).toBe('string')
    expect(parseCiphertext(stored.prefs).type).toBe('json')
    expect(parseCiphertext(stored.avatar).type).toBe('bytes')
    expect(stored.email).not.toContain('alice')
    // Fields that are not marked are copied unchanged.
    expect(stored.name).toBe('Name alice')
    expect(stored.id).toBe(1)
    const out = await rle.decryptRow(stored, { model: 'User', tenantId: 'tenant_a' })
    expect(out.email).toBe('alice@example.com')
    expect(out.ssn).toBe('ssn-alice-6789')
    expect(out.notes).toBe('notes about alice 🔐')
    expect(out.prefs).toEqual({ ...PREFS, tag: 'alice' })
    expect(out.avatar).toBeInstanceOf(Uint8Array)
    expect(Array.from(out.avatar as Uint8Array)).toEqual(Array.from(AVATAR))
    expect(out.name).toBe('Name alice')
  })

  it('does not mutate the input data or the stored row', async () => {
    const { rle } = setup()
    const data = userData('bob')
    const snapshot = JSON.stringify(data)
    const stored = await rle.encryptRow({ model: 'User', data, tenantId: 'tenant_a' })
    expect(JSON.stringify(data)).toBe(snapshot)
    expect('wrappedDek' in data).toBe(false)
    const storedSnapshot = { ...stored }
    await rle.decryptRow(stored, { model: 'User', tenantId: 'tenant_a' })
    expect(stored).toEqual(storedSnapshot)
  })

  it('keeps null and undefined as they are and leaves absent fields absent', async () => {
    const { rle } = setup()
    const stored = await rle.encryptRow({ model: 'User', data: { email: 'x@y.z', ssn: null, notes: undefined, prefs: null }, tenantId: 't' })
    expect(stored.ssn).toBeNull()
    expect('notes' in stored).toBe(true)
    expect(stored.notes).toBeUndefined()
    expect(stored.prefs).toBeNull()
    expect('avatar' in stored).toBe(false)
    const out = await rle.decryptRow(stored, { model: 'User', tenantId: 't' })
    expect(out.email).toBe('x@y.z')
    expect(out.ssn).toBeNull()
    expect(out.notes).toBeUndefined()
    expect(out.prefs).toBeNull()
    expect('avatar' in out).toBe(false)
  })

  it('keeps a null and an absent field through a re-key (the null is carried to the new row)', async () => {
    const { rle } = setup()
    const stored = await rle.encryptRow({ model: 'User', data: { id: 7, email: 'k@y.z', ssn: null }, tenantId: 't' })
    const rekeyed = await rle.rekeyRow(stored, 'v2', { model: 'User', tenantId: 't' })
    expect(rekeyed.keyVersion).toBe('v2')
    expect(rekeyed.email).not.toBe(stored.email)
    expect('ssn' in rekeyed).toBe(true)
    expect(rekeyed.ssn).toBeNull()
    expect('notes' in rekeyed).toBe(false)
    const out = await rle.decryptRow(rekeyed, { model: 'User', tenantId: 't' })
    expect(out).toMatchObject({ email: 'k@y.z', ssn: null })
    expect('notes' in out).toBe(false)
  })

  it('encrypts the empty string (it is not left as plaintext)', async () => {
    const { rle } = setup()
    const stored = await rle.encryptRow({ model: 'User', data: { email: '' }, tenantId: 't' })
    expect(isCiphertext(stored.email)).toBe(true)
    expect((await rle.decryptRow(stored, { model: 'User', tenantId: 't' })).email).toBe('')
  })

  it('round-trips a large string and large bytes', async () => {
    const { rle } = setup()
    const big = 'x'.repeat(1 << 20) + '🔐' + 'é'.repeat(1000)
    const bytes = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff)
    const stored = await rle.encryptRow({ model: 'User', data: { notes: big, avatar: bytes }, tenantId: 't' })
    const out = await rle.decryptRow(stored, { model: 'User', tenantId: 't' })
    expect(out.notes).toBe(big)
    expect(Buffer.from(out.avatar as Uint8Array).equals(Buffer.from(bytes))).toBe(true)
  })

  it('decrypts values of every size around its reused read buffers, in any order (short after long too)', async () => {
    const { rle } = setup()
    // Plaintext lengths whose stored bodies sit around 4 KiB and 64 KiB (the read buffer's first
    // size and its limit), mixed with short values.
    const lengths = [0, 1, 3000, 3050, 3100, 48_000, 49_100, 49_200, 70_000, 2, 3070, 17]
    const rows = await Promise.all(lengths.map((n, i) => rle.encryptRow({ model: 'User', data: { notes: String.fromCharCode(97 + i).repeat(n), name: `n${i}` }, tenantId: 't' })))
    for (const order of [rows, [...rows].reverse()]) {
      for (const row of order) {
        const i = rows.indexOf(row)
        const out = await rle.decryptRow(row, { model: 'User', tenantId: 't' })
        expect(out.notes).toBe(String.fromCharCode(97 + i).repeat(lengths[i]!))
        expect(out.name).toBe(`n${i}`)
      }
    }
  })

  it.each<[string, unknown]>([
    ['array', [1, 'two', { three: 3 }]],
    ['number', 42.5],
    ['string', 'just a string'],
    ['boolean', false],
    ['empty object', {}],
    ['unicode keys', { ключ: '值', '🔑': ['🔐'] }],
  ])('round-trips a json %s', async (_name, value) => {
    const { rle } = setup()
    const stored = await rle.encryptRow({ model: 'User', data: { prefs: value }, tenantId: 't' })
    expect(isCiphertext(stored.prefs)).toBe(true)
    expect((await rle.decryptRow(stored, { model: 'User', tenantId: 't' })).prefs).toEqual(value)
  })

  it('decrypts a partial row (only the fields present)', async () => {
    const { rle } = setup()
    const stored = await rle.encryptRow({ model: 'User', data: userData('carol'), tenantId: 't' })
    const partial = { email: stored.email, wrappedDek: stored.wrappedDek, keyVersion: stored.keyVersion, tenantId: stored.tenantId }
    const out = await rle.decryptRow(partial, { model: 'User', tenantId: 't' })
    expect(out).toEqual({ ...partial, email: 'carol@example.com' })
  })

  it('uses a fresh data key and IV per row: equal plaintexts give different ciphertexts', async () => {
    const { rle, provider } = setup()
    const a = await rle.encryptRow({ model: 'User', data: { email: 'same@x.io', ssn: 'same@x.io' }, tenantId: 't' })
    const b = await rle.encryptRow({ model: 'User', data: { email: 'same@x.io' }, tenantId: 't' })
    expect(a.email).not.toBe(b.email)
    expect(a.email).not.toBe(a.ssn)
    expect(Buffer.from(a.wrappedDek as Uint8Array).equals(Buffer.from(b.wrappedDek as Uint8Array))).toBe(false)
    expect(provider.seenKeys).toHaveLength(2)
    expect((provider.seenKeys[0] as Buffer).equals(provider.seenKeys[1] as Buffer)).toBe(false)
  })

  it('zeroes the data key buffers the provider handed out once a call is done', async () => {
    const { rle, provider } = setup()
    const stored = await rle.encryptRow({ model: 'User', data: { email: 'z@x.io' }, tenantId: 't' })
    await rle.decryptRow(stored, { model: 'User', tenantId: 't' })
    expect(provider.handedOut).toHaveLength(2)
    for (const k of provider.handedOut) expect(k.every((b) => b === 0)).toBe(true)
    expect(provider.seenKeys.every((k) => k.some((b) => b !== 0))).toBe(true)
  })

  it('binds extra aad: the same bytes decrypt', async () => {
    const { rle } = setup()
    const aad = new TextEncoder().encode('request 7')
    const stored = await rle.encryptRow({ model: 'User', data: { email: 'aad@x.io' }, tenantId: 't', aad })
    expect((await rle.decryptRow(stored, { model: 'User', tenantId: 't', aad: Uint8Array.from(aad) })).email).toBe('aad@x.io')
  })
})

// The field AAD, written out from the README's description with node:crypto only (no src/ helper):
// a context map, entries sorted by key, every string 4-byte length-prefixed after a domain string.
function independentFieldAad(model: string, field: string, type: 's' | 'j' | 'b', tenantId: string, aad?: Uint8Array): Buffer {
  const ctx: Record<string, string> = { purpose: 'field', format: 'rc1', alg: 'A256GCM', model, tenantId, field, type }
  if (aad !== undefined) ctx.aad = Buffer.from(aad).toString('base64url')
  const lp = (s: string) => {
    const b = Buffer.from(s, 'utf8')
    const n = Buffer.alloc(4)
    n.writeUInt32BE(b.length)
    return Buffer.concat([n, b])
  }
  const keys = Object.keys(ctx).sort()
  return Buffer.concat([lp('rowcrypt/context/v1'), ...keys.flatMap((k) => [lp(k), lp(ctx[k]!)])])
}

// Opens a stored field value with `key` under `aad`; undefined when authentication fails.
function openWith(key: Uint8Array, stored: unknown, aad: Buffer): Buffer | undefined {
  const p = parseCiphertext(stored)
  const d = createDecipheriv('aes-256-gcm', key, p.iv)
  d.setAAD(aad)
  d.setAuthTag(p.tag)
  try {
    return Buffer.concat([d.update(p.ciphertext), d.final()])
  } catch {
    return undefined
  }
}

describe('RowLevelEncryption: field AAD cache keys', () => {
  // Tenant `x\u0000AQID` without extra AAD, and tenant `x` with extra AAD 01 02 03 (`AQID` in
  // base64url): a cache key joining tenant and AAD with U+0000 names both the same way.
  const CONTEXTS: Record<string, { tenantId: string; aad?: Uint8Array }> = {
    nulInTenant: { tenantId: 'x\u0000AQID' },
    withAad: { tenantId: 'x', aad: new Uint8Array([1, 2, 3]) },
  }
  const FIELDS = [
    ['email', 's'],
    ['prefs', 'j'],
    ['avatar', 'b'],
  ] as const

  it.each([
    ['tenant with U+0000 first', ['nulInTenant', 'withAad']],
    ['tenant with extra aad first', ['withAad', 'nulInTenant']],
  ] as const)('tenant "x\\u0000AQID" and tenant "x" with aad 01 02 03 never share a field AAD (%s)', async (_order, order) => {
    const { rle, provider } = setup()
    const written: Record<string, { stored: Row; key: Buffer; data: Row }> = {}
    // One instance for both, in this order: the second row is encrypted with the cache warm from the first.
    for (const name of order) {
      const { tenantId, aad } = CONTEXTS[name]!
      const data = userData(name)
      const stored = await rle.encryptRow({ model: 'User', data, tenantId, ...(aad !== undefined ? { aad } : {}) })
      written[name] = { stored, key: provider.seenKeys[provider.seenKeys.length - 1]!, data }
    }
    const names = Object.keys(CONTEXTS)
    for (const name of names) {
      const own = CONTEXTS[name]!
      const other = CONTEXTS[names.find((n) => n !== name)!]!
      const { stored, key, data } = written[name]!
      for (const [field, type] of FIELDS) {
        const ownAad = independentFieldAad('User', field, type, own.tenantId, own.aad)
        const otherAad = independentFieldAad('User', field, type, other.tenantId, other.aad)
        expect(ownAad.equals(otherAad)).toBe(false)
        // Each ciphertext is bound to its own (tenant, aad), and to nothing else.
        expect(openWith(key, stored[field], ownAad)).toBeDefined()
        expect(openWith(key, stored[field], otherAad)).toBeUndefined()
      }
      // A fresh instance (an empty cache) decrypts each row under its own context only.
      const fresh = setup().rle
      const ctx = { model: 'User', tenantId: own.tenantId, ...(own.aad !== undefined ? { aad: own.aad } : {}) }
      expect(await fresh.decryptRow(stored, ctx)).toMatchObject(data)
      expect(await rle.decryptRow(stored, ctx)).toMatchObject(data)
      const { tenantId: _t, ...withoutTenant } = stored
      const elsewhere = { model: 'User', tenantId: other.tenantId, ...(other.aad !== undefined ? { aad: other.aad } : {}) }
      expect((await caughtAsync(fresh.decryptRow(withoutTenant, elsewhere))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    }
  })

  it('an empty extra aad and no extra aad are different bindings', async () => {
    const { rle } = setup()
    const none = await rle.encryptRow({ model: 'User', data: { email: 'a@x.io' }, tenantId: 't' })
    const empty = await rle.encryptRow({ model: 'User', data: { email: 'a@x.io' }, tenantId: 't', aad: new Uint8Array(0) })
    expect((await rle.decryptRow(none, { model: 'User', tenantId: 't' })).email).toBe('a@x.io')
    expect((await rle.decryptRow(empty, { model: 'User', tenantId: 't', aad: new Uint8Array(0) })).email).toBe('a@x.io')
    expect((await caughtAsync(rle.decryptRow(none, { model: 'User', tenantId: 't', aad: new Uint8Array(0) }))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    expect((await caughtAsync(rle.decryptRow(empty, { model: 'User', tenantId: 't' }))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
  })
})

describe('RowLevelEncryption: sidecar columns', () => {
  it('fills wrappedDek, keyVersion and tenantId by default', async () => {
    const { rle } = setup()
    const stored = await rle.encryptRow({ model: 'User', data: { email: 'a@x.io' }, tenantId: 'tenant_a' })
    expect(stored.keyVersion).toBe('v1')
    expect(stored.tenantId).toBe('tenant_a')
    expect(stored.wrappedDek).toBeInstanceOf(Uint8Array)
    const wk = parseWrappedKey(stored.wrappedDek)
    expect(wk.rowBound).toBe(false)
    expect(wk.providerBlob).toHaveLength(73)
  })

  it('uses the active key version of the provider', async () => {
    const { rle } = setup(undefined, 'v2')
    const stored = await rle.encryptRow({ model: 'User', data: { email: 'a@x.io' }, tenantId: 'tenant_a' })
    expect(stored.keyVersion).toBe('v2')
    expect((await rle.decryptRow(stored, { model: 'User', tenantId: 'tenant_a' })).email).toBe('a@x.io')
  })

  it('overwrites stale sidecar values in the input with the real ones', async () => {
    const { rle } = setup()
    const stored = await rle.encryptRow({ model: 'User', data: { email: 'a@x.io', tenantId: 'tenant_b', keyVersion: 'v9', wrappedDek: new Uint8Array([1, 2, 3]) }, tenantId: 'tenant_a' })
    expect(stored.tenantId).toBe('tenant_a')
    expect(stored.keyVersion).toBe('v1')
    expect((stored.wrappedDek as Uint8Array).length).toBe(75)
    expect((await rle.decryptRow(stored, { model: 'User', tenantId: 'tenant_a' })).email).toBe('a@x.io')
  })

  it('uses custom column names from `columns`', async () => {
    const { rle } = setup()
    const stored = await rle.encryptRow({ model: 'Document', data: { id: 'd1', title: 'T', body: 'secret body' }, tenantId: 'org_1' })
    expect(stored.orgId).toBe('org_1')
    expect(stored.kv).toBe('v1')
    expect(parseWrappedKey(stored.dek).providerBlob).toHaveLength(73)
    for (const n of ['wrappedDek', 'keyVersion', 'tenantId']) expect(n in stored).toBe(false)
    const out = await rle.decryptRow(stored, { model: 'Document', tenantId: 'org_1' })
    expect(out.body).toBe('secret body')
    // The custom tenant column is the one checked.
    expect((await caughtAsync(rle.decryptRow({ ...stored, orgId: 'org_2' }, { model: 'Document', tenantId: 'org_1' }))).code).toBe('ERR_ROWCRYPT_TENANT_MISMATCH')
    // A row that only has default-named sidecars lacks its wrapped key under the custom name.
    const renamed = { body: stored.body, wrappedDek: stored.dek, keyVersion: stored.kv, tenantId: stored.orgId }
    expect((await caughtAsync(rle.decryptRow(renamed, { model: 'Document', tenantId: 'org_1' }))).code).toBe('ERR_ROWCRYPT_CIPHERTEXT_FORMAT')
  })

  it('fills only the columns that were renamed, keeping defaults for the others', async () => {
    const rle = new RowLevelEncryption({ keyProvider: new RecordingProvider(), models: { M: { fields: ['s'], columns: { tenantId: 'org' } } } })
    const stored = await rle.encryptRow({ model: 'M', data: { s: 'v' }, tenantId: 'o' })
    expect(Object.keys(stored).sort()).toEqual(['keyVersion', 'org', 's', 'wrappedDek'])
  })
})

describe('RowLevelEncryption: row id binding', () => {
  it('binds the `rowId` input; decrypting needs the same id', async () => {
    const { rle } = setup()
    const stored = await rle.encryptRow({ model: 'User', data: { email: 'r@x.io' }, tenantId: 't', rowId: 'user_123' })
    expect(parseWrappedKey(stored.wrappedDek).rowBound).toBe(true)
    expect((await rle.decryptRow(stored, { model: 'User', tenantId: 't', rowId: 'user_123' })).email).toBe('r@x.io')
    const noId = await caughtAsync(rle.decryptRow(stored, { model: 'User', tenantId: 't' }))
    expect(noId.code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    const otherId = await caughtAsync(rle.decryptRow(stored, { model: 'User', tenantId: 't', rowId: 'user_124' }))
    expect(otherId.code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    expect((otherId as DecryptionError).rowId).toBe('user_124')
  })

  it('binds numeric and bigint ids by their decimal text', async () => {
    const { rle } = setup()
    const n = await rle.encryptRow({ model: 'User', data: { email: 'n@x.io' }, tenantId: 't', rowId: 7 })
    expect((await rle.decryptRow(n, { model: 'User', tenantId: 't', rowId: '7' })).email).toBe('n@x.io')
    expect((await rle.decryptRow(n, { model: 'User', tenantId: 't', rowId: 7n })).email).toBe('n@x.io')
    expect((await caughtAsync(rle.decryptRow(n, { model: 'User', tenantId: 't', rowId: 8 }))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
  })

  it('binds the id from `idField` when it is in the data', async () => {
    const { rle } = setup()
    const stored = await rle.encryptRow({ model: 'Post', data: { id: 'post_1', title: 'Hello', body: 'World' }, tenantId: 't' })
    expect(stored.id).toBe('post_1')
    expect(parseWrappedKey(stored.wrappedDek).rowBound).toBe(true)
    const out = await rle.decryptRow(stored, { model: 'Post', tenantId: 't' })
    expect([out.title, out.body]).toEqual(['Hello', 'World'])
    const moved = await caughtAsync(rle.decryptRow({ ...stored, id: 'post_2' }, { model: 'Post', tenantId: 't' }))
    expect(moved.code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    expect((moved as DecryptionError).rowId).toBe('post_2')
    const { id: _id, ...withoutId } = stored
    expect((await caughtAsync(rle.decryptRow(withoutId, { model: 'Post', tenantId: 't' }))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    expect((await caughtAsync(rle.decryptRow({ ...stored, id: null }, { model: 'Post', tenantId: 't' }))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
  })

  it('an explicit `rowId` takes precedence over the idField value', async () => {
    const { rle } = setup()
    const stored = await rle.encryptRow({ model: 'Post', data: { title: 'no id yet' }, tenantId: 't', rowId: 'p9' })
    expect(parseWrappedKey(stored.wrappedDek).rowBound).toBe(true)
    expect((await rle.decryptRow({ ...stored, id: 'p9' }, { model: 'Post', tenantId: 't' })).title).toBe('no id yet')
    expect((await rle.decryptRow(stored, { model: 'Post', tenantId: 't', rowId: 'p9' })).title).toBe('no id yet')
  })

  it('leaves the key unbound when no id is known', async () => {
    const { rle } = setup()
    const stored = await rle.encryptRow({ model: 'Post', data: { title: 'T' }, tenantId: 't' })
    expect(parseWrappedKey(stored.wrappedDek).rowBound).toBe(false)
    // Unbound rows decrypt whatever id they later get.
    expect((await rle.decryptRow({ ...stored, id: 'assigned-by-db' }, { model: 'Post', tenantId: 't' })).title).toBe('T')
  })
})

describe('RowLevelEncryption: reEncryptRow', () => {
  it('re-wraps to v2, keeps every field ciphertext identical, and still decrypts', async () => {
    const { rle } = setup()
    const stored = await rle.encryptRow({ model: 'User', data: userData('dave'), tenantId: 'tenant_a' })
    const rotated = await rle.reEncryptRow(stored, 'v2', { model: 'User', tenantId: 'tenant_a' })
    expect(rotated.keyVersion).toBe('v2')
    for (const f of ['email', 'ssn', 'notes', 'prefs', 'avatar', 'name', 'id', 'tenantId']) expect(rotated[f]).toBe(stored[f])
    expect(Buffer.from(rotated.wrappedDek as Uint8Array).equals(Buffer.from(stored.wrappedDek as Uint8Array))).toBe(false)
    expect(stored.keyVersion).toBe('v1')
    const out = await rle.decryptRow(rotated, { model: 'User', tenantId: 'tenant_a' })
    expect(out.email).toBe('dave@example.com')
    expect(out.prefs).toEqual({ ...PREFS, tag: 'dave' })
    // A provider that only holds v2 now reads it, so v1 can be retired.
    const v2only = new RowLevelEncryption({ keyProvider: new LocalKeyProvider({ keys: { v2: MASTER_V2 }, activeVersion: 'v2' }), models: { User: USER } })
    expect((await v2only.decryptRow(rotated, { model: 'User', tenantId: 'tenant_a' })).ssn).toBe('ssn-dave-6789')
    expect((await caughtAsync(v2only.decryptRow(stored, { model: 'User', tenantId: 'tenant_a' }))).code).toBe('ERR_ROWCRYPT_KEY_VERSION_UNKNOWN')
  })

  it('keeps a row-bound key row-bound, with custom columns', async () => {
    const { rle } = setup()
    const post = await rle.encryptRow({ model: 'Post', data: { id: 'p1', title: 'a', body: 'b' }, tenantId: 't' })
    const rotatedPost = await rle.reEncryptRow(post, 'v2', { model: 'Post', tenantId: 't' })
    expect(parseWrappedKey(rotatedPost.wrappedDek).rowBound).toBe(true)
    expect((await rle.decryptRow(rotatedPost, { model: 'Post', tenantId: 't' })).body).toBe('b')
    expect((await caughtAsync(rle.decryptRow({ ...rotatedPost, id: 'p2' }, { model: 'Post', tenantId: 't' }))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')

    const doc = await rle.encryptRow({ model: 'Document', data: { body: 'x' }, tenantId: 'o' })
    const rotatedDoc = await rle.reEncryptRow(doc, 'v2', { model: 'Document', tenantId: 'o' })
    expect(rotatedDoc.kv).toBe('v2')
    expect(rotatedDoc.body).toBe(doc.body)
    expect('keyVersion' in rotatedDoc).toBe(false)
    expect((await rle.decryptRow(rotatedDoc, { model: 'Document', tenantId: 'o' })).body).toBe('x')
  })

  it('re-wraps rows bound through the `rowId` input given the same rowId', async () => {
    const { rle } = setup()
    const stored = await rle.encryptRow({ model: 'User', data: { email: 'e@x.io' }, tenantId: 't', rowId: 'u1' })
    const rotated = await rle.reEncryptRow(stored, 'v2', { model: 'User', tenantId: 't', rowId: 'u1' })
    expect((await rle.decryptRow(rotated, { model: 'User', tenantId: 't', rowId: 'u1' })).email).toBe('e@x.io')
  })

  it('refuses to re-wrap a tampered row or a row of another tenant', async () => {
    const { rle } = setup()
    const stored = await rle.encryptRow({ model: 'User', data: { email: 'e@x.io' }, tenantId: 't' })
    expect((await caughtAsync(rle.reEncryptRow({ ...stored, wrappedDek: withByte(stored.wrappedDek, 10, 1) }, 'v2', { model: 'User', tenantId: 't' }))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    expect((await caughtAsync(rle.reEncryptRow(stored, 'v2', { model: 'User', tenantId: 'u' }))).code).toBe('ERR_ROWCRYPT_TENANT_MISMATCH')
    expect((await caughtAsync(rle.reEncryptRow({ ...stored, tenantId: 'u' }, 'v2', { model: 'User', tenantId: 'u' }))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    expect((await caughtAsync(rle.reEncryptRow(stored, 'v7', { model: 'User', tenantId: 't' }))).code).toBe('ERR_ROWCRYPT_KEY_VERSION_UNKNOWN')
  })
})

describe('RowLevelEncryption: tamper matrix', () => {
  const AAD = new TextEncoder().encode('ctx-aad-1')
  let rle: RowLevelEncryption
  let provider: RecordingProvider
  let a1: Row, a2: Row, b1: Row, p0: Row, p1: Row, r1: Row, x1: Row
  const plaintexts: string[] = []

  beforeAll(async () => {
    ;({ rle, provider } = setup())
    a1 = await rle.encryptRow({ model: 'User', data: userData('alice'), tenantId: 'tenant_a' })
    a2 = await rle.encryptRow({ model: 'User', data: userData('anna'), tenantId: 'tenant_a' })
    b1 = await rle.encryptRow({ model: 'User', data: userData('bruno'), tenantId: 'tenant_b' })
    p0 = await rle.encryptRow({ model: 'Post', data: { title: 'Draft without id' }, tenantId: 'tenant_a' })
    p1 = await rle.encryptRow({ model: 'Post', data: { id: 'post_1', title: 'Quarterly numbers', body: 'revenue up 12%' }, tenantId: 'tenant_a' })
    r1 = await rle.encryptRow({ model: 'User', data: { email: 'rowid@example.com' }, tenantId: 'tenant_a', rowId: 'u-77' })
    x1 = await rle.encryptRow({ model: 'User', data: { email: 'aad@example.com' }, tenantId: 'tenant_a', aad: AAD })
    for (const t of ['alice', 'anna', 'bruno']) plaintexts.push(`${t}@example.com`, `ssn-${t}-6789`, `notes about ${t}`)
    plaintexts.push('Draft without id', 'Quarterly numbers', 'revenue up 12%', 'rowid@example.com', 'aad@example.com', Buffer.from(AVATAR).toString('hex'), 'dark')
  })

  const A = { model: 'User', tenantId: 'tenant_a' }

  // [name, row, ctx, expected code]
  const cases: Array<[string, () => Row, () => Record<string, unknown>, string]> = [
    ['flip a byte of the email ciphertext', () => ({ ...a1, email: flipDecodedByte(a1.email as string, 'body', 0) }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['flip a byte of the email tag', () => ({ ...a1, email: flipDecodedByte(a1.email as string, 'body', -1) }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['flip a byte of the email IV', () => ({ ...a1, email: flipDecodedByte(a1.email as string, 'iv', 5) }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['flip a byte of the json ciphertext', () => ({ ...a1, prefs: flipDecodedByte(a1.prefs as string, 'body', 3) }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['flip a byte of the bytes ciphertext', () => ({ ...a1, avatar: flipDecodedByte(a1.avatar as string, 'body', 1) }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['relabel the value type (s -> j)', () => ({ ...a1, email: (a1.email as string).replace('.s.', '.j.') }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['relabel the value type (j -> s)', () => ({ ...a1, prefs: (a1.prefs as string).replace('.j.', '.s.') }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['cut the ciphertext down to its tag', () => ({ ...a1, email: cutToTag(a1.email as string) }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['flip a byte of the wrapped key blob (IV)', () => ({ ...a1, wrappedDek: withByte(a1.wrappedDek, 2, 0x80) }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['flip a byte of the wrapped key blob (key)', () => ({ ...a1, wrappedDek: withByte(a1.wrappedDek, 20, 0x01) }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['flip a byte of the wrapped key blob (tag)', () => ({ ...a1, wrappedDek: withByte(a1.wrappedDek, 61, 0x01) }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['truncate the wrapped key', () => ({ ...a1, wrappedDek: (a1.wrappedDek as Uint8Array).subarray(0, 50) }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    [
      'set the row-bound flag on an unbound key',
      () => ({ ...p0, id: 'post_0', wrappedDek: withByte(p0.wrappedDek, 1, 0x01) }),
      () => ({ model: 'Post', tenantId: 'tenant_a' }),
      'ERR_ROWCRYPT_DECRYPTION_FAILED',
    ],
    ['clear the row-bound flag of a bound key', () => ({ ...p1, wrappedDek: withByte(p1.wrappedDek, 1, 0x01) }), () => ({ model: 'Post', tenantId: 'tenant_a' }), 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['set the row-bound flag where no id is known', () => ({ ...a1, wrappedDek: withByte(a1.wrappedDek, 1, 0x01) }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['swap email and ssn within a row', () => ({ ...a1, email: a1.ssn, ssn: a1.email }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['copy notes into email within a row', () => ({ ...a1, email: a1.notes }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['move a ciphertext between two rows of one tenant', () => ({ ...a1, email: a2.email }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['move a ciphertext between two tenants', () => ({ ...a1, email: b1.email }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['move a ciphertext between models (Post.title -> User.email)', () => ({ ...a1, email: p1.title }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['swap wrappedDek between two rows of one tenant', () => ({ ...a1, wrappedDek: a2.wrappedDek }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['swap wrappedDek between tenants', () => ({ ...a1, wrappedDek: b1.wrappedDek }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['swap wrappedDek and keyVersion between tenants', () => ({ ...a1, wrappedDek: b1.wrappedDek, keyVersion: b1.keyVersion }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ["read another tenant's row whose tenant column says so", () => b1, () => A, 'ERR_ROWCRYPT_TENANT_MISMATCH'],
    ["relabel another tenant's row with our tenant", () => ({ ...b1, tenantId: 'tenant_a' }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    [
      "read another tenant's row without its tenant column",
      () => {
        const { tenantId: _t, ...rest } = b1
        return rest
      },
      () => A,
      'ERR_ROWCRYPT_DECRYPTION_FAILED',
    ],
    ['change keyVersion v1 -> v2', () => ({ ...a1, keyVersion: 'v2' }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    [
      'remove keyVersion',
      () => {
        const { keyVersion: _k, ...rest } = a1
        return rest
      },
      () => A,
      'ERR_ROWCRYPT_DECRYPTION_FAILED',
    ],
    ['non-string keyVersion', () => ({ ...a1, keyVersion: 1 }), () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['change the row id of a row-bound row (idField)', () => ({ ...p1, id: 'post_2' }), () => ({ model: 'Post', tenantId: 'tenant_a' }), 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['change the row id of a row-bound row (rowId)', () => r1, () => ({ ...A, rowId: 'u-78' }), 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['omit the row id of a row-bound row', () => r1, () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['wrong aad', () => x1, () => ({ ...A, aad: new TextEncoder().encode('ctx-aad-2') }), 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['missing aad', () => x1, () => A, 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['empty aad instead of none', () => a1, () => ({ ...A, aad: new Uint8Array(0) }), 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['aad where none was used', () => a1, () => ({ ...A, aad: AAD }), 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['decrypt a User row as a Post', () => ({ ...a1, title: a1.email, id: 'x' }), () => ({ model: 'Post', tenantId: 'tenant_a' }), 'ERR_ROWCRYPT_DECRYPTION_FAILED'],
    ['unknown key version', () => ({ ...a1, keyVersion: 'v9' }), () => A, 'ERR_ROWCRYPT_KEY_VERSION_UNKNOWN'],
    ['missing wrappedDek', () => ({ ...a1, wrappedDek: null }), () => A, 'ERR_ROWCRYPT_CIPHERTEXT_FORMAT'],
    ['unknown wrappedDek format version', () => ({ ...a1, wrappedDek: withByte(a1.wrappedDek, 0, 0x03) }), () => A, 'ERR_ROWCRYPT_CIPHERTEXT_FORMAT'],
    ['plaintext written around rowcrypt', () => ({ ...a1, email: 'mallory@example.com' }), () => A, 'ERR_ROWCRYPT_CIPHERTEXT_FORMAT'],
  ]

  const errors: Array<[string, RowcryptError]> = []

  it.each(cases)('%s', async (name, row, ctx, code) => {
    const e = await caughtAsync(rle.decryptRow(row(), ctx() as never))
    expect(e.code).toBe(code)
    if (code === 'ERR_ROWCRYPT_DECRYPTION_FAILED') expect(e).toBeInstanceOf(DecryptionError)
    errors.push([name, e])
  })

  it('the untampered rows still decrypt (the matrix is not vacuous)', async () => {
    expect((await rle.decryptRow(a1, A)).email).toBe('alice@example.com')
    expect((await rle.decryptRow(b1, { model: 'User', tenantId: 'tenant_b' })).email).toBe('bruno@example.com')
    expect((await rle.decryptRow(p1, { model: 'Post', tenantId: 'tenant_a' })).body).toBe('revenue up 12%')
    expect((await rle.decryptRow({ ...p0, id: 'post_0' }, { model: 'Post', tenantId: 'tenant_a' })).title).toBe('Draft without id')
    expect((await rle.decryptRow(r1, { ...A, rowId: 'u-77' })).email).toBe('rowid@example.com')
    expect((await rle.decryptRow(x1, { ...A, aad: AAD })).email).toBe('aad@example.com')
  })

  it('every authentication failure has the one fixed message, followed only by its location', () => {
    const failures = errors.filter(([, e]) => e.code === 'ERR_ROWCRYPT_DECRYPTION_FAILED')
    expect(failures.length).toBeGreaterThanOrEqual(30)
    for (const [, e] of failures) {
      expect(e.message.startsWith('decryption failed')).toBe(true)
      expect(e.message.replace(/ \((model|field|row|tenant) [^)]*\)$/, '')).toBe('decryption failed')
      expect(e.cause).toBeUndefined()
      expect(e.name).toBe('DecryptionError')
    }
    // Same location, different causes: identical messages, so the error is no oracle.
    const emailOfA1 = [
      'flip a byte of the email ciphertext',
      'flip a byte of the email tag',
      'flip a byte of the email IV',
      'relabel the value type (s -> j)',
      'copy notes into email within a row',
      'move a ciphertext between two rows of one tenant',
      'move a ciphertext between two tenants',
      'swap wrappedDek between two rows of one tenant',
    ]
    const messages = new Set(errors.filter(([n]) => emailOfA1.includes(n)).map(([, e]) => e.message))
    expect(errors.filter(([n]) => emailOfA1.includes(n))).toHaveLength(emailOfA1.length)
    expect(messages.size).toBe(1)
    const keyOfA1 = [
      'flip a byte of the wrapped key blob (IV)',
      'flip a byte of the wrapped key blob (key)',
      'flip a byte of the wrapped key blob (tag)',
      'truncate the wrapped key',
      'swap wrappedDek between tenants',
      'change keyVersion v1 -> v2',
      'remove keyVersion',
      'set the row-bound flag where no id is known',
    ]
    const keyMessages = new Set(errors.filter(([n]) => keyOfA1.includes(n)).map(([, e]) => e.message))
    expect(keyMessages.size).toBe(1)
  })

  it('errors locate the failure by model, field, row and tenant', () => {
    const get = (n: string) => errors.find(([name]) => name === n)?.[1] as DecryptionError
    expect(get('flip a byte of the email ciphertext')).toMatchObject({ model: 'User', field: 'email', tenantId: 'tenant_a' })
    expect(get('flip a byte of the json ciphertext')).toMatchObject({ field: 'prefs' })
    expect(get('change the row id of a row-bound row (idField)')).toMatchObject({ model: 'Post', rowId: 'post_2', tenantId: 'tenant_a' })
    expect(get('swap wrappedDek between tenants').field).toBeUndefined()
  })

  it('no error carries plaintext, key bytes, wrapped keys or ciphertext', () => {
    expect(errors).toHaveLength(cases.length)
    const secrets: string[] = [...plaintexts]
    const spell = (b: Uint8Array) => {
      const buf = Buffer.from(b)
      return [buf.toString('hex'), buf.toString('base64'), buf.toString('base64url'), buf.toString('hex').slice(0, 16), buf.toString('base64').slice(0, 16)]
    }
    for (const k of provider.seenKeys) secrets.push(...spell(k))
    secrets.push(MASTER_V1, MASTER_V1.slice(0, 16), MASTER_V2, Buffer.from(MASTER_V2, 'base64').toString('hex'))
    for (const row of [a1, a2, b1, p0, p1, r1, x1]) {
      secrets.push(...spell(row.wrappedDek as Uint8Array))
      for (const v of Object.values(row)) {
        if (isCiphertext(v)) secrets.push(v, v.split('.')[3] as string, v.split('.')[4] as string)
      }
    }
    expect(provider.seenKeys.length).toBeGreaterThan(6)
    for (const [name, e] of errors) {
      const parts: string[] = []
      let cur: unknown = e
      while (cur instanceof Error) {
        parts.push(cur.message, String(cur), JSON.stringify(Object.fromEntries(Object.entries(cur))))
        cur = cur.cause
      }
      if (cur !== undefined) parts.push(String(cur))
      const text = parts.join('\n')
      for (const s of secrets) {
        if (text.includes(s)) throw new Error(`error of "${name}" contains a secret`)
      }
    }
  })
})

describe('RowLevelEncryption: migrating mode (legacy rows named by id)', () => {
  const seen: unknown[] = []
  const migrating = () =>
    new RowLevelEncryption({
      keyProvider: new RecordingProvider(),
      models: { User: { ...USER, idField: 'id', migrating: { legacyIds: (id) => (seen.push(id), Number(id) <= 10) } } },
    })
  const plain = (id: unknown): Row => ({ id, email: 'plain@x', ssn: null, tenantId: 't', wrappedDek: null, keyVersion: null })

  it('reads a row without a key as plaintext only when its id is a legacy one; any other is ERR_ROWCRYPT_CIPHERTEXT_FORMAT', async () => {
    const rle = migrating()
    expect(await rle.decryptRow(plain(10), { model: 'User', tenantId: 't' })).toEqual(plain(10))
    expect(await rle.decryptRow(plain(7n), { model: 'User', tenantId: 't' })).toMatchObject({ email: 'plain@x' })
    expect(seen).toContain(7n)
    const { id: _, ...withoutId } = plain(3)
    expect(await rle.decryptRow(withoutId, { model: 'User', tenantId: 't', rowId: 3 })).toMatchObject({ email: 'plain@x' })
    for (const row of [plain(11), plain('11'), plain(null), withoutId]) {
      expect((await caughtAsync(rle.decryptRow(row, { model: 'User', tenantId: 't' }))).code).toBe('ERR_ROWCRYPT_CIPHERTEXT_FORMAT')
    }
    // Outside migrating mode no row without a key is plaintext, legacy id or not.
    expect((await caughtAsync(setup().rle.decryptRow(plain(1), { model: 'User', tenantId: 't' }))).code).toBe('ERR_ROWCRYPT_CIPHERTEXT_FORMAT')
  })

  it('a row rowcrypt encrypted, its key removed at rest and plaintext put in its fields, does not read as plaintext', async () => {
    const rle = migrating()
    const stored = await rle.encryptRow({ model: 'User', data: { id: 42, email: 'real@x', ssn: 'real-ssn' }, tenantId: 't' })
    expect(await rle.decryptRow(stored, { model: 'User', tenantId: 't' })).toMatchObject({ email: 'real@x' })
    const forged = { ...stored, wrappedDek: null, keyVersion: null, email: 'forged@x', ssn: 'forged-ssn' }
    const e = await caughtAsync(rle.decryptRow(forged, { model: 'User', tenantId: 't' }))
    expect(e.code).toBe('ERR_ROWCRYPT_CIPHERTEXT_FORMAT')
    expect(e.message).not.toMatch(/forged|real/)
  })

  it('a legacy row without a key but with a ciphertext in a field is refused; a throwing legacyIds is a ConfigError', async () => {
    const rle = migrating()
    const sealed = await rle.encryptRow({ model: 'User', data: { id: 5, email: 'x' }, tenantId: 't' })
    expect((await caughtAsync(rle.decryptRow({ ...plain(5), email: sealed.email }, { model: 'User', tenantId: 't' }))).code).toBe('ERR_ROWCRYPT_CIPHERTEXT_FORMAT')
    const throwing = new RowLevelEncryption({
      keyProvider: new RecordingProvider(),
      models: {
        User: {
          ...USER,
          idField: 'id',
          migrating: {
            legacyIds: () => {
              throw new Error('lookup failed')
            },
          },
        },
      },
    })
    expect((await caughtAsync(throwing.decryptRow(plain(1), { model: 'User', tenantId: 't' }))).code).toBe('ERR_ROWCRYPT_CONFIG')
  })
})

describe('RowLevelEncryption: invalid values and configuration', () => {
  it.each<[string, string, unknown]>([
    ['a number for a string field', 'email', 42],
    ['a boolean for a string field', 'email', true],
    ['an object for a string field', 'email', { toString: () => 'x' }],
    ['bytes for a string field', 'email', new Uint8Array([1])],
    ['a bigint for a string field', 'ssn', 12345678901234567890n],
    ['a string for a bytes field', 'avatar', 'iVBORw0KGgo='],
    ['a number array for a bytes field', 'avatar', [1, 2, 3]],
    ['an ArrayBuffer for a bytes field', 'avatar', new ArrayBuffer(4)],
    ['a function for a json field', 'prefs', () => 1],
    ['a symbol for a json field', 'prefs', Symbol('s')],
    ['a bigint for a json field', 'prefs', 10n],
    ['an object with a bigint for a json field', 'prefs', { n: 10n }],
  ])('rejects %s with ERR_ROWCRYPT_INVALID_VALUE', async (_name, field, value) => {
    const { rle } = setup()
    const e = await caughtAsync(rle.encryptRow({ model: 'User', data: { [field]: value }, tenantId: 't' }))
    expect(e.code).toBe('ERR_ROWCRYPT_INVALID_VALUE')
    expect(e.message).toContain(field)
    expect(e.message).not.toContain('12345678901234567890')
    expect(e.message).not.toContain('iVBORw0KGgo')
  })

  it('rejects a cyclic json value with ERR_ROWCRYPT_INVALID_VALUE', async () => {
    const { rle } = setup()
    const cyclic: Record<string, unknown> = { secret: 'hunter2' }
    cyclic.self = cyclic
    const e = await caughtAsync(rle.encryptRow({ model: 'User', data: { prefs: cyclic }, tenantId: 't' }))
    expect(e.code).toBe('ERR_ROWCRYPT_INVALID_VALUE')
    expect(e.message).not.toContain('hunter2')
    expect(e.cause).toBeUndefined()
  })

  it('unknown model -> ConfigError on every operation', async () => {
    const { rle } = setup()
    expect(() => rle.spec('Nope')).toThrow(ConfigError)
    const stored = await rle.encryptRow({ model: 'User', data: { email: 'a' }, tenantId: 't' })
    for (const p of [
      rle.encryptRow({ model: 'Nope', data: { email: 'a' }, tenantId: 't' }),
      rle.decryptRow(stored, { model: 'Nope', tenantId: 't' }),
      rle.reEncryptRow(stored, 'v2', { model: 'Nope', tenantId: 't' }),
      rle.encryptRow({ model: 'toString', data: {}, tenantId: 't' }),
    ]) {
      const e = await caughtAsync(p)
      expect(e.code).toBe('ERR_ROWCRYPT_CONFIG')
    }
    expect((await caughtAsync(rle.encryptRow({ model: 'Nope', data: {}, tenantId: 't' }))).message).toContain('Nope')
  })

  it.each<[string, unknown]>([
    ['empty', ''],
    ['not a string', 42],
    ['undefined', undefined],
    ['too long', 'x'.repeat(300)],
  ])('rejects a tenant id that is %s with ERR_ROWCRYPT_TENANT_INVALID', async (_name, tenantId) => {
    const { rle } = setup()
    const stored = await rle.encryptRow({ model: 'User', data: { email: 'a' }, tenantId: 't' })
    expect((await caughtAsync(rle.encryptRow({ model: 'User', data: { email: 'a' }, tenantId: tenantId as string }))).code).toBe('ERR_ROWCRYPT_TENANT_INVALID')
    expect((await caughtAsync(rle.decryptRow(stored, { model: 'User', tenantId: tenantId as string }))).code).toBe('ERR_ROWCRYPT_TENANT_INVALID')
  })

  it.each<[string, unknown]>([
    ['no options', undefined],
    ['no keyProvider', { models: {} }],
    ['a null keyProvider', { keyProvider: null, models: {} }],
    ['a keyProvider without methods', { keyProvider: {}, models: {} }],
    ['fields not an array', { keyProvider: new RecordingProvider(), models: { M: { fields: 'email' } } }],
    ['no fields', { keyProvider: new RecordingProvider(), models: { M: { fields: [] } } }],
    ['a field without a name', { keyProvider: new RecordingProvider(), models: { M: { fields: [{ type: 'json' }] } } }],
    ['an unknown value type', { keyProvider: new RecordingProvider(), models: { M: { fields: [{ name: 'a', type: 'number' }] } } }],
    ['a field listed twice', { keyProvider: new RecordingProvider(), models: { M: { fields: ['a', { name: 'a', type: 'json' }] } } }],
    ['an encrypted sidecar column', { keyProvider: new RecordingProvider(), models: { M: { fields: ['tenantId'] } } }],
    ['two roles on one column', { keyProvider: new RecordingProvider(), models: { M: { fields: ['a'], columns: { keyVersion: 'tenantId' } } } }],
    ['an empty column name', { keyProvider: new RecordingProvider(), models: { M: { fields: ['a'], columns: { tenantId: '' } } } }],
    ['an encrypted id field', { keyProvider: new RecordingProvider(), models: { M: { fields: ['id'], idField: 'id' } } }],
    ['a sidecar id field', { keyProvider: new RecordingProvider(), models: { M: { fields: ['a'], idField: 'tenantId' } } }],
    ['migrating: true (the legacy rows are not named)', { keyProvider: new RecordingProvider(), models: { M: { fields: ['a'], idField: 'id', migrating: true } } }],
    ['migrating without legacyIds', { keyProvider: new RecordingProvider(), models: { M: { fields: ['a'], idField: 'id', migrating: {} } } }],
    ['migrating without an idField', { keyProvider: new RecordingProvider(), models: { M: { fields: ['a'], migrating: { legacyIds: () => true } } } }],
  ])('rejects %s with ConfigError', (_name, options) => {
    let e: unknown
    try {
      new RowLevelEncryption(options as never)
    } catch (err) {
      e = err
    }
    expect(e).toBeInstanceOf(ConfigError)
    expect((e as ConfigError).code).toBe('ERR_ROWCRYPT_CONFIG')
  })

  it('names the model and field in configuration errors', () => {
    const msg = (models: Record<string, unknown>) => {
      try {
        new RowLevelEncryption({ keyProvider: new RecordingProvider(), models: models as never })
      } catch (e) {
        return (e as Error).message
      }
      throw new Error('expected a ConfigError')
    }
    expect(msg({ Invoice: { fields: [{ name: 'total', type: 'money' }] } })).toEqual(expect.stringContaining('Invoice'))
    expect(msg({ Invoice: { fields: [{ name: 'total', type: 'money' }] } })).toEqual(expect.stringContaining('total'))
    expect(msg({ Invoice: { fields: ['number'], idField: 'number' } })).toEqual(expect.stringContaining('number'))
  })
})
