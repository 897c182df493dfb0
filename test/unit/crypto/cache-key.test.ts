// Cache keys naming a tuple of strings: different tuples never share a key, whatever the parts hold.
import { cacheKey } from '../../../src/crypto/cache-key'

// Reads a key back into its parts; the encoding is unambiguous when this always succeeds and
// gives back the tuple the key was made from.
function parse(key: string): string[] {
  const parts: string[] = []
  let at = 0
  while (at < key.length) {
    const colon = key.indexOf(':', at)
    if (colon < 0) throw new Error('no length')
    const digits = key.slice(at, colon)
    if (!/^(0|[1-9][0-9]*)$/.test(digits)) throw new Error('bad length')
    const n = Number(digits)
    if (colon + 1 + n > key.length) throw new Error('short part')
    parts.push(key.slice(colon + 1, colon + 1 + n))
    at = colon + 1 + n
  }
  return parts
}

describe('cacheKey', () => {
  const tuples: string[][] = [
    [],
    [''],
    ['', ''],
    ['x'],
    ['x\u0000AQID'],
    ['x', 'AQID'],
    ['x', ''],
    ['x\u0000', 'AQID'],
    ['A\u0000x', 'y', 'v1'],
    ['A', 'x\u0000y', 'v1'],
    ['1:a'],
    ['1', 'a'],
    ['1:a1:b'],
    ['a', 'b'],
    ['a:', 'b'],
    ['a', ':b'],
    ['10:', 'abcdefghij'],
    ['tenant', 'acme'],
    ['tenant:acme'],
    ['🔐', 'é'],
    ['\uD83D', '\uDD10'],
  ]

  it('reads back into exactly the tuple it was made from', () => {
    for (const t of tuples) expect(parse(cacheKey(...t))).toEqual(t)
  })

  it('gives distinct keys for distinct tuples, including tuples of different sizes', () => {
    const keys = tuples.map((t) => cacheKey(...t))
    expect(new Set(keys).size).toBe(tuples.length)
  })

  it('separates tenant "x\\u0000AQID" from tenant "x" with extra aad "AQID"', () => {
    expect(cacheKey('x\u0000AQID')).not.toBe(cacheKey('x', 'AQID'))
    expect(cacheKey('x\u0000AQID')).not.toBe(`x\u0000AQID`)
  })
})
