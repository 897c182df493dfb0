// Writes of an existing row by its unique where (update, upsert). Encrypted values are written
// under the row's own key, read first, so the write is a compare-and-swap on that key: an update
// whose key changed in between is retried on a freshly read one.
import { RecordNotFoundError, TenantMismatchError } from '../../errors'
import type { ModelInfo } from '../config'
import type { QueryIO } from '../query'
import type { Scope } from '../scope'
import { checkData } from '../walk/data'
import { checkSelection, hiddenFromCaller } from '../walk/read'
import { andWhere, copyOf } from '../walk/grammar'
import { confine, walkWhere, type Walk } from '../walk/where'
import { bytesEqual } from '../../crypto/bytes'
import { isObj, P2025, writeContext, writtenValue, type Engine, type Obj, type Query } from './context'
import { run } from './decrypt'
import { checkUpdateData } from './encrypt'
import { runForeignKeyChecks } from './foreign-keys'
import { forgetKey, knownRow } from './known-keys'
import { newRow, updatedRow, updatedRowNow } from './write'

const CAS_ATTEMPTS = 3

/**
 * A compare-and-swap update that Prisma reported as done but did not apply (MySQL). Retried like
 * P2025; if retries run out the caller sees it as a coded `RecordNotFoundError`.
 */
export class CasMissedError extends RecordNotFoundError {}

export function update(engine: Engine, info: ModelInfo, args: Obj, query: Query, io: QueryIO, scope: Scope): Promise<unknown> {
  let attempts: Promise<unknown>
  try {
    attempts = attemptUpdates(engine, info, args, query, io, scope)
  } catch (e) {
    scope.release()
    return Promise.reject(e)
  }
  // The row key lent to the scope for the result (see attemptUpdates) is zeroed whatever happens.
  return attempts.finally(() => scope.release())
}

function attemptUpdates(engine: Engine, info: ModelInfo, args: Obj, query: Query, io: QueryIO, scope: Scope): Promise<unknown> {
  const w: Walk = { table: engine.table, scope }
  const where = walkWhere(w, info, args.where, { top: true, unique: true, operation: 'update' }, 'where')
  const known = knownRow(engine, info, where, scope)
  args.where = confine(w, info, where)
  checkData(w, info, args.data, 'update', 'data')
  checkUpdateData(info, args.data)
  checkSelection(w, info, args)
  const readFresh = (select: Obj) => io.readUnique(info.name, args.where as Obj, select)

  // Encrypted fields are written under the row's existing key, so it is read first (or taken from
  // a recent read of the same row). The write is a compare-and-swap on the wrapped key: if
  // rotation re-wrapped or re-keyed the row in between, or the remembered key is stale, the update
  // matches nothing and is retried on a freshly read key. An attempt on a remembered key with
  // nothing to wait for is one promise: the statement's.
  const attempt = (n: number): Promise<unknown> => {
    const fromMemory = known !== undefined && n === 1
    const readSelf = (select: Obj) => (fromMemory && Object.keys(select).every((k) => k in known) ? Promise.resolve(known) : readFresh(select))
    // The key the row's values are encrypted under is lent to the scope until the update returns:
    // it decrypts the result's other fields without a second unwrap.
    const ctx = writeContext(scope, io, true)
    const send = ({ data, cas }: { data: unknown; cas?: Obj }): Promise<unknown> => {
      const attemptArgs: Obj = { ...args, data, where: cas === undefined ? args.where : withCondition(args.where as Obj, cas) }
      const go = () =>
        (cas === undefined ? run(engine, info, attemptArgs, query, scope) : runChecked(engine, info, attemptArgs, data, query, scope)).catch((e: unknown) => retry(e, n, cas, fromMemory))
      const checks = runForeignKeyChecks(ctx)
      return checks === undefined ? go() : checks.then(go)
    }
    const now = fromMemory ? updatedRowNow(engine, info, args.data, known, ctx) : undefined
    return now !== undefined ? send(now) : updatedRow(engine, info, args.data, readSelf, ctx, 'throw').then(send)
  }
  const retry = async (e: unknown, n: number, cas: Obj | undefined, fromMemory: boolean): Promise<unknown> => {
    const casMissed = cas !== undefined && n < CAS_ATTEMPTS && !io.inBatch() && ((e as { code?: unknown })?.code === P2025 || e instanceof CasMissedError)
    if (casMissed && fromMemory) {
      forgetKey(engine, info.spec!, scope.tenantId!, known![info.spec!.idField!])
      return attempt(n + 1)
    }
    if (casMissed && (await keyChanged(info, readFresh, cas))) return attempt(n + 1)
    throw e
  }
  return attempt(1)
}

/**
 * An upsert. When the row is there, its update branch is a compare-and-swap on the row's key like
 * an update's. A missed one falls through to the create branch, so that branch is first made to
 * collide with the row (it gets the unique key the `where` names): it then fails with P2002
 * instead of adding a second row, and the upsert is retried on a freshly read key. Where no
 * collision can be guaranteed (the create sets another value of that key, or sets it through a
 * relation), the update branch goes without one, as Prisma's own upsert would.
 */
export async function upsert(engine: Engine, info: ModelInfo, args: Obj, query: Query, io: QueryIO, scope: Scope): Promise<unknown> {
  const w: Walk = { table: engine.table, scope }
  const where = walkWhere(w, info, args.where, { top: true, unique: true, operation: 'upsert' }, 'where')
  args.where = confine(w, info, where)
  checkData(w, info, args.create, 'create', 'create')
  checkData(w, info, args.update, 'update', 'update')
  checkUpdateData(info, args.update)
  checkSelection(w, info, args)
  const readSelf = (select: Obj) => io.readUnique(info.name, args.where as Obj, select)
  for (let attempt = 1; ; attempt++) {
    const ctx = writeContext(scope, io)
    const { data: update, cas, rowKey } = await updatedRow(engine, info, args.update, readSelf, ctx, 'guard')
    const key = rowKey === undefined ? undefined : collisionKey(info, where, args.create)
    const created = await newRow(engine, info, key === undefined ? args.create : { ...(args.create as Obj), ...key.set }, ctx)
    await runForeignKeyChecks(ctx)
    // Columns rowcrypt computes (a blind index) are compared once the create is encrypted.
    const colliding = key !== undefined && isObj(created) && key.pairs.every(([f, v]) => created[f] === v)
    const guard = cas ?? (colliding ? rowKey : undefined)
    const attemptArgs: Obj = { ...args, update, create: created, where: guard === undefined ? args.where : withCondition(args.where as Obj, guard) }
    let result: unknown
    try {
      result = colliding ? await runChecked(engine, info, attemptArgs, update, query, scope) : await run(engine, info, attemptArgs, query, scope)
    } catch (e) {
      const missed = colliding && attempt < CAS_ATTEMPTS && !io.inBatch() && ((e as { code?: unknown })?.code === 'P2002' || e instanceof CasMissedError)
      if (missed && (await keyChanged(info, readSelf, rowKey!))) continue
      throw e
    }
    if (result === null && info.tenantColumn !== undefined) {
      // Prisma returns null when `where` matched nothing here but `create` hit an existing id.
      throw new TenantMismatchError(`model ${info.name}: upsert matched no row of the current tenant and its create conflicts with an existing row`)
    }
    return result
  }
}

/**
 * The unique key an upsert's `where` names (the id, a unique field or a compound unique input) as
 * the create must hold it to collide with the existing row: `pairs` to compare once the create is
 * encrypted, `set` the values to add to a create that leaves them out. Undefined when a collision
 * cannot be guaranteed (another value given, or one set through a relation).
 */
function collisionKey(info: ModelInfo, where: Obj | undefined, create: unknown): { pairs: Array<[string, unknown]>; set: Obj } | undefined {
  if (where === undefined || !isObj(create)) return undefined
  const managed = new Set([...info.plan.createManaged, ...(info.tenantColumn === undefined ? [] : [info.tenantColumn])])
  const setThroughRelation = (f: string) => [...info.relations].some(([k, r]) => create[k] !== undefined && r.fromFields.includes(f))
  for (const [name, value] of Object.entries(where)) {
    const pairs: Array<[string, unknown]> | undefined = info.uniqueFields.has(name) ? [[name, value]] : info.compounds.has(name) && isObj(value) ? Object.entries(value) : undefined
    if (pairs === undefined || pairs.some(([, v]) => v === null || typeof v === 'object')) continue
    if (pairs.some(([f, v]) => (create[f] !== undefined && create[f] !== v) || setThroughRelation(f))) continue
    return { pairs, set: Object.fromEntries(pairs.filter(([f]) => !managed.has(f) && create[f] === undefined)) }
  }
  return undefined
}

/**
 * Runs a compare-and-swap update and checks that it was applied. On MySQL/MariaDB Prisma updates
 * with a SELECT, then an UPDATE repeating the condition, then a SELECT of the result: when the
 * wrapped key changes between the first two (key rotation), the UPDATE matches nothing, yet Prisma
 * returns the row as it was, with no error. One written ciphertext (unique: random IV) must come
 * back, or the attempt counts as a missed compare-and-swap (P2025) and is retried.
 */
function runChecked(engine: Engine, info: ModelInfo, args: Obj, data: unknown, query: Query, scope: Scope): Promise<unknown> {
  const spec = info.spec
  let probe: { field: string; value: string | Uint8Array } | undefined
  if (spec !== undefined && isObj(data)) {
    for (const field of spec.fieldList) {
      const v = writtenValue(field, data[field.name])
      if (typeof v === 'string' || v instanceof Uint8Array) {
        probe = { field: field.name, value: v }
        break
      }
    }
  }
  if (probe === undefined) return run(engine, info, args, query, scope)
  const p = probe
  let added = false
  if (isObj(args.select) && !args.select[p.field]) {
    const select = copyOf(args.select)
    select[p.field] = true
    args.select = select
    added = true
  } else if (!isObj(args.select)) {
    // Hidden from the caller: read it for the check, then drop it.
    if (hiddenFromCaller(isObj(args.omit) ? args.omit : undefined, scope.globallyOmitted(info.name), p.field)) {
      const omit = isObj(args.omit) ? copyOf(args.omit) : {}
      omit[p.field] = false
      args.omit = omit
      added = true
    }
  }
  // Promises chained, not awaited: an update is on the hot path.
  const checked: Query = (a) =>
    query(a).then((r) => {
      if (isObj(r) && p.field in r && r[p.field] !== p.value && !bytesEqual(r[p.field], p.value))
        throw new CasMissedError(`model ${info.name}: the row changed during the update (compare-and-swap missed)`)
      return r
    })
  const result = run(engine, info, args, checked, scope)
  if (!added) return result
  return result.then((r) => {
    if (isObj(r)) delete r[p.field]
    return r
  })
}

/** After a failed compare-and-swap: did the row's wrapped key change (worth a retry)? */
async function keyChanged(info: ModelInfo, read: (select: Obj) => Promise<Obj | null>, cas: Obj): Promise<boolean> {
  const col = info.spec!.columns.wrappedDek
  const row = await read({ [col]: true })
  return row !== null && !bytesEqual(row[col], cas[col])
}

/**
 * `where` with the conditions of `extra` added: as plain keys (cheaper for Prisma) when `where`
 * has none of them and no value is null (a unique where input refuses null for a unique column),
 * else under AND. Top-level keys of a where are ANDed, so both forms mean the same.
 */
export function withCondition(where: Obj, extra: Obj): Obj {
  if (!isObj(where)) return { AND: [extra] }
  const keys = Object.keys(extra)
  for (const k of keys) if (extra[k] === null || k in where) return andWhere(where, extra)
  const out = copyOf(where)
  for (const k of keys) out[k] = extra[k]
  return out
}
