// The at-rest format of one encrypted field value. Parseable without any key:
//
//   rc1.A256GCM.<type>.<iv>.<ciphertext+tag>
//
// `rc1` is the format version, `A256GCM` the algorithm (AES-256-GCM, 96-bit IV, 128-bit tag),
// `<type>` the plaintext encoding (`s` UTF-8 string, `j` JSON text, `b` raw bytes), and the last
// two parts are unpadded base64url. A new format adds a version; old versions keep decrypting.
import { IV_BYTES, TAG_BYTES } from '../crypto/aes-gcm'
import { CiphertextFormatError } from '../errors'

export const FORMAT_VERSION = 'rc1'
export const ALGORITHM = 'A256GCM'

/** How a plaintext value is turned into bytes before encryption. */
export type ValueType = 'string' | 'json' | 'bytes'

const TYPE_CODES: Record<ValueType, string> = { string: 's', json: 'j', bytes: 'b' }
const CODE_TYPES: Record<string, ValueType> = { s: 'string', j: 'json', b: 'bytes' }
const B64URL = /^[A-Za-z0-9_-]*$/
// A sanity bound so the parser never allocates absurd buffers from hostile input (about 190 MiB
// of plaintext; far beyond what a row should hold).
const MAX_ENCODED_LENGTH = 256 * 1024 * 1024

/** The parts of a stored ciphertext string. */
export interface ParsedCiphertext {
  version: typeof FORMAT_VERSION
  algorithm: typeof ALGORITHM
  type: ValueType
  iv: Buffer
  ciphertext: Buffer
  tag: Buffer
}

/**
 * Serializes the parts of an encrypted value into its stored string.
 *
 * @example
 * ```ts
 * formatCiphertext({ type: 'string', iv, ciphertext, tag }) // 'rc1.A256GCM.s.…'
 * ```
 */
export function formatCiphertext(p: { type: ValueType; iv: Uint8Array; ciphertext: Uint8Array; tag: Uint8Array }): string {
  const body = Buffer.concat([p.ciphertext, p.tag])
  return `${FORMAT_VERSION}.${ALGORITHM}.${TYPE_CODES[p.type]}.${b64url(p.iv)}.${b64url(body)}`
}

/**
 * Parses a stored string without any key. Throws `CiphertextFormatError` for anything that is
 * not a well-formed rowcrypt ciphertext; the message never repeats the input.
 *
 * @example
 * ```ts
 * const { version, algorithm, type, iv } = parseCiphertext(row.email)
 * ```
 */
export function parseCiphertext(value: unknown): ParsedCiphertext {
  if (typeof value !== 'string') throw new CiphertextFormatError('stored value is not a ciphertext string')
  if (value.length > MAX_ENCODED_LENGTH) throw new CiphertextFormatError('ciphertext is too long')
  const parts = value.split('.')
  if (parts.length !== 5) throw new CiphertextFormatError('stored value is not a rowcrypt ciphertext')
  const [version, algorithm, code, ivText, bodyText] = parts as [string, string, string, string, string]
  if (version !== FORMAT_VERSION) throw new CiphertextFormatError('unknown ciphertext format version')
  if (algorithm !== ALGORITHM) throw new CiphertextFormatError('unknown ciphertext algorithm')
  // Own keys only: `constructor` or `__proto__` must not resolve through Object.prototype.
  const type = Object.hasOwn(CODE_TYPES, code) ? CODE_TYPES[code] : undefined
  if (type === undefined) throw new CiphertextFormatError('unknown ciphertext value type')
  const iv = fromB64url(ivText)
  const body = fromB64url(bodyText)
  if (iv.length !== IV_BYTES) throw new CiphertextFormatError('ciphertext IV has the wrong length')
  if (body.length < TAG_BYTES) throw new CiphertextFormatError('ciphertext is shorter than its tag')
  return {
    version: FORMAT_VERSION,
    algorithm: ALGORITHM,
    type,
    iv,
    ciphertext: body.subarray(0, body.length - TAG_BYTES),
    tag: body.subarray(body.length - TAG_BYTES),
  }
}

/**
 * True when `value` looks like a rowcrypt ciphertext (prefix check only; no authentication).
 *
 * @example
 * ```ts
 * const [{ email }] = await prisma.$queryRaw`SELECT email FROM "User" LIMIT 1`
 * isCiphertext(email) // true: stored encrypted
 * ```
 */
export function isCiphertext(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(`${FORMAT_VERSION}.${ALGORITHM}.`)
}

const CIPHERTEXT_IN_TEXT = /rc1\.A256GCM\.[a-z]\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g

/**
 * Replaces every rowcrypt ciphertext inside a text (an error message that renders query
 * arguments, a log line) with `<ciphertext>`.
 *
 * @example
 * ```ts
 * redactCiphertexts('email: "rc1.A256GCM.s.AAAA.BBBB"') // 'email: "<ciphertext>"'
 * ```
 */
export function redactCiphertexts(text: string): string {
  return text.replace(CIPHERTEXT_IN_TEXT, '<ciphertext>')
}

/** The one-letter code of a value type, as stored and as bound into the AAD. */
export function typeCode(type: ValueType): string {
  return TYPE_CODES[type]
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

function fromB64url(text: string): Buffer {
  // Node's decoder silently skips bad characters; be strict so a tampered string is a format error.
  if (!B64URL.test(text) || text.length % 4 === 1) throw new CiphertextFormatError('ciphertext is not valid base64url')
  // Unused low bits of the last character are ignored by the decoder; only the canonical
  // spelling (those bits zero) is accepted, so one stored value has exactly one string form.
  const rest = text.length % 4
  if (rest !== 0) {
    const last = B64URL_VALUES.indexOf(text.charAt(text.length - 1))
    if ((last & (rest === 2 ? 0x0f : 0x03)) !== 0) throw new CiphertextFormatError('ciphertext is not canonical base64url')
  }
  return Buffer.from(text, 'base64url')
}

const B64URL_VALUES = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
