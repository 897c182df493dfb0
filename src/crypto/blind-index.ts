// Keyed blind indexes: HMAC-SHA256 of a normalized value under a per-tenant, per-field key, so
// equality can be tested in SQL without the value. Pure: no I/O, no configuration.
import { createHmac, hkdfSync, randomBytes, type Hmac } from 'node:crypto'
import { zero } from './aes-gcm'
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
  if (heldHmac === undefined) holdHmacShape()
  const mac = createHmac('sha256', key).update(text, 'utf8').digest()
  const bytes = Math.ceil(bits / 8)
  const rest = bits % 8
  if (rest !== 0) mac[bytes - 1] = (mac[bytes - 1] as number) & ((0xff << (8 - rest)) & 0xff)
  return mac.subarray(0, bytes).toString('hex')
}

// V8 keeps the hidden class (map) of node:crypto's Hmac objects only while one of them is alive,
// and each of ours lives for one value. With none alive at a full collection, the map is collected
// and the optimized code that depended on it discarded: the calls after each full collection then
// ran in unoptimized code until V8 compiled it again. This one keeps the map alive: made under a
// random key that is zeroed at once, and never given any data.
let heldHmac: Hmac | undefined

function holdHmacShape(): void {
  let key: Buffer | undefined
  try {
    key = randomBytes(INDEX_KEY_BYTES)
    heldHmac = createHmac('sha256', key)
  } catch {
    // Only speed depends on it.
  } finally {
    zero(key)
  }
}
