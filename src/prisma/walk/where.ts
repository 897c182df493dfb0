// The walk of a `where` (and of every filter inside reads and nested writes). Each key is
// understood against the schema or refused; each relation filter that reaches a tenant-scoped
// model is confined to the tenant, null forms included, so that another tenant's rows neither
// match nor stop a match.
import type { ModelInfo, RelationInfo } from '../config'
import type { Scope } from '../scope'
import { AGGREGATE_KEYS, andWhere, copyOf, fieldRefOf, isKnownValue, isPlain, join, SCALAR_FILTER_KEYS, toArray, unsupported, type Obj } from './grammar'
import { NESTED, searchCondition, type FilterMode } from './search'

/** What a walk needs: the per-model table and the call's scope. */
export interface Walk {
  readonly table: ReadonlyMap<string, ModelInfo>
  readonly scope: Scope
}

const LOGICAL = new Set(['AND', 'OR', 'NOT'])
const TO_MANY_FILTERS = new Set(['some', 'every', 'none'])

/**
 * Walks `where` of model `info` and returns it checked and rewritten: searchable fields onto their
 * index columns, relation filters into scoped models confined. The model's own tenant condition
 * is not added here (see {@link confine}). `having` (groupBy) is walked with `having: true`.
 */
export function walkWhere(w: Walk, info: ModelInfo, where: unknown, mode: FilterMode, path: string, having = false): Obj | undefined {
  if (where === undefined) return undefined
  if (!isPlain(where)) throw unsupported(info.name, path, 'a filter must be an object')
  if (!info.reachesScoped) return where
  const out: Obj = {}
  const extra: Obj[] = []
  for (const [key, value] of Object.entries(where)) {
    if (value === undefined) continue
    const at = join(path, key)
    if (LOGICAL.has(key)) {
      const sub: FilterMode = { top: mode.top && key === 'AND', unique: false, operation: mode.operation }
      if (Array.isArray(value)) out[key] = value.map((x, i) => walkWhere(w, info, x, sub, join(at, i), having))
      else out[key] = walkWhere(w, info, value, sub, at, having)
      continue
    }
    if (info.scalars.has(key)) {
      const field = info.spec?.fields.get(key)
      if (field !== undefined) {
        if (having) throw unsupported(info.name, at, `field ${key} is encrypted and cannot be used in having`)
        extra.push(...searchCondition(info, field, value, w.scope, mode, out))
      } else {
        checkScalarFilter(w, info, value, at, having)
        out[key] = value
      }
      continue
    }
    const rel = having ? undefined : info.relations.get(key)
    if (rel !== undefined) {
      relationFilter(w, info, key, rel, value, at, out, extra)
      continue
    }
    const compound = mode.unique ? info.compounds.get(key) : undefined
    if (compound !== undefined && isPlain(value)) {
      for (const [f, v] of Object.entries(value)) {
        if (!compound.includes(f)) throw unsupported(info.name, join(at, f), 'not a field of this unique input')
        if (info.spec?.fields.has(f)) throw unsupported(info.name, join(at, f), `field ${f} is encrypted and cannot be used in where`)
        checkScalarFilter(w, info, v, join(at, f), false)
      }
      out[key] = value
      continue
    }
    throw unsupported(info.name, at, 'this filter is not supported on tenant-scoped data')
  }
  if (extra.length > 0) out.AND = [...toArray(out.AND), ...extra]
  return out
}

/** `where` with the tenant condition of scoped model `info` (not inside an explicit bypass). */
export function confine(w: Walk, info: ModelInfo, where: Obj | undefined): Obj {
  const col = info.tenantColumn
  if (col === undefined || w.scope.bypass) return where ?? {}
  return withTenant(col, where ?? {}, w.scope.tenantId!)
}

/** `where` and the tenant condition on column `col`. */
export function withTenant(col: string, where: Obj, tenantId: string): Obj {
  // Unique wheres accept extra filters, so `{ id, tenantId }` still works for findUnique/update.
  if (col in where) return andWhere(where, { [col]: tenantId })
  const out = copyOf(where)
  out[col] = tenantId
  return out
}

// A scalar condition: a value, or an object of known operators (`not` nests). Values are Prisma's
// to check; field references must not name an encrypted field (the database would compare
// ciphertexts).
function checkScalarFilter(w: Walk, info: ModelInfo, value: unknown, path: string, having: boolean): void {
  checkValue(w, info, value, path)
  if (!isPlain(value)) {
    if (!Array.isArray(value) && !isKnownValue(value)) throw unsupported(info.name, path, 'a filter value of an unknown kind')
    return
  }
  for (const [op, v] of Object.entries(value)) {
    if (v === undefined) continue
    const at = join(path, op)
    if (having && AGGREGATE_KEYS.has(op)) checkScalarFilter(w, info, v, at, false)
    else if (!SCALAR_FILTER_KEYS.has(op)) throw unsupported(info.name, at, 'this filter operator is not supported on tenant-scoped data')
    else if (op === 'not') checkScalarFilter(w, info, v, at, having)
    else checkValue(w, info, v, at)
  }
}

function checkValue(w: Walk, info: ModelInfo, value: unknown, path: string): void {
  for (const v of Array.isArray(value) ? value : [value]) {
    const ref = fieldRefOf(v)
    if (ref !== undefined && w.table.get(ref.modelName)?.spec?.fields.has(ref.name)) {
      throw unsupported(info.name, path, `field ${ref.name} is encrypted and cannot be compared in the database`)
    }
  }
}

/**
 * A relation filter. Into a scoped model: `some` / `none` / `is` / `isNot` only look at the
 * tenant's rows, `every` holds for other tenants' rows, and the null forms ask about the tenant's
 * rows only (`is: null` = "no related row of the tenant"), so another tenant's row pointing at, or
 * pointed at by, a shared row cannot be told from no row at all.
 */
function relationFilter(w: Walk, info: ModelInfo, key: string, rel: RelationInfo, value: unknown, path: string, out: Obj, extra: Obj[]): void {
  const target = w.table.get(rel.target)!
  if (!target.reachesScoped) {
    out[key] = value
    return
  }
  if (target.tenantColumn !== undefined) w.scope.require(target.name)
  const sub = (x: unknown, at: string) => confine(w, target, walkWhere(w, target, x, NESTED, at))
  const scoped = target.tenantColumn !== undefined && !w.scope.bypass
  if (rel.isList) {
    if (!isPlain(value)) throw unsupported(info.name, path, 'a to-many relation filter must be an object of some, every or none')
    const next: Obj = {}
    for (const [f, x] of Object.entries(value)) {
      if (x === undefined) continue
      if (!TO_MANY_FILTERS.has(f)) throw unsupported(info.name, join(path, f), 'a to-many relation filter takes some, every or none')
      if (f !== 'every' || !scoped) next[f] = sub(x, join(path, f))
      else next[f] = { OR: [{ [target.tenantColumn!]: { not: w.scope.tenantId } }, walkWhere(w, target, x, NESTED, join(path, f)) ?? {}] }
    }
    out[key] = next
    return
  }
  // To-one: `{ is, isNot }`, or a where of the target (shorthand for `is`), or null (`is: null`).
  const form = isPlain(value) && Object.keys(value).length > 0 && Object.keys(value).every((f) => f === 'is' || f === 'isNot')
  const parts: Obj = value === null ? { is: null } : form ? (value as Obj) : { is: value }
  const next: Obj = {}
  for (const [f, x] of Object.entries(parts)) {
    if (x === undefined) continue
    if (x !== null) next[f] = sub(x, join(path, f))
    else if (!scoped) next[f] = null
    else if (f === 'isNot') extra.push({ [key]: { is: confine(w, target, undefined) } })
    else extra.push({ NOT: [{ [key]: { is: confine(w, target, undefined) } }] })
  }
  if (Object.keys(next).length > 0) out[key] = next
}
