// The wrapped keys of rows this client recently read or wrote (Engine.knownKeys): remembered on
// every decryption, looked up by an update that names its row by id alone.
import type { ModelSpec } from '../../fields/spec'
import type { ModelInfo } from '../config'
import { Recent } from '../recent'
import type { Scope } from '../scope'
import { bytesEqual } from '../../crypto/bytes'
import { isObj, type Engine, type KnownKey, type Obj } from './context'

const KNOWN_KEYS_MAX = 10_000
// Rows of one call whose keys are remembered: a large scan (an export) must not push the rows an
// application is working on out of the memory, nor pay to remember thousands it will not update.
export const KNOWN_KEYS_PER_CALL = 1_000

/**
 * An empty, bounded memory of row keys, for a new engine. Keyed by the row id alone (no key
 * string to build per row); each entry names its model and tenant, and is used only for those.
 * Rows of two models or tenants with one id share an entry: the other one's update reads its key.
 */
export function newKnownKeys(): Recent<unknown, KnownKey> {
  return new Recent<unknown, KnownKey>(KNOWN_KEYS_MAX)
}

export function rememberKey(engine: Engine, spec: ModelSpec, tenantId: string, row: Obj): void {
  const id = spec.idField === undefined ? undefined : row[spec.idField]
  const wrappedDek = row[spec.columns.wrappedDek]
  const keyVersion = row[spec.columns.keyVersion]
  if (id == null || typeof id === 'object' || !(wrappedDek instanceof Uint8Array) || typeof keyVersion !== 'string') return
  // A row read again with the same key: nothing to write (the common case of repeated reads).
  const held = engine.knownKeys.recent(id)
  if (held !== undefined && held.spec === spec && held.tenantId === tenantId && held.keyVersion === keyVersion && bytesEqual(held.wrappedDek, wrappedDek)) return
  engine.knownKeys.set(id, { spec, tenantId, wrappedDek, keyVersion })
}

/** `rememberKey` for a row a call read: the first KNOWN_KEYS_PER_CALL rows of the call, none in a bypass. */
export function rememberReadKey(engine: Engine, spec: ModelSpec, tenantId: string, row: Obj, scope: Scope): void {
  if (scope.bypass || scope.keysRemembered >= KNOWN_KEYS_PER_CALL) return
  scope.keysRemembered++
  rememberKey(engine, spec, tenantId, row)
}

/** Forgets the key remembered for the row with id `id` (it proved stale). */
export function forgetKey(engine: Engine, spec: ModelSpec, tenantId: string, id: unknown): void {
  const held = engine.knownKeys.get(id)
  if (held !== undefined && held.spec === spec && held.tenantId === tenantId) engine.knownKeys.delete(id)
}

/** The sidecar columns of the row an update names by its id alone, if this client knows them. */
export function knownRow(engine: Engine, info: ModelInfo, where: unknown, scope: Scope): Obj | undefined {
  const spec = info.spec
  if (spec?.idField === undefined || scope.bypass || spec.migrating || !isObj(where)) return undefined
  const keys = Object.keys(where)
  if (keys.length !== 1 || keys[0] !== spec.idField) return undefined
  const id = where[spec.idField]
  if (id == null || typeof id === 'object' || scope.tenantId === undefined) return undefined
  return knownKeyOf(engine, spec, scope.tenantId, id)
}

/** The sidecar columns of row `id` of `spec` and `tenantId` (its id included), if this client knows them. */
export function knownKeyOf(engine: Engine, spec: ModelSpec, tenantId: string, id: unknown): Obj | undefined {
  const entry = engine.knownKeys.get(id)
  if (entry === undefined || entry.spec !== spec || entry.tenantId !== tenantId) return undefined
  const c = spec.columns
  return { [c.wrappedDek]: entry.wrappedDek, [c.keyVersion]: entry.keyVersion, [c.tenantId]: tenantId, [spec.idField!]: id }
}
