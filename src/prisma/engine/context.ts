// What the parts of the query path share: the per-client engine state, the state of one write,
// and the small value helpers every part uses. Prisma-free.
import type { RowLevelEncryption } from '../../fields/row'
import type { FieldSpec, ModelSpec } from '../../fields/spec'
import type { ModelInfo } from '../config'
import type { QueryIO } from '../query'
import type { Recent } from '../recent'
import type { Scope } from '../scope'
import type { Obj } from '../walk/grammar'

export type { Obj }
/** The intercepted call: runs the (rewritten) arguments through Prisma. */
export type Query = (args: Obj) => Promise<unknown>

/** A row's wrapped key as the table holds it (not secret), and whose row it is. */
export interface KnownKey {
  readonly spec: ModelSpec
  readonly tenantId: string
  readonly wrappedDek: Uint8Array
  readonly keyVersion: string
}

/** @internal The per-client state of the query path, built once and passed to every part of it. */
export interface Engine {
  readonly table: ReadonlyMap<string, ModelInfo>
  readonly rle: RowLevelEncryption
  /**
   * Wrapped keys of rows this client recently read or wrote (not secret: they are what the table
   * holds), so that an update by id can skip reading its row's key. Bounded; a stale entry only
   * costs the failed compare-and-swap and a fresh read.
   */
  readonly knownKeys: Recent<unknown, KnownKey>
  /**
   * Per model, the names of the searchable fields of every model its relations reach (itself
   * included): a call on it that mentions none of them needs no index keys.
   */
  readonly searchable: ReadonlyMap<string, ReadonlySet<string>>
}

/** State shared by the parts of one write. */
export interface WriteContext {
  readonly scope: Scope
  readonly io: QueryIO
  /** Reads the row that owns the data being written, for to-one nested updates (absent in creates). */
  readonly readOwner?: (select: Obj) => Promise<Obj | null>
  /** Rows whose directly written foreign keys are checked once every value is encrypted. */
  readonly foreignKeys: Array<[ModelInfo, unknown]>
  /**
   * Set by a top-level update: the key its row's values are encrypted under is lent to the scope
   * (`Scope.lend`) for the result, and the update releases it. Nested writes never lend.
   */
  readonly lendKey?: true
}

/** A new write's context; `lendKey` for a top-level update (see `WriteContext.lendKey`). */
export function writeContext(scope: Scope, io: QueryIO, lendKey?: true): WriteContext {
  return lendKey === undefined ? { scope, io, foreignKeys: [] } : { scope, io, foreignKeys: [], lendKey }
}

/** Operations whose `where` is a unique input. */
export const UNIQUE_WHERE: ReadonlySet<string> = new Set(['findUnique', 'findUniqueOrThrow', 'update', 'upsert', 'delete'])
/** Prisma's "record not found". */
export const P2025 = 'P2025'

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

/** `{ set: v }`, Prisma's one update operation on a String column (exactly that key). */
export function isSetOp(v: unknown): v is { set: unknown } {
  return isObj(v) && Object.keys(v).length === 1 && 'set' in v
}

/** `{ set: v }` written to encrypted `field`: an operation, except in a Json column, where it is a JSON value. */
export function isFieldSetOp(field: FieldSpec, v: unknown): v is { set: unknown } {
  return field.storage !== 'json' && isSetOp(v)
}

/** The value an update writes to encrypted `field` (`{ set: v }` unwrapped where it is an operation). */
export function writtenValue(field: FieldSpec, v: unknown): unknown {
  return isFieldSetOp(field, v) ? v.set : v
}

export function mapItems(v: unknown, fn: (item: unknown) => unknown): unknown {
  return Array.isArray(v) ? v.map(fn) : fn(v)
}

export async function mapItemsAsync(v: unknown, fn: (item: unknown) => Promise<unknown>): Promise<unknown> {
  return Array.isArray(v) ? Promise.all(v.map(fn)) : fn(v)
}
