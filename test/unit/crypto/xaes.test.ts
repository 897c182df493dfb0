import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { AuthenticationFailure } from '../../../src/crypto/aes-gcm'
import { XAES_NONCE_BYTES, xaesKey, xaesNonce, xaesOpen, xaesSeal } from '../../../src/crypto/xaes'

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
  })

  it('draws distinct 24-byte nonces', () => {
    const seen = new Set(Array.from({ length: 2000 }, () => xaesNonce().toString('hex')))
    expect(seen.size).toBe(2000)
    expect(xaesNonce()).toHaveLength(24)
  })
})
