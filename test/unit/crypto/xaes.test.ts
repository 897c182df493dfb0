import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { AuthenticationFailure } from '../../../src/crypto/aes-gcm'
import { destroyXaesKey, XAES_NONCE_BYTES, xaesKey, xaesNonce, xaesOpen, xaesOpenStored, xaesSeal } from '../../../src/crypto/xaes'

const file = JSON.parse(readFileSync(join(__dirname, '../../vectors/xaes-256-gcm-c2sp.json'), 'utf8')) as {
  vectors: Array<{ key: string; nonce: string; plaintext: string; aad: string; ciphertext: string }>
  accumulated: { iterations: number; sha: string }
}

describe('XAES-256-GCM', () => {
  it.each(file.vectors)('matches the C2SP vector with aad "$aad"', (v) => {
    const k = xaesKey(Buffer.from(v.key, 'hex'))
    const sealed = xaesSeal(k, Buffer.from(v.nonce), Buffer.from(v.plaintext), Buffer.from(v.aad))
    expect(sealed.toString('hex')).toBe(v.ciphertext)
    expect(xaesOpen(k, Buffer.from(v.nonce), sealed, Buffer.from(v.aad)).toString()).toBe(v.plaintext)
  })

  it.each(file.vectors)('opens the C2SP vector with aad "$aad" stored as nonce | sealed after a header byte', (v) => {
    const k = xaesKey(Buffer.from(v.key, 'hex'))
    const stored = Buffer.concat([Buffer.from([0x04]), Buffer.from(v.nonce), Buffer.from(v.ciphertext, 'hex')])
    expect(xaesOpenStored(k, stored, 1, Buffer.from(v.aad)).toString()).toBe(v.plaintext)
    expect(xaesOpenStored(k, stored.subarray(1), 0, Buffer.from(v.aad)).toString()).toBe(v.plaintext)
  })

  it('opens stored messages one after another with distinct nonces (derivations share no state)', () => {
    const k = xaesKey(Buffer.alloc(32, 3))
    const messages = Array.from({ length: 50 }, (_, i) => {
      const nonce = xaesNonce()
      const plaintext = Buffer.from(`data key ${i}`)
      return { plaintext, stored: Buffer.concat([Buffer.from([9]), nonce, xaesSeal(k, nonce, plaintext, Buffer.from('aad'))]) }
    })
    for (const m of messages) expect(xaesOpenStored(k, m.stored, 1, Buffer.from('aad')).equals(m.plaintext)).toBe(true)
  })

  it('refuses a destroyed key, and the next derivation with another key is unaffected', () => {
    const gone = xaesKey(Buffer.alloc(32, 5))
    const nonce = xaesNonce()
    const stored = Buffer.concat([Buffer.from([1]), nonce, xaesSeal(gone, nonce, Buffer.from('data key'), Buffer.from('aad'))])
    destroyXaesKey(gone)
    expect(() => xaesOpenStored(gone, stored, 1, Buffer.from('aad'))).toThrow()
    const v = file.vectors[0]!
    const k = xaesKey(Buffer.from(v.key, 'hex'))
    expect(xaesOpen(k, Buffer.from(v.nonce), Buffer.from(v.ciphertext, 'hex'), Buffer.from(v.aad)).toString()).toBe(v.plaintext)
  })

  it("matches C2SP's accumulated vector (SHAKE-128 streams, 10,000 iterations)", () => {
    // The reader is SHAKE-128 of nothing, read in order: key, nonce, length byte, plaintext,
    // length byte, aad. Its first bytes are the same whatever the output length asked for.
    const stream = createHash('shake128', { outputLength: file.accumulated.iterations * 570 }).digest()
    let at = 0
    const read = (n: number) => stream.subarray(at, (at += n))
    const writer = createHash('shake128', { outputLength: 32 })
    for (let i = 0; i < file.accumulated.iterations; i++) {
      const k = xaesKey(read(32))
      const nonce = read(XAES_NONCE_BYTES)
      const plaintext = read(read(1)[0] as number)
      const aad = read(read(1)[0] as number)
      const sealed = xaesSeal(k, nonce, plaintext, aad)
      expect(xaesOpen(k, nonce, sealed, aad).equals(plaintext)).toBe(true)
      writer.update(sealed)
    }
    expect(writer.digest('hex')).toBe(file.accumulated.sha)
  })

  it('fails authentication on a changed nonce, aad, ciphertext or key', () => {
    const k = xaesKey(Buffer.alloc(32, 7))
    const nonce = xaesNonce()
    const sealed = xaesSeal(k, nonce, Buffer.from('data key bytes'), Buffer.from('aad'))
    const flip = (b: Buffer, i: number) => Buffer.from(b.map((x, j) => (j === i ? x ^ 1 : x)))
    expect(() => xaesOpen(k, flip(nonce, 0), sealed, Buffer.from('aad'))).toThrow(AuthenticationFailure)
    expect(() => xaesOpen(k, flip(nonce, 23), sealed, Buffer.from('aad'))).toThrow(AuthenticationFailure)
    expect(() => xaesOpen(k, nonce, sealed, Buffer.from('aae'))).toThrow(AuthenticationFailure)
    expect(() => xaesOpen(k, nonce, flip(sealed, 3), Buffer.from('aad'))).toThrow(AuthenticationFailure)
    expect(() => xaesOpen(xaesKey(Buffer.alloc(32, 8)), nonce, sealed, Buffer.from('aad'))).toThrow(AuthenticationFailure)
    expect(() => xaesOpen(k, nonce, sealed.subarray(0, 10), Buffer.from('aad'))).toThrow(AuthenticationFailure)
    const stored = Buffer.concat([Buffer.from([1]), nonce, sealed])
    expect(() => xaesOpenStored(k, flip(stored, 1), 1, Buffer.from('aad'))).toThrow(AuthenticationFailure)
    expect(() => xaesOpenStored(k, flip(stored, stored.length - 1), 1, Buffer.from('aad'))).toThrow(AuthenticationFailure)
    expect(() => xaesOpenStored(k, stored, 1, Buffer.from('aae'))).toThrow(AuthenticationFailure)
    // Shorter than a nonce and a tag, or read from the wrong offset.
    expect(() => xaesOpenStored(k, stored.subarray(0, 1 + XAES_NONCE_BYTES + 15), 1, Buffer.from('aad'))).toThrow(AuthenticationFailure)
    expect(() => xaesOpenStored(k, stored, 0, Buffer.from('aad'))).toThrow(AuthenticationFailure)
  })

  it('refuses a nonce that is not 24 bytes', () => {
    const k = xaesKey(Buffer.alloc(32, 7))
    expect(() => xaesSeal(k, Buffer.alloc(12), Buffer.from('x'), Buffer.alloc(0))).toThrow(RangeError)
    expect(() => xaesOpen(k, Buffer.alloc(23), Buffer.alloc(32), Buffer.alloc(0))).toThrow(RangeError)
  })

  it('draws distinct 24-byte nonces', () => {
    const seen = new Set(Array.from({ length: 2000 }, () => xaesNonce().toString('hex')))
    expect(seen.size).toBe(2000)
    expect(xaesNonce()).toHaveLength(24)
  })
})
