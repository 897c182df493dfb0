import { cuid, cuid2, idGenerator, nanoid, ulid, uuidV7 } from '../../../src/prisma/ids'

// The formats Prisma 7's client gives each default (checked against a plain client in
// test/integration/row-binding.test.ts).
const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const UUID7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const CUID = /^c[0-9a-z]{24}$/
const CUID2 = /^[a-z][0-9a-z]{23}$/
const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/
const NANOID_ALPHABET = 'useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict'
const N = 5000

const draws = (make: () => string, n = N): string[] => Array.from({ length: n }, make)
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
const ulidTime = (id: string): number => [...id.slice(0, 10)].reduce((t, ch) => t * 32 + CROCKFORD.indexOf(ch), 0)
const uuidTime = (id: string): number => parseInt(id.replace(/-/g, '').slice(0, 12), 16)

describe('idGenerator: the defaults rowcrypt reproduces', () => {
  it.each([
    ['uuid', [], UUID4],
    ['uuid', [4], UUID4],
    ['uuid', [7], UUID7],
    ['cuid', [], CUID],
    ['cuid', [1], CUID],
    ['cuid', [2], CUID2],
    ['ulid', [], ULID],
    ['nanoid', [], /^[A-Za-z0-9_-]{21}$/],
    ['nanoid', [2], /^[A-Za-z0-9_-]{2}$/],
    ['nanoid', [10], /^[A-Za-z0-9_-]{10}$/],
    ['nanoid', [255], /^[A-Za-z0-9_-]{255}$/],
  ] as const)('%s(%j)', (name, args, format) => {
    const make = idGenerator(name, args)
    expect(typeof make).toBe('function')
    const ids = draws(make!, 200)
    for (const id of ids) expect(id).toMatch(format)
    // Two characters have only 4,096 values: uniqueness is for the longer ones.
    if (ids[0]!.length >= 10) expect(new Set(ids).size).toBe(ids.length)
  })

  it.each([
    ['autoincrement', []],
    ['dbgenerated', ['gen_random_uuid()']],
    ['sequence', []],
    ['now', []],
    ['uuid', [5]],
    ['cuid', [3]],
    ['ulid', [1]],
    ['nanoid', [1]],
    ['nanoid', [256]],
    ['nanoid', [10.5]],
    ['nanoid', ['10']],
    [undefined, []],
  ] as const)('none for %s(%j): such ids are known only after the insert, or not reproduced', (name, args) => {
    expect(idGenerator(name, args)).toBeUndefined()
  })
})

describe('uuid(7)', () => {
  it('holds the current time and is monotonic within the process, as Prisma makes it', () => {
    const before = Date.now()
    const ids = draws(uuidV7, 20_000)
    const after = Date.now()
    expect(ids.filter((id) => !UUID7.test(id))).toEqual([])
    // Many ids per millisecond: the sequence keeps them strictly increasing.
    expect(ids.filter((id, i) => i > 0 && !(id > ids[i - 1]!))).toEqual([])
    expect(uuidTime(ids[0]!)).toBeGreaterThanOrEqual(before)
    expect(uuidTime(ids.at(-1)!)).toBeLessThanOrEqual(after + 1)
  })
})

describe('cuid()', () => {
  it('is 25 characters: c, the time, a counter, a fingerprint and random blocks', () => {
    const before = Date.now()
    const ids = draws(cuid)
    const after = Date.now()
    for (const id of ids) expect(id).toMatch(CUID)
    expect(new Set(ids).size).toBe(N)
    const time = parseInt(ids[0]!.slice(1, 9), 36)
    expect(time).toBeGreaterThanOrEqual(before)
    expect(time).toBeLessThanOrEqual(after)
    // The counter (4 base-36 digits after the time) counts up by one per id.
    const counters = ids.slice(0, 100).map((id) => parseInt(id.slice(9, 13), 36))
    for (let i = 1; i < counters.length; i++) expect(counters[i]).toBe(((counters[i - 1] as number) + 1) % 36 ** 4)
    // The fingerprint is the same for every id of the process.
    expect(new Set(ids.map((id) => id.slice(13, 17))).size).toBe(1)
  })
})

describe('cuid(2)', () => {
  it('is 24 characters, a letter first, unique', () => {
    const ids = draws(cuid2)
    for (const id of ids) expect(id).toMatch(CUID2)
    expect(new Set(ids).size).toBe(N)
    // Its first letter is random, not always the same.
    expect(new Set(ids.map((id) => id[0])).size).toBeGreaterThan(20)
  })
})

describe('ulid()', () => {
  it('is 26 Crockford base-32 characters, the first 10 the time in milliseconds', () => {
    const before = Date.now()
    const ids = draws(ulid)
    const after = Date.now()
    for (const id of ids) expect(id).toMatch(ULID)
    expect(new Set(ids).size).toBe(N)
    expect(ulidTime(ids[0]!)).toBeGreaterThanOrEqual(before)
    expect(ulidTime(ids.at(-1)!)).toBeLessThanOrEqual(after)
    // Random part: every character of the alphabet turns up.
    expect(new Set(ids.flatMap((id) => [...id.slice(10)])).size).toBe(32)
  })
})

describe('nanoid(n)', () => {
  it('has the length asked for and draws from the URL-safe 64-character alphabet', () => {
    for (const size of [2, 8, 21, 64, 255]) expect(nanoid(size)).toHaveLength(size)
    const ids = draws(() => nanoid(21))
    expect(new Set(ids).size).toBe(N)
    const seen = new Set(ids.flatMap((id) => [...id]))
    expect([...seen].sort()).toEqual([...NANOID_ALPHABET].sort())
  })
})
