// Canonical encoding of a binding context (a string map) into AAD bytes. The same map is
// the KMS encryption context of a key provider, so both layers bind exactly the same facts.
import { InvalidValueError } from '../errors'

/** A binding context: what a ciphertext or wrapped key belongs to. Keys and values are strings. */
export type BindingContext = Readonly<Record<string, string>>

const DOMAIN = 'rowcrypt/context/v1'

/**
 * Encodes a context unambiguously: entries sorted by key, each key and value length-prefixed
 * (4-byte big-endian byte length), after a domain string. Two different maps never give the same
 * bytes, whatever characters their keys and values contain: a string that is not well-formed
 * UTF-16 (a lone surrogate, which UTF-8 can only write as U+FFFD, so that '\uD800' and '\uDBFF'
 * would share a binding) is refused with `InvalidValueError`.
 */
export function encodeContext(context: BindingContext): Buffer {
  const keys = Object.keys(context).sort()
  // One allocation: this runs for every field and every key unwrap on the read path.
  const strings: string[] = [DOMAIN]
  for (const k of keys) strings.push(k, context[k] as string)
  let size = 0
  for (let i = 0; i < strings.length; i++) size += 4 + byteLength(strings[i]!)
  const out = Buffer.allocUnsafe(size)
  let at = 0
  for (let i = 0; i < strings.length; i++) at = putString(out, at, strings[i]!)
  return out
}

/**
 * The encoding of a context whose sorted keys start with `leading` (already sorted, all sorting
 * before every key of the entries appended later): the domain and those entries. Append the rest
 * with {@link appendContext}; the bytes equal `encodeContext` of the whole map. For hot paths that
 * encode many contexts sharing their first entries (one key unwrap per row).
 */
export function encodeContextPrefix(leading: ReadonlyArray<readonly [string, string]>): Buffer {
  const entries: Record<string, string> = {}
  let last = ''
  for (const [k, v] of leading) {
    if (k <= last && last !== '') throw new RangeError('context prefix entries must be sorted and distinct')
    entries[k] = v
    last = k
  }
  return encodeContext(entries)
}

/**
 * `prefix` (from {@link encodeContextPrefix}) followed by the entries `kv` (key, value, key,
 * value, ...), in one allocation. The caller guarantees the order: every key of `kv` sorts after
 * the prefix's keys, and `kv` is sorted.
 */
export function appendContext(prefix: Buffer, kv: readonly string[]): Buffer {
  let size = prefix.length
  for (let i = 0; i < kv.length; i++) size += 4 + byteLength(kv[i]!)
  const out = Buffer.allocUnsafe(size)
  out.set(prefix, 0)
  let at = prefix.length
  for (let i = 0; i < kv.length; i++) at = putString(out, at, kv[i]!)
  return out
}

/**
 * True when `s` is well-formed UTF-16 (no lone surrogate). UTF-8 writes every lone surrogate as
 * U+FFFD, so two strings that differ only there would encode (bind, index, store) alike.
 */
export function isWellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed()
}

// The UTF-8 length of a context string, refusing strings UTF-8 cannot represent exactly. Without
// this, tenant ids (or row ids) differing only in lone surrogates would share one binding.
function byteLength(s: string): number {
  // The loops below read only `length` and `charCodeAt`: anything but a string (an array, a String
  // object, a `length` that changes between measuring and writing) is refused here, before both.
  if (typeof s !== 'string') throw new InvalidValueError('a binding value (tenant id, row id, model or field name) must be a string')
  const n = asciiLength(s)
  if (n >= 0) return n
  if (!isWellFormed(s)) {
    throw new InvalidValueError('a binding value (tenant id, row id, model or field name) is not well-formed Unicode: it contains a lone surrogate')
  }
  return Buffer.byteLength(s, 'utf8')
}

// The length of `s` when all its characters are ASCII (then its UTF-8 bytes are its character
// codes, and it is well-formed); -1 otherwise. Ids, names and versions are ASCII almost always:
// a loop here spares the native calls of measuring, checking and writing them, which cost more
// than the loop once it is optimized (the key's AAD is encoded for every row read; unoptimized,
// the loop is the dearer one).
function asciiLength(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return -1
  return s.length
}

// Writes `s` length-prefixed (4-byte big-endian UTF-8 byte length) at `at`, where `out` has the
// room `byteLength` measured; returns the offset after it. ASCII characters are copied as they are
// read; at the first other one the UTF-8 encoder writes the whole string over them.
function putString(out: Buffer, at: number, s: string): number {
  const n = s.length
  let i = 0
  for (; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c > 0x7f) break
    out[at + 4 + i] = c
  }
  const len = i === n ? n : out.write(s, at + 4, 'utf8')
  out[at] = len >>> 24
  out[at + 1] = (len >>> 16) & 0xff
  out[at + 2] = (len >>> 8) & 0xff
  out[at + 3] = len & 0xff
  return at + 4 + len
}
