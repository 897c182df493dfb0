// The at-rest format of a row's wrapped data key (the `wrappedDek` column):
//
//   byte 0   format version (0x01)
//   byte 1   flags: bit 0 set = the row id is part of the key's binding context
//   byte 2.. the key provider's own wrapped key bytes
//
// The flags are not secret and need no MAC of their own: they decide which context is passed to
// the provider, so flipping one makes unwrapping fail.
import { CiphertextFormatError } from '../errors'

export const WRAPPED_KEY_VERSION = 0x01
const FLAG_ROW_BOUND = 0x01

/** A parsed `wrappedDek` column value. */
export interface ParsedWrappedKey {
  rowBound: boolean
  providerBlob: Uint8Array
}

/**
 * Builds the stored bytes of a wrapped data key.
 *
 * @example
 * ```ts
 * const stored = formatWrappedKey({ rowBound: true, providerBlob })
 * ```
 */
export function formatWrappedKey(k: ParsedWrappedKey): Uint8Array {
  const out = new Uint8Array(2 + k.providerBlob.length)
  out[0] = WRAPPED_KEY_VERSION
  out[1] = k.rowBound ? FLAG_ROW_BOUND : 0
  out.set(k.providerBlob, 2)
  return out
}

/**
 * Parses the stored bytes of a wrapped data key without any key.
 *
 * @example
 * ```ts
 * const { rowBound } = parseWrappedKey(row.wrappedDek)
 * ```
 */
export function parseWrappedKey(value: unknown): ParsedWrappedKey {
  const rowBound = wrappedKeyRowBound(value)
  return { rowBound, providerBlob: (value as Uint8Array).subarray(WRAPPED_KEY_HEADER_BYTES) }
}

/** Bytes before the provider's blob in a stored wrapped key. */
export const WRAPPED_KEY_HEADER_BYTES = 2

/**
 * @internal Checks stored wrapped-key bytes as {@link parseWrappedKey} does and returns only its
 * row-bound flag (the read path takes the provider's blob itself: no object per row).
 */
export function wrappedKeyRowBound(value: unknown): boolean {
  if (!(value instanceof Uint8Array)) throw new CiphertextFormatError('row has no wrapped data key')
  if (value.length < 3) throw new CiphertextFormatError('wrapped data key is too short')
  if (value[0] !== WRAPPED_KEY_VERSION) throw new CiphertextFormatError('unknown wrapped data key format version')
  const flags = value[1] as number
  if ((flags & ~FLAG_ROW_BOUND) !== 0) throw new CiphertextFormatError('unknown wrapped data key flags')
  return (flags & FLAG_ROW_BOUND) !== 0
}
