import { encodeContext, type BindingContext } from '../../../src/crypto/context'

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
