// AES-256-GCM primitives: no I/O and no environment. The state is the pool of random bytes that
// IVs are cut from and two idle cipher objects kept for V8's sake (both below); keys are never
// pooled. Everything above this file goes through these functions, so the algorithm choices live
// in exactly one place.
import { createCipheriv, createDecipheriv, randomFillSync, type Cipher, type Decipher } from 'node:crypto'

export const KEY_BYTES = 32
export const IV_BYTES = 12
export const TAG_BYTES = 16

/** Thrown for any authentication failure; callers turn it into a located DecryptionError. */
export class AuthenticationFailure extends Error {
  constructor() {
    super('decryption failed')
  }
}

/**
 * A fresh random 256-bit key (its own buffer; the caller may zero it). One CSPRNG call per key: a
 * pool of keys not yet handed out would put future rows' keys in memory ahead of time.
 */
export function generateKey(): Buffer {
  return randomFillSync(Buffer.alloc(KEY_BYTES))
}

// IVs and nonces are not secret, so they are cut from a module-level pool of CSPRNG bytes, allocated
// at the first use and refilled in place when used up: one system call per ~340 IVs instead of one
// per value. Each one is copied out, so no two values share bytes, and no pool bytes are handed out
// twice.
const POOL_BYTES = IV_BYTES * 341
let pool: Buffer | undefined
let poolAt = POOL_BYTES

/** A fresh random 96-bit IV (the size GCM is specified for). */
export function generateIv(): Buffer {
  return randomNonce(IV_BYTES)
}

/** `bytes` fresh random bytes for a public nonce (at most 64). */
export function randomNonce(bytes: number): Buffer {
  if (bytes > 64) throw new RangeError('nonces are at most 64 bytes')
  if (poolAt + bytes > POOL_BYTES) {
    pool = randomFillSync(pool ?? Buffer.allocUnsafe(POOL_BYTES))
    poolAt = 0
  }
  const nonce = Buffer.from((pool as Buffer).subarray(poolAt, poolAt + bytes))
  poolAt += bytes
  return nonce
}

/**
 * Encrypts `plaintext` under `key` with `iv` and `aad`; returns ciphertext and tag separately.
 * The IV is a parameter only so known-answer vectors can be reproduced; callers pass a fresh one.
 */
export function seal(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): { ciphertext: Buffer; tag: Buffer } {
  checkSizes(key, iv)
  holdCipherShapes()
  // GCM's tag is 16 bytes unless asked otherwise (TAG_BYTES); an options object would cost a
  // validation per value.
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(aad)
  const head = cipher.update(plaintext)
  // GCM is a stream mode: final() is empty, `head` is the whole ciphertext.
  const tail = cipher.final()
  const ciphertext = tail.length === 0 ? head : Buffer.concat([head, tail])
  return { ciphertext, tag: cipher.getAuthTag() }
}

/**
 * Encrypts a UTF-8 string (no intermediate Buffer of the plaintext) and returns ciphertext and tag
 * in one buffer, `ciphertext | tag`, as the at-rest format stores them. Same bytes as `seal`.
 */
export function sealUtf8(key: Uint8Array, iv: Uint8Array, plaintext: string, aad: Uint8Array): Buffer {
  checkSizes(key, iv)
  holdCipherShapes()
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(aad)
  const head = cipher.update(plaintext, 'utf8')
  const tail = cipher.final()
  return Buffer.concat([head, tail, cipher.getAuthTag()])
}

/** Decrypts and authenticates; any failure (tag, key, AAD, length) is an AuthenticationFailure. */
export function open(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, aad: Uint8Array): Buffer {
  checkSizes(key, iv)
  if (tag.length !== TAG_BYTES) throw new AuthenticationFailure()
  return decipher(key, iv, ciphertext, tag, aad)
}

/**
 * {@link open} of `ciphertext | tag` held in `sealed[0, end)`, the tag its last 16 bytes, as the read
 * path decodes a stored value into a buffer it reuses. The plaintext is a new buffer.
 */
export function openSealed(key: Uint8Array, iv: Uint8Array, sealed: Buffer, end: number, aad: Uint8Array): Buffer {
  checkSizes(key, iv)
  if (end < TAG_BYTES || end > sealed.length) throw new AuthenticationFailure()
  return decipher(key, iv, sealed.subarray(0, end - TAG_BYTES), sealed.subarray(end - TAG_BYTES, end), aad)
}

// The tag is always 16 bytes here (checked by the callers), the only length accepted: no
// authTagLength option needed to refuse a shorter one.
function decipher(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, aad: Uint8Array): Buffer {
  holdCipherShapes()
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv)
    d.setAAD(aad)
    d.setAuthTag(tag)
    const head = d.update(ciphertext)
    const tail = d.final()
    // GCM is a stream mode: final() is normally empty and `head` is the whole plaintext.
    if (tail.length === 0) return head
    const plaintext = Buffer.concat([head, tail])
    // The parts are copies that may hold key material (an unwrapped data key).
    zero(head, tail)
    return plaintext
  } catch {
    // Node's message differs by cause; the caller must not learn which.
    throw new AuthenticationFailure()
  }
}

// V8 keeps the hidden class (map) of node:crypto's cipher objects only while one of them is alive,
// and each of ours lives for one value. With none alive at a full collection (between two calls,
// typically), the map is collected and the optimized code that depended on it discarded, down to
// node:crypto's own: the calls after each full collection then ran in unoptimized code until V8
// compiled it again. One cipher and one decipher held here keep both maps alive: made under a
// random key that is zeroed at once, and never given any data.
let heldCiphers: readonly [Cipher, Decipher] | undefined

function holdCipherShapes(): void {
  if (heldCiphers !== undefined) return
  let key: Buffer | undefined
  try {
    key = generateKey()
    const iv = generateIv()
    heldCiphers = [createCipheriv('aes-256-gcm', key, iv), createDecipheriv('aes-256-gcm', key, iv)]
  } catch {
    // Only speed depends on them.
  } finally {
    zero(key)
  }
}

/** Overwrites key bytes in place. JavaScript cannot promise no copy survives; this removes ours. */
export function zero(...keys: Array<Uint8Array | undefined>): void {
  for (const k of keys) if (k !== undefined) fillBytes.call(k, 0)
}

// The typed-array fill itself: Buffer's own `fill` first parses its arguments (encodings, ranges),
// which costs more than filling a 32-byte key.
const fillBytes = Uint8Array.prototype.fill

function checkSizes(key: Uint8Array, iv: Uint8Array): void {
  if (key.length !== KEY_BYTES) throw new RangeError('AES-256-GCM needs a 32-byte key')
  if (iv.length !== IV_BYTES) throw new RangeError('AES-256-GCM here uses a 12-byte IV')
}
