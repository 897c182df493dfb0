// LocalKeyProvider's synchronous paths (used by the read path's per-row loop) and its cached AAD
// prefix: same bytes and errors as the asynchronous API, and never used for a subclass that
// overrides unwrapDataKey or generateDataKey.
import { createDecipheriv, hkdfSync } from 'node:crypto'
import { appendContext, encodeContext, encodeContextPrefix } from '../../../src/crypto/context'
import { DecryptionError, KeyVersionError } from '../../../src/errors'
import { LocalKeyProvider, syncGenerateOf, syncUnwrapOf } from '../../../src/keys/local'
import type { BindingContext } from '../../../src/keys/provider'

const MASTER = Buffer.alloc(32, 0x11)
const provider = () => new LocalKeyProvider({ keys: { v1: MASTER, v2: Buffer.alloc(32, 0x22) }, activeVersion: 'v1' })

// The wrap AAD as documented: the context plus keyVersion, encoded by encodeContext.
function unwrapByHand(wrapped: Uint8Array, version: string, context: BindingContext, master: Buffer): Buffer {
  const kek = Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), Buffer.from('rowcrypt/local-key-provider/wrap/v1'), 32))
  const d = createDecipheriv('aes-256-gcm', kek, wrapped.subarray(0, 12))
  d.setAAD(encodeContext({ ...context, keyVersion: version }))
  d.setAuthTag(wrapped.subarray(44))
  return Buffer.concat([d.update(wrapped.subarray(12, 44)), d.final()])
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

  it.each(contexts.map((c) => [JSON.stringify(c), c] as const))('wraps with the documented AAD and unwraps the same key synchronously (%s)', async (_, context) => {
    const p = provider()
    const unwrap = syncUnwrapOf(p)!
    const generate = syncGenerateOf(p)!
    for (const dk of [await p.generateDataKey(context), generate(context)!]) {
      expect(dk.keyVersion).toBe('v1')
      expect(unwrapByHand(dk.wrappedKey, 'v1', context, MASTER).equals(Buffer.from(dk.plaintextKey))).toBe(true)
      expect(Buffer.from(unwrap(dk.wrappedKey, 'v1', context)!).equals(Buffer.from(dk.plaintextKey))).toBe(true)
      expect(Buffer.from(await p.unwrapDataKey(dk.wrappedKey, 'v1', context)).equals(Buffer.from(dk.plaintextKey))).toBe(true)
    }
  })

  it('fails like unwrapDataKey: another tenant, row or version', async () => {
    const p = provider()
    const unwrap = syncUnwrapOf(p)!
    const context = { purpose: 'row-dek', model: 'Customer', tenantId: 't1', rowId: 'r-1' }
    const dk = await p.generateDataKey(context)
    expect(() => unwrap(dk.wrappedKey, 'v1', { ...context, tenantId: 't2' })).toThrow(DecryptionError)
    expect(() => unwrap(dk.wrappedKey, 'v1', { ...context, rowId: 'r-2' })).toThrow(DecryptionError)
    expect(() => unwrap(dk.wrappedKey, 'v2', context)).toThrow(DecryptionError)
    expect(() => unwrap(dk.wrappedKey, 'v9', context)).toThrow(KeyVersionError)
  })

  it('is not used for other providers or for a subclass that overrides unwrap or generate', () => {
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
    expect(syncUnwrapOf(new Counting(options))).toBeUndefined()
    expect(syncGenerateOf(new Counting(options))).toBeDefined()
    expect(syncGenerateOf(new Generating(options))).toBeUndefined()
    const other = { activeKeyVersion: 'v1', generateDataKey: provider().generateDataKey, wrapDataKey: provider().wrapDataKey, unwrapDataKey: provider().unwrapDataKey }
    expect(syncUnwrapOf(other)).toBeUndefined()
  })

  it('steps aside when a method is replaced on the instance after it was taken (an audit hook must run)', async () => {
    const p = provider()
    const unwrap = syncUnwrapOf(p)!
    const generate = syncGenerateOf(p)!
    const context = { purpose: 'row-dek', model: 'Customer', tenantId: 't1' }
    const dk = await p.generateDataKey(context)
    expect(unwrap(dk.wrappedKey, 'v1', context)).toBeDefined()
    p.unwrapDataKey = async () => {
      throw new Error('hooked')
    }
    p.generateDataKey = async () => {
      throw new Error('hooked')
    }
    expect(unwrap(dk.wrappedKey, 'v1', context)).toBeUndefined()
    expect(generate(context)).toBeUndefined()
  })
})
