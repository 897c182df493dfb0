// The query path: rewrite a Prisma call's arguments (tenant scope, encryption, the columns
// decryption needs), run it, then decrypt the result tree. Prisma-free: the extension passes in
// `query` and a row reader, so this file is unit-testable without a database.
import { randomBytes } from 'node:crypto'
import {
  DecryptionError,
  InvalidValueError,
  RecordNotFoundError,
  TenantMismatchError,
  TenantMissingError,
  UnsupportedQueryError,
} from '../errors'
import type { IndexSession } from '../fields/blind-index'
import { isLegacyPlaintextRow, type RowKey, type RowLevelEncryption } from '../fields/row'
import type { CallStats } from '../metrics/observer'
import type { FieldSpec, ModelSpec } from '../fields/spec'
import { assertTenantId, currentScope } from '../tenant/context'
import { selectOf, type ModelInfo, type RelationInfo } from './config'
import { Scope, type WrittenValue } from './scope'
import { checkData } from './walk/data'
import { isPlain, OPERATION_KEYS, onlyKeys } from './walk/grammar'
import { checkAggregateSelections, checkCountSelect, checkFieldList, checkOrderBy } from './walk/order'
import { hiddenFromCaller, walkReadArgs, walkSelection, type ReadPlan } from './walk/read'
import { READS, type FilterMode } from './walk/search'
import { confine, walkWhere, type Walk } from './walk/where'
import { Recent } from './recent'

type Obj = Record<string, unknown>
type Query = (args: Obj) => Promise<unknown>

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
const UNIQUE_WHERE = new Set(['findUnique', 'findUniqueOrThrow', 'update', 'upsert', 'delete'])
const P2025 = 'P2025'
const CAS_ATTEMPTS = 3

/** @internal The per-client query handler. */
export class QueryEngine {
  /**
   * Per model, the names of the searchable fields of every model its relations reach (itself
   * included): a call on it that mentions none of them needs no index keys.
   */
  private readonly searchable = new Map<string, ReadonlySet<string>>()

  constructor(
    private readonly table: ReadonlyMap<string, ModelInfo>,
    private readonly rle: RowLevelEncryption,
  ) {
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
      if (names.size > 0) this.searchable.set(start.name, names)
    }
  }

  /** True when a call on `model` needs no work at all (the model never reaches a scoped one). */
  passThrough(model: string | undefined): boolean {
    return model === undefined || this.table.get(model)?.reachesScoped !== true
  }

  async handle(model: string, operation: string, rawArgs: unknown, query: Query, io: QueryIO, stats: CallStats): Promise<unknown> {
    const info = this.table.get(model) as ModelInfo
    const scope = Scope.current(stats, io.globallyOmitted)
    if (info.tenantColumn !== undefined) scope.require(model)
    const searchable = this.searchable.get(model)
    if (searchable !== undefined && this.rle.indexes !== undefined && scope.tenantId !== undefined && mentions(rawArgs, searchable, 0)) {
      scope.idx = await this.rle.indexes.session(scope.tenantId)
    }
    try {
      if (operation === 'findUnique' || operation === 'findUniqueOrThrow') return await this.findUnique(info, operation, rawArgs, query, io, scope)
      return await this.operation(info, operation, { ...((rawArgs as Obj | undefined) ?? {}) }, query, io, scope)
    } finally {
      scope.idx?.dispose()
    }
  }

  /**
   * findUnique by a searchable field while several index versions are searchable (during
   * `rotate --reindex`): the unique input holds one value, so each version is tried in turn.
   */
  private async findUnique(info: ModelInfo, operation: string, rawArgs: unknown, query: Query, io: QueryIO, scope: Scope): Promise<unknown> {
    const versions = scope.idx?.versions.length ?? 1
    const where = (rawArgs as Obj | undefined)?.where
    const searched = versions > 1 && isObj(where) && Object.keys(where).some((k) => info.indexUniques.has(k))
    if (!searched) return this.operation(info, operation, { ...((rawArgs as Obj | undefined) ?? {}) }, query, io, scope)
    // A batch runs each item's query once; a second try would run outside the batch.
    if (io.inBatch()) throw new UnsupportedQueryError(`model ${info.name}: findUnique by a searchable field inside a batch $transaction is not possible while blindIndex.previousKeyVersions is set; use an interactive transaction or findFirst`)
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

  private async operation(info: ModelInfo, operation: string, args: Obj, query: Query, io: QueryIO, scope: Scope): Promise<unknown> {
    const model = info.name
    const keys = OPERATION_KEYS.get(operation)
    if (keys === undefined) throw new UnsupportedQueryError(`model ${model}: operation ${operation} is not supported on tenant-scoped data`)
    onlyKeys(model, args, keys, '')
    if (info.viewOf !== undefined && !VIEW_OPERATIONS.has(operation)) throw new UnsupportedQueryError(`model ${model}: a view of ${info.viewOf} is read-only (${operation})`)
    const w: Walk = { table: this.table, scope }
    const top: FilterMode = { top: true, unique: UNIQUE_WHERE.has(operation), operation }
    if (READS.has(operation)) {
      walkReadArgs(w, info, args, top, '', true)
      return scope.rechecks.length > 0 ? this.runRechecked(info, operation, args, query, io, scope) : this.run(info, args, query, scope)
    }
    switch (operation) {
      case 'create': {
        checkData(w, info, args.data, 'create', 'data')
        const ctx = writeContext(scope, io)
        args.data = await this.newRow(info, args.data, ctx)
        await this.runForeignKeyChecks(ctx)
        return this.run(info, args, query, scope)
      }
      case 'createMany':
      case 'createManyAndReturn': {
        if (Array.isArray(args.data)) args.data.forEach((d, i) => checkData(w, info, d, 'create', `data[${i}]`))
        else checkData(w, info, args.data, 'create', 'data')
        const ctx = writeContext(scope, io)
        args.data = await mapItemsAsync(args.data, (d) => this.newRow(info, d, ctx))
        await this.runForeignKeyChecks(ctx)
        return operation === 'createMany' ? query(args) : this.run(info, args, query, scope)
      }
      case 'update':
        return this.update(info, args, query, io, scope)
      case 'upsert':
        return this.upsert(info, args, query, io, scope)
      case 'delete':
        walkReadArgs(w, info, args, top, '', true)
        return this.run(info, args, query, scope)
      case 'deleteMany':
        walkReadArgs(w, info, args, top, '', true)
        if (scope.rechecks.length > 0) await this.narrowToMatches(info, args, io, scope)
        return query(args)
      case 'updateMany':
      case 'updateManyAndReturn': {
        walkReadArgs(w, info, args, top, '', true)
        checkData(w, info, args.data, 'update', 'data')
        if (scope.rechecks.length > 0) await this.narrowToMatches(info, args, io, scope)
        await this.checkForeignKeys(info, [args.data], scope, io)
        this.checkUpdateData(info, args.data)
        if (info.spec) {
          if (this.touchedFields(info, args.data).length > 0) {
            throw new UnsupportedQueryError(`model ${model}: ${operation} cannot set encrypted fields (each row has its own key); update rows one by one`)
          }
        }
        return operation === 'updateMany' ? query(args) : this.run(info, args, query, scope)
      }
      case 'count':
        walkReadArgs(w, info, args, top, '', true)
        checkCountSelect(info, args.select)
        if (scope.rechecks.length > 0) return this.countMatches(info, args, io, scope)
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

  // ---- reads ------------------------------------------------------------------------------

  /** Adds what decryption needs to the selection, runs the query and decrypts the result tree. */
  private async run(info: ModelInfo, args: Obj, query: Query, scope: Scope, fluent?: { returned: boolean }): Promise<unknown> {
    const plan = walkSelection({ table: this.table, scope }, info, args, '')
    const result = await query(args)
    const matched = planForResult(plan, result)
    if (fluent !== undefined) fluent.returned = matched !== plan
    // The fluent API's to-one row (`team.findUnique(...).owner()`) of another tenant: none.
    if (matched.otherTenantIsNull === true && isOtherTenants(matched.info, result, scope)) return null
    await this.decryptTree(matched, result, scope)
    return result
  }

  /** Decrypts every scoped row of a result tree in place, then removes the columns we added. */
  private async decryptTree(plan: ReadPlan, result: unknown, scope: Scope): Promise<void> {
    // Walk (and check tenants) first, then decrypt: a check failing mid-walk must not leave
    // decryptions running with nobody awaiting them.
    const rows: Array<[ModelSpec, Obj]> = []
    const visited: Array<[ReadPlan, Obj]> = []
    this.collect(plan, result, scope, rows, visited)
    // Synchronous where the key provider unwraps synchronously (LocalKeyProvider): no promise per row.
    const pending: Array<Promise<void>> = []
    try {
      for (const [spec, row] of rows) {
        const p = this.decryptRow(spec, row, scope)
        if (p !== undefined) pending.push(p)
      }
    } catch (e) {
      await Promise.allSettled(pending)
      throw e
    }
    if (pending.length > 0) await Promise.all(pending)
    for (const [p, row] of visited) for (const col of p.strip) delete row[col]
  }

  private collect(plan: ReadPlan, value: unknown, scope: Scope, rows: Array<[ModelSpec, Obj]>, visited: Array<[ReadPlan, Obj]>): void {
    if (value === null || value === undefined) return
    if (Array.isArray(value)) {
      for (const v of value) this.collect(plan, v, scope, rows, visited)
      return
    }
    if (!isObj(value)) return
    const col = plan.info.tenantColumn
    if (col !== undefined) {
      const rowTenant = value[col]
      // Defence in depth: a scoped row of another tenant never reaches the caller. rowcrypt always
      // reads the tenant column, so a row without it was hidden by something else (an extension
      // after rowcrypt, a client default omit rowcrypt could not see): it fails closed too.
      if (!scope.bypass && rowTenant !== scope.tenantId) {
        if (rowTenant === undefined) throw new TenantMismatchError(`model ${plan.info.name}: a row came back without its tenant column ${col}, so its tenant cannot be checked`)
        throw new TenantMismatchError(`model ${plan.info.name}: a row of another tenant was reached through a relation`)
      }
      const spec = plan.info.spec
      if (spec !== undefined && hasEncryptedValue(spec, value)) rows.push([spec, value])
    }
    visited.push([plan, value])
    for (const { field, plan: sub } of plan.relations) {
      const v = value[field]
      if (sub.otherTenantIsNull === true && isOtherTenants(sub.info, v, scope)) value[field] = null
      else this.collect(sub, v, scope, rows, visited)
    }
  }

  /** Decrypts one row in place; a promise only when its key needs an asynchronous unwrap. */
  private decryptRow(spec: ModelSpec, row: Obj, scope: Scope): Promise<void> | undefined {
    if (isLegacyPlaintextRow(spec, row)) return undefined
    const tenantId = scope.bypass ? (row[spec.columns.tenantId] as string) : (scope.tenantId as string)
    // Values this call just encrypted come back as the plaintext the caller gave.
    const rest = scope.written === undefined ? undefined : takeWritten(spec, row, tenantId, scope.written)
    if (rest !== undefined && rest.length === 0) {
      scope.stats.rowsDecrypted++
      if (!scope.bypass) this.rememberKey(spec, tenantId, row)
      return undefined
    }
    const key = this.rle.openRowKeySync(spec, row, tenantId)
    if (key !== undefined) {
      this.decryptWith(key, row, tenantId, rest, scope)
      return undefined
    }
    return this.rle.openRowKey(spec, row, tenantId).then((k) => this.decryptWith(k, row, tenantId, rest, scope))
  }

  /** Decrypts `fields` of `row` (all its encrypted fields when undefined) and disposes of the key. */
  private decryptWith(key: RowKey, row: Obj, tenantId: string, fields: FieldSpec[] | undefined, scope: Scope): void {
    try {
      if (fields === undefined) key.decryptInto(row, row)
      else for (const f of fields) row[f.name] = key.decryptValue(f, row[f.name])
      scope.stats.rowsDecrypted++
      if (!scope.bypass) this.rememberKey(key.spec, tenantId, row)
    } finally {
      key.dispose()
    }
  }

  // ---- writes -----------------------------------------------------------------------------

  /** Fills the tenant, makes the row's key and id, and encrypts the marked fields of a new row. */
  private async encryptNew(info: ModelInfo, data: Obj, scope: Scope): Promise<Obj> {
    const spec = info.spec!
    if (!isObj(data)) return data
    this.checkNoManagedColumns(info, data, info.plan.createManaged)
    const tenantId = tenantOfNewRow(info, data, scope)
    const out: Obj = { ...data }
    let rowId: unknown = spec.idField === undefined ? undefined : data[spec.idField]
    if (rowId === undefined && info.makeId !== undefined) {
      rowId = info.makeId()
      out[spec.idField!] = rowId
    }
    await this.indexInto(spec, tenantId!, data, out, scope)
    const rowLabel = rowId === undefined || rowId === null ? undefined : String(rowId)
    const key = this.rle.newRowKeySync(spec, tenantId!, rowLabel) ?? (await this.rle.newRowKey(spec, tenantId!, rowLabel))
    try {
      key.encryptInto(out, data, true)
      noteWritten(scope, key, spec.fields.values(), data, out)
      scope.stats.rowsEncrypted++
      return out
    } finally {
      key.dispose()
    }
  }

  private async update(info: ModelInfo, args: Obj, query: Query, io: QueryIO, scope: Scope): Promise<unknown> {
    const w: Walk = { table: this.table, scope }
    const where = walkWhere(w, info, args.where, { top: true, unique: true, operation: 'update' }, 'where')
    const known = this.knownRow(info, where, scope)
    args.where = confine(w, info, where)
    checkData(w, info, args.data, 'update', 'data')
    this.checkUpdateData(info, args.data)
    const readFresh = (select: Obj) => io.readUnique(info.name, args.where as Obj, select)

    // Encrypted fields are written under the row's existing key, so it is read first (or taken from
    // a recent read of the same row). The write is a compare-and-swap on the wrapped key: if
    // rotation re-wrapped or re-keyed the row in between, or the remembered key is stale, the update
    // matches nothing and is retried on a freshly read key.
    for (let attempt = 1; ; attempt++) {
      const fromMemory = known !== undefined && attempt === 1
      const readSelf = (select: Obj) => (fromMemory && Object.keys(select).every((k) => k in known) ? Promise.resolve(known) : readFresh(select))
      const ctx = writeContext(scope, io)
      const { data, cas } = await this.updatedRow(info, args.data, readSelf, ctx, 'throw')
      await this.runForeignKeyChecks(ctx)
      const attemptArgs: Obj = { ...args, data, where: cas === undefined ? args.where : withCondition(args.where as Obj, cas) }
      try {
        return cas === undefined ? await this.run(info, attemptArgs, query, scope) : await this.runChecked(info, attemptArgs, data, query, scope)
      } catch (e) {
        const casMissed = cas !== undefined && attempt < CAS_ATTEMPTS && !io.inBatch() && ((e as { code?: unknown })?.code === P2025 || e instanceof CasMissedError)
        if (casMissed && fromMemory) {
          this.knownKeys.delete(knownKeyId(info.spec!, scope.tenantId!, known![info.spec!.idField!]))
          continue
        }
        if (casMissed && (await this.keyChanged(info, readFresh, cas))) continue
        throw e
      }
    }
  }

  /**
   * Wrapped keys of rows this client recently read or wrote (not secret: they are what the table
   * holds), so that an update by id can skip reading its row's key. Bounded; a stale entry only
   * costs the failed compare-and-swap and a fresh read.
   */
  private readonly knownKeys = new Recent<string, { wrappedDek: Uint8Array; keyVersion: string }>(KNOWN_KEYS_MAX)

  private rememberKey(spec: ModelSpec, tenantId: string, row: Obj): void {
    const id = spec.idField === undefined ? undefined : row[spec.idField]
    const wrappedDek = row[spec.columns.wrappedDek]
    const keyVersion = row[spec.columns.keyVersion]
    if (id == null || !(wrappedDek instanceof Uint8Array) || typeof keyVersion !== 'string') return
    this.knownKeys.set(knownKeyId(spec, tenantId, id), { wrappedDek, keyVersion })
  }

  /** The sidecar columns of the row an update names by its id alone, if this client knows them. */
  private knownRow(info: ModelInfo, where: unknown, scope: Scope): Obj | undefined {
    const spec = info.spec
    if (spec?.idField === undefined || scope.bypass || spec.migrating || !isObj(where)) return undefined
    const keys = Object.keys(where)
    if (keys.length !== 1 || keys[0] !== spec.idField) return undefined
    const id = where[spec.idField]
    if (id == null || typeof id === 'object') return undefined
    const entry = this.knownKeys.get(knownKeyId(spec, scope.tenantId!, id))
    if (entry === undefined) return undefined
    const c = spec.columns
    return { [c.wrappedDek]: entry.wrappedDek, [c.keyVersion]: entry.keyVersion, [c.tenantId]: scope.tenantId, [spec.idField]: id }
  }

  /**
   * Runs a compare-and-swap update and checks that it was applied. On MySQL/MariaDB Prisma updates
   * with a SELECT, then an UPDATE repeating the condition, then a SELECT of the result: when the
   * wrapped key changes between the first two (key rotation), the UPDATE matches nothing, yet Prisma
   * returns the row as it was, with no error. One written ciphertext (unique: random IV) must come
   * back, or the attempt counts as a missed compare-and-swap (P2025) and is retried.
   */
  private async runChecked(info: ModelInfo, args: Obj, data: unknown, query: Query, scope: Scope): Promise<unknown> {
    const spec = info.spec
    let probe: { field: string; value: string } | undefined
    if (spec !== undefined && isObj(data)) {
      for (const f of spec.fields.keys()) {
        const v = isSetOp(data[f]) ? (data[f] as Obj).set : data[f]
        if (typeof v === 'string') {
          probe = { field: f, value: v }
          break
        }
      }
    }
    if (probe === undefined) return this.run(info, args, query, scope)
    const p = probe
    let added = false
    if (isObj(args.select) && !args.select[p.field]) {
      args.select = { ...args.select, [p.field]: true }
      added = true
    } else if (!isObj(args.select)) {
      // Hidden from the caller: read it for the check, then drop it.
      if (hiddenFromCaller(isObj(args.omit) ? args.omit : undefined, scope.globallyOmitted(info.name), p.field)) {
        args.omit = { ...(isObj(args.omit) ? args.omit : {}), [p.field]: false }
        added = true
      }
    }
    const checked: Query = async (a) => {
      const r = await query(a)
      if (isObj(r) && p.field in r && r[p.field] !== p.value) throw new CasMissedError(`model ${info.name}: the row changed during the update (compare-and-swap missed)`)
      return r
    }
    const result = await this.run(info, args, checked, scope)
    if (added && isObj(result)) delete result[p.field]
    return result
  }

  /** After a failed compare-and-swap: did the row's wrapped key change (worth a retry)? */
  private async keyChanged(info: ModelInfo, read: (select: Obj) => Promise<Obj | null>, cas: Obj): Promise<boolean> {
    const col = info.spec!.columns.wrappedDek
    const row = await read({ [col]: true })
    return row !== null && !bytesEqual(row[col], cas[col])
  }

  private async upsert(info: ModelInfo, args: Obj, query: Query, io: QueryIO, scope: Scope): Promise<unknown> {
    const w: Walk = { table: this.table, scope }
    args.where = confine(w, info, walkWhere(w, info, args.where, { top: true, unique: true, operation: 'upsert' }, 'where'))
    checkData(w, info, args.create, 'create', 'create')
    checkData(w, info, args.update, 'update', 'update')
    this.checkUpdateData(info, args.update)
    const ctx = writeContext(scope, io)
    const readSelf = (select: Obj) => io.readUnique(info.name, args.where as Obj, select)
    const { data: update, cas } = await this.updatedRow(info, args.update, readSelf, ctx, 'guard')
    args.update = update
    if (cas !== undefined) args.where = withCondition(args.where as Obj, cas)
    args.create = await this.newRow(info, args.create, ctx)
    await this.runForeignKeyChecks(ctx)
    const result = await this.run(info, args, query, scope)
    if (result === null && info.tenantColumn !== undefined) {
      // Prisma returns null when `where` matched nothing here but `create` hit an existing id.
      throw new TenantMismatchError(`model ${info.name}: upsert matched no row of the current tenant and its create conflicts with an existing row`)
    }
    return result
  }

  /** A new row of `info`, top-level or nested: its nested writes, then its own fields encrypted. */
  private async newRow(info: ModelInfo, data: unknown, ctx: WriteContext): Promise<unknown> {
    const inner = await this.writeData(info, data, { ...ctx, readOwner: undefined })
    let out = inner
    if (info.spec !== undefined && isObj(inner)) out = await this.encryptNew(info, inner, ctx.scope)
    else if (info.tenantColumn !== undefined && isObj(inner)) out = { ...inner, [info.tenantColumn]: tenantOfNewRow(info, inner, ctx.scope) }
    ctx.foreignKeys.push([info, out])
    return out
  }

  /**
   * The data of an update of an existing row of `info`, top-level or nested: its nested writes,
   * then its encrypted fields under the row's own key (read through `read`). Returns the wrapped
   * key read, as a compare-and-swap condition. When no row is there, `'throw'` fails and
   * `'guard'` (an upsert's update branch) drops the encrypted values and returns a condition no row
   * meets, so that branch can never run with them.
   */
  private async updatedRow(info: ModelInfo, data: unknown, read: (select: Obj) => Promise<Obj | null>, ctx: WriteContext, ifMissing: 'throw' | 'guard'): Promise<{ data: unknown; cas?: Obj }> {
    const inner = await this.writeData(info, data, { ...ctx, readOwner: read })
    ctx.foreignKeys.push([info, inner])
    this.checkUpdateData(info, inner)
    const spec = info.spec
    if (spec === undefined || !isObj(inner)) return { data: inner }
    const touched = this.touchedFields(info, inner)
    // In migrating mode every write looks at the row: a plaintext one gets encrypted now.
    if (touched.length === 0 && !spec.migrating) return { data: inner }
    const row = await read(spec.migrating ? info.plan.migratingSelect : info.plan.requiredSelect)
    if (row !== null && isLegacyPlaintextRow(spec, row)) return this.encryptLegacyRow(spec, row, inner, touched, ctx.scope)
    if (touched.length === 0) return { data: inner }
    if (row === null) {
      if (ifMissing === 'throw') throw new RecordNotFoundError(`model ${spec.name}: no row of the current tenant matches the update`)
      const stripped: Obj = { ...inner }
      for (const f of touched) delete stripped[f.name]
      return { data: stripped, cas: { [spec.columns.wrappedDek]: new Uint8Array(randomBytes(32)) } }
    }
    const encrypted = await this.encryptWithRowKey(spec, row, inner, touched, ctx.scope)
    // An upsert's update branch gets no compare-and-swap: a failed one would fall through to create.
    return ifMissing === 'throw' ? { data: encrypted, cas: { [spec.columns.wrappedDek]: row[spec.columns.wrappedDek] } } : { data: encrypted }
  }

  /**
   * A plaintext row (migrating mode) being written: all its encrypted fields, the new values over
   * the stored ones, go under a fresh key, with a compare-and-swap on the row still having none.
   */
  private async encryptLegacyRow(spec: ModelSpec, row: Obj, data: Obj, touched: FieldSpec[], scope: Scope): Promise<{ data: Obj; cas: Obj }> {
    const tenantId = scope.bypass ? row[spec.columns.tenantId] : scope.tenantId
    assertTenantId(tenantId)
    const values: Obj = {}
    for (const f of spec.fields.keys()) values[f] = row[f]
    for (const f of touched) values[f.name] = isSetOp(data[f.name]) ? (data[f.name] as Obj).set : data[f.name]
    const idValue = spec.idField === undefined ? undefined : row[spec.idField]
    const indexes: Obj = {}
    await this.indexInto(spec, tenantId, values, indexes, scope)
    const key = await this.rle.newRowKey(spec, tenantId, idValue == null ? undefined : String(idValue))
    try {
      const out = Object.assign(key.encryptInto({ ...data }, values, true), indexes)
      delete out[spec.columns.tenantId] // unchanged; the tenant column is not rewritten
      scope.stats.rowsEncrypted++
      return { data: out, cas: { [spec.columns.wrappedDek]: null } }
    } finally {
      key.dispose()
    }
  }

  private async encryptWithRowKey(spec: ModelSpec, row: Obj, data: Obj, touched: FieldSpec[], scope: Scope): Promise<Obj> {
    const tenantId = scope.bypass ? (row[spec.columns.tenantId] as string) : (scope.tenantId as string)
    const indexes: Obj = {}
    await this.indexInto(spec, tenantId, data, indexes, scope)
    const key = this.rle.openRowKeySync(spec, row, tenantId) ?? (await this.rle.openRowKey(spec, row, tenantId))
    try {
      const out: Obj = { ...data, ...indexes }
      for (const field of touched) {
        const v = data[field.name]
        out[field.name] = isSetOp(v) ? { set: key.encryptValue(field, v.set) } : key.encryptValue(field, v)
      }
      noteWritten(scope, key, touched, data, out)
      scope.stats.rowsEncrypted++
      return out
    } finally {
      key.dispose()
    }
  }

  private touchedFields(info: ModelInfo, data: unknown): FieldSpec[] {
    if (!isObj(data)) return []
    return info.plan.fields.filter((f) => data[f.name] !== undefined)
  }

  /** The columns an update may not write (sidecars, tenant, bound id), and the encrypted fields' values. */
  private checkUpdateData(info: ModelInfo, data: unknown): void {
    if (!isObj(data) || info.tenantColumn === undefined) return
    this.checkNoManagedColumns(info, data, info.plan.updateManaged)
    for (const f of info.plan.fields) {
      const v = data[f.name]
      // A JSON field's value may itself be an object: only `{ set }` is an operation there.
      if (isObj(v) && !isSetOp(v) && f.type !== 'json') {
        throw new UnsupportedQueryError(`model ${info.name}: field ${f.name} is encrypted; only plain values or { set } can be written to it`)
      }
    }
  }

  private checkNoManagedColumns(info: ModelInfo, data: Obj, columns: readonly string[]): void {
    for (const col of columns) {
      if (data[col] !== undefined) throw new UnsupportedQueryError(`model ${info.name}: column ${col} is managed by rowcrypt and cannot be written directly`)
    }
  }

  /**
   * Nested writes through relations, at any depth. Every filter they carry (`connect`,
   * `disconnect`, the `where` of nested updates, upserts and deletes) is checked and confined like a
   * query's `where`. Nested rows of scoped models are encrypted under their own data key (new rows)
   * or their existing one (updates) and bound to the tenant; `set` on a scoped relation only
   * touches the tenant's rows.
   */
  private async writeData(info: ModelInfo, data: unknown, ctx: WriteContext): Promise<unknown> {
    if (!isObj(data)) return data
    let out: Obj | undefined
    for (const [key, value] of Object.entries(data)) {
      const rel = info.relations.get(key)
      if (rel === undefined || !isObj(value)) continue
      const target = this.table.get(rel.target)!
      if (!target.reachesScoped) continue
      if (target.tenantColumn !== undefined) ctx.scope.require(target.name)
      let ops: Obj = {}
      for (const [op, opValue] of Object.entries(value)) {
        if (opValue === undefined) continue
        this.refuseDisplacing(info, key, rel, target, op, ctx)
        if (op === 'upsert' && !rel.isList && target.tenantColumn !== undefined && !(await this.relatedIsTenants(key, target, ctx))) {
          // The relation holds no row of the tenant (none, or another tenant's it cannot see): the
          // tenant's view of the upsert is a create.
          ops.create = await this.newRow(target, (opValue as Obj).create, ctx)
          continue
        }
        if (op === 'set' && target.tenantColumn !== undefined && !ctx.scope.bypass) {
          if (value.connect !== undefined || value.disconnect !== undefined) throw new UnsupportedQueryError(`model ${info.name}: combine set with connect or disconnect on ${key} in separate writes`)
          ops = { ...ops, ...(await this.scopedSet(info, key, target, opValue, ctx)) }
        } else {
          ops[op] = await this.nestedOp(info, key, rel, target, op, opValue, ctx)
        }
      }
      out ??= { ...data }
      out[key] = ops
    }
    return out ?? data
  }

  private async nestedOp(parent: ModelInfo, key: string, rel: RelationInfo, target: ModelInfo, op: string, value: unknown, ctx: WriteContext): Promise<unknown> {
    // connect and connectOrCreate take unique inputs, as do to-many disconnect, set and delete;
    // to-one disconnect and delete, deleteMany and updateMany take plain filters.
    const uniqueFilter = (w: unknown) => this.confineFilter(target, w, ctx.scope, true)
    const filter = (w: unknown) => this.confineFilter(target, w, ctx.scope, rel.isList)
    const plainFilter = (w: unknown) => this.confineFilter(target, w, ctx.scope, false)
    const create = (d: unknown) => this.newRow(target, d, ctx)
    switch (op) {
      case 'connect':
        return mapItems(value, uniqueFilter)
      case 'disconnect':
      case 'delete':
        // To-one `true`: the related row, whoever's it is; confined, only the tenant's.
        if (value === true && !rel.isList) return target.tenantColumn === undefined || ctx.scope.bypass ? true : this.confineFilter(target, {}, ctx.scope, false)
        if (value === false) return value
        return mapItems(value, filter)
      case 'set':
        return mapItems(value, filter)
      case 'deleteMany':
        return mapItems(value, plainFilter)
      case 'create':
        return mapItemsAsync(value, create)
      case 'createMany':
        return isObj(value) ? { ...value, data: await mapItemsAsync(value.data, create) } : value
      case 'connectOrCreate':
        return mapItemsAsync(value, async (v) => (isObj(v) ? { ...v, where: uniqueFilter(v.where), create: await create(v.create) } : v))
      case 'update':
        return mapItemsAsync(value, (v) => this.nestedUpdate(key, rel, target, v, ctx))
      case 'upsert':
        return mapItemsAsync(value, (v) => this.nestedUpsert(key, rel, target, v, ctx))
      case 'updateMany':
        return mapItemsAsync(value, async (v) => {
          if (!isObj(v)) return v
          this.checkUpdateData(target, v.data)
          if (target.spec !== undefined) {
            if (this.touchedFields(target, v.data).length > 0) {
              throw new UnsupportedQueryError(`model ${parent.name}: nested updateMany on ${key} cannot set encrypted fields (each row has its own key)`)
            }
          }
          ctx.foreignKeys.push([target, v.data])
          return { ...v, where: plainFilter(v.where) }
        })
      default:
        throw new UnsupportedQueryError(`model ${parent.name}: nested ${op} on ${key} is not supported where it reaches tenant-scoped data`)
    }
  }

  /**
   * Reads the row a to-one nested write targets: the owner's related row, or null when there is
   * none or it is another tenant's (the tenant cannot tell the two apart).
   */
  private relatedReader(key: string, target: ModelInfo, ctx: WriteContext): (select: Obj) => Promise<Obj | null> {
    return async (select) => {
      if (ctx.readOwner === undefined) return null
      const col = target.tenantColumn
      const withTenantColumn = col === undefined || select[col] ? select : { ...select, [col]: true }
      const owner = await ctx.readOwner({ [key]: { select: withTenantColumn } })
      const row = (owner?.[key] as Obj | null | undefined) ?? null
      if (row !== null && col !== undefined && !ctx.scope.bypass && row[col] !== ctx.scope.tenantId) return null
      return row
    }
  }

  /** True when the owner's to-one relation `key` holds a row of the tenant. */
  private async relatedIsTenants(key: string, target: ModelInfo, ctx: WriteContext): Promise<boolean> {
    return (await this.relatedReader(key, target, ctx)(selectOf([target.tenantColumn!]))) !== null
  }

  /**
   * Prisma keeps a one-to-one exclusive by disconnecting the previous holder of the slot, with no
   * tenant filter. Where that holder may be another tenant's row, taking the slot through the
   * relation is refused: a row of a scoped model with a unique foreign key into an unscoped one
   * (`connect`, `connectOrCreate`: write the foreign key column instead, and the unique constraint
   * answers), and an existing unscoped row taking a new scoped holder through its back relation.
   */
  private refuseDisplacing(parent: ModelInfo, key: string, rel: RelationInfo, target: ModelInfo, op: string, ctx: WriteContext): void {
    if (!rel.oneToOne || ctx.scope.bypass) return
    const holdsKey = rel.fromFields.length > 0
    if (holdsKey && parent.tenantColumn !== undefined && target.tenantColumn === undefined && (op === 'connect' || op === 'connectOrCreate')) {
      throw new UnsupportedQueryError(`model ${parent.name}: ${op} on one-to-one ${key} could take the slot from another tenant's row; write ${rel.fromFields.join(', ')} directly instead`)
    }
    const taking = op === 'connect' || op === 'connectOrCreate' || op === 'create' || op === 'upsert'
    if (!holdsKey && parent.tenantColumn === undefined && target.tenantColumn !== undefined && ctx.readOwner !== undefined && taking) {
      throw new UnsupportedQueryError(`model ${parent.name}: ${op} on one-to-one ${key} of an existing row could take the slot from another tenant's row; write the foreign key on ${target.name} instead`)
    }
  }

  // `update` on a relation: to-many items are `{ where, data }`; to-one is the data itself or
  // `{ where?, data }`. The where is confined (a to-one one is added) and carries the CAS condition.
  private async nestedUpdate(key: string, rel: RelationInfo, target: ModelInfo, v: unknown, ctx: WriteContext): Promise<unknown> {
    if (!isObj(v)) return v
    const wrapped = rel.isList || (isObj(v.data) && Object.keys(v).every((k) => k === 'data' || k === 'where'))
    const where = this.confineFilter(target, (wrapped ? v.where : undefined) ?? {}, ctx.scope, rel.isList) as Obj
    const read = rel.isList ? (select: Obj) => ctx.io.readUnique(target.name, where, select) : this.relatedReader(key, target, ctx)
    const { data, cas } = await this.updatedRow(target, wrapped ? v.data : v, read, ctx, 'throw')
    const finalWhere = cas === undefined ? where : andWhere(where, cas)
    if (rel.isList) return { ...v, where: finalWhere, data }
    return Object.keys(finalWhere).length > 0 ? { where: finalWhere, data } : { data }
  }

  private async nestedUpsert(key: string, rel: RelationInfo, target: ModelInfo, v: unknown, ctx: WriteContext): Promise<unknown> {
    if (!isObj(v)) return v
    const where = this.confineFilter(target, v.where ?? {}, ctx.scope, rel.isList) as Obj
    const read = rel.isList ? (select: Obj) => ctx.io.readUnique(target.name, where, select) : this.relatedReader(key, target, ctx)
    const { data: update, cas } = await this.updatedRow(target, v.update, read, ctx, 'guard')
    const create = await this.newRow(target, v.create, ctx)
    const finalWhere = cas === undefined ? where : andWhere(where, cas)
    return { ...v, ...(Object.keys(finalWhere).length > 0 ? { where: finalWhere } : {}), create, update }
  }

  /**
   * `set` on a scoped to-many relation replaces the tenant's related rows only: it becomes a
   * `disconnect` of the tenant's current rows that are not in the new list and a confined
   * `connect` of the list (plain `set` would also disconnect other tenants' rows).
   */
  private async scopedSet(parent: ModelInfo, key: string, target: ModelInfo, value: unknown, ctx: WriteContext): Promise<Obj> {
    const id = target.idField
    const items = toArray(value)
    if (id === undefined || ctx.readOwner === undefined || items.some((i) => !isObj(i) || i[id] === undefined)) {
      throw new UnsupportedQueryError(`model ${parent.name}: set on tenant-scoped ${key} needs an existing row and each ${target.name} named by ${id ?? 'its id'}`)
    }
    const owner = await ctx.readOwner({ [key]: { where: { [target.tenantColumn!]: ctx.scope.tenantId }, select: { [id]: true } } })
    const wanted = new Set(items.map((i) => String((i as Obj)[id])))
    const current = ((owner?.[key] as Obj[] | undefined) ?? []).map((r) => r[id])
    return {
      connect: items.map((i) => this.confineFilter(target, i, ctx.scope, true)),
      disconnect: current.filter((c) => !wanted.has(String(c))).map((c) => ({ [id]: c })),
    }
  }

  /** Checks a filter for encrypted fields and confines it (and its relation filters) to the tenant. */
  private confineFilter(target: ModelInfo, where: unknown, scope: Scope, unique: boolean): Obj {
    const w: Walk = { table: this.table, scope }
    return confine(w, target, walkWhere(w, target, where, { top: false, unique }, 'data'))
  }

  private async runForeignKeyChecks(ctx: WriteContext): Promise<void> {
    for (const [info, row] of ctx.foreignKeys) if (info.plan.foreignKeys.length > 0) await this.checkForeignKeys(info, [row], ctx.scope, ctx.io)
  }

  /**
   * Foreign-key columns written directly (`authorId: 7`) must point at a row of the tenant: a
   * pointer into another tenant would let that tenant's columns steer this tenant's sorts and
   * filters, and block its deletes. One read per distinct key, inside the caller's transaction.
   */
  private async checkForeignKeys(info: ModelInfo, rows: unknown[], scope: Scope, io: QueryIO): Promise<void> {
    if (scope.bypass) return
    for (const { name, relation: rel, target } of info.plan.foreignKeys) {
      const checked = new Set<string>()
      for (const row of rows) {
        if (!isObj(row)) continue
        const values = rel.fromFields.map((f) => (isSetOp(row[f]) ? (row[f] as Obj).set : row[f]))
        if (values.every((v) => v === undefined) || values.some((v) => v === null)) continue
        if (values.some((v) => v === undefined || isObj(v))) {
          throw new UnsupportedQueryError(`model ${info.name}: the foreign key of ${name} must be written whole, as plain values`)
        }
        const id = values.map(String).join('\u0000')
        if (checked.has(id)) continue
        checked.add(id)
        scope.require(target.name)
        const where: Obj = Object.fromEntries(rel.toFields.map((f, i) => [f, values[i]]))
        where[target.tenantColumn] = scope.tenantId
        if (!(await io.exists(target.name, where))) {
          throw new RecordNotFoundError(`model ${info.name}: ${name} refers to no ${target.name} row of the current tenant`)
        }
      }
    }
  }

  // ---- argument checks --------------------------------------------------------------------

  // ---- blind indexes ----------------------------------------------------------------------

  /** Sets the index columns of the searchable fields written in `values` (active key version). */
  private async indexInto(spec: ModelSpec, tenantId: string, values: Obj, target: Obj, scope: Scope): Promise<void> {
    if (spec.indexed.length === 0 || !spec.indexed.some((f) => values[f.name] !== undefined)) return
    // The call's own session, when it is this tenant's (the usual case); else one for this row.
    if (scope.idx?.tenantId === tenantId) return scope.idx.indexInto(spec, values, target)
    const session = await this.rle.indexes!.session(tenantId, [this.rle.indexes!.keyVersion])
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
  private meetsRechecks(spec: ModelSpec, row: Obj, scope: Scope): boolean {
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
  private async runRechecked(info: ModelInfo, operation: string, args: Obj, query: Query, io: QueryIO, scope: Scope): Promise<unknown> {
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
      if (single || args.take !== undefined) a = { ...a, where: andWhere(a.where as Obj, { [id!]: { in: await this.matchingIds(info, a, io, scope) } }) }
    }
    const fields = [...new Set(scope.rechecks.map((r) => r.field.name))]
    const added = ensureSelected(a, [...fields, ...(id === undefined ? [] : [id])])
    const fluent = { returned: false }
    const result = await this.run(info, a, query, scope, fluent)
    // A single-row read that returns a list is the fluent API's to-many relation (even when empty).
    if (fluent.returned || (single && Array.isArray(result))) {
      // The fluent API returned the related rows, not the row the conditions are about: that row
      // is re-checked by a read of its own (a truncated index has already narrowed it to matches).
      const select = selectOf([...info.plan.required, ...fields])
      const parents = UNIQUE_WHERE.has(operation) ? [await io.readUnique(info.name, a.where as Obj, select)].filter((r): r is Obj => r !== null) : await io.readMany(info.name, a.where as Obj, select)
      await this.decryptTree({ info, strip: [], relations: [] }, parents, scope)
      for (const p of parents) this.meetsRechecks(spec, p, scope)
      return result
    }
    const rows = (single ? (result === null ? [] : [result]) : (result as Obj[])) as Obj[]
    const kept = rows.filter((r) => this.meetsRechecks(spec, r, scope))
    for (const r of rows) for (const f of added) delete r[f]
    if (kept.length === rows.length) return result
    if (single && operation.endsWith('OrThrow')) throw new RecordNotFoundError(`model ${info.name}: no row of the current tenant matches`)
    return single ? null : kept
  }

  /**
   * The ids, in the call's order, of the rows `args.where` matches whose decrypted values meet the
   * re-checked conditions (the candidates of a truncated index).
   */
  private async matchingIds(info: ModelInfo, args: Obj, io: QueryIO, scope: Scope): Promise<unknown[]> {
    const spec = info.spec!
    const id = spec.idField
    if (id === undefined) throw new UnsupportedQueryError(`model ${info.name}: a truncated index needs a single-column id`)
    const fields = [...new Set(scope.rechecks.map((r) => r.field.name))]
    const rows = await io.readMany(info.name, args.where as Obj, selectOf([...info.plan.required, ...fields]), args.orderBy)
    await this.decryptTree({ info, strip: [], relations: [] }, rows, scope)
    return rows.filter((r) => this.meetsRechecks(spec, r, scope)).map((r) => r[id])
  }

  /** updateMany / deleteMany through a truncated index: only the re-checked rows. */
  private async narrowToMatches(info: ModelInfo, args: Obj, io: QueryIO, scope: Scope): Promise<void> {
    const ids = await this.matchingIds(info, args, io, scope)
    args.where = andWhere(args.where as Obj, { [info.spec!.idField!]: { in: ids } })
  }

  /** count through a truncated index: the re-checked candidates are counted here. */
  private async countMatches(info: ModelInfo, args: Obj, io: QueryIO, scope: Scope): Promise<number> {
    for (const option of ['select', 'take', 'skip', 'cursor', 'orderBy']) {
      if (args[option] !== undefined) throw new UnsupportedQueryError(`model ${info.name}: count through a truncated index does not take ${option}`)
    }
    return (await this.matchingIds(info, args, io, scope)).length
  }

}

/**
 * The plan that matches what `query` returned. Prisma's fluent API
 * (`prisma.user.findUnique(...).posts()`) selects one relation and returns that relation's rows
 * instead of the parent row, so a result that lacks the keys the plan selected is matched against
 * the plan of its single selected relation, level by level. Anything else is refused, never
 * returned undecrypted.
 */
function planForResult(plan: ReadPlan, result: unknown): ReadPlan {
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

const KNOWN_KEYS_MAX = 10_000

/** True when some key of `v`, at any depth, is in `names` (a call that may search a searchable field). */
function mentions(v: unknown, names: ReadonlySet<string>, depth: number): boolean {
  if (depth > 64 || typeof v !== 'object' || v === null || v instanceof Uint8Array) return false
  if (Array.isArray(v)) return v.some((x) => mentions(x, names, depth + 1))
  for (const [k, x] of Object.entries(v)) {
    if (names.has(k) || mentions(x, names, depth + 1)) return true
  }
  return false
}

/** Adds `fields` to an explicit `select` (or removes them from `omit`); returns those it added. */
function ensureSelected(args: Obj, fields: string[]): string[] {
  const added: string[] = []
  if (isObj(args.select)) {
    const select = { ...args.select }
    for (const f of fields) if (!select[f]) { select[f] = true; added.push(f) }
    args.select = select
  } else if (isObj(args.omit)) {
    const omit = { ...args.omit }
    for (const f of fields) if (omit[f]) { omit[f] = false; added.push(f) }
    args.omit = omit
  }
  return added
}

/**
 * A compare-and-swap update that Prisma reported as done but did not apply (MySQL). Retried like
 * P2025; if retries run out the caller sees it as a coded `RecordNotFoundError`.
 */
class CasMissedError extends RecordNotFoundError {}

function knownKeyId(spec: ModelSpec, tenantId: string, id: unknown): string {
  return `${spec.name}\u0000${tenantId}\u0000${String(id)}`
}

/**
 * `where` with the conditions of `extra` added: as plain keys (cheaper for Prisma) when `where`
 * has none of them and no value is null (a unique where input refuses null for a unique column),
 * else under AND. Top-level keys of a where are ANDed, so both forms mean the same.
 */
function withCondition(where: Obj, extra: Obj): Obj {
  if (!isObj(where)) return { AND: [extra] }
  for (const [k, v] of Object.entries(extra)) if (v === null || k in where) return andWhere(where, extra)
  return { ...where, ...extra }
}

/**
 * The tenant of a new scoped row: the call's, or inside an explicit bypass the one `data` names.
 * A different tenant in `data` is refused.
 */
function tenantOfNewRow(info: ModelInfo, data: Obj, scope: Scope): string {
  const col = info.tenantColumn!
  const given = data[col]
  if (scope.bypass) {
    if (given === undefined) throw new TenantMissingError(`model ${info.name}: inside unsafeBypassTenantScope a create must set ${col}`)
    assertTenantId(given)
    return given
  }
  if (given !== undefined && given !== scope.tenantId) throw new TenantMismatchError(`model ${info.name}: data names another tenant than the current one (${String(scope.tenantId)})`)
  return scope.tenantId!
}

/** A scoped row of another tenant than the call's (or without its tenant column). */
function isOtherTenants(info: ModelInfo, row: unknown, scope: Scope): boolean {
  return isObj(row) && !scope.bypass && row[info.tenantColumn!] !== scope.tenantId
}

function andWhere(where: Obj, extra: Obj): Obj {
  return { ...where, AND: [...toArray(where.AND), extra] }
}

function hasEncryptedValue(spec: ModelSpec, row: Obj): boolean {
  for (const f of spec.fields.keys()) {
    const v = row[f]
    if (v !== null && v !== undefined) return true
  }
  return false
}


/** `{ set: v }`, Prisma's one update operation on a String column (exactly that key). */
function isSetOp(v: unknown): v is { set: unknown } {
  return isObj(v) && Object.keys(v).length === 1 && 'set' in v
}

/** State shared by the parts of one write. */
interface WriteContext {
  readonly scope: Scope
  readonly io: QueryIO
  /** Reads the row that owns the data being written, for to-one nested updates (absent in creates). */
  readonly readOwner?: (select: Obj) => Promise<Obj | null>
  /** Rows whose directly written foreign keys are checked once every value is encrypted. */
  readonly foreignKeys: Array<[ModelInfo, unknown]>
}

function writeContext(scope: Scope, io: QueryIO): WriteContext {
  return { scope, io, foreignKeys: [] }
}

async function mapItemsAsync(v: unknown, fn: (item: unknown) => Promise<unknown>): Promise<unknown> {
  return Array.isArray(v) ? Promise.all(v.map(fn)) : fn(v)
}

/**
 * The key of a written value: its start, format header and random IV, unique per value. Hashing
 * these few characters instead of the whole ciphertext (~1.4 KB for a 1 KB text) is what makes
 * the lookup cheap; a hit is then compared in full.
 */
function writtenKey(ciphertext: string): string {
  return ciphertext.slice(0, 32)
}

/** Records the string values of `fields` that `key` encrypted from `source` into `target`. */
function noteWritten(scope: Scope, key: RowKey, fields: Iterable<FieldSpec>, source: Obj, target: Obj): void {
  for (const field of fields) {
    if (field.type !== 'string') continue
    const v = source[field.name]
    const t = target[field.name]
    const plaintext = isSetOp(v) ? v.set : v
    const ciphertext = isSetOp(t) ? t.set : t
    if (typeof plaintext !== 'string' || typeof ciphertext !== 'string') continue
    ;(scope.written ??= new Map()).set(writtenKey(ciphertext), { ciphertext, spec: key.spec, field: field.name, tenantId: key.tenantId, rowLabel: key.rowBound ? key.rowLabel : undefined, wrappedDek: key.wrappedDek, keyVersion: key.keyVersion, plaintext })
  }
}

/**
 * Puts back the plaintext of the values of `row` this call just encrypted: a value is taken only
 * when it is exactly the ciphertext written (random IV: unique) for the same model, field, tenant,
 * row id, wrapped key and key version, in a row whose tenant column is that tenant. The sidecars
 * are compared because no unwrap checks them here: a row stored with other sidecars (a trigger,
 * a concurrent write) is decrypted as usual, and fails there if it cannot be. Returns the encrypted
 * fields still to decrypt, or undefined when no value was taken (decrypt the row as usual).
 */
function takeWritten(spec: ModelSpec, row: Obj, tenantId: string, written: Map<string, WrittenValue>): FieldSpec[] | undefined {
  let rest: FieldSpec[] | undefined
  let took = false
  const wrappedDek = row[spec.columns.wrappedDek]
  const keyVersion = row[spec.columns.keyVersion]
  if (row[spec.columns.tenantId] !== tenantId) return undefined
  for (const [name, field] of spec.fields) {
    if (!(name in row)) continue
    const v = row[name]
    if (v === null || v === undefined) continue
    const w = typeof v === 'string' ? written.get(writtenKey(v)) : undefined
    if (
      w !== undefined &&
      w.ciphertext === v &&
      w.spec === spec &&
      w.field === name &&
      w.tenantId === tenantId &&
      (w.rowLabel === undefined || (spec.idField !== undefined && row[spec.idField] != null && String(row[spec.idField]) === w.rowLabel)) &&
      bytesEqual(w.wrappedDek, wrappedDek) &&
      w.keyVersion === keyVersion
    ) {
      row[name] = w.plaintext
      took = true
    } else (rest ??= []).push(field)
  }
  return took ? (rest ?? []) : undefined
}

function bytesEqual(a: unknown, b: unknown): boolean {
  return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}

function mapItems(v: unknown, fn: (item: unknown) => unknown): unknown {
  return Array.isArray(v) ? v.map(fn) : fn(v)
}

function toArray(v: unknown): unknown[] {
  return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}
