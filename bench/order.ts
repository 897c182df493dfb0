// The order in which the variants of one workload run, slice by slice. Which variant ran just
// before, and where in the sequence a variant runs, moves its time by a few percent here (an A/A
// run of two instances of the bound, always in the same two positions, differed by up to 9% on
// findUnique). A fixed order, or one alternating with its reverse, gives the middle variant the
// same neighbours and place every time. A Williams design instead: over its rows every variant
// runs in every position equally often and follows every other variant equally often, so neither
// effect favours one variant.

/**
 * The rows of a Williams design for `n` treatments: `n` rows when `n` is even, `2n` when odd (the
 * rows and their reverses). Each row is a permutation of 0..n-1.
 */
export function williamsDesign(n: number): number[][] {
  if (!Number.isInteger(n) || n < 1) throw new Error('williamsDesign: n must be a positive integer')
  // First row 0, 1, n-1, 2, n-2, ...; row i adds i to every entry (mod n).
  const first: number[] = [0]
  for (let lo = 1, hi = n - 1; first.length < n;) {
    first.push(lo++)
    if (first.length < n) first.push(hi--)
  }
  const rows = Array.from({ length: n }, (_, i) => first.map((x) => (x + i) % n))
  return n % 2 === 0 ? rows : [...rows, ...rows.map((r) => [...r].reverse())]
}

/** Hands out the orders of one workload's slices: each call the next row of the design, cycling. */
export class SliceOrders<T> {
  readonly #items: readonly T[]
  readonly #rows: number[][]
  #next = 0
  constructor(items: readonly T[]) {
    this.#items = items
    this.#rows = williamsDesign(Math.max(1, items.length))
  }
  /** The number of slices after which every position and every predecessor came up equally often. */
  get period(): number {
    return this.#rows.length
  }
  next(): T[] {
    if (this.#items.length === 0) return []
    const row = this.#rows[this.#next++ % this.#rows.length]!
    return row.map((i) => this.#items[i]!)
  }
}
