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
  const parts: Buffer[] = [lengthPrefixed(DOMAIN)]
  for (const k of keys) {
    parts.push(lengthPrefixed(k), lengthPrefixed(context[k] as string))
  }
  return Buffer.concat(parts)
}

function lengthPrefixed(s: string): Buffer {
  const body = Buffer.from(s, 'utf8')
  const len = Buffer.alloc(4)
  len.writeUInt32BE(body.length, 0)
  return Buffer.concat([len, body])
}
