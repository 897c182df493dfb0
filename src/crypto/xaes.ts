// XAES-256-GCM (C2SP, https://c2sp.org/XAES-256-GCM): AES-256-GCM with a 192-bit nonce. Each nonce
// derives its own AES-256-GCM key from the main key with two AES block operations (a NIST SP
// 800-108r1 counter-mode KDF with CMAC-AES-256), so one main key can seal an unbounded number of
// messages under random nonces, where plain AES-GCM with random 96-bit IVs must stop near 2^32.
// rowcrypt wraps data keys with it: a wrap costs two AES blocks and one small GCM message.
import { createCipheriv, type Cipher } from 'node:crypto'
import { AuthenticationFailure, IV_BYTES, KEY_BYTES, TAG_BYTES, open, randomNonce, seal, zero } from './aes-gcm'

export const XAES_NONCE_BYTES = 24

/**
 * A main key prepared for XAES-256-GCM: its AES-256 block cipher (kept, so a key derivation is one
 * call on it, not a new cipher context) and its CMAC subkey K1 (it depends only on the key).
 */
export interface XaesKey {
  readonly key: Buffer
  readonly k1: Buffer
  readonly ecb: Cipher
}

/**
 * Prepares `key` (32 bytes, copied) for XAES-256-GCM. Keep the result for the key's lifetime and
 * {@link destroyXaesKey} it when done.
 */
export function xaesKey(key: Uint8Array): XaesKey {
  if (key.length !== KEY_BYTES) throw new RangeError('XAES-256-GCM needs a 32-byte key')
  const k = Buffer.from(key)
  // ECB has no state between blocks: one cipher object serves every derivation with this key.
  const ecb = createCipheriv('aes-256-ecb', k, null)
  ecb.setAutoPadding(false)
  // L = AES-256_K(0^128); K1 = L doubled in GF(2^128), as in CMAC.
  const l = ecb.update(Buffer.alloc(16))
  const k1 = Buffer.alloc(16)
  let carry = 0
  for (let i = 15; i >= 0; i--) {
    const b = l[i] as number
    k1[i] = ((b << 1) | carry) & 0xff
    carry = b >>> 7
  }
  if (carry === 1) k1[15] = (k1[15] as number) ^ 0x87
  zero(l)
  return { key: k, k1, ecb }
}

/** Overwrites a prepared key and releases its cipher context. */
export function destroyXaesKey(k: XaesKey): void {
  zero(k.key, k.k1)
  try {
    k.ecb.final()
  } catch {
    // Already released.
  }
}

/** A fresh random 192-bit nonce. */
export function xaesNonce(): Buffer {
  return randomNonce(XAES_NONCE_BYTES)
}

/**
 * Seals `plaintext` with `aad` under `k` and the 24-byte `nonce`; returns `ciphertext | tag`.
 * The nonce is a parameter so that known-answer vectors can be reproduced; callers pass a fresh one.
 */
export function xaesSeal(k: XaesKey, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  if (nonce.length !== XAES_NONCE_BYTES) throw new RangeError('XAES-256-GCM needs a 24-byte nonce')
  const derived = deriveKey(k, nonce, 0)
  try {
    const { ciphertext, tag } = seal(derived, nonce.subarray(12, 12 + IV_BYTES), plaintext, aad)
    return Buffer.concat([ciphertext, tag])
  } finally {
    zero(derived)
  }
}

/** Opens `ciphertext | tag`; any failure is an `AuthenticationFailure`. */
export function xaesOpen(k: XaesKey, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer {
  if (nonce.length !== XAES_NONCE_BYTES) throw new RangeError('XAES-256-GCM needs a 24-byte nonce')
  return xaesOpenStored(k, Buffer.concat([nonce, sealed]), 0, aad)
}

/**
 * {@link xaesOpen} of a message stored as `nonce | ciphertext | tag` from byte `at` of `stored` to
 * its end (a wrapped key after its format byte), without views of the nonce and the sealed part.
 */
export function xaesOpenStored(k: XaesKey, stored: Uint8Array, at: number, aad: Uint8Array): Buffer {
  const sealedAt = at + XAES_NONCE_BYTES
  if (stored.length < sealedAt + TAG_BYTES) throw new AuthenticationFailure()
  const derived = deriveKey(k, stored, at)
  try {
    const tagAt = stored.length - TAG_BYTES
    return open(derived, stored.subarray(at + 12, sealedAt), stored.subarray(sealedAt, tagAt), stored.subarray(tagAt), aad)
  } finally {
    zero(derived)
  }
}

// The two input blocks of a derivation. One buffer serves every call (derivations are synchronous):
// it is overwritten in full before use and zeroed after, since it holds bytes of K1.
const blocks = Buffer.alloc(32)

// K_x = AES-256_K(M1 ^ K1) | AES-256_K(M2 ^ K1), with M_i = 0x00 | i | 'X' | 0x00 | N[:12]; the
// nonce N starts at byte `at` of `nonce`.
function deriveKey(k: XaesKey, nonce: Uint8Array, at: number): Buffer {
  const m = blocks
  const k1 = k.k1
  // Bytes 0..3 of each block: 0x00, the counter, 'X', 0x00; bytes 4..15: N[:12]. Then XOR K1.
  m[0] = 0
  m[1] = 1
  m[2] = 0x58
  m[3] = 0
  m[16] = 0
  m[17] = 2
  m[18] = 0x58
  m[19] = 0
  for (let i = 0; i < 12; i++) {
    const n = nonce[at + i] as number
    m[4 + i] = n
    m[20 + i] = n
  }
  for (let i = 0; i < 16; i++) {
    const b = k1[i] as number
    m[i] = (m[i] as number) ^ b
    m[16 + i] = (m[16 + i] as number) ^ b
  }
  try {
    return k.ecb.update(m)
  } finally {
    zero(m)
  }
}
