import { ALGORITHM, FORMAT_VERSION, formatCiphertext, isCiphertext, parseCiphertext, typeCode, type ValueType } from '../../../src/envelope/ciphertext'
import { CiphertextFormatError, RowcryptError } from '../../../src/errors'
import { isCiphertext as publicIsCiphertext, parseCiphertext as publicParse } from '../../../src'

const iv = Buffer.from('000102030405060708090a0b', 'hex')
const ct = Buffer.from('deadbeefcafe', 'hex')
const tag = Buffer.from('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff', 'hex')
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url')
const valid = formatCiphertext({ type: 'string', iv, ciphertext: ct, tag })

function formatError(value: unknown): CiphertextFormatError {
  try {
    parseCiphertext(value)
  } catch (e) {
    expect(e).toBeInstanceOf(CiphertextFormatError)
    expect(e).toBeInstanceOf(RowcryptError)
    expect((e as CiphertextFormatError).code).toBe('ERR_ROWCRYPT_CIPHERTEXT_FORMAT')
    expect((e as CiphertextFormatError).name).toBe('CiphertextFormatError')
    return e as CiphertextFormatError
  }
  throw new Error('expected parseCiphertext to throw')
}

describe('formatCiphertext', () => {
  it('writes rc1.A256GCM.<type>.<iv>.<ciphertext+tag> in unpadded base64url', () => {
    expect(FORMAT_VERSION).toBe('rc1')
    expect(ALGORITHM).toBe('A256GCM')
    expect(valid).toBe(`rc1.A256GCM.s.${b64(iv)}.${b64(Buffer.concat([ct, tag]))}`)
    expect(valid).not.toMatch(/[=+/]/)
  })

  it.each<[ValueType, string]>([
    ['string', 's'],
    ['json', 'j'],
    ['bytes', 'b'],
  ])('uses type code for %s', (type, code) => {
    expect(typeCode(type)).toBe(code)
    expect(formatCiphertext({ type, iv, ciphertext: ct, tag }).split('.')[2]).toBe(code)
  })

  it('accepts subarray views (respects byteOffset)', () => {
    const backing = Buffer.concat([Buffer.from('XXXX'), iv, Buffer.from('YYYY')])
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 4, 12)
    expect(formatCiphertext({ type: 'string', iv: view, ciphertext: ct, tag })).toBe(valid)
  })
})

describe('parseCiphertext', () => {
  it.each<ValueType>(['string', 'json', 'bytes'])('round-trips type %s', (type) => {
    const p = parseCiphertext(formatCiphertext({ type, iv, ciphertext: ct, tag }))
    expect(p.version).toBe('rc1')
    expect(p.algorithm).toBe('A256GCM')
    expect(p.type).toBe(type)
    expect(p.iv.equals(iv)).toBe(true)
    expect(p.ciphertext.equals(ct)).toBe(true)
    expect(p.tag.equals(tag)).toBe(true)
  })

  it('round-trips an empty ciphertext (tag only)', () => {
    const p = parseCiphertext(formatCiphertext({ type: 'string', iv, ciphertext: Buffer.alloc(0), tag }))
    expect(p.ciphertext).toHaveLength(0)
    expect(p.tag.equals(tag)).toBe(true)
  })

  it.each([0, 1, 2, 3, 4, 5, 100])('round-trips %i ciphertext bytes (all base64 tail lengths)', (n) => {
    const c = Buffer.alloc(n, 0xa5)
    const s = formatCiphertext({ type: 'bytes', iv, ciphertext: c, tag })
    const p = parseCiphertext(s)
    expect(p.ciphertext.equals(c)).toBe(true)
    expect(formatCiphertext({ type: p.type, iv: p.iv, ciphertext: p.ciphertext, tag: p.tag })).toBe(s)
  })

  it('is exported publicly', () => {
    expect(publicParse(valid).type).toBe('string')
    expect(publicIsCiphertext(valid)).toBe(true)
  })

  const [v, a, t, i, body] = valid.split('.') as [string, string, string, string, string]
  const join = (...p: string[]) => p.join('.')
  const malformed: Array<[string, unknown]> = [
    ['non-string: number', 42],
    ['non-string: null', null],
    ['non-string: undefined', undefined],
    ['non-string: Buffer of a valid string', Buffer.from(valid)],
    ['non-string: String object', new String(valid)],
    ['non-string: object', { toString: () => valid }],
    ['empty string', ''],
    ['plaintext', 'alice@example.com'],
    ['4 parts', join(v, a, t, i)],
    ['6 parts', join(v, a, t, i, body, 'x')],
    ['trailing dot', valid + '.'],
    ['leading dot', '.' + valid],
    ['unknown version rc2', join('rc2', a, t, i, body)],
    ['unknown version rc0', join('rc0', a, t, i, body)],
    ['version in upper case', join('RC1', a, t, i, body)],
    ['empty version', join('', a, t, i, body)],
    ['unknown algorithm', join(v, 'A128GCM', t, i, body)],
    ['algorithm in lower case', join(v, 'a256gcm', t, i, body)],
    ['unknown type x', join(v, a, 'x', i, body)],
    ['type in upper case', join(v, a, 'S', i, body)],
    ['type spelled out', join(v, a, 'string', i, body)],
    ['empty type', join(v, a, '', i, body)],
    ['prototype key as type', join(v, a, 'constructor', i, body)],
    ['__proto__ as type', join(v, a, '__proto__', i, body)],
    ['padding in iv', join(v, a, t, i + '==', body)],
    ['padding in body', join(v, a, t, i, body + '=')],
    ['standard base64 + in body', join(v, a, t, i, '+' + body.slice(1))],
    ['standard base64 / in iv', join(v, a, t, '/' + i.slice(1), body)],
    ['space in body', join(v, a, t, i, body.slice(0, 4) + ' ' + body.slice(5))],
    ['newline in body', join(v, a, t, i, body + '\n')],
    ['non-ASCII in body', join(v, a, t, i, body.slice(0, -1) + 'é')],
    ['impossible base64 length (4n+1)', join(v, a, t, i, 'A'.repeat(29))],
    ['impossible base64 length in iv (17 chars)', join(v, a, t, i + 'A', body)],
    ['empty iv', join(v, a, t, '', body)],
    ['11-byte iv', join(v, a, t, b64(iv.subarray(0, 11)), body)],
    ['13-byte iv', join(v, a, t, b64(Buffer.concat([iv, Buffer.from([1])])), body)],
    ['16-byte iv', join(v, a, t, b64(Buffer.alloc(16)), body)],
    ['empty body', join(v, a, t, i, '')],
    ['body shorter than the tag (15 bytes)', join(v, a, t, i, b64(Buffer.alloc(15)))],
    ['body of one byte', join(v, a, t, i, b64(Buffer.alloc(1)))],
  ]

  it.each(malformed)('rejects %s with CiphertextFormatError', (_name, value) => {
    formatError(value)
  })

  it('rejects a non-canonical base64url spelling (unused low bits set)', () => {
    // 22 body bytes: the last character carries 4 unused bits.
    const s = formatCiphertext({ type: 'string', iv, ciphertext: Buffer.alloc(6, 1), tag })
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const last = s.slice(-1)
    const twin = s.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1]
    expect(twin).not.toBe(s)
    expect(Buffer.from(twin.split('.')[4] as string, 'base64url').equals(Buffer.from(s.split('.')[4] as string, 'base64url'))).toBe(true)
    expect(parseCiphertext(s).tag.equals(tag)).toBe(true)
    formatError(twin)
  })

  it('never repeats the input in the error message', () => {
    const secretish = ['alice@example.com', 'rc1.A256GCM.s.' + i + '.' + body + '.EXTRA', join(v, a, 'q', i, body), join(v, a, t, i, body + '!'), join('rc9', a, t, i, body)]
    for (const s of secretish) {
      const e = formatError(s)
      expect(e.message).not.toContain(s)
      expect(e.message).not.toContain(body)
      expect(e.message).not.toContain(i)
      expect(e.message).not.toContain('alice')
      expect(String(e.cause ?? '')).not.toContain(body)
    }
  })
})

describe('isCiphertext', () => {
  it('is true for rowcrypt strings and false for everything else', () => {
    expect(isCiphertext(valid)).toBe(true)
    expect(isCiphertext('rc1.A256GCM.')).toBe(true)
    expect(isCiphertext('alice@example.com')).toBe(false)
    expect(isCiphertext('rc1.A128GCM.s.x.y')).toBe(false)
    expect(isCiphertext('rc2.A256GCM.s.x.y')).toBe(false)
    expect(isCiphertext('')).toBe(false)
    expect(isCiphertext(null)).toBe(false)
    expect(isCiphertext(Buffer.from(valid))).toBe(false)
  })
})
