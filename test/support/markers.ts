// Shared by the concurrency tests: values that carry their tenant, and a seeded PRNG so that a
// failing interleaving can be replayed.

/** A value that carries its tenant: `<tenant>|<label>@<domain>`. */
export const marked = (tenant: string, label: string, domain = 'marker.example') => `${tenant}|${label}@${domain}`

/** The tenant inside a value made by {@link marked}. */
export const markerOf = (v: unknown) => (typeof v === 'string' ? v.split('|')[0] : undefined)

/** mulberry32: a small seeded PRNG in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
