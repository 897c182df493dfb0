// The bounded map behind the query path's cache of recently seen wrapped keys.
import { Recent } from '../../../src/prisma/recent'

describe('Recent', () => {
  it('returns what was set, the newest value for a key', () => {
    const r = new Recent<string, number>(100)
    r.set('a', 1)
    r.set('b', 2)
    r.set('a', 3)
    expect(r.get('a')).toBe(3)
    expect(r.get('b')).toBe(2)
    expect(r.get('c')).toBeUndefined()
  })

  it('keeps the max most recent entries and never holds more than 2 * max', () => {
    const max = 10
    const r = new Recent<number, number>(max)
    for (let i = 0; i < 1000; i++) {
      r.set(i, i * 2)
      expect(r.size).toBeLessThanOrEqual(2 * max)
      for (let j = Math.max(0, i - max + 1); j <= i; j++) expect(r.get(j)).toBe(j * 2)
    }
    expect(r.get(0)).toBeUndefined()
    expect(r.get(979)).toBeUndefined()
  })

  it('a newer value in the current generation wins over an older one in the previous', () => {
    const r = new Recent<string, number>(2)
    r.set('a', 1)
    r.set('b', 2) // generation full: a and b become the previous generation
    r.set('a', 3)
    expect(r.get('a')).toBe(3)
  })

  it('delete removes a key from both generations', () => {
    const r = new Recent<string, number>(2)
    r.set('a', 1)
    r.set('b', 2)
    r.set('a', 3)
    r.delete('a')
    expect(r.get('a')).toBeUndefined()
    expect(r.get('b')).toBe(2)
  })
})
