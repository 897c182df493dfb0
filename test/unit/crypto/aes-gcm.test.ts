import { createCipheriv } from 'node:crypto'
import { AuthenticationFailure, IV_BYTES, KEY_BYTES, TAG_BYTES, generateIv, generateKey, open, openSealed, seal, zero } from '../../../src/crypto/aes-gcm'

const key = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex')
const iv = Buffer.from('a0a1a2a3a4a5a6a7a8a9aaab', 'hex')
const aad = Buffer.from('model=User;field=email;tenant=t1', 'utf8')
const plaintext = Buffer.from('alice@example.com — 秘密 🔐', 'utf8')

function flipBit(buf: Uint8Array, bit: number): Buffer {
  const copy = Buffer.from(buf)
  copy[bit >> 3] = (copy[bit >> 3] as number) ^ (1 << (bit & 7))
  return copy
}

function expectAuthFailure(fn: () => unknown): void {
  let caught: unknown
  try {
    fn()
  } catch (e) {
    caught = e
  }
  expect(caught).toBeInstanceOf(AuthenticationFailure)
  expect((caught as Error).message).toBe('decryption failed')
}

describe('constants and generators', () => {
  it('uses AES-256-GCM sizes', () => {
    expect(KEY_BYTES).toBe(32)
    expect(IV_BYTES).toBe(12)
    expect(TAG_BYTES).toBe(16)
  })

  it('generateKey and generateIv give fresh random buffers of the right size', () => {
    const k1 = generateKey()
    const k2 = generateKey()
    expect(k1).toHaveLength(32)
    expect(k1.equals(k2)).toBe(false)
    const i1 = generateIv()
    const i2 = generateIv()
    expect(i1).toHaveLength(12)
    expect(i1.equals(i2)).toBe(false)
  })
})

describe('seal/open', () => {
  it('round-trips and returns ciphertext of plaintext length plus a 16-byte tag', () => {
    const { ciphertext, tag } = seal(key, iv, plaintext, aad)
    expect(ciphertext).toHaveLength(plaintext.length)
    expect(tag).toHaveLength(TAG_BYTES)
    expect(ciphertext.equals(plaintext)).toBe(false)
    expect(open(key, iv, ciphertext, tag, aad).equals(plaintext)).toBe(true)
  })

  it('round-trips the empty plaintext and the empty AAD', () => {
    const { ciphertext, tag } = seal(key, iv, Buffer.alloc(0), Buffer.alloc(0))
    expect(ciphertext).toHaveLength(0)
    expect(open(key, iv, ciphertext, tag, Buffer.alloc(0))).toHaveLength(0)
  })

  it('round-trips a large plaintext', () => {
    const big = Buffer.alloc(1024 * 1024 + 7, 0xab)
    const { ciphertext, tag } = seal(key, iv, big, aad)
    expect(open(key, iv, ciphertext, tag, aad).equals(big)).toBe(true)
  })

  it('accepts plain Uint8Array inputs (not only Buffer)', () => {
    const u = (b: Buffer) => new Uint8Array(b)
    const { ciphertext, tag } = seal(u(key), u(iv), u(plaintext), u(aad))
    expect(open(u(key), u(iv), u(ciphertext), u(tag), u(aad)).equals(plaintext)).toBe(true)
  })

  it('is exactly AES-256-GCM with the AAD set (matches node:crypto directly)', () => {
    const c = createCipheriv('aes-256-gcm', key, iv)
    c.setAAD(aad)
    const expected = Buffer.concat([c.update(plaintext), c.final()])
    const { ciphertext, tag } = seal(key, iv, plaintext, aad)
    expect(ciphertext.equals(expected)).toBe(true)
    expect(tag.equals(c.getAuthTag())).toBe(true)
  })

  it('is deterministic for fixed inputs and differs with a different IV', () => {
    const a = seal(key, iv, plaintext, aad)
    const b = seal(key, iv, plaintext, aad)
    const c = seal(key, flipBit(iv, 0), plaintext, aad)
    expect(a.ciphertext.equals(b.ciphertext) && a.tag.equals(b.tag)).toBe(true)
    expect(a.ciphertext.equals(c.ciphertext)).toBe(false)
  })

  describe('any single-bit flip fails with AuthenticationFailure', () => {
    const sealed = seal(key, iv, plaintext, aad)

    it('in the ciphertext', () => {
      for (let bit = 0; bit < sealed.ciphertext.length * 8; bit++) {
        expectAuthFailure(() => open(key, iv, flipBit(sealed.ciphertext, bit), sealed.tag, aad))
      }
    })

    it('in the tag', () => {
      for (let bit = 0; bit < TAG_BYTES * 8; bit++) {
        expectAuthFailure(() => open(key, iv, sealed.ciphertext, flipBit(sealed.tag, bit), aad))
      }
    })

    it('in the IV', () => {
      for (let bit = 0; bit < IV_BYTES * 8; bit++) {
        expectAuthFailure(() => open(key, flipBit(iv, bit), sealed.ciphertext, sealed.tag, aad))
      }
    })

    it('in the AAD', () => {
      for (let bit = 0; bit < aad.length * 8; bit++) {
        expectAuthFailure(() => open(key, iv, sealed.ciphertext, sealed.tag, flipBit(aad, bit)))
      }
    })

    it('in the key', () => {
      for (let bit = 0; bit < KEY_BYTES * 8; bit++) {
        expectAuthFailure(() => open(flipBit(key, bit), iv, sealed.ciphertext, sealed.tag, aad))
      }
    })
  })

  it('fails with AuthenticationFailure on truncated or extended ciphertext, AAD or tag', () => {
    const { ciphertext, tag } = seal(key, iv, plaintext, aad)
    expectAuthFailure(() => open(key, iv, ciphertext.subarray(1), tag, aad))
    expectAuthFailure(() => open(key, iv, Buffer.concat([ciphertext, Buffer.from([0])]), tag, aad))
    expectAuthFailure(() => open(key, iv, ciphertext, tag, aad.subarray(0, aad.length - 1)))
    expectAuthFailure(() => open(key, iv, ciphertext, tag, Buffer.concat([aad, Buffer.from([0])])))
    expectAuthFailure(() => open(key, iv, ciphertext, tag, Buffer.alloc(0)))
    // A short tag would weaken GCM; it must be refused, not accepted as a truncated tag.
    expectAuthFailure(() => open(key, iv, ciphertext, tag.subarray(0, 12), aad))
    expectAuthFailure(() => open(key, iv, ciphertext, tag.subarray(0, 4), aad))
    expectAuthFailure(() => open(key, iv, ciphertext, Buffer.alloc(0), aad))
    expectAuthFailure(() => open(key, iv, ciphertext, Buffer.concat([tag, Buffer.from([0])]), aad))
  })

  it('gives the same error whatever the cause', () => {
    const { ciphertext, tag } = seal(key, iv, plaintext, aad)
    const messages = new Set<string>()
    const causes: Array<() => unknown> = [
      () => open(key, iv, flipBit(ciphertext, 3), tag, aad),
      () => open(key, iv, ciphertext, flipBit(tag, 3), aad),
      () => open(key, iv, ciphertext, tag.subarray(0, 8), aad),
      () => open(flipBit(key, 3), iv, ciphertext, tag, aad),
      () => open(key, iv, ciphertext, tag, Buffer.from('other')),
    ]
    for (const c of causes) {
      try {
        c()
        throw new Error('expected a failure')
      } catch (e) {
        expect(e).toBeInstanceOf(AuthenticationFailure)
        messages.add((e as Error).message)
        expect((e as Error).cause).toBeUndefined()
      }
    }
    expect([...messages]).toEqual(['decryption failed'])
  })

  it.each([0, 16, 31, 33, 64])('rejects a %i-byte key with RangeError on seal and open', (n) => {
    const { ciphertext, tag } = seal(key, iv, plaintext, aad)
    expect(() => seal(Buffer.alloc(n), iv, plaintext, aad)).toThrow(RangeError)
    expect(() => open(Buffer.alloc(n), iv, ciphertext, tag, aad)).toThrow(RangeError)
  })

  it.each([0, 8, 11, 13, 16])('rejects a %i-byte IV with RangeError on seal and open', (n) => {
    const { ciphertext, tag } = seal(key, iv, plaintext, aad)
    expect(() => seal(key, Buffer.alloc(n), plaintext, aad)).toThrow(RangeError)
    expect(() => open(key, Buffer.alloc(n), ciphertext, tag, aad)).toThrow(RangeError)
  })

  it('never puts key bytes into the size errors', () => {
    const badKey = Buffer.alloc(31, 0x5a)
    try {
      seal(badKey, iv, plaintext, aad)
      throw new Error('expected a failure')
    } catch (e) {
      expect(e).toBeInstanceOf(RangeError)
      const m = (e as Error).message
      expect(m).not.toContain(badKey.toString('hex'))
      expect(m).not.toContain(badKey.toString('base64'))
    }
  })
})

describe('openSealed', () => {
  // ciphertext | tag at the start of a longer buffer whose rest is junk, as the read path's reused buffer holds it.
  function laidOut(): { buf: Buffer; end: number } {
    const { ciphertext, tag } = seal(key, iv, plaintext, aad)
    const buf = Buffer.concat([ciphertext, tag, Buffer.alloc(37, 0xee)])
    return { buf, end: ciphertext.length + TAG_BYTES }
  }

  it('opens what seal made, reading only sealed[0, end)', () => {
    const { buf, end } = laidOut()
    expect(openSealed(key, iv, buf, end, aad)).toEqual(plaintext)
    expect(openSealed(key, iv, Buffer.from(buf.subarray(0, end)), end, aad)).toEqual(plaintext)
  })

  it('fails with AuthenticationFailure on any bit flipped in ciphertext or tag, and on a wrong end', () => {
    const { buf, end } = laidOut()
    for (let bit = 0; bit < end * 8; bit += 7) expectAuthFailure(() => openSealed(key, iv, flipBit(buf, bit), end, aad))
    for (const e of [end - 1, end + 1, TAG_BYTES - 1, 0, -1, buf.length + 1]) expectAuthFailure(() => openSealed(key, iv, buf, e, aad))
    expectAuthFailure(() => openSealed(key, flipBit(iv, 5), buf, end, aad))
    expectAuthFailure(() => openSealed(key, iv, buf, end, flipBit(aad, 5)))
  })

  it('rejects wrong key and IV sizes with RangeError', () => {
    const { buf, end } = laidOut()
    expect(() => openSealed(Buffer.alloc(31), iv, buf, end, aad)).toThrow(RangeError)
    expect(() => openSealed(key, Buffer.alloc(16), buf, end, aad)).toThrow(RangeError)
  })
})

describe('zero', () => {
  it('overwrites every given key in place and skips undefined', () => {
    const a = Buffer.alloc(32, 0xff)
    const b = new Uint8Array(16).fill(7)
    const view = a.subarray(8, 16)
    zero(a, undefined, b)
    expect(a.every((x) => x === 0)).toBe(true)
    expect(b.every((x) => x === 0)).toBe(true)
    expect(view.every((x) => x === 0)).toBe(true)
  })

  it('is a no-op with no arguments', () => {
    expect(() => zero()).not.toThrow()
  })

  it('makes a zeroed key useless for opening', () => {
    const k = Buffer.from(key)
    const { ciphertext, tag } = seal(k, iv, plaintext, aad)
    zero(k)
    expectAuthFailure(() => open(k, iv, ciphertext, tag, aad))
  })
})
