// The read half of the query path: the selection decryption needs is added to a call, the call
// runs, and every scoped row of the result tree is checked for its tenant and decrypted in place.
import { TenantMismatchError, UnsupportedQueryError } from '../../errors'
import { isLegacyPlaintextRow, type RowKey } from '../../fields/row'
import type { FieldSpec, ModelSpec } from '../../fields/spec'
import { notePlaintextRow } from '../../metrics/observer'
import type { ModelInfo } from '../config'
import type { Scope } from '../scope'
import { walkSelection, type ReadPlan } from '../walk/read'
import { isObj, type Engine, type Obj, type Query } from './context'
import { rememberReadKey } from './known-keys'
import { takeWritten } from './written'

/**
 * Adds what decryption needs to the selection, runs the query and decrypts the result tree.
 * `fluent`, when given, is told whether the result is a fluent call's related rows.
 */
export function run(engine: Engine, info: ModelInfo, args: Obj, query: Query, scope: Scope, fluent?: { returned: boolean }): Promise<unknown> {
  let plan: ReadPlan
  try {
    plan = walkSelection({ table: engine.table, scope }, info, args, '')
  } catch (e) {
    return Promise.reject(e)
  }
  // One promise for the common read: rows whose keys unwrap synchronously are decrypted in the
  // query's own continuation.
  return query(args).then((result) => {
    const matched = planForResult(plan, result)
    if (fluent !== undefined) fluent.returned = matched !== plan
    // The fluent API's to-one row (`team.findUnique(...).owner()`) of another tenant: none.
    if (matched.otherTenantIsNull === true && isOtherTenants(matched.info, result, scope)) return null
    const pending = decryptTreeNow(engine, matched, result, scope)
    return pending === undefined ? result : pending.then(() => result)
  })
}

/** Decrypts every scoped row of a result tree in place, then removes the columns we added. */
export async function decryptTree(engine: Engine, plan: ReadPlan, result: unknown, scope: Scope): Promise<void> {
  await decryptTreeNow(engine, plan, result, scope)
}

/**
 * `decryptTree`, done by the time it returns when every row's key unwraps synchronously
 * (undefined); otherwise a promise of the rest.
 */
function decryptTreeNow(engine: Engine, plan: ReadPlan, result: unknown, scope: Scope): Promise<void> | undefined {
  // Walk (and check tenants) first, then decrypt: a check failing mid-walk must not leave
  // decryptions running with nobody awaiting them.
  // One flat list of pairs (plan, row): no array per row.
  const visited: Array<ReadPlan | Obj> = []
  collect(plan, result, scope, visited)
  const pending: Array<Promise<void>> = []
  // A failure is thrown once every decryption already started has settled.
  const settle = (e: unknown): Promise<never> =>
    Promise.allSettled(pending).then(() => {
      throw e
    })
  let resumed: Promise<void> | undefined
  try {
    resumed = decryptFrom(engine, visited, 0, scope, pending, true)
  } catch (e) {
    if (pending.length === 0) throw e
    return settle(e)
  }
  if (resumed === undefined && pending.length === 0) {
    strip(visited)
    return undefined
  }
  const rest = resumed === undefined ? Promise.all(pending) : resumed.then(() => Promise.all(pending), settle)
  return rest.then(() => strip(visited))
}

/**
 * Decrypts the rows of `visited` from pair `from` on, adding to `pending` the promise of each row
 * whose key must be unwrapped asynchronously. When `mayWait`, the first such row whose key the
 * provider can make synchronous (a tenant key to load: `prepareRowKey`) stops the walk instead,
 * which resumes from that row once the key is loaded: the rows after it then need no promise
 * each. At most one wait per call. Returns the resumed walk's promise, or undefined when done.
 */
function decryptFrom(engine: Engine, visited: Array<ReadPlan | Obj>, from: number, scope: Scope, pending: Array<Promise<void>>, mayWait: boolean): Promise<void> | undefined {
  for (let i = from; i < visited.length; i += 2) {
    const { info } = visited[i] as ReadPlan
    const spec = info.spec
    const row = visited[i + 1] as Obj
    // Rows of encrypted models (which are scoped) holding at least one value.
    if (spec === undefined || info.tenantColumn === undefined || !hasEncryptedValue(spec, row)) continue
    const p = decryptRow(engine, spec, row, scope, mayWait)
    if (p === undefined) continue
    if ('ready' in p) {
      // The rows already decrypting are awaited only after the wait: their failures are marked
      // handled now (they are thrown then), or one during the wait would be an unhandled rejection.
      for (const q of pending) q.catch(ignore)
      return p.ready.then(() => decryptFrom(engine, visited, i, scope, pending, false))
    }
    pending.push(p)
  }
  return undefined
}

function ignore(): void {}

function strip(visited: Array<ReadPlan | Obj>): void {
  for (let i = 0; i < visited.length; i += 2) stripRow((visited[i] as ReadPlan).strip, visited[i + 1] as Obj)
}

/** Removes the columns rowcrypt added to a row's selection (`ReadPlan.strip`, in its order). */
export function stripRow(columns: readonly string[], row: Obj): void {
  for (const col of columns) delete row[col]
}

// Lists the scoped rows of the tree as (plan, row) pairs, checking each row's tenant.
function collect(plan: ReadPlan, value: unknown, scope: Scope, visited: Array<ReadPlan | Obj>): void {
  if (value === null || value === undefined) return
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) collect(plan, value[i], scope, visited)
    return
  }
  if (!isObj(value)) return
  checkRowTenant(plan.info, value, scope)
  visited.push(plan, value)
  for (const { field, plan: sub } of plan.relations) {
    const v = value[field]
    if (sub.otherTenantIsNull === true && isOtherTenants(sub.info, v, scope)) value[field] = null
    else collect(sub, v, scope, visited)
  }
}

/**
 * Defence in depth: a scoped row of another tenant never reaches the caller. rowcrypt always reads
 * the tenant column, so a row without it was hidden by something else (an extension after
 * rowcrypt, a client default omit rowcrypt could not see): it fails closed too.
 */
export function checkRowTenant(info: ModelInfo, row: Obj, scope: Scope): void {
  const col = info.tenantColumn
  if (col === undefined || scope.bypass) return
  const rowTenant = row[col]
  if (rowTenant === scope.tenantId) return
  if (rowTenant === undefined) throw new TenantMismatchError(`model ${info.name}: a row came back without its tenant column ${col}, so its tenant cannot be checked`)
  throw new TenantMismatchError(`model ${info.name}: a row of another tenant was reached through a relation`)
}

/**
 * Decrypts one row in place; a promise only when its key needs an asynchronous unwrap, or, when
 * `mayWait`, `{ ready }` when it would once the provider has loaded what it lacks (the row is
 * then left as it is, to be decrypted again after `ready`).
 */
function decryptRow(engine: Engine, spec: ModelSpec, row: Obj, scope: Scope, mayWait: boolean): Promise<void> | { ready: Promise<void> } | undefined {
  if (isLegacyPlaintextRow(spec, row)) {
    notePlaintextRow(scope.stats, row[spec.idField!])
    return undefined
  }
  const tenantId = scope.bypass ? (row[spec.columns.tenantId] as string) : (scope.tenantId as string)
  // Values this call just encrypted come back as the plaintext the caller gave.
  const rest = scope.written === undefined ? undefined : takeWritten(spec, row, tenantId, scope.written)
  if (rest !== undefined && rest.length === 0) {
    scope.stats.rowsDecrypted++
    rememberReadKey(engine, spec, tenantId, row, scope)
    return undefined
  }
  const lent = scope.lent
  if (lent !== undefined && lent.isKeyOf(spec, row, tenantId)) {
    decryptWith(engine, lent, row, tenantId, rest, scope, false)
    return undefined
  }
  const key = engine.rle.openRowKeySync(spec, row, tenantId)
  if (key !== undefined) {
    decryptWith(engine, key, row, tenantId, rest, scope)
    return undefined
  }
  // A row with values takeWritten put back is not walked again (they would no longer match).
  const ready = mayWait && rest === undefined ? engine.rle.prepareRowKey(spec, row, tenantId) : undefined
  if (ready !== undefined) return { ready }
  return engine.rle.openRowKey(spec, row, tenantId).then((k) => decryptWith(engine, k, row, tenantId, rest, scope))
}

/** Decrypts `fields` of `row` (all its encrypted fields when undefined) and disposes of the key (unless lent). */
function decryptWith(engine: Engine, key: RowKey, row: Obj, tenantId: string, fields: FieldSpec[] | undefined, scope: Scope, dispose = true): void {
  try {
    if (fields === undefined) key.decryptInto(row, row)
    else for (const f of fields) row[f.name] = key.decryptValue(f, row[f.name])
    scope.stats.rowsDecrypted++
    rememberReadKey(engine, key.spec, tenantId, row, scope)
  } finally {
    if (dispose) key.dispose()
  }
}

/**
 * The plan that matches what `query` returned. Prisma's fluent API
 * (`prisma.user.findUnique(...).posts()`) selects one relation and returns that relation's rows
 * instead of the parent row, so a result that lacks the keys the plan selected is matched against
 * the plan of its single selected relation, level by level. Anything else is refused, never
 * returned undecrypted.
 */
export function planForResult(plan: ReadPlan, result: unknown): ReadPlan {
  let current = plan
  for (;;) {
    const sample = Array.isArray(result) ? result[0] : result
    if (!isObj(sample) || current.selected === undefined) return current
    if (current.selected.every((k) => k in sample)) return current
    if (current.relations.length !== 1) {
      throw new UnsupportedQueryError(`model ${current.info.name}: the query returned rows of an unexpected shape`)
    }
    current = current.relations[0]!.plan
  }
}

/** A scoped row of another tenant than the call's (or without its tenant column). */
export function isOtherTenants(info: ModelInfo, row: unknown, scope: Scope): boolean {
  return isObj(row) && !scope.bypass && row[info.tenantColumn!] !== scope.tenantId
}

/** True when `row` holds a value (not null) of at least one encrypted field. */
export function hasEncryptedValue(spec: ModelSpec, row: Obj): boolean {
  const fields = spec.fieldList
  for (let i = 0; i < fields.length; i++) {
    const v = row[fields[i]!.name]
    if (v !== null && v !== undefined) return true
  }
  return false
}
