import { isNullMarker, storedText, toStored } from '../../../src/fields/storage'
import type { FieldSpec } from '../../../src/fields/spec'

const field = (storage: FieldSpec['storage']): FieldSpec => ({ name: 'f', type: storage === 'text' ? 'string' : storage, storage })
const ENVELOPE = 'rc1.A256GCM.b.AAAAAAAAAAAAAAAA.BBBB'

describe('stored form of a ciphertext', () => {
  it('is the envelope in String and Json columns, its ASCII bytes in a Bytes column', () => {
    expect(toStored(field('text'), ENVELOPE)).toBe(ENVELOPE)
    expect(toStored(field('json'), ENVELOPE)).toBe(ENVELOPE)
    const bytes = toStored(field('bytes'), ENVELOPE)
    expect(bytes).toBeInstanceOf(Uint8Array)
    expect(Buffer.from(bytes as Uint8Array).toString('ascii')).toBe(ENVELOPE)
  })

  it('reads back to the envelope, and leaves other values to the parser', () => {
    expect(storedText(field('bytes'), toStored(field('bytes'), ENVELOPE))).toBe(ENVELOPE)
    expect(storedText(field('json'), ENVELOPE)).toBe(ENVELOPE)
    // A view of part of a larger buffer reads only its own bytes.
    const big = Buffer.from(`xx${ENVELOPE}yy`, 'latin1')
    expect(storedText(field('bytes'), new Uint8Array(big.buffer, big.byteOffset + 2, ENVELOPE.length))).toBe(ENVELOPE)
    expect(storedText(field('text'), Buffer.from(ENVELOPE))).toBeInstanceOf(Uint8Array)
    expect(storedText(field('bytes'), 42)).toBe(42)
  })

  it("recognizes Prisma's null markers and nothing else", () => {
    const marker = { [Symbol.for('prisma.objectEnumValue')]: true }
    expect([isNullMarker(marker), isNullMarker(null), isNullMarker({}), isNullMarker('DbNull'), isNullMarker({ [Symbol('prisma.objectEnumValue')]: true })]).toEqual([true, false, false, false, false])
  })
})
