// LocalKeyProvider's synchronous paths (generateDataKeySync / unwrapDataKeySync, used by the
// per-row loops), its wrapping format and its cached AAD prefix: same bytes and errors as the
// asynchronous API, never used for a subclass or instance that replaces the asynchronous method,
// and data keys wrapped by earlier releases stay readable.
import { createCipheriv, hkdfSync } from 'node:crypto'
import { appendContext, encodeContext, encodeContextPrefix } from '../../../src/crypto/context'
import { xaesKey, xaesOpen } from '../../../src/crypto/xaes'
import { DecryptionError, KeyVersionError } from '../../../src/errors'
import { LocalKeyProvider } from '../../../src/keys/local'
import type { BindingContext } from '../../../src/keys/provider'
import { InMemoryTenantKeyStore } from '../../../src/keys/tenant-key-store'

const MASTER = Buffer.alloc(32, 0x11)
const provider = () => new LocalKeyProvider({ keys: { v1: MASTER, v2: Buffer.alloc(32, 0x22) }, activeVersion: 'v1' })

// The documented format: 0x04 | nonce (24) | XAES-256-GCM(data key) with the context plus
// keyVersion as AAD, under HKDF-SHA256(master, "rowcrypt/local-key-provider/wrap/xaes/v1").
function unwrapByHand(wrapped: Uint8Array, version: string, context: BindingContext, master: Buffer): Buffer {
  expect(wrapped).toHaveLength(73)
  expect(wrapped[0]).toBe(0x04)
  const kek = xaesKey(Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), Buffer.from('rowcrypt/local-key-provider/wrap/xaes/v1'), 32)))
  return xaesOpen(kek, wrapped.subarray(1, 25), wrapped.subarray(25), encodeContext({ ...context, keyVersion: version }))
}

// How earlier releases wrapped: IV (12) | AES-256-GCM(data key) | tag, under HKDF(master, ".../wrap/v1").
function wrapLegacy(dataKey: Buffer, version: string, context: BindingContext, master: Buffer): Buffer {
  const kek = Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), Buffer.from('rowcrypt/local-key-provider/wrap/v1'), 32))
  const iv = Buffer.alloc(12, 5)
  const c = createCipheriv('aes-256-gcm', kek, iv)
  c.setAAD(encodeContext({ ...context, keyVersion: version }))
  const ct = Buffer.concat([c.update(dataKey), c.final()])
  return Buffer.concat([iv, ct, c.getAuthTag()])
}

describe('appendContext', () => {
  it('gives the bytes of encodeContext for the whole map', () => {
    const prefix = encodeContextPrefix([
      ['keyVersion', 'v1'],
      ['model', 'Customer'],
      ['purpose', 'row-dek'],
    ])
    const full = { keyVersion: 'v1', model: 'Customer', purpose: 'row-dek', rowId: 'ü-7', tenantId: 'tenant_ä' }
    expect(appendContext(prefix, ['rowId', 'ü-7', 'tenantId', 'tenant_ä']).equals(encodeContext(full))).toBe(true)
    expect(() =>
      encodeContextPrefix([
        ['b', '1'],
        ['a', '2'],
      ]),
    ).toThrow(RangeError)
  })
})

describe('LocalKeyProvider synchronous paths', () => {
  const contexts: BindingContext[] = [
    { purpose: 'row-dek', model: 'Customer', tenantId: 't1' },
    { tenantId: 't1', rowId: 'r-1', model: 'Customer', purpose: 'row-dek' },
    { purpose: 'row-dek', model: 'Customer', tenantId: 't1', rowId: 'r-1', extra: 'x' }, // not the fast path
  ]

  it.each(contexts.map((c) => [JSON.stringify(c), c] as const))('wraps in the documented format and unwraps the same key synchronously (%s)', async (_, context) => {
    const p = provider()
    for (const dk of [await p.generateDataKey(context), p.generateDataKeySync(context)!]) {
      expect(dk.keyVersion).toBe('v1')
      expect(unwrapByHand(dk.wrappedKey, 'v1', context, MASTER).equals(Buffer.from(dk.plaintextKey))).toBe(true)
      expect(Buffer.from(p.unwrapDataKeySync(dk.wrappedKey, 'v1', context)!).equals(Buffer.from(dk.plaintextKey))).toBe(true)
      expect(Buffer.from(await p.unwrapDataKey(dk.wrappedKey, 'v1', context)).equals(Buffer.from(dk.plaintextKey))).toBe(true)
    }
  })

  it('fails like unwrapDataKey: another tenant, row or version', async () => {
    const p = provider()
    const context = { purpose: 'row-dek', model: 'Customer', tenantId: 't1', rowId: 'r-1' }
    const dk = await p.generateDataKey(context)
    expect(() => p.unwrapDataKeySync(dk.wrappedKey, 'v1', { ...context, tenantId: 't2' })).toThrow(DecryptionError)
    expect(() => p.unwrapDataKeySync(dk.wrappedKey, 'v1', { ...context, rowId: 'r-2' })).toThrow(DecryptionError)
    expect(() => p.unwrapDataKeySync(dk.wrappedKey, 'v2', context)).toThrow(DecryptionError)
    expect(() => p.unwrapDataKeySync(dk.wrappedKey, 'v9', context)).toThrow(KeyVersionError)
    expect(() => p.unwrapDataKeySync(dk.wrappedKey.subarray(0, 72), 'v1', context)).toThrow(DecryptionError)
  })

  it('reads data keys wrapped by earlier releases, and re-wrapping moves them to the current format', async () => {
    const p = provider()
    const context = { purpose: 'row-dek', model: 'Customer', tenantId: 't1', rowId: 'r-1' }
    const dataKey = Buffer.alloc(32, 0x42)
    const legacy = wrapLegacy(dataKey, 'v1', context, MASTER)
    expect(Buffer.from(p.unwrapDataKeySync(legacy, 'v1', context)!).equals(dataKey)).toBe(true)
    expect(Buffer.from(await p.unwrapDataKey(legacy, 'v1', context)).equals(dataKey)).toBe(true)
    await expect(p.unwrapDataKey(legacy, 'v1', { ...context, rowId: 'r-2' })).rejects.toBeInstanceOf(DecryptionError)
    const moved = await p.rewrapDataKey(legacy, 'v1', 'v2', context)
    expect(moved.keyVersion).toBe('v2')
    expect(moved.wrappedKey).toHaveLength(73)
    expect(unwrapByHand(moved.wrappedKey, 'v2', context, Buffer.alloc(32, 0x22)).equals(dataKey)).toBe(true)
  })

  it('is not used for a subclass that overrides unwrap or generate', async () => {
    class Counting extends LocalKeyProvider {
      calls = 0
      override async unwrapDataKey(w: Uint8Array, v: string, c: BindingContext) {
        this.calls++
        return super.unwrapDataKey(w, v, c)
      }
    }
    class Generating extends LocalKeyProvider {
      override async generateDataKey(c: BindingContext) {
        return super.generateDataKey(c)
      }
    }
    const options = { keys: { v1: MASTER }, activeVersion: 'v1' }
    const context = { purpose: 'row-dek', model: 'Customer', tenantId: 't1' }
    const counting = new Counting(options)
    const dk = await counting.generateDataKey(context)
    expect(counting.unwrapDataKeySync(dk.wrappedKey, 'v1', context)).toBeUndefined()
    expect(counting.generateDataKeySync(context)).toBeDefined()
    expect(new Generating(options).generateDataKeySync(context)).toBeUndefined()
  })

  it('steps aside when a method is replaced on the instance (an audit hook must run)', async () => {
    const p = provider()
    const context = { purpose: 'row-dek', model: 'Customer', tenantId: 't1' }
    const dk = await p.generateDataKey(context)
    expect(p.unwrapDataKeySync(dk.wrappedKey, 'v1', context)).toBeDefined()
    p.unwrapDataKey = async () => {
      throw new Error('hooked')
    }
    p.generateDataKey = async () => {
      throw new Error('hooked')
    }
    expect(p.unwrapDataKeySync(dk.wrappedKey, 'v1', context)).toBeUndefined()
    expect(p.generateDataKeySync(context)).toBeUndefined()
  })

  it('with tenant keys: answers synchronously once the tenant key is cached, and never after a shred', async () => {
    const p = new LocalKeyProvider({ keys: { v1: MASTER }, activeVersion: 'v1', tenantKeyStore: new InMemoryTenantKeyStore() })
    const context = { purpose: 'row-dek', model: 'Customer', tenantId: 't1' }
    expect(p.generateDataKeySync(context)).toBeUndefined()
    const dk = await p.generateDataKey(context)
    expect(dk.wrappedKey[0]).toBe(0x05)
    const again = p.generateDataKeySync(context)!
    expect(Buffer.from(p.unwrapDataKeySync(again.wrappedKey, 'v1', context)!).equals(Buffer.from(again.plaintextKey))).toBe(true)
    expect(Buffer.from(p.unwrapDataKeySync(dk.wrappedKey, 'v1', context)!).equals(Buffer.from(dk.plaintextKey))).toBe(true)
    expect(p.unwrapDataKeySync(dk.wrappedKey, 'v1', { ...context, tenantId: 't2' })).toBeUndefined() // t2's key is not cached
    await p.shredTenant('t1')
    expect(() => p.unwrapDataKeySync(dk.wrappedKey, 'v1', context)).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_TENANT_SHREDDED' }))
    expect(() => p.generateDataKeySync(context)).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_TENANT_SHREDDED' }))
  })

  it('prepareUnwrapSync loads a tenant key that is not cached, after which unwrapDataKeySync answers', async () => {
    const store = new InMemoryTenantKeyStore()
    const p = new LocalKeyProvider({ keys: { v1: MASTER }, activeVersion: 'v1', tenantKeyStore: store })
    const context = { purpose: 'row-dek', model: 'Customer', tenantId: 't1' }
    const dk = await p.generateDataKey(context)
    p.clearCache()
    expect(p.unwrapDataKeySync(dk.wrappedKey, 'v1', context)).toBeUndefined()
    const ready = p.prepareUnwrapSync(dk.wrappedKey, 'v1', context)
    expect(ready).toBeInstanceOf(Promise)
    await expect(ready).resolves.toBeUndefined()
    expect(Buffer.from(p.unwrapDataKeySync(dk.wrappedKey, 'v1', context)!).equals(Buffer.from(dk.plaintextKey))).toBe(true)
  })

  it('prepareUnwrapSync never rejects: a missing tenant key, a failing store and a shredded tenant are reported by unwrapDataKey', async () => {
    const store = new InMemoryTenantKeyStore()
    const p = new LocalKeyProvider({ keys: { v1: MASTER }, activeVersion: 'v1', tenantKeyStore: store })
    const context = { purpose: 'row-dek', model: 'Customer', tenantId: 't1' }
    const dk = await p.generateDataKey(context)
    // Another tenant's context: its key was never made.
    const other = { ...context, tenantId: 't2' }
    await expect(p.prepareUnwrapSync(dk.wrappedKey, 'v1', other)).resolves.toBeUndefined()
    await expect(p.unwrapDataKey(dk.wrappedKey, 'v1', other)).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_ROWCRYPT_/) })
    p.clearCache()
    const get = store.get.bind(store)
    store.get = async () => {
      throw new Error('store down')
    }
    await expect(p.prepareUnwrapSync(dk.wrappedKey, 'v1', context)).resolves.toBeUndefined()
    expect(p.unwrapDataKeySync(dk.wrappedKey, 'v1', context)).toBeUndefined()
    await expect(p.unwrapDataKey(dk.wrappedKey, 'v1', context)).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_ROWCRYPT_/) })
    store.get = get
    await p.shredTenant('t1')
    await expect(p.prepareUnwrapSync(dk.wrappedKey, 'v1', context) ?? Promise.resolve()).resolves.toBeUndefined()
  })

  it('prepareUnwrapSync is undefined where loading cannot help: master-wrapped keys, a replaced unwrapDataKey', async () => {
    const context = { purpose: 'row-dek', model: 'Customer', tenantId: 't1' }
    const plain = provider()
    const dk = await plain.generateDataKey(context)
    expect(plain.prepareUnwrapSync(dk.wrappedKey, 'v1', context)).toBeUndefined()
    const withStore = new LocalKeyProvider({ keys: { v1: MASTER }, activeVersion: 'v1', tenantKeyStore: new InMemoryTenantKeyStore() })
    const tdk = await withStore.generateDataKey(context)
    expect(withStore.prepareUnwrapSync(tdk.wrappedKey, 'v1', context)).toBeDefined()
    withStore.unwrapDataKey = async () => {
      throw new Error('hooked')
    }
    expect(withStore.prepareUnwrapSync(tdk.wrappedKey, 'v1', context)).toBeUndefined()
  })
})
