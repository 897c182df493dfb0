// How a ciphertext sits in its column: the envelope string itself in a String column, that string
// as a JSON string value in a Json column, its ASCII bytes in a Bytes column. The column's Prisma
// type stays what the field holds (Json, Bytes), so an application's types need no casts.
import type { FieldSpec } from './spec'

/** The kind of column an encrypted field is stored in. */
export type FieldStorage = 'text' | 'json' | 'bytes'

/** The value to store for the envelope `text` of `field`. */
export function toStored(field: FieldSpec, text: string): string | Uint8Array {
  return field.storage === 'bytes' ? new Uint8Array(Buffer.from(text, 'latin1')) : text
}

/** The envelope text of a stored value (other values are returned as they are, to be refused by the parser). */
export function storedText(field: FieldSpec, value: unknown): unknown {
  return field.storage === 'bytes' && value instanceof Uint8Array ? Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1') : value
}

// Prisma's `DbNull` / `JsonNull` (and any marker of that family) carry a global symbol.
const NULL_MARKER = Symbol.for('prisma.objectEnumValue')

/**
 * True for an ORM null marker (Prisma's `DbNull`, `JsonNull`): it means "no value" and is written
 * as it is, not encrypted.
 */
export function isNullMarker(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[NULL_MARKER] === true
}
