// Canonical encoding of a binding context (a string map) into AAD bytes. The same map is
// the KMS encryption context of a key provider, so both layers bind exactly the same facts.

/** A binding context: what a ciphertext or wrapped key belongs to. Keys and values are strings. */
export type BindingContext = Readonly<Record<string, string>>

const DOMAIN = 'rowcrypt/context/v1'

/**
 * Encodes a context unambiguously: entries sorted by key, each key and value length-prefixed
 * (4-byte big-endian byte length), after a domain string. Two different maps never give the same
 * bytes, whatever characters their keys and values contain.
 */
export function encodeContext(context: BindingContext): Buffer {
  const keys = Object.keys(context).sort()
  // One allocation: this runs for every field and every key unwrap on the read path.
  const strings: string[] = [DOMAIN]
  for (const k of keys) strings.push(k, context[k] as string)
  let size = 0
  for (const s of strings) size += 4 + Buffer.byteLength(s, 'utf8')
  const out = Buffer.allocUnsafe(size)
  let at = 0
  for (const s of strings) {
    const len = out.write(s, at + 4, 'utf8')
    out.writeUInt32BE(len, at)
    at += 4 + len
  }
  return out
}
