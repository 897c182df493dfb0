// Keyed blind indexes: HMAC-SHA256 of a normalized value under a per-tenant, per-field key, so
// equality can be tested in SQL without the value. Pure: no I/O, no configuration.
import { createHmac, hkdfSync, type Hmac } from 'node:crypto'
import { encodeContext, type BindingContext } from './context'

const FIELD_KEY_INFO = Buffer.from('rowcrypt/blind-index/field-key/v1')
export const INDEX_KEY_BYTES = 32

/**
 * The index key of one field, derived from a tenant's index root key with HKDF-SHA256; the
 * context (model, field) is the HKDF info, so two fields never share a key.
 */
export function deriveFieldIndexKey(root: Uint8Array, context: BindingContext): Buffer {
  return Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), Buffer.concat([FIELD_KEY_INFO, encodeContext(context)]), INDEX_KEY_BYTES))
}

/**
 * The blind index of `text`: HMAC-SHA256 under `key`, truncated to `bits` (8 to 256; the bits
 * past `bits` in the last byte are zero), as lowercase hex.
 */
export function blindIndexHex(key: Uint8Array, text: string, bits: number): string {
  heldHmac ??= createHmac('sha256', Buffer.alloc(INDEX_KEY_BYTES))
  const mac = createHmac('sha256', key).update(text, 'utf8').digest()
  const bytes = Math.ceil(bits / 8)
  const rest = bits % 8
  if (rest !== 0) mac[bytes - 1] = (mac[bytes - 1] as number) & ((0xff << (8 - rest)) & 0xff)
  return mac.subarray(0, bytes).toString('hex')
}

// V8 keeps the hidden class (map) of node:crypto's Hmac objects only while one of them is alive,
// and each of ours lives for one value. With none alive at a full collection, the map is
// collected, and with it the optimized code of every function that made or used one: the calls
// after each full collection then ran unoptimized until V8 compiled them again. This one (an
// all-zero key, never given any data) keeps the map alive.
let heldHmac: Hmac | undefined
