// parseCiphertext and the read path's decodeCiphertextInto (no split, no regular expression, no
// allocation) must accept exactly the strings the strict reference parser accepts, with the same
// parts: checked here against an independent reference on valid values and on values mutated with
// the characters Node's base64 decoder treats leniently (`+`, `/`, `=`, whitespace, characters
// above U+00FF read by their low byte).
import fc from 'fast-check'
import { decodeCiphertextInto, decodedBodyBound, formatCiphertext, formatCiphertextBody, parseCiphertext, type ValueType } from '../../../src/envelope/ciphertext'
import { sealUtf8, seal } from '../../../src/crypto/aes-gcm'
import { CiphertextFormatError } from '../../../src/errors'

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const TYPES: Record<string, ValueType> = { s: 'string', j: 'json', b: 'bytes' }

// The reference: the parser as specified (split on dots, a regular expression per part, canonical
// last character), written independently of src/.
function reference(value: string): { type: ValueType; iv: string; ciphertext: string; tag: string } | undefined {
  const parts = value.split('.')
  if (parts.length !== 5 || parts[0] !== 'rc1' || parts[1] !== 'A256GCM' || !Object.hasOwn(TYPES, parts[2]!)) return undefined
  const decode = (t: string): Buffer | undefined => {
    if (!/^[A-Za-z0-9_-]*$/.test(t) || t.length % 4 === 1) return undefined
    const rest = t.length % 4
    if (rest !== 0 && (ALPHABET.indexOf(t.charAt(t.length - 1)) & (rest === 2 ? 0x0f : 0x03)) !== 0) return undefined
    return Buffer.from(t, 'base64url')
  }
  const iv = decode(parts[3]!)
  const body = decode(parts[4]!)
  if (iv === undefined || body === undefined || iv.length !== 12 || body.length < 16) return undefined
  return { type: TYPES[parts[2]!]!, iv: iv.toString('hex'), ciphertext: body.subarray(0, body.length - 16).toString('hex'), tag: body.subarray(body.length - 16).toString('hex') }
}

function actual(value: string): ReturnType<typeof reference> {
  try {
    const p = parseCiphertext(value)
    return { type: p.type, iv: p.iv.toString('hex'), ciphertext: p.ciphertext.toString('hex'), tag: p.tag.toString('hex') }
  } catch (e) {
    expect(e).toBeInstanceOf(CiphertextFormatError)
    expect((e as CiphertextFormatError).code).toBe('ERR_ROWCRYPT_CIPHERTEXT_FORMAT')
    return undefined
  }
}

// decodeCiphertextInto of `value` read as `type`, into buffers as long as the bound asks (filled
// with junk first, so bytes it did not write would show).
function decoded(value: string, type: ValueType): ReturnType<typeof reference> {
  const iv = Buffer.alloc(12, 0xa5)
  const body = Buffer.alloc(decodedBodyBound(value), 0x5a)
  const n = decodeCiphertextInto(value, type, iv, body)
  if (n < 0) return undefined
  return { type, iv: iv.toString('hex'), ciphertext: body.subarray(0, n - 16).toString('hex'), tag: body.subarray(n - 16, n).toString('hex') }
}

// What decodeCiphertextInto must give for `type`: the reference's parts when the value is of that type.
function expectedAs(value: string, type: ValueType): ReturnType<typeof reference> {
  const r = reference(value)
  return r?.type === type ? r : undefined
}

const ALL_TYPES: ValueType[] = ['string', 'json', 'bytes']

const LENIENT = ['+', '/', '=', ' ', '\n', '.', '%', '\0', '\u00e9', '\u012b' /* low byte '+' */, '\u0141' /* low byte 'A' */, '\u4e00', '\ud83d', '\ufeff']

const arbValid = fc
  .record({ code: fc.constantFrom('s', 'j', 'b'), iv: fc.uint8Array({ minLength: 12, maxLength: 12 }), body: fc.uint8Array({ minLength: 16, maxLength: 80 }) })
  .map(({ code, iv, body }) => `rc1.A256GCM.${code}.${Buffer.from(iv).toString('base64url')}.${Buffer.from(body).toString('base64url')}`)

const arbMutation = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('replace', 'insert', 'delete'),
  char: fc.oneof(
    fc.constantFrom(...LENIENT),
    fc.constantFrom(...ALPHABET.split('')),
    fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  ),
})

function mutate(value: string, m: { at: number; op: string; char: string }): string {
  const i = m.at % (value.length + 1)
  if (m.op === 'insert') return value.slice(0, i) + m.char + value.slice(i)
  if (m.op === 'delete') return value.slice(0, i) + value.slice(i + 1)
  return value.slice(0, i) + m.char + value.slice(i + 1)
}

describe('parseCiphertext fast path', () => {
  it('parses valid values exactly like the reference', () => {
    fc.assert(
      fc.property(arbValid, (v) => {
        expect(reference(v)).toBeDefined()
        expect(actual(v)).toEqual(reference(v))
      }),
      { numRuns: 500 },
    )
  })

  it('accepts and refuses mutated values exactly like the reference', () => {
    fc.assert(
      fc.property(arbValid, fc.array(arbMutation, { minLength: 1, maxLength: 3 }), (v, ms) => {
        const m = ms.reduce(mutate, v)
        expect(actual(m)).toEqual(reference(m))
      }),
      { numRuns: 3000 },
    )
  })

  it('decodeCiphertextInto decodes valid values of its type exactly like the reference, and refuses the other types', () => {
    fc.assert(
      fc.property(arbValid, (v) => {
        for (const t of ALL_TYPES) expect(decoded(v, t)).toEqual(expectedAs(v, t))
      }),
      { numRuns: 500 },
    )
  })

  it('decodeCiphertextInto accepts and refuses mutated values exactly like the reference', () => {
    fc.assert(
      fc.property(arbValid, fc.array(arbMutation, { minLength: 1, maxLength: 3 }), (v, ms) => {
        const m = ms.reduce(mutate, v)
        for (const t of ALL_TYPES) expect(decoded(m, t)).toEqual(expectedAs(m, t))
      }),
      { numRuns: 3000 },
    )
  })

  it('decodeCiphertextInto gives -1 when the body does not fit, and parseCiphertext still parses the value', () => {
    const v = formatCiphertext({ type: 'json', iv: Buffer.alloc(12, 1), ciphertext: Buffer.alloc(40, 7), tag: Buffer.alloc(16, 2) })
    expect(decodeCiphertextInto(v, 'json', Buffer.alloc(12), Buffer.alloc(55))).toBe(-1)
    expect(decodeCiphertextInto(v, 'json', Buffer.alloc(12), Buffer.alloc(56))).toBe(56)
    expect(decodeCiphertextInto(v, 'json', Buffer.alloc(11), Buffer.alloc(56))).toBe(-1)
    expect(parseCiphertext(v).ciphertext).toEqual(Buffer.alloc(40, 7))
  })

  it('refuses characters that Node reads by their low byte or skips', () => {
    const v = formatCiphertext({ type: 'string', iv: Buffer.alloc(12, 1), ciphertext: Buffer.from('abc'), tag: Buffer.alloc(16, 2) })
    const body = v.slice(v.lastIndexOf('.') + 1)
    for (const c of ['\u012b', '\u0141', ' ', '=', '+']) {
      const tampered = v.slice(0, v.length - body.length) + c + body.slice(1)
      expect(actual(tampered)).toBeUndefined()
      expect(decoded(tampered, 'string')).toBeUndefined()
    }
  })
})

describe('sealUtf8 and formatCiphertextBody', () => {
  it('give the same string as seal and formatCiphertext', () => {
    const key = Buffer.alloc(32, 9)
    const iv = Buffer.alloc(12, 3)
    const aad = Buffer.from('aad')
    for (const text of ['', 'a', 'héllo wörld', '\u{1f600} emoji', 'x'.repeat(1500)]) {
      const { ciphertext, tag } = seal(key, iv, Buffer.from(text, 'utf8'), aad)
      expect(formatCiphertextBody('string', iv, sealUtf8(key, iv, text, aad))).toBe(formatCiphertext({ type: 'string', iv, ciphertext, tag }))
    }
  })
})
