// Map keys for in-memory caches whose entries are named by several strings (tenant, extra AAD,
// model, field, key version). Joining the parts with a separator is ambiguous as soon as a part
// may contain the separator: tenant `x\u0000AQID` and tenant `x` with extra AAD `AQID` would share
// an entry, and one would be served the other's binding.

/**
 * @internal An unambiguous map key for the tuple `parts`: each part as its length in UTF-16 code
 * units, a colon, then the part itself. The key can be read back into exactly one tuple (lengths
 * say where every part ends), so two different tuples, of the same or of different sizes, never
 * share a key, whatever characters the parts contain.
 *
 * @example
 * ```ts
 * cacheKey('x\u0000AQID') // '6:x\u0000AQID'
 * cacheKey('x', 'AQID') // '1:x4:AQID'
 * ```
 */
export function cacheKey(...parts: readonly string[]): string {
  let out = ''
  for (const p of parts) out += `${p.length}:${p}`
  return out
}
