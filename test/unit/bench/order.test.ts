// The bench's slice order: a Williams design, so that neither position nor the variant that ran
// just before favours one variant.
import { SliceOrders, williamsDesign } from '../../../bench/order'

describe('williamsDesign', () => {
  it.each([1, 2, 3, 4, 5, 8, 9, 10])('for %i variants: permutations, every position and every predecessor equally often', (n) => {
    const rows = williamsDesign(n)
    expect(rows).toHaveLength(n % 2 === 0 ? n : 2 * n)
    const per = rows.length / n
    const positions = Array.from({ length: n }, () => new Array<number>(n).fill(0))
    const follows = Array.from({ length: n }, () => new Array<number>(n).fill(0))
    for (const row of rows) {
      expect([...row].sort((a, b) => a - b)).toEqual([...Array(n).keys()])
      row.forEach((v, p) => positions[v]![p]!++)
      for (let p = 1; p < row.length; p++) follows[row[p]!]![row[p - 1]!]!++
    }
    for (const counts of positions) expect(counts).toEqual(new Array<number>(n).fill(per))
    const pairs = n === 1 ? 0 : ((n - 1) * rows.length) / (n * (n - 1))
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) expect(follows[a]![b]).toBe(a === b ? 0 : pairs)
  })

  it('refuses a size that is not a positive integer', () => {
    expect(() => williamsDesign(0)).toThrow(/positive integer/)
    expect(() => williamsDesign(2.5)).toThrow(/positive integer/)
  })
})

describe('SliceOrders', () => {
  it('cycles through the design, mapped onto the variants', () => {
    const orders = new SliceOrders(['plain', 'bound', 'rowcrypt'])
    expect(orders.period).toBe(6)
    const seen = Array.from({ length: 12 }, () => orders.next().join(','))
    expect(new Set(seen.slice(0, 6)).size).toBe(6)
    expect(seen.slice(6)).toEqual(seen.slice(0, 6))
    // The middle place goes round: no variant is always in it.
    expect(new Set(seen.slice(0, 6).map((s) => s.split(',')[1])).size).toBe(3)
  })

  it('hands out an empty order for no variants', () => {
    expect(new SliceOrders([]).next()).toEqual([])
  })
})
