// Equality of public byte strings (wrapped keys, stored bytes values), shared by the core and the
// query path. Not for secrets: it returns at the first difference.

/** True when `a` and `b` are both Uint8Arrays holding the same bytes. */
export function bytesEqual(a: unknown, b: unknown): boolean {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) return false
  // Wrapped keys are tens of bytes: a loop is cheaper than two Buffer views and a native call.
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
