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
  return formatCiphertextBody(p.type, p.iv, Buffer.concat([p.ciphertext, p.tag]))
}

/** @internal {@link formatCiphertext} from `ciphertext | tag` already in one buffer (`sealUtf8`). */
export function formatCiphertextBody(type: ValueType, iv: Uint8Array, body: Uint8Array): string {
  return `${PREFIXES[type]}${b64url(iv)}.${b64url(body)}`
}

// `rc1.A256GCM.<type>.` per type, and the common part.
const HEAD = `${FORMAT_VERSION}.${ALGORITHM}.`
const PREFIXES: Record<ValueType, string> = { string: `${HEAD}s.`, json: `${HEAD}j.`, bytes: `${HEAD}b.` }
// base64url of the 12-byte IV: always 16 characters.
const IV_CHARS = 16

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
  const type = value.startsWith(HEAD) ? codeType(value.charAt(HEAD.length)) : undefined
  if (type !== undefined) {
    const iv = Buffer.alloc(IV_BYTES)
    const body = Buffer.alloc(decodedBodyBound(value))
    const n = decodeCiphertextInto(value, type, iv, body)
    if (n >= 0) return parsedOf(type, iv, body.subarray(0, n))
  }
  // Anything else is refused below, with the reason.
  const parts = value.split('.')
  if (parts.length !== 5) throw new CiphertextFormatError('stored value is not a rowcrypt ciphertext')
  const [version, algorithm, code, ivText, bodyText] = parts as [string, string, string, string, string]
  if (version !== FORMAT_VERSION) throw new CiphertextFormatError('unknown ciphertext format version')
  if (algorithm !== ALGORITHM) throw new CiphertextFormatError('unknown ciphertext algorithm')
  const codeTyped = codeType(code)
  if (codeTyped === undefined) throw new CiphertextFormatError('unknown ciphertext value type')
  const iv = fromB64url(ivText)
  const body = fromB64url(bodyText)
  if (iv.length !== IV_BYTES) throw new CiphertextFormatError('ciphertext IV has the wrong length')
  if (body.length < TAG_BYTES) throw new CiphertextFormatError('ciphertext is shorter than its tag')
  return parsedOf(codeTyped, iv, body)
}

// The value type of a one-letter code; own keys only: `constructor` or `__proto__` must not
// resolve through Object.prototype.
function codeType(code: string): ValueType | undefined {
  return Object.hasOwn(CODE_TYPES, code) ? CODE_TYPES[code] : undefined
}

// The parsed form of a checked IV and body (ciphertext followed by its tag).
function parsedOf(type: ValueType, iv: Buffer, body: Buffer): ParsedCiphertext {
  return { version: FORMAT_VERSION, algorithm: ALGORITHM, type, iv, ciphertext: body.subarray(0, body.length - TAG_BYTES), tag: body.subarray(body.length - TAG_BYTES) }
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

/**
 * @internal The read path's {@link parseCiphertext}, without allocating: decodes a value of type
 * `type` into the caller's buffers, its IV into `iv` (12 bytes) and its ciphertext and tag into
 * `body` from byte 0, and returns how many bytes of `body` it wrote. -1 when the value is not a
 * well-formed ciphertext of that type, or when its body does not fit in `body` (see
 * {@link decodedBodyBound}): the caller then takes `parseCiphertext`, which decides and says why.
 * Accepts exactly the values `parseCiphertext` accepts (a property test holds the two together).
 * The buffers are the caller's scratch: their contents are valid until it decodes again.
 */
export function decodeCiphertextInto(value: string, type: ValueType, iv: Buffer, body: Buffer): number {
  const ivAt = PREFIXES[type].length
  const bodyAt = ivAt + IV_CHARS + 1
  const chars = value.length - bodyAt
  const bytes = (chars * 3) >> 2
  if (!value.startsWith(PREFIXES[type]) || chars < 0 || chars % 4 === 1 || bytes < TAG_BYTES || bytes > body.length || iv.length !== IV_BYTES) return -1
  if (value.charCodeAt(bodyAt - 1) !== 0x2e /* . */ || value.indexOf('.', bodyAt) !== -1) return -1
  // Node's decoder reads `+` and `/` as `-` and `_`, reads a character above U+00FF by its low
  // byte, skips every other character outside the alphabet and stops at `=`. With the first two
  // refused (and the whole value ASCII: as many UTF-8 bytes as characters), any character it
  // skipped or stopped at writes fewer bytes than the text's length calls for. The IV's 16
  // characters hold exactly its 12 bytes; the body's last character must spell its unused bits 0.
  if (value.indexOf('+', ivAt) !== -1 || value.indexOf('/', ivAt) !== -1 || Buffer.byteLength(value, 'utf8') !== value.length) return -1
  if (iv.write(value.slice(ivAt, bodyAt - 1), 0, IV_BYTES, 'base64url') !== IV_BYTES) return -1
  if (body.write(value.slice(bodyAt), 0, bytes, 'base64url') !== bytes || !canonicalEnd(value, chars)) return -1
  return bytes
}

/** The most bytes the body of `value` can decode to: a `body` buffer this long fits it. */
export function decodedBodyBound(value: string): number {
  return (value.length * 3) >> 2
}

// True when the last character of `text`, which ends `chars` characters of unpadded base64url,
// leaves the unused low bits of the last byte zero (none when `chars` is a multiple of 4): one
// byte string, one spelling.
function canonicalEnd(text: string, chars: number): boolean {
  const rest = chars % 4
  if (rest === 0) return true
  return (B64URL_VALUES.indexOf(text.charAt(text.length - 1)) & (rest === 2 ? 0x0f : 0x03)) === 0
}

function fromB64url(text: string): Buffer {
  // Node's decoder silently skips bad characters; be strict so a tampered string is a format error.
  if (!B64URL.test(text) || text.length % 4 === 1) throw new CiphertextFormatError('ciphertext is not valid base64url')
  // Unused low bits of the last character are ignored by the decoder; only the canonical
  // spelling (those bits zero) is accepted, so one stored value has exactly one string form.
  if (!canonicalEnd(text, text.length)) throw new CiphertextFormatError('ciphertext is not canonical base64url')
  return Buffer.from(text, 'base64url')
}

const B64URL_VALUES = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
