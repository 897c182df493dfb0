// Blind indexes on the query path: the tenant's index keys opened for a call that may search,
// index values written beside new ciphertexts, and the rows a search returned re-checked on their
// decrypted values (a truncated index's false positives dropped). The rewriting of the searches
// themselves is in walk/search.ts.
import { DecryptionError, RecordNotFoundError, UnsupportedQueryError } from '../../errors'
import type { IndexSession } from '../../fields/blind-index'
import type { ModelSpec } from '../../fields/spec'
import { selectOf, type ModelInfo } from '../config'
import type { QueryIO } from '../query'
import type { Scope } from '../scope'
import { isObj, UNIQUE_WHERE, type Engine, type Obj, type Query } from './context'
import { andWhere } from '../walk/grammar'
import { decryptTree, run } from './decrypt'

/**
 * Per model, the names of the searchable fields of every model its relations reach (itself
 * included); models that reach none are left out.
 */
export function searchableFields(table: ReadonlyMap<string, ModelInfo>): Map<string, ReadonlySet<string>> {
  const searchable = new Map<string, ReadonlySet<string>>()
  for (const start of table.values()) {
    const names = new Set<string>()
    const seen = new Set([start.name])
    const queue = [start]
    for (let m = queue.pop(); m !== undefined; m = queue.pop()) {
      for (const f of m.spec?.indexed ?? []) names.add(f.name)
      for (const r of m.relations.values()) {
        const target = table.get(r.target)
        if (target !== undefined && !seen.has(target.name)) {
          seen.add(target.name)
          queue.push(target)
        }
      }
    }
    if (names.size > 0) searchable.set(start.name, names)
  }
  return searchable
}

/**
 * The opening of the tenant's index keys for a call on `model` that may search a searchable
 * field; undefined (nothing to wait for) when it cannot.
 */
export function openIndexSession(engine: Engine, model: string, rawArgs: unknown, scope: Scope): Promise<IndexSession> | undefined {
  const searchable = engine.searchable.get(model)
  if (searchable === undefined || engine.rle.indexes === undefined || scope.tenantId === undefined || !mentions(rawArgs, searchable, 0)) return undefined
  return engine.rle.indexes.session(scope.tenantId)
}

/** True when some key of `v`, at any depth, is in `names` (a call that may search a searchable field). */
function mentions(v: unknown, names: ReadonlySet<string>, depth: number): boolean {
  if (depth > 64 || typeof v !== 'object' || v === null || v instanceof Uint8Array) return false
  if (Array.isArray(v)) return v.some((x) => mentions(x, names, depth + 1))
  for (const [k, x] of Object.entries(v)) {
    if (names.has(k) || mentions(x, names, depth + 1)) return true
  }
  return false
}

/** Sets the index columns of the searchable fields written in `values` (active key version). */
export async function indexInto(engine: Engine, spec: ModelSpec, tenantId: string, values: Obj, target: Obj, scope: Scope): Promise<void> {
  if (spec.indexed.length === 0 || !spec.indexed.some((f) => values[f.name] !== undefined)) return
  // The call's own session, when it is this tenant's (the usual case); else one for this row.
  if (scope.idx?.tenantId === tenantId) return scope.idx.indexInto(spec, values, target)
  const session = await engine.rle.indexes!.session(tenantId, [engine.rle.indexes!.keyVersion])
  try {
    session.indexInto(spec, values, target)
  } finally {
    session.dispose()
  }
}

/**
 * True when a decrypted row meets every re-checked condition of the call; false for a
 * truncated index's false positive. A row failing an untruncated index's condition has an index
 * value that is not its own (written around rowcrypt): an integrity failure, never returned.
 */
function meetsRechecks(spec: ModelSpec, row: Obj, scope: Scope): boolean {
  let meets = true
  for (const r of scope.rechecks) {
    const v = row[r.field.name]
    if (typeof v === 'string' && r.accept.has(r.field.index!.normalize(v))) continue
    if (r.strict) {
      const id = spec.idField === undefined ? undefined : row[spec.idField]
      throw new DecryptionError({ model: spec.name, field: r.field.index!.column, tenantId: scope.tenantId!, ...(id != null ? { rowId: String(id) } : {}) })
    }
    meets = false
  }
  return meets
}

/**
 * A read whose `where` has re-checked conditions: rows are checked on their decrypted values.
 * With a truncated index and a limited result (findFirst, take), the matching ids are found
 * first among all candidates (in the call's order), then the call reads exactly those.
 */
export async function runRechecked(engine: Engine, info: ModelInfo, operation: string, args: Obj, query: Query, io: QueryIO, scope: Scope): Promise<unknown> {
  const spec = info.spec!
  const id = spec.idField
  const single = operation !== 'findMany'
  const truncated = scope.rechecks.some((r) => !r.strict)
  let a: Obj = { ...args }
  if (truncated) {
    for (const option of ['skip', 'cursor', 'distinct']) {
      // Candidates the database skipped or folded away were never re-checked.
      if (args[option] !== undefined) throw new UnsupportedQueryError(`model ${info.name}: a search through a truncated index does not take ${option}`)
    }
    if (single || args.take !== undefined) a = { ...a, where: andWhere(a.where as Obj, { [id!]: { in: await matchingIds(engine, info, a, io, scope) } }) }
  }
  const fields = [...new Set(scope.rechecks.map((r) => r.field.name))]
  const added = ensureSelected(a, [...fields, ...(id === undefined ? [] : [id])])
  const fluent = { returned: false }
  const result = await run(engine, info, a, query, scope, fluent)
  // A single-row read that returns a list is the fluent API's to-many relation (even when empty).
  if (fluent.returned || (single && Array.isArray(result))) {
    // The fluent API returned the related rows, not the row the conditions are about: that row
    // is re-checked by a read of its own (a truncated index has already narrowed it to matches).
    const select = selectOf([...info.plan.required, ...fields])
    const parents = UNIQUE_WHERE.has(operation) ? [await io.readUnique(info.name, a.where as Obj, select)].filter((r): r is Obj => r !== null) : await io.readMany(info.name, a.where as Obj, select)
    await decryptTree(engine, { info, strip: [], relations: [] }, parents, scope)
    for (const p of parents) meetsRechecks(spec, p, scope)
    return result
  }
  const rows = (single ? (result === null ? [] : [result]) : (result as Obj[])) as Obj[]
  const kept = rows.filter((r) => meetsRechecks(spec, r, scope))
  for (const r of rows) for (const f of added) delete r[f]
  if (kept.length === rows.length) return result
  if (single && operation.endsWith('OrThrow')) throw new RecordNotFoundError(`model ${info.name}: no row of the current tenant matches`, { modelName: info.name })
  return single ? null : kept
}

/**
 * The ids, in the call's order, of the rows `args.where` matches whose decrypted values meet the
 * re-checked conditions (the candidates of a truncated index).
 */
async function matchingIds(engine: Engine, info: ModelInfo, args: Obj, io: QueryIO, scope: Scope): Promise<unknown[]> {
  const spec = info.spec!
  const id = spec.idField
  if (id === undefined) throw new UnsupportedQueryError(`model ${info.name}: a truncated index needs a single-column id`)
  const fields = [...new Set(scope.rechecks.map((r) => r.field.name))]
  const rows = await io.readMany(info.name, args.where as Obj, selectOf([...info.plan.required, ...fields]), args.orderBy)
  await decryptTree(engine, { info, strip: [], relations: [] }, rows, scope)
  return rows.filter((r) => meetsRechecks(spec, r, scope)).map((r) => r[id])
}

/** updateMany / deleteMany through a truncated index: only the re-checked rows. */
export async function narrowToMatches(engine: Engine, info: ModelInfo, args: Obj, io: QueryIO, scope: Scope): Promise<void> {
  const ids = await matchingIds(engine, info, args, io, scope)
  args.where = andWhere(args.where as Obj, { [info.spec!.idField!]: { in: ids } })
}

/** count through a truncated index: the re-checked candidates are counted here. */
export async function countMatches(engine: Engine, info: ModelInfo, args: Obj, io: QueryIO, scope: Scope): Promise<number> {
  for (const option of ['select', 'take', 'skip', 'cursor', 'orderBy']) {
    if (args[option] !== undefined) throw new UnsupportedQueryError(`model ${info.name}: count through a truncated index does not take ${option}`)
  }
  return (await matchingIds(engine, info, args, io, scope)).length
}

/** Adds `fields` to an explicit `select` (or removes them from `omit`); returns those it added. */
function ensureSelected(args: Obj, fields: string[]): string[] {
  const added: string[] = []
  if (isObj(args.select)) {
    const select = { ...args.select }
    for (const f of fields)
      if (!select[f]) {
        select[f] = true
        added.push(f)
      }
    args.select = select
  } else if (isObj(args.omit)) {
    const omit = { ...args.omit }
    for (const f of fields)
      if (omit[f]) {
        omit[f] = false
        added.push(f)
      }
    args.omit = omit
  }
  return added
}
