import { WRAPPED_KEY_HEADER_BYTES, WRAPPED_KEY_VERSION, formatWrappedKey, parseWrappedKey, wrappedKeyRowBound } from '../../../src/envelope/wrapped-key'
import { CiphertextFormatError } from '../../../src/errors'

const blob = Uint8Array.from({ length: 60 }, (_, i) => (i * 37 + 11) & 0xff)

function formatError(value: unknown): CiphertextFormatError {
  try {
    parseWrappedKey(value)
  } catch (e) {
    expect(e).toBeInstanceOf(CiphertextFormatError)
    expect((e as CiphertextFormatError).code).toBe('ERR_ROWCRYPT_CIPHERTEXT_FORMAT')
    return e as CiphertextFormatError
  }
  throw new Error('expected parseWrappedKey to throw')
}

describe('formatWrappedKey', () => {
  it('prefixes version 0x01 and the row-bound flag', () => {
    expect(WRAPPED_KEY_VERSION).toBe(1)
    const bound = formatWrappedKey({ rowBound: true, providerBlob: blob })
    const unbound = formatWrappedKey({ rowBound: false, providerBlob: blob })
    expect(bound).toBeInstanceOf(Uint8Array)
    expect(Array.from(bound.subarray(0, 2))).toEqual([0x01, 0x01])
    expect(Array.from(unbound.subarray(0, 2))).toEqual([0x01, 0x00])
    expect(Buffer.from(bound.subarray(2)).equals(Buffer.from(blob))).toBe(true)
    expect(bound).toHaveLength(blob.length + 2)
  })

  it('copies the provider blob (later changes to it do not leak in)', () => {
    const b = Uint8Array.from(blob)
    const out = formatWrappedKey({ rowBound: false, providerBlob: b })
    b.fill(0)
    expect(Buffer.from(out.subarray(2)).equals(Buffer.from(blob))).toBe(true)
  })
})

describe('parseWrappedKey', () => {
  it.each([true, false])('round-trips rowBound=%s', (rowBound) => {
    const p = parseWrappedKey(formatWrappedKey({ rowBound, providerBlob: blob }))
    expect(p.rowBound).toBe(rowBound)
    expect(Buffer.from(p.providerBlob).equals(Buffer.from(blob))).toBe(true)
  })

  it('accepts a Buffer (Uint8Array subclass) and a one-byte provider blob', () => {
    const p = parseWrappedKey(Buffer.from([1, 0, 0xaa]))
    expect(p.rowBound).toBe(false)
    expect(Array.from(p.providerBlob)).toEqual([0xaa])
  })

  const malformed: Array<[string, unknown]> = [
    ['undefined (row has no wrapped key)', undefined],
    ['null', null],
    ['a hex string', Buffer.from(formatWrappedKey({ rowBound: true, providerBlob: blob })).toString('hex')],
    ['a number array', [1, 1, 2, 3]],
    ['an ArrayBuffer', new Uint8Array([1, 0, 5]).buffer],
    ['a DataView', new DataView(new Uint8Array([1, 0, 5]).buffer)],
    ['empty bytes', new Uint8Array(0)],
    ['version byte only', new Uint8Array([1])],
    ['header only', new Uint8Array([1, 0])],
    ['version 0', new Uint8Array([0, 0, ...blob])],
    ['version 2', new Uint8Array([2, 0, ...blob])],
    ['version 0xff', new Uint8Array([0xff, 1, ...blob])],
    ['unknown flag bit 1', new Uint8Array([1, 0x02, ...blob])],
    ['unknown flag bits with row-bound', new Uint8Array([1, 0x81, ...blob])],
    ['all flags set', new Uint8Array([1, 0xff, ...blob])],
  ]

  it.each(malformed)('rejects %s with CiphertextFormatError', (_name, value) => {
    formatError(value)
  })

  // The read path checks stored keys with wrappedKeyRowBound and takes the blob after the header.
  it.each(malformed)('wrappedKeyRowBound rejects %s with the same error as parseWrappedKey', (_name, value) => {
    const expected = formatError(value)
    expect(() => wrappedKeyRowBound(value)).toThrow(expected.message)
  })

  it.each([true, false])('wrappedKeyRowBound gives the flag of a well-formed key (rowBound=%s), whose blob follows the header', (rowBound) => {
    const stored = formatWrappedKey({ rowBound, providerBlob: blob })
    expect(wrappedKeyRowBound(stored)).toBe(rowBound)
    expect(Buffer.from(stored.subarray(WRAPPED_KEY_HEADER_BYTES)).equals(Buffer.from(parseWrappedKey(stored).providerBlob))).toBe(true)
  })

  it('never repeats the input in the error message', () => {
    const inputs = [new Uint8Array([2, 0, ...blob]), new Uint8Array([1, 4, ...blob]), Buffer.from(blob).toString('hex')]
    for (const input of inputs) {
      const e = formatError(input)
      const hex = Buffer.from(blob).toString('hex')
      expect(e.message).not.toContain(hex)
      expect(e.message).not.toContain(hex.slice(0, 16))
      expect(e.message).not.toContain(Buffer.from(blob).toString('base64').slice(0, 16))
      expect(e.message).not.toContain(Array.from(blob.subarray(0, 4)).join(','))
    }
  })
})
