// The walk of what a call reads: its filters, sort and window (`where`, `orderBy`, `cursor`,
// `distinct`), and its shape (`select`, `include`, `omit`, `_count`) at any depth. It confines
// every relation that reaches a scoped model and returns the plan for the result: which columns
// rowcrypt added (removed again) and which rows to decrypt.
import type { ModelInfo } from '../config'
import { copyOf, isPlain, join, onlyKeys, TO_MANY_READ_KEYS, TO_ONE_READ_KEYS, unsupported, type Obj } from './grammar'
import { checkFieldList, checkOrderBy } from './order'
import { NESTED, type FilterMode } from './search'
import { confine, walkWhere, type Walk } from './where'

/** How to post-process the result of one model in a result tree. */
export interface ReadPlan {
  readonly info: ModelInfo
  /** Columns we added to the selection and remove from the result, in the order to remove them. */
  strip: readonly string[]
  readonly relations: Array<{ field: string; plan: ReadPlan }>
  /** The keys of an explicit `select` (after our additions); undefined for default selections. */
  selected?: string[]
  /**
   * A to-one row of a scoped model reached from an unscoped one: when it is another tenant's, it
   * reads as null, as if the shared row pointed at nothing (it may; the tenant cannot tell).
   */
  otherTenantIsNull?: boolean
}

/**
 * The filter and window of a read of `info`: `where` walked (confined to the tenant when `own`),
 * `orderBy`, `distinct` and `cursor` checked, the cursor confined too (Prisma finds a cursor row
 * with an unfiltered subquery, so another tenant's row would steer the page).
 */
export function walkReadArgs(w: Walk, info: ModelInfo, args: Obj, mode: FilterMode, path: string, own: boolean): void {
  const where = walkWhere(w, info, args.where, mode, join(path, 'where'))
  args.where = own ? confine(w, info, where) : where
  if (args.where === undefined) delete args.where
  checkOrderBy(w, info, args.orderBy, join(path, 'orderBy'))
  if (args.distinct !== undefined) checkFieldList(info, args.distinct, join(path, 'distinct'))
  if (args.cursor !== undefined) {
    const cursor = walkWhere(w, info, args.cursor, { top: false, unique: true }, join(path, 'cursor'))
    if (cursor !== undefined)
      for (const f of Object.keys(cursor)) if (info.spec?.fields.has(f)) throw unsupported(info.name, join(path, 'cursor'), `field ${f} is encrypted and cannot be used in cursor`)
    args.cursor = own && info.tenantColumn !== undefined && !w.scope.bypass ? { ...cursor, [info.tenantColumn]: w.scope.tenantId } : cursor
  }
}

/** Adds what decryption needs to the selection, confines relations, and plans the result. */
export function walkSelection(w: Walk, info: ModelInfo, args: Obj, path: string, fluent = path === '' && mayBeFluent(info, args)): ReadPlan {
  const plan: ReadPlan = { info, strip: NOTHING, relations: [] }
  const spec = info.spec
  // Prisma reads null as absent.
  for (const k of ['select', 'include', 'omit']) if (args[k] === null) delete args[k]
  if (args.select !== undefined && args.include !== undefined) throw unsupported(info.name, path, 'select and include cannot be combined')
  if (args.select !== undefined && args.omit !== undefined) throw unsupported(info.name, path, 'select and omit cannot be combined')
  if (isPlain(args.select)) {
    // Prisma refuses an empty selection too, but its error rendering fails on one that rowcrypt
    // has added columns to: refused here, with a code.
    if (!Object.values(args.select).some((v) => v)) throw unsupported(info.name, join(path, 'select'), 'a select must select at least one field')
    const select = copyOf(args.select)
    args.select = select
    const strip: string[] = []
    let readsEncrypted = false
    for (const [key, value] of Object.entries(select)) {
      const at = join(join(path, 'select'), key)
      if (key === '_count') select._count = walkCount(w, info, value, at)
      else if (info.relations.has(key)) select[key] = walkRelation(w, info, key, value, plan, at, fluent)
      else if (!info.scalars.has(key)) throw unsupported(info.name, at, 'not a field of this model')
      else if (value && spec?.fields.has(key)) readsEncrypted = true
    }
    if (info.tenantColumn !== undefined) {
      // The tenant column is always read, so every scoped row in a result can be checked.
      const needed = readsEncrypted ? info.plan.required : [info.tenantColumn]
      for (const col of needed) {
        if (!select[col]) {
          select[col] = true
          strip.push(col)
        }
      }
    }
    plan.selected = Object.keys(select).filter((k) => select[k])
    // A row's keys follow the select's order, where the added columns come last: last added first.
    plan.strip = strip.reverse()
    return plan
  }
  if (args.select !== undefined) throw unsupported(info.name, join(path, 'select'), 'select must be an object')
  if (args.omit !== undefined) {
    if (!isPlain(args.omit)) throw unsupported(info.name, join(path, 'omit'), 'omit must be an object')
    for (const key of Object.keys(args.omit)) if (!info.scalars.has(key)) throw unsupported(info.name, join(join(path, 'omit'), key), 'only scalar fields can be omitted')
  }
  if (info.tenantColumn !== undefined) {
    const read = args.omit === undefined ? defaultRead(info, w.scope.globallyOmitted(info.name)) : readWithOmit(info, w.scope.globallyOmitted(info.name), args.omit as Obj)
    plan.strip = read.strip
    if (read.omit !== undefined) args.omit = { ...read.omit }
  }
  if (args.include !== undefined) {
    if (!isPlain(args.include)) throw unsupported(info.name, join(path, 'include'), 'include must be an object')
    const include: Obj = { ...args.include }
    args.include = include
    for (const [key, value] of Object.entries(include)) {
      const at = join(join(path, 'include'), key)
      if (key === '_count') include._count = walkCount(w, info, value, at)
      else if (info.relations.has(key)) include[key] = walkRelation(w, info, key, value, plan, at, fluent)
      else throw unsupported(info.name, at, 'not a relation of this model')
    }
  }
  return plan
}

/**
 * Refuses now what the selection of `args` (`select`, `include`, `omit`, at any depth) would be
 * refused for when the call's result is read, leaving `args` as it is. A write that reads its row
 * first checks this before that read: an unsupported shape is refused before any statement, the
 * same whatever the data (in a batch, whichever item failed first would otherwise depend on the
 * timing of those reads).
 */
export function checkSelection(w: Walk, info: ModelInfo, args: Obj): void {
  walkSelection(w, info, { select: args.select, include: args.include, omit: args.omit }, '')
}

const NOTHING: readonly string[] = Object.freeze([])

/**
 * The columns a read of whole rows of `info` (no `select`, `include` or `omit`) removes from its
 * result, on a client whose default `omit` hides none of the model's columns; undefined when such
 * a read must also send an `omit`.
 */
export function wholeRowStrip(info: ModelInfo): readonly string[] | undefined {
  if (info.tenantColumn === undefined) return NOTHING
  const read = readWithOmit(info, new Set(), undefined)
  return read.omit === undefined ? Object.freeze(read.strip) : undefined
}

/** What a read without `select` adds to the call: the `omit` it sends, and the columns to remove. */
interface DefaultRead {
  readonly strip: readonly string[]
  readonly omit: Readonly<Obj> | undefined
}

// The read of a model without `select` or `omit` depends only on the model and the client's
// default omit (one set per client and model): kept for the last such pair of each model, so that
// the common call plans nothing.
const DEFAULT_READS = new WeakMap<ModelInfo, { hidden: ReadonlySet<string> | undefined; read: DefaultRead }>()
function defaultRead(info: ModelInfo, hidden: ReadonlySet<string> | undefined): DefaultRead {
  const held = DEFAULT_READS.get(info)
  if (held !== undefined && held.hidden === hidden) return held.read
  const made = readWithOmit(info, hidden, undefined)
  const read = { strip: Object.freeze(made.strip), omit: made.omit === undefined ? undefined : Object.freeze(made.omit) }
  DEFAULT_READS.set(info, { hidden, read })
  return read
}

/**
 * The columns decryption needs are un-hidden where the call's `omit` (`given`) or the client's
 * default one (`hidden`) hides them, and removed from the result again; when the client's default
 * cannot be known, they are un-hidden anyway. An `omit` Prisma need not process is cheaper for it.
 * rowcrypt's own columns reach the caller only when the call asks (`omit: { column: false }`).
 */
function readWithOmit(info: ModelInfo, hidden: ReadonlySet<string> | undefined, given: Obj | undefined): DefaultRead {
  const mine = info.plan.hidden
  const strip: string[] = []
  let omit: Obj | undefined
  for (const col of info.plan.required) {
    // An id hidden only by the client's default stays: it names the row in audit events.
    const keep = mine.includes(col) ? given?.[col] === false : !hiddenFromCaller(given, hidden, col) || (col === info.spec?.idField && !given?.[col])
    if (!keep) strip.push(col)
    if (given?.[col] || hidden === undefined || hidden.has(col)) (omit ??= { ...given })[col] = false
  }
  // Blind-index columns decryption does not need are not read at all.
  for (const col of mine) if (given?.[col] === undefined && !info.plan.required.includes(col)) (omit ??= { ...given })[col] = true
  return { strip: lastFirst(info, strip), omit }
}

/**
 * The columns to remove in the reverse of the model's order, the order of a row's keys without a
 * select: V8 removes an object's last property in place, while removing another one turns the
 * object into a slower dictionary (each row's removal about ten times as costly, and later reads).
 */
function lastFirst(info: ModelInfo, strip: string[]): string[] {
  if (strip.length > 1) {
    const order = fieldOrder(info)
    strip.sort((a, b) => (order.get(b) ?? 0) - (order.get(a) ?? 0))
  }
  return strip
}

// Each scalar field's position in its model, made once per model.
const FIELD_ORDER = new WeakMap<ModelInfo, ReadonlyMap<string, number>>()
function fieldOrder(info: ModelInfo): ReadonlyMap<string, number> {
  let order = FIELD_ORDER.get(info)
  if (order === undefined) FIELD_ORDER.set(info, (order = new Map([...info.scalars.keys()].map((k, i) => [k, i]))))
  return order
}

function walkRelation(w: Walk, parent: ModelInfo, field: string, value: unknown, parentPlan: ReadPlan, path: string, fluent: boolean): unknown {
  const rel = parent.relations.get(field)!
  const target = w.table.get(rel.target)!
  if (!target.reachesScoped || value === false || value === undefined) return value
  if (value !== true && !isPlain(value)) throw unsupported(parent.name, path, 'a relation is selected with true or an object')
  if (target.tenantColumn !== undefined) w.scope.require(target.name)
  const sub: Obj = value === true ? {} : { ...value }
  onlyKeys(parent.name, sub, rel.isList ? TO_MANY_READ_KEYS : TO_ONE_READ_KEYS, path)
  if (rel.isList) walkReadArgs(w, target, sub, NESTED, path, true)
  const otherTenantIsNull = !rel.isList && target.tenantColumn !== undefined && parent.tenantColumn === undefined && !w.scope.bypass
  if (otherTenantIsNull && fluent && selectsRelations(target, sub)) {
    // The fluent API (`team.findFirst().owner().posts()`) selects one relation at the top and returns
    // only the last level of the chain: a row of another tenant in between, which must read as
    // none, would not be in the result to check. A call of that shape cannot be told from a
    // fluent one, so it is refused whatever the data.
    throw unsupported(parent.name, path, `relations under ${field} in a select of ${field} alone: select another field beside it, or use include`)
  }
  const plan = walkSelection(w, target, sub, path, fluent)
  if (otherTenantIsNull) plan.otherTenantIsNull = true
  parentPlan.relations.push({ field, plan })
  return Object.keys(sub).length > 0 ? sub : true
}

/** A top-level `select` of one relation alone: the shape of the fluent API's calls. */
function mayBeFluent(info: ModelInfo, args: Obj): boolean {
  const select = args.select
  if (!isPlain(select)) return false
  const keys = Object.keys(select).filter((k) => select[k])
  return keys.length === 1 && info.relations.has(keys[0]!)
}

/** True when the arguments of a relation select or include relations of `info`. */
function selectsRelations(info: ModelInfo, args: Obj): boolean {
  for (const shape of [args.select, args.include]) {
    if (isPlain(shape) && Object.keys(shape).some((k) => shape[k] && info.relations.has(k))) return true
  }
  return false
}

/** Relation counts (`_count`): counts of relations into scoped models only count the tenant's rows. */
function walkCount(w: Walk, info: ModelInfo, value: unknown, path: string): unknown {
  if (value === false || value === undefined) return value
  if (value !== true && !(isPlain(value) && Object.keys(value).every((k) => k === 'select') && isPlain(value.select))) {
    throw unsupported(info.name, path, '_count is true or { select: { relation: true | { where } } }')
  }
  const select: Obj = value === true ? Object.fromEntries(info.plan.listRelations.map((n) => [n, true])) : { ...(value.select as Obj) }
  for (const [name, v] of Object.entries(select)) {
    const at = join(join(path, 'select'), name)
    const rel = info.relations.get(name)
    if (rel === undefined || !rel.isList) throw unsupported(info.name, at, 'only to-many relations can be counted')
    const target = w.table.get(rel.target)!
    if (!v || !target.reachesScoped) continue
    if (v !== true && !(isPlain(v) && Object.keys(v).every((k) => k === 'where'))) throw unsupported(info.name, at, 'a relation count takes true or { where }')
    if (target.tenantColumn !== undefined) w.scope.require(target.name)
    const where = confine(w, target, walkWhere(w, target, v === true ? undefined : v.where, NESTED, join(at, 'where')))
    select[name] = Object.keys(where).length > 0 ? { where } : true
  }
  return { select }
}

/**
 * True when the caller does not get `col` in full-row results: the call's `omit` hides it (any
 * truthy value, as Prisma reads it), or the client's default `omit` does and the call does not
 * show it again.
 */
export function hiddenFromCaller(given: Obj | undefined, hidden: ReadonlySet<string> | undefined, col: string): boolean {
  const mine = given?.[col]
  return mine ? true : mine === undefined && hidden?.has(col) === true
}
