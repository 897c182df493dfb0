// The query path: rewrite a Prisma call's arguments (tenant scope, encryption, the columns
// decryption needs), run it, then decrypt the result tree. Prisma-free: the extension passes in
// `query` and a row reader, so this file is unit-testable without a database. This file is the
// facade and the per-operation dispatch; the parts are in engine/: decrypt (reads), write,
// encrypt and relations (writes, nested ones included), cas (update, upsert), foreign-keys,
// recheck (blind indexes), known-keys and written (what a call can skip).
import { UnsupportedQueryError } from '../errors'
import type { IndexSession } from '../fields/blind-index'
import type { RowLevelEncryption } from '../fields/row'
import type { CallStats } from '../metrics/observer'
import type { ModelInfo } from './config'
import { isObj, P2025, UNIQUE_WHERE, writeContext, type Engine, type Obj, type Query } from './engine/context'
import { update, upsert } from './engine/cas'
import { quickCreate, quickFindUnique, quickUpdate } from './engine/quick'
import { run } from './engine/decrypt'
import { checkUpdateData, touchedFields } from './engine/encrypt'
import { checkForeignKeys, runForeignKeyChecks } from './engine/foreign-keys'
import { newKnownKeys } from './engine/known-keys'
import { countMatches, narrowToMatches, openIndexSession, runRechecked, searchableFields } from './engine/recheck'
import { newRows } from './engine/write'
import { Scope } from './scope'
import { checkData } from './walk/data'
import { isPlain, OPERATION_KEYS, onlyKeys } from './walk/grammar'
import { checkAggregateSelections, checkCountSelect, checkFieldList, checkOrderBy } from './walk/order'
import { checkSelection, walkReadArgs } from './walk/read'
import { READS, type FilterMode } from './walk/search'
import { confine, walkWhere, type Walk } from './walk/where'

/** How the query path reaches the database besides the intercepted call itself. */
export interface QueryIO {
  /**
   * Reads one row by a unique `where` (already tenant-scoped) with `select`, inside the caller's
   * interactive transaction when there is one; null when no row matches. `select` may be a frozen
   * object of the model's plan, shared between calls: never modify it.
   */
  readUnique(model: string, where: Obj, select: Obj): Promise<Obj | null>
  /**
   * True inside a batch `$transaction([...])`: the call must reach `query` exactly once, since a
   * second call would run outside the batch and split it.
   */
  inBatch(): boolean
  /**
   * The columns of `model` the client hides by default (PrismaClient's `omit` option), so that
   * reads un-hide only those rowcrypt needs; undefined when this cannot be known (then every
   * column rowcrypt needs is un-hidden explicitly).
   */
  globallyOmitted(model: string): ReadonlySet<string> | undefined
  /** True when a row of `model` matches `where`, read like `readUnique`. */
  exists(model: string, where: Obj): Promise<boolean>
  /** Reads the rows of `model` matching `where` (already tenant-scoped), read like `readUnique`. */
  readMany(model: string, where: Obj, select: Obj, orderBy?: unknown): Promise<Obj[]>
}

// What a declared view (read-only) takes.
const VIEW_OPERATIONS = new Set([...READS, 'count', 'aggregate', 'groupBy'])

/** @internal The per-client query handler. */
export class QueryEngine {
  private readonly engine: Engine

  constructor(table: ReadonlyMap<string, ModelInfo>, rle: RowLevelEncryption) {
    this.engine = { table, rle, knownKeys: newKnownKeys(), searchable: searchableFields(table) }
  }

  /** True when a call on `model` needs no work at all (the model never reaches a scoped one). */
  passThrough(model: string | undefined): boolean {
    return model === undefined || this.engine.table.get(model)?.reachesScoped !== true
  }

  handle(model: string, operation: string, rawArgs: unknown, query: Query, io: QueryIO, stats: CallStats): Promise<unknown> {
    try {
      const info = this.engine.table.get(model) as ModelInfo
      const scope = Scope.current(stats, io.globallyOmitted)
      if (info.tenantColumn !== undefined) scope.require(model)
      // The commonest calls first, in a few steps (engine/quick.ts); every other call below.
      const quick = this.quick(info, operation, rawArgs, query, io, scope)
      if (quick !== undefined) return quick
      const opening = openIndexSession(this.engine, model, rawArgs, scope)
      // Without blind-index keys to hold, the call is one chain of promises (reads: one).
      if (opening === undefined) return this.dispatch(info, operation, rawArgs, query, io, scope)
      return this.withIndexSession(opening, info, operation, rawArgs, query, io, scope)
    } catch (e) {
      return Promise.reject(e)
    }
  }

  private quick(info: ModelInfo, operation: string, rawArgs: unknown, query: Query, io: QueryIO, scope: Scope): Promise<unknown> | undefined {
    if (!isPlain(rawArgs)) return undefined
    if (operation === 'findUnique' || operation === 'findUniqueOrThrow') return quickFindUnique(this.engine, info, rawArgs, query, io, scope)
    if (operation === 'update') return quickUpdate(this.engine, info, rawArgs, query, io, scope, () => this.dispatch(info, operation, rawArgs, query, io, scope))
    if (operation === 'create') return quickCreate(this.engine, info, rawArgs, query, io, scope)
    return undefined
  }

  private async withIndexSession(opening: Promise<IndexSession>, info: ModelInfo, operation: string, rawArgs: unknown, query: Query, io: QueryIO, scope: Scope): Promise<unknown> {
    scope.idx = await opening
    try {
      return await this.dispatch(info, operation, rawArgs, query, io, scope)
    } finally {
      scope.idx.dispose()
    }
  }

  private dispatch(info: ModelInfo, operation: string, rawArgs: unknown, query: Query, io: QueryIO, scope: Scope): Promise<unknown> {
    if (operation === 'findUnique' || operation === 'findUniqueOrThrow') return this.findUnique(info, operation, rawArgs, query, io, scope)
    return this.operation(info, operation, { ...((rawArgs as Obj | undefined) ?? {}) }, query, io, scope)
  }

  /**
   * findUnique by a searchable field while several index versions are searchable (during
   * `rotate --reindex`): the unique input holds one value, so each version is tried in turn.
   */
  private findUnique(info: ModelInfo, operation: string, rawArgs: unknown, query: Query, io: QueryIO, scope: Scope): Promise<unknown> {
    const versions = scope.idx?.versions.length ?? 1
    const where = (rawArgs as Obj | undefined)?.where
    const searched = versions > 1 && isObj(where) && Object.keys(where).some((k) => info.indexUniques.has(k))
    if (!searched) return this.operation(info, operation, { ...((rawArgs as Obj | undefined) ?? {}) }, query, io, scope)
    return this.findUniqueByVersions(info, operation, rawArgs, query, io, scope, versions)
  }

  private async findUniqueByVersions(info: ModelInfo, operation: string, rawArgs: unknown, query: Query, io: QueryIO, scope: Scope, versions: number): Promise<unknown> {
    // A batch runs each item's query once; a second try would run outside the batch.
    if (io.inBatch())
      throw new UnsupportedQueryError(
        `model ${info.name}: findUnique by a searchable field inside a batch $transaction is not possible while blindIndex.previousKeyVersions is set; use an interactive transaction or findFirst`,
      )
    for (let v = 0; ; v++) {
      scope.uniqueVersion = v
      try {
        const found = await this.operation(info, operation, { ...(rawArgs as Obj) }, query, io, scope)
        if (found !== null || v === versions - 1) return found
      } catch (e) {
        if ((e as { code?: unknown })?.code !== P2025 || v === versions - 1) throw e
      }
    }
  }

  private operation(info: ModelInfo, operation: string, args: Obj, query: Query, io: QueryIO, scope: Scope): Promise<unknown> {
    try {
      const keys = OPERATION_KEYS.get(operation)
      if (keys === undefined) throw new UnsupportedQueryError(`model ${info.name}: operation ${operation} is not supported on tenant-scoped data`)
      onlyKeys(info.name, args, keys, '')
      if (info.viewOf !== undefined && !VIEW_OPERATIONS.has(operation)) throw new UnsupportedQueryError(`model ${info.name}: a view of ${info.viewOf} is read-only (${operation})`)
      if (READS.has(operation)) {
        const w: Walk = { table: this.engine.table, scope }
        walkReadArgs(w, info, args, { top: true, unique: UNIQUE_WHERE.has(operation), operation }, '', true)
        return scope.rechecks.length > 0 ? runRechecked(this.engine, info, operation, args, query, io, scope) : run(this.engine, info, args, query, scope)
      }
      if (operation === 'create' || operation === 'createMany' || operation === 'createManyAndReturn') return this.create(info, operation, args, query, io, scope)
      if (operation === 'update') return update(this.engine, info, args, query, io, scope)
    } catch (e) {
      return Promise.reject(e)
    }
    return this.write(info, operation, args, query, io, scope)
  }

  // create, createMany, createManyAndReturn: without a promise of rowcrypt's own where no row waits.
  private create(info: ModelInfo, operation: string, args: Obj, query: Query, io: QueryIO, scope: Scope): Promise<unknown> {
    const w: Walk = { table: this.engine.table, scope }
    if (operation !== 'create' && Array.isArray(args.data)) args.data.forEach((d, i) => checkData(w, info, d, 'create', `data[${i}]`))
    else checkData(w, info, args.data, 'create', 'data')
    // The result's selection is refused now if it must be: before any key is loaded or row read.
    if (operation !== 'createMany') checkSelection(w, info, args)
    // createMany answers with a count: no row of its result takes back a value written.
    else scope.resultRows = false
    const ctx = writeContext(scope, io)
    const send = (data: unknown): Promise<unknown> => {
      args.data = data
      const checks = runForeignKeyChecks(ctx)
      const go = () => (operation === 'createMany' ? query(args) : run(this.engine, info, args, query, scope))
      return checks === undefined ? go() : checks.then(go)
    }
    const data = newRows(this.engine, info, args.data, ctx)
    return data instanceof Promise ? data.then(send) : send(data)
  }

  // Every other operation (its keys already checked).
  private async write(info: ModelInfo, operation: string, args: Obj, query: Query, io: QueryIO, scope: Scope): Promise<unknown> {
    const engine = this.engine
    const model = info.name
    const w: Walk = { table: engine.table, scope }
    const top: FilterMode = { top: true, unique: UNIQUE_WHERE.has(operation), operation }
    switch (operation) {
      case 'upsert':
        return upsert(engine, info, args, query, io, scope)
      case 'delete':
        walkReadArgs(w, info, args, top, '', true)
        return run(engine, info, args, query, scope)
      case 'deleteMany':
        walkReadArgs(w, info, args, top, '', true)
        if (scope.rechecks.length > 0) await narrowToMatches(engine, info, args, io, scope)
        return query(args)
      case 'updateMany':
      case 'updateManyAndReturn': {
        walkReadArgs(w, info, args, top, '', true)
        checkData(w, info, args.data, 'update', 'data')
        if (scope.rechecks.length > 0) await narrowToMatches(engine, info, args, io, scope)
        await checkForeignKeys(info, [args.data], scope, io)
        checkUpdateData(info, args.data)
        if (info.spec) {
          if (touchedFields(info, args.data).length > 0) {
            throw new UnsupportedQueryError(`model ${model}: ${operation} cannot set encrypted fields (each row has its own key); update rows one by one`)
          }
        }
        return operation === 'updateMany' ? query(args) : run(engine, info, args, query, scope)
      }
      case 'count':
        walkReadArgs(w, info, args, top, '', true)
        checkCountSelect(info, args.select)
        if (scope.rechecks.length > 0) return countMatches(engine, info, args, io, scope)
        return query(args)
      case 'aggregate':
        walkReadArgs(w, info, args, top, '', true)
        checkAggregateSelections(info, args)
        return query(args)
      default: {
        // groupBy: its orderBy also sorts by aggregates, and `having` filters them.
        args.where = confine(w, info, walkWhere(w, info, args.where, top, 'where'))
        checkOrderBy(w, info, args.orderBy, 'orderBy', true)
        checkFieldList(info, args.by, 'by')
        if (args.having !== undefined) args.having = walkWhere(w, info, args.having, { top: false, unique: false }, 'having', true)
        checkAggregateSelections(info, args)
        return query(args)
      }
    }
  }
}
