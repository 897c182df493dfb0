// The wrapped keys of rows this client recently read or wrote (Engine.knownKeys): remembered on
// every decryption, looked up by an update that names its row by id alone.
import type { ModelSpec } from '../../fields/spec'
import type { ModelInfo } from '../config'
import { Recent } from '../recent'
import type { Scope } from '../scope'
import { isObj, type Engine, type KnownKey, type Obj } from './context'

const KNOWN_KEYS_MAX = 10_000

/** An empty, bounded memory of row keys, for a new engine. */
export function newKnownKeys(): Recent<string, KnownKey> {
  return new Recent<string, KnownKey>(KNOWN_KEYS_MAX)
}

function knownKeyId(spec: ModelSpec, tenantId: string, id: unknown): string {
  return `${spec.name}\u0000${tenantId}\u0000${String(id)}`
}

export function rememberKey(engine: Engine, spec: ModelSpec, tenantId: string, row: Obj): void {
  const id = spec.idField === undefined ? undefined : row[spec.idField]
  const wrappedDek = row[spec.columns.wrappedDek]
  const keyVersion = row[spec.columns.keyVersion]
  if (id == null || !(wrappedDek instanceof Uint8Array) || typeof keyVersion !== 'string') return
  engine.knownKeys.set(knownKeyId(spec, tenantId, id), { wrappedDek, keyVersion })
}

/** Forgets the key remembered for the row with id `id` (it proved stale). */
export function forgetKey(engine: Engine, spec: ModelSpec, tenantId: string, id: unknown): void {
  engine.knownKeys.delete(knownKeyId(spec, tenantId, id))
}

/** The sidecar columns of the row an update names by its id alone, if this client knows them. */
export function knownRow(engine: Engine, info: ModelInfo, where: unknown, scope: Scope): Obj | undefined {
  const spec = info.spec
  if (spec?.idField === undefined || scope.bypass || spec.migrating || !isObj(where)) return undefined
  const keys = Object.keys(where)
  if (keys.length !== 1 || keys[0] !== spec.idField) return undefined
  const id = where[spec.idField]
  if (id == null || typeof id === 'object') return undefined
  const entry = engine.knownKeys.get(knownKeyId(spec, scope.tenantId!, id))
  if (entry === undefined) return undefined
  const c = spec.columns
  return { [c.wrappedDek]: entry.wrappedDek, [c.keyVersion]: entry.keyVersion, [c.tenantId]: scope.tenantId, [spec.idField]: id }
}
