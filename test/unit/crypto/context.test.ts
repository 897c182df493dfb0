import { appendContext, encodeContext, encodeContextPrefix, type BindingContext } from '../../../src/crypto/context'
import { InvalidValueError } from '../../../src/errors'

// An independent reference encoder: domain, then sorted (key, value) pairs, each
// length-prefixed with a 4-byte big-endian UTF-8 byte length.
function reference(ctx: Record<string, string>): Buffer {
  const lp = (s: string) => {
    const b = Buffer.from(s, 'utf8')
    const n = Buffer.alloc(4)
    n.writeUInt32BE(b.length)
    return Buffer.concat([n, b])
  }
  const keys = Object.keys(ctx).sort()
  return Buffer.concat([lp('rowcrypt/context/v1'), ...keys.flatMap((k) => [lp(k), lp(ctx[k] as string)])])
}

const hex = (c: BindingContext) => encodeContext(c).toString('hex')

describe('encodeContext', () => {
  it('matches the documented layout byte for byte', () => {
    const ctx = { tenantId: 't1', model: 'User', purpose: 'row-dek' }
    expect(encodeContext(ctx).equals(reference(ctx))).toBe(true)
    // Spelled out for one small case so the reference itself is pinned.
    expect(hex({ a: 'b' })).toBe('00000013' + Buffer.from('rowcrypt/context/v1').toString('hex') + '00000001' + '61' + '00000001' + '62')
  })

  it('encodes the empty context as the domain only', () => {
    expect(hex({})).toBe('00000013' + Buffer.from('rowcrypt/context/v1').toString('hex'))
  })

  it('is independent of key insertion order', () => {
    const a = { model: 'User', tenantId: 't', field: 'email', purpose: 'field', rowId: '7' }
    const b = { rowId: '7', purpose: 'field', field: 'email', tenantId: 't', model: 'User' }
    expect(hex(a)).toBe(hex(b))
    // Every permutation of a 4-entry context encodes the same.
    const entries = Object.entries({ w: '1', x: '2', y: '3', z: '4' })
    const perms = (xs: typeof entries): Array<typeof entries> => (xs.length <= 1 ? [xs] : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p])))
    const encodings = new Set(perms(entries).map((p) => hex(Object.fromEntries(p))))
    expect(encodings.size).toBe(1)
  })

  it('handles integer-like keys (which JS orders specially) the same in any order', () => {
    expect(hex({ '10': 'a', '9': 'b', x: 'c' })).toBe(hex({ x: 'c', '9': 'b', '10': 'a' }))
  })

  it('does not mutate its input', () => {
    const ctx = Object.freeze({ b: '2', a: '1' })
    encodeContext(ctx)
    expect(Object.keys(ctx)).toEqual(['b', 'a'])
  })

  // Pairs of different contexts a naive "k=v;k=v" or concatenating encoder would confuse.
  const tricky: Array<[string, Record<string, string>, Record<string, string>]> = [
    ['= inside key vs value', { a: 'b=c' }, { 'a=b': 'c' }],
    ['separator inside value', { a: 'b;c=d' }, { a: 'b', c: 'd' }],
    ['concatenation boundary', { ab: 'c' }, { a: 'bc' }],
    ['boundary across entries', { a: 'bc', d: 'e' }, { a: 'b', cd: 'e' }],
    ['empty value vs missing entry', { a: '' }, {}],
    ['empty key', { '': 'a' }, { a: '' }],
    ['empty value moved', { a: '', b: 'x' }, { a: 'x', b: '' }],
    ['two empties vs one', { a: '', b: '' }, { a: '' }],
    ['NUL inside value', { a: 'b\u0000c' }, { a: 'b', c: '' }],
    ['NUL vs nothing', { a: 'x\u0000' }, { a: 'x' }],
    ['length-prefix look-alike', { a: '\u0000\u0000\u0000\u0001b' }, { a: '', b: '' }],
    ['unicode normalization forms', { name: 'caf\u00e9' }, { name: 'cafe\u0301' }],
    ['emoji vs its pieces', { e: '👩‍💻' }, { e: '👩💻' }],
    ['unicode key vs value', { ключ: 'v' }, { v: 'ключ' }],
    ['case', { A: 'x' }, { a: 'x' }],
    ['whitespace', { a: 'x ' }, { a: 'x' }],
    ['swapped values', { tenantId: 'a', model: 'b' }, { tenantId: 'b', model: 'a' }],
  ]

  it.each(tricky)('is injective: %s', (_name, x, y) => {
    expect(hex(x)).not.toBe(hex(y))
  })

  it('gives pairwise different bytes for all tricky contexts', () => {
    const all = new Map<string, string>()
    for (const [, x, y] of tricky) {
      for (const c of [x, y]) {
        const canonical = JSON.stringify(Object.entries(c).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        const enc = hex(c)
        const seen = all.get(enc)
        if (seen !== undefined) expect(seen).toBe(canonical)
        all.set(enc, canonical)
      }
    }
    expect(all.size).toBeGreaterThan(tricky.length)
  })

  it('length-prefixes UTF-8 byte lengths, not string lengths', () => {
    const ctx = { k: '🔐é' }
    const enc = encodeContext(ctx)
    expect(enc.equals(reference(ctx))).toBe(true)
    // The value prefix is 6 (4 + 2 bytes), while '🔐é'.length is 3.
    expect(enc.subarray(enc.length - 10, enc.length - 6).readUInt32BE()).toBe(6)
  })

  it('encodes long values without truncation', () => {
    const long = 'x'.repeat(70_000)
    const enc = encodeContext({ a: long })
    expect(enc.equals(reference({ a: long }))).toBe(true)
    expect(hex({ a: long })).not.toBe(hex({ a: long.slice(1) }))
  })
})

// ASCII strings are written by a loop, others by the UTF-8 encoder: both must give the reference's
// bytes, whichever mix a context holds, and lone surrogates must be refused wherever they are.
describe('encodeContext and appendContext on mixed strings', () => {
  // A small deterministic generator, so a failure names a reproducible case.
  let seed = 0x2f6b3c1d
  const next = (n: number) => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0
    return seed % n
  }
  const pieces = ['a', 'Z', '0', '-', '_', '\u0000', '\u007f', '\u0080', 'é', 'ü', '\u07ff', '\u0800', 'ключ', '\uffff', '🔐', '\u{10ffff}']
  const word = (): string => {
    let w = ''
    for (let i = next(8); i > 0; i--) w += pieces[next(pieces.length)]
    return w
  }

  it('matches the reference for 2,000 random contexts', () => {
    for (let i = 0; i < 2000; i++) {
      const ctx: Record<string, string> = {}
      for (let j = next(5); j >= 0; j--) ctx[word()] = word()
      expect(encodeContext(ctx).equals(reference(ctx))).toBe(true)
    }
  })

  it('appends entries as encodeContext encodes the whole map', () => {
    const prefix = encodeContextPrefix([
      ['keyVersion', 'v1'],
      ['model', 'Customer'],
      ['purpose', 'row-dek'],
    ])
    for (let i = 0; i < 500; i++) {
      const rowId = word()
      const tenantId = word()
      const whole = { keyVersion: 'v1', model: 'Customer', purpose: 'row-dek', rowId, tenantId }
      expect(appendContext(prefix, ['rowId', rowId, 'tenantId', tenantId]).equals(reference(whole))).toBe(true)
    }
  })

  it.each([
    ['alone', '\ud800'],
    ['after ASCII', 'tenant-\udbff'],
    ['before ASCII', '\udc00-tenant'],
    ['after a pair', '🔐\ud800'],
  ])('refuses a lone surrogate %s, in a key, a value and an appended entry', (_name, bad) => {
    expect(() => encodeContext({ k: bad })).toThrow(InvalidValueError)
    expect(() => encodeContext({ [bad]: 'v' })).toThrow(InvalidValueError)
    expect(() => appendContext(encodeContextPrefix([['a', 'b']]), ['c', bad])).toThrow(InvalidValueError)
  })

  it('refuses anything but a string, in a value, a key and an appended entry', () => {
    // A length that changes between measuring and writing would leave bytes of the buffer unwritten.
    let reads = 0
    const shifting = {
      get length() {
        return reads++ === 0 ? 8 : 0
      },
      charCodeAt: () => 0x61,
    }
    for (const bad of [[], new String('x'), new Uint8Array(0), { length: 0 }, shifting, 7, null, undefined]) {
      expect(() => encodeContext({ k: bad as unknown as string })).toThrow(InvalidValueError)
      expect(() => appendContext(encodeContextPrefix([['a', 'b']]), ['c', bad as unknown as string])).toThrow(InvalidValueError)
    }
  })

  it('writes every byte of the length prefix (a value of 2^24 + 1 characters)', () => {
    const long = 'y'.repeat(2 ** 24 + 1)
    const enc = encodeContext({ a: long })
    expect(enc.subarray(enc.length - long.length - 4, enc.length - long.length).toString('hex')).toBe('01000001')
    expect(enc.equals(reference({ a: long }))).toBe(true)
  })
})
