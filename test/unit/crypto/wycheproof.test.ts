// Public AES-256-GCM test vectors (Project Wycheproof, and the AES-256 cases of the GCM
// specification) run through src/crypto/aes-gcm.ts: every valid case must give the published
// ciphertext and tag and decrypt back; every invalid case must fail with the one fixed
// authentication failure. The vectors are data in test/vectors/aes-gcm-wycheproof.json.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { AuthenticationFailure, IV_BYTES, KEY_BYTES, TAG_BYTES, open, seal } from '../../../src/crypto/aes-gcm'
import { formatCiphertext, parseCiphertext } from '../../../src/envelope/ciphertext'
import { CiphertextFormatError, DecryptionError } from '../../../src/errors'

interface AeadCase {
  tcId: number
  comment: string
  flags: string[]
  key: string
  iv: string
  aad: string
  msg: string
  ct: string
  tag: string
  result: 'valid' | 'invalid' | 'acceptable'
  ivSize?: number
}

interface VectorFile {
  header: string[]
  wycheproof: {
    source: { url: string; commit: string; license: string }
    testGroups: Array<{ ivSize: number; keySize: number; tagSize: number; tests: AeadCase[] }>
    refusedIvSizes: { keySize: number; tests: AeadCase[] }
  }
  gcmSpec: { source: { document: string }; tests: Array<{ name: string; key: string; iv: string; aad: string; msg: string; ct: string; tag: string }> }
}

const vectors = JSON.parse(readFileSync(join(__dirname, '../../vectors/aes-gcm-wycheproof.json'), 'utf8')) as VectorFile
const hex = (s: string): Buffer => Buffer.from(s, 'hex')
const group = vectors.wycheproof.testGroups[0]!
const valid = group.tests.filter((t) => t.result === 'valid')
const invalid = group.tests.filter((t) => t.result === 'invalid')

function authFailure(fn: () => unknown): unknown {
  try {
    fn()
  } catch (e) {
    return e
  }
  return undefined
}

describe('the vector file', () => {
  it('keeps its source, licence and the sizes the module supports', () => {
    expect(vectors.wycheproof.source.url).toContain('wycheproof')
    expect(vectors.wycheproof.source.commit).toMatch(/^[0-9a-f]{40}$/)
    expect(vectors.wycheproof.source.license).toMatch(/Apache License 2\.0/)
    expect(vectors.wycheproof.testGroups).toHaveLength(1)
    expect(group).toMatchObject({ ivSize: IV_BYTES * 8, keySize: KEY_BYTES * 8, tagSize: TAG_BYTES * 8 })
  })

  it('holds the whole Wycheproof group (tcId 91-156): 39 valid and 27 invalid cases, in order', () => {
    expect(group.tests.map((t) => t.tcId)).toEqual(Array.from({ length: 66 }, (_, i) => 91 + i))
    expect(valid).toHaveLength(39)
    expect(invalid).toHaveLength(27)
    for (const t of group.tests) {
      expect(hex(t.key)).toHaveLength(KEY_BYTES)
      expect(hex(t.iv)).toHaveLength(IV_BYTES)
      expect(hex(t.tag)).toHaveLength(TAG_BYTES)
      expect(hex(t.ct)).toHaveLength(hex(t.msg).length)
    }
  })
})

describe('Wycheproof AES-256-GCM, 96-bit IV, 128-bit tag', () => {
  it.each(valid.map((t) => [t.tcId, t.flags.join(','), t] as const))('tcId %i (%s): seal gives the published ciphertext and tag; open gives the message', (_id, _flags, t) => {
    const { ciphertext, tag } = seal(hex(t.key), hex(t.iv), hex(t.msg), hex(t.aad))
    expect(ciphertext.toString('hex')).toBe(t.ct)
    expect(tag.toString('hex')).toBe(t.tag)
    expect(open(hex(t.key), hex(t.iv), hex(t.ct), hex(t.tag), hex(t.aad)).toString('hex')).toBe(t.msg)
  })

  it.each(invalid.map((t) => [t.tcId, t.comment, t] as const))('tcId %i (%s): open fails with the fixed authentication failure', (_id, _comment, t) => {
    const e = authFailure(() => open(hex(t.key), hex(t.iv), hex(t.ct), hex(t.tag), hex(t.aad)))
    expect(e).toBeInstanceOf(AuthenticationFailure)
    // One message for every cause; the core turns it into DecryptionError (ERR_ROWCRYPT_DECRYPTION_FAILED).
    expect((e as Error).message).toBe(DecryptionError.MESSAGE)
    expect(DecryptionError.code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
  })

  it('the invalid tags are the correct tag with exactly the bits their comments name flipped', () => {
    for (const t of invalid) {
      const good = seal(hex(t.key), hex(t.iv), hex(t.msg), hex(t.aad))
      expect(good.ciphertext.toString('hex')).toBe(t.ct)
      const diff = Buffer.from(hex(t.tag).map((b, i) => b ^ (good.tag[i] as number)))
      const flipped = [...diff].flatMap((b, i) => [0, 1, 2, 3, 4, 5, 6, 7].filter((bit) => (b >> bit) & 1).map((bit) => i * 8 + bit))
      const m = /^Flipped bits? (\d+)(?: and (\d+))? in tag$/.exec(t.comment)
      if (m !== null) expect(flipped).toEqual([Number(m[1]), ...(m[2] !== undefined ? [Number(m[2])] : [])])
      else if (t.comment === 'all bits of tag flipped') expect(flipped).toHaveLength(128)
      else if (t.comment === 'Tag changed to all zero') expect(t.tag).toBe('00'.repeat(16))
      else if (t.comment === 'tag changed to all 1') expect(t.tag).toBe('ff'.repeat(16))
      else if (t.comment === 'msbs changed in tag') expect(flipped).toEqual(Array.from({ length: 16 }, (_, i) => i * 8 + 7))
      else if (t.comment === 'lsbs changed in tag') expect(flipped).toEqual(Array.from({ length: 16 }, (_, i) => i * 8))
      else throw new Error(`unexpected comment for tcId ${t.tcId}`)
    }
  })

  it('every valid case also survives the rc1 envelope: format, parse, open', () => {
    for (const t of valid) {
      const stored = formatCiphertext({ type: 'bytes', iv: hex(t.iv), ciphertext: hex(t.ct), tag: hex(t.tag) })
      const p = parseCiphertext(stored)
      expect(p.iv.toString('hex')).toBe(t.iv)
      expect(p.ciphertext.toString('hex')).toBe(t.ct)
      expect(p.tag.toString('hex')).toBe(t.tag)
      expect(open(hex(t.key), p.iv, p.ciphertext, p.tag, hex(t.aad)).toString('hex')).toBe(t.msg)
    }
  })
})

describe('Wycheproof AES-256-GCM cases with other IV sizes are refused, never computed', () => {
  const refused = vectors.wycheproof.refusedIvSizes.tests

  it.each(refused.map((t) => [t.tcId, t.ivSize, t] as const))('tcId %i (%i-bit IV): seal and open throw before any output; the envelope parser rejects the IV', (_id, ivSize, t) => {
    expect(hex(t.iv).length * 8).toBe(ivSize)
    expect(() => seal(hex(t.key), hex(t.iv), hex(t.msg), hex(t.aad))).toThrow(RangeError)
    expect(() => open(hex(t.key), hex(t.iv), hex(t.ct), hex(t.tag), hex(t.aad))).toThrow(RangeError)
    // Stored data can never reach that check: a ciphertext string with such an IV is a format error.
    const stored = formatCiphertext({ type: 'string', iv: hex(t.iv), ciphertext: hex(t.ct), tag: hex(t.tag) })
    let caught: unknown
    try {
      parseCiphertext(stored)
    } catch (e) {
      caught = e
    }
    expect(caught).toBeInstanceOf(CiphertextFormatError)
    expect((caught as CiphertextFormatError).code).toBe('ERR_ROWCRYPT_CIPHERTEXT_FORMAT')
  })
})

describe('GCM specification (McGrew & Viega, submitted to NIST) AES-256 test cases 13-16', () => {
  it.each(vectors.gcmSpec.tests.map((t) => [t.name, t] as const))('%s: known answer, decrypts, and any tag bit flip fails', (_name, t) => {
    const { ciphertext, tag } = seal(hex(t.key), hex(t.iv), hex(t.msg), hex(t.aad))
    expect(ciphertext.toString('hex')).toBe(t.ct)
    expect(tag.toString('hex')).toBe(t.tag)
    expect(open(hex(t.key), hex(t.iv), hex(t.ct), hex(t.tag), hex(t.aad)).toString('hex')).toBe(t.msg)
    for (let bit = 0; bit < 128; bit++) {
      const bad = hex(t.tag)
      bad[bit >> 3] = (bad[bit >> 3] as number) ^ (1 << (bit & 7))
      expect(authFailure(() => open(hex(t.key), hex(t.iv), hex(t.ct), bad, hex(t.aad)))).toBeInstanceOf(AuthenticationFailure)
    }
  })
})
