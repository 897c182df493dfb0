// The only file that imports @prisma/client: it wires the Prisma-free query path into a client
// extension. Everything it does per query is: scope, encrypt, query, decrypt.
import { Prisma } from '@prisma/client/extension'
import { redactCiphertexts } from '../envelope/ciphertext'
import { RowLevelEncryption } from '../fields/row'
import { newCallStats, notify, outcomeOf, type CallStats, type RowcryptObserver } from '../metrics/observer'
import { currentScope } from '../tenant/context'
import { ContextSlot } from '../tenant/slots'
import type { ModelSpec, SidecarColumns } from '../fields/spec'
import { buildModelTable, type RowBinding, type RowcryptOptions } from './config'
import {
  assertCanonicalTenantId,
  checkTenantCollations,
  CollationGate,
  resolveTenantIdMode,
  tenantCollationError,
  tenantColumnsOf,
  tenantIdsInArgs,
  type RawQuery,
  type TenantColumn,
} from './collation'
import type { Manifest } from './manifest'
import { ROWCRYPT_INTERNALS, type RowcryptInternals } from './internals'
import { QueryEngine, type QueryIO } from './query'
import { PINNING_PROBE_ARG, PINNING_PROBE_SQL, pinRequestSql, pinningProbeAnswer, resolveRls, settingStatement, type PinRequestMode, type RlsSettings } from './rls'
import { runPinned, type PinToken } from './rls-pinning'
import type { ModelInfo } from './config'
import { ConfigError } from '../errors'

type AnyClient = Record<string, unknown> & {
  $transaction: (arg: unknown, options?: unknown) => Promise<unknown>
  $executeRawUnsafe: (sql: string, ...values: unknown[]) => PromiseLike<number>
}
type Delegate = {
  findUnique: (args: unknown) => PromiseLike<Record<string, unknown> | null>
  findFirst: (args: unknown) => PromiseLike<Record<string, unknown> | null>
  findMany: (args: unknown) => PromiseLike<Array<Record<string, unknown>>>
}

/** What the extension knows about the transaction a call runs in. */
interface TransactionStore {
  /** The caller's interactive transaction client. */
  tx?: AnyClient
  /** Inside a batch `$transaction([...])`. */
  batch?: true
  /** RLS inside an interactive transaction: the settings last pinned, and the statement queue. */
  rls?: { key: string | undefined; queue: Promise<unknown> }
}

// Raw queries, intercepted at the client level in RLS mode so they run with the tenant pinned too.
const RAW_OPERATIONS = ['$queryRaw', '$executeRaw', '$queryRawUnsafe', '$executeRawUnsafe', '$queryRawTyped'] as const

/**
 * The rowcrypt Prisma client extension. Marked fields of the named models are encrypted on
 * write and decrypted on read under a per-row data key, and every query on those models is
 * confined to the tenant of the surrounding `withTenant()`.
 *
 * Options are validated against the schema manifest here, once; a `ConfigError` names any
 * unknown model, unknown field, unsupported field type or missing sidecar column.
 *
 * Apply it last in a `$extends` chain: its interactive transactions hand out the client it wraps.
 *
 * @example
 * ```ts
 * import { PrismaClient } from './generated/client/client'
 * import { manifest } from './generated/rowcrypt'
 * import { rowcrypt, withTenant, LocalKeyProvider } from 'rowcrypt'
 *
 * const prisma = new PrismaClient({ adapter }).$extends(
 *   rowcrypt({
 *     schema: manifest,
 *     keyProvider: new LocalKeyProvider({ keys: { v1: masterKey }, activeVersion: 'v1' }),
 *     models: {
 *       User: { fields: ['email', 'ssn', 'notes'] },
 *       Document: { fields: ['body'], columns: { tenantId: 'orgId' } },
 *     },
 *   }),
 * )
 * await withTenant('tenant_a', () => prisma.user.create({ data: { email: 'a@x.io', ssn: '123-45-6789' } }))
 * ```
 */
export function rowcrypt<const M extends Manifest>(options: RowcryptOptions<M>) {
  const table = buildModelTable(options as unknown as RowcryptOptions)
  const rls = resolveRls(options.rls, options.schema)
  // A declared view shares its model's spec: one entry per model.
  const specs = [...new Set([...table.values()].map((m) => m.spec))].filter((s): s is ModelSpec => s !== undefined)
  const core = RowLevelEncryption.fromSpecs(options.keyProvider, specs, options.blindIndex)
  const engine = new QueryEngine(table, core)
  const observers = [...(options.observers ?? [])]
  const idFields = primaryKeyFields(options.schema)
  // Tenant ids as the database compares them (collation.ts): canonical ids, or a check that every
  // scoped model's tenant column compares bytes.
  const tenantIds = resolveTenantIdMode(options.tenantIds, 'rowcrypt()')
  // The tenant column of every scoped table, as the model table has it (views read those tables).
  const tenantFields = new Map([...table.values()].flatMap((m) => (m.tenantColumn === undefined || m.viewOf !== undefined ? [] : [[m.name, m.tenantColumn] as const])))
  const tenantColumns =
    tenantIds === 'canonical'
      ? []
      : tenantColumnsOf(
          options.schema,
          [...tenantFields].map(([model, field]) => ({ model, field })),
        )

  return Prisma.defineExtension((client) => {
    // Per extended client: the caller's interactive transaction client, so that rowcrypt's own
    // reads run inside it; and a marker for those reads, so they pass straight through.
    const transactions = new ContextSlot<TransactionStore>()
    const internalRead = new ContextSlot<true>()
    const base = client as unknown as AnyClient
    const pin = rls === undefined ? undefined : rlsPinning(rls, base, transactions)
    const tenantReady = tenantIdCheck(options.schema, tenantIds, tenantFields, tenantColumns, base)

    // rowcrypt's own reads: inside the caller's interactive transaction when there is one (the
    // query hook pins the RLS settings there); otherwise through the base client, in RLS mode in
    // a transaction of their own that pins the settings first.
    const read = <T>(model: string, fn: (d: Delegate) => PromiseLike<T>): Promise<T> => {
      const tx = transactions.getStore()?.tx
      const source = tx ?? base
      if (pin !== undefined && tx === undefined) return pin.alone(() => fn(source[delegateName(model)] as Delegate))
      return internalRead.run(true, async () => await fn(source[delegateName(model)] as Delegate))
    }
    const io: QueryIO = {
      // Adapter pinning: a unique read goes out as findFirst, which Prisma sends at once (see adapterPinning).
      readUnique: (model, where, select) => read(model, (d) => (pin?.adapter === true ? d.findFirst({ where: uniqueFilter(table.get(model), where), select }) : d.findUnique({ where, select }))),
      exists: async (model, where) => (await read(model, (d) => d.findFirst({ where, select: { [Object.keys(where)[0]!]: true } }))) !== null,
      readMany: (model, where, select, orderBy) => read(model, (d) => d.findMany({ where, select, ...(orderBy !== undefined ? { orderBy } : {}) })),
      inBatch: () => transactions.getStore()?.batch === true,
      globallyOmitted: globalOmitOf(client, Object.keys(options.schema.models)),
    }

    // A model call once the RLS settings may be sent: scope, encrypt, query, decrypt.
    const intercept = (model: string, operation: string, args: unknown, query: Query, internalParams: unknown): Promise<unknown> => {
      try {
        // Adapter pinning: outside transactions, findUnique goes out as findFirst (the same row).
        const outside =
          pin?.adapter === true && (operation === 'findUnique' || operation === 'findUniqueOrThrow')
            ? (a: unknown) => () => asFindFirst(table.get(model), operation, internalParams, query, a)
            : undefined
        if (internalRead.getStore() === true) return pin === undefined ? query(args) : pin.run(() => query(args), { outside: outside?.(args) })
        if (engine.passThrough(model)) return pin?.adapter === true ? pin.run(() => query(args), { outside: outside?.(args) }) : query(args)
        // Prisma's validation errors render the arguments, which now hold ciphertext.
        const guarded: Query = pin === undefined ? (a) => query(a).catch(redactError) : (a) => pin.run(() => query(a), { outside: outside?.(a) }).catch(redactError)
        const handle = (stats: CallStats) => {
          const ready = tenantReady(model, args)
          return ready === undefined ? engine.handle(model, operation, args, guarded, io, stats) : ready.then(() => engine.handle(model, operation, args, guarded, io, stats))
        }
        if (observers.length === 0) return handle(newCallStats())
        return observed(observers, model, operation, args, idFields.get(model), handle)
      } catch (e) {
        return Promise.reject(e)
      }
    }

    const scoped = client.$extends({
      name: 'rowcrypt',
      query: {
        $allModels: {
          // Not async: a call is one chain of promises, the query's (a thrown error becomes a rejection).
          $allOperations(params) {
            const { model, operation, args, query } = params
            if (pin !== undefined && pin.settingCall.getStore() === true) return query(args)
            const pinned = pin?.ready()
            const internalParams = (params as { __internalParams?: unknown }).__internalParams
            if (pinned !== undefined) return pinned.then(() => intercept(model, operation, args, query as Query, internalParams))
            return intercept(model, operation, args, query as Query, internalParams)
          },
        },
        // RLS: raw queries run with the tenant pinned like every model query (untouched otherwise).
        ...(pin === undefined
          ? {}
          : Object.fromEntries(
              RAW_OPERATIONS.map((op) => [
                op,
                async ({ args, query }: { args: unknown; query: Query }) => {
                  if (pin.settingCall.getStore() === true) return query(args)
                  const pinned = pin.ready()
                  if (pinned !== undefined) await pinned
                  return pin.run(() => query(args), { raw: true })
                },
              ]),
            )),
      },
    }) as unknown as AnyClient

    // Interactive transactions publish their client so rowcrypt's reads join them. Typed as `object`
    // so the caller's client keeps Prisma's own, fully typed `$transaction` signature.
    const transaction = (arg: unknown, txOptions?: unknown): Promise<unknown> => {
      if (typeof arg !== 'function') {
        if (pin === undefined || !Array.isArray(arg)) return transactions.run({ batch: true }, () => scoped.$transaction(arg, txOptions))
        // RLS: the batch's first item pins the settings for every item after it.
        const items = [pin.batchItem(), ...(arg as unknown[])]
        return transactions.run({ batch: true }, () => scoped.$transaction(items, txOptions)).then((results) => (results as unknown[]).slice(1))
      }
      const fn = arg as (tx: AnyClient) => Promise<unknown>
      return scoped.$transaction((tx: AnyClient) => transactions.run({ tx }, () => fn(tx)), txOptions)
    }
    const transactionOverride = {
      $transaction(arg: unknown, txOptions?: unknown) {
        const pinned = pin?.ready()
        return pinned === undefined ? transaction(arg, txOptions) : pinned.then(() => transaction(arg, txOptions))
      },
    } as object
    // What maintenance jobs (encryptExistingRows, the CLI) need to know about the configuration.
    // Rotation, verify and status also reach the core and the manifest, under a symbol (internals.ts).
    const internals: RowcryptInternals = { core, schema: options.schema }
    const describe = {
      $rowcrypt: (): RowcryptDescription =>
        Object.defineProperty({ models: Object.fromEntries(specs.map((s) => [s.name, describeSpec(s, table.get(s.name)?.rowBinding ?? 'unbound')])) }, ROWCRYPT_INTERNALS, { value: internals }),
    }
    return (scoped as unknown as typeof client).$extends({ name: 'rowcrypt-transactions', client: { ...transactionOverride, ...describe } })
  })
}

type Query = (args: unknown) => Promise<unknown>

/**
 * Before a call that reaches a scoped model inside `withTenant` or `unsafeBypassTenantScope`
 * (without either the engine refuses it, before any SQL): with `tenantIds: 'canonical'`, every
 * tenant id the call names must be canonical; otherwise the tenant columns' collations are checked
 * once per extended client, through the base client's `$queryRawUnsafe`: not pinned for RLS (the
 * catalogs have no policies) and outside the caller's transaction, so a batch `$transaction([...])`
 * still sends each item once, after the check. Undefined when there is nothing to wait for.
 */
function tenantIdCheck(
  manifest: Manifest,
  mode: 'any' | 'canonical',
  tenantFields: ReadonlyMap<string, string>,
  columns: readonly TenantColumn[],
  base: AnyClient,
): (model: string, args: unknown) => Promise<void> | undefined {
  const raw: RawQuery = async (sql, ...values) =>
    (await (base as unknown as { $queryRawUnsafe: (...a: unknown[]) => PromiseLike<Array<Record<string, unknown>>> }).$queryRawUnsafe(sql, ...values)) ?? []
  const gate =
    columns.length === 0
      ? undefined
      : new CollationGate(async () => {
          const unsafe = await checkTenantCollations(manifest.provider, raw, columns)
          return unsafe.length === 0 ? undefined : tenantCollationError(unsafe, 'rowcrypt()', "set rowcrypt({ tenantIds: 'canonical' }) to take only tenant ids no collation conflates")
        })
  return (model, args) => {
    const scope = currentScope()
    if (scope === undefined || (scope.tenantId === undefined && scope.bypass === undefined)) return undefined
    if (mode === 'canonical') {
      try {
        if (scope.bypass === undefined) assertCanonicalTenantId(scope.tenantId)
        else for (const id of tenantIdsInArgs(manifest, tenantFields, model, args)) assertCanonicalTenantId(id)
      } catch (e) {
        return Promise.reject(e)
      }
      return undefined
    }
    return gate === undefined || gate.passed ? undefined : gate.ready()
  }
}

/** How RLS mode runs statements with the tenant pinned. */
interface RlsPinning {
  /** True when statements go through adapter pinning (`pinning: 'adapter'`, or chosen without `pinning`). */
  readonly adapter: boolean
  /** Marks the set_config statements rowcrypt sends through a transaction client: not intercepted. */
  readonly settingCall: ContextSlot<true>
  /** Undefined when statements may be sent; otherwise a promise of when (or why not). */
  ready(): Promise<void> | undefined
  /** What a batch `$transaction([...])` runs first, for the tenant around the call. */
  batchItem(): PromiseLike<unknown>
  /**
   * Runs one statement (a lazy Prisma promise) with the settings pinned, wherever the call is.
   * `raw`: raw SQL (it may change the settings). `outside`: outside transactions, the request to
   * send instead, when it gives one (adapter pinning sends findUnique as findFirst).
   */
  run<T>(statement: () => PromiseLike<T>, how?: { raw?: boolean; outside?: () => PromiseLike<T> | undefined }): Promise<T>
  /** Runs one of rowcrypt's own reads outside the caller's transactions. */
  alone<T>(read: () => PromiseLike<T>): Promise<T>
}

/** The pinning `settings` ask for; without `pinning`, the one the client's adapter allows (autoPinning). */
function rlsPinning(settings: RlsSettings, base: AnyClient, transactions: ContextSlot<TransactionStore>): RlsPinning {
  const settingCall = new ContextSlot<true>()
  if (settings.pinning === 'transaction') return transactionPinning(settings, base, transactions, settingCall)
  if (settings.pinning === 'adapter') return adapterPinning(settings, base, transactions, settingCall, probeGate(settings, base, 'required'))
  return autoPinning(settings, base, transactions, settingCall)
}

/**
 * No `pinning` given: before the first statement the adapter is asked (the probe) whether it is
 * wrapped with `withRlsPinning` for these setting names. Wrapped: adapter pinning; not wrapped:
 * transaction pinning; wrapped for other names: refused. Every entry point waits for `ready()`
 * before it sends anything, so no statement goes out before the choice is made; were one to reach
 * a pinning before it, it would be refused.
 */
function autoPinning(settings: RlsSettings, base: AnyClient, transactions: ContextSlot<TransactionStore>, settingCall: ContextSlot<true>): RlsPinning {
  let chosen: RlsPinning | undefined
  const probe = probeGate(settings, base, 'either', (wrapped) => {
    chosen = wrapped ? adapterPinning(settings, base, transactions, settingCall, undefined) : transactionPinning(settings, base, transactions, settingCall)
  })
  const current = (): RlsPinning => {
    if (chosen === undefined) throw new ConfigError('rowcrypt(): rls: no statement is sent before the driver adapter has answered whether it pins the tenant')
    return chosen
  }
  return {
    get adapter() {
      return chosen?.adapter === true
    },
    settingCall,
    ready: () => (probe.passed ? undefined : probe.ready()),
    batchItem: () => current().batchItem(),
    run: (statement, how) => current().run(statement, how),
    alone: (read) => current().alone(read),
  }
}

/**
 * The probe of the client's driver adapter, once per extended client: a pinned adapter answers
 * with its setting names. `required`: only an adapter pinned for these names passes (explicit
 * adapter pinning). `either`: a plain adapter passes too; `chose` is told which it was.
 */
function probeGate(settings: RlsSettings, base: AnyClient, accept: 'required' | 'either', chose?: (wrapped: boolean) => void): CollationGate {
  const expected = pinningProbeAnswer(settings)
  return new CollationGate(async () => {
    const rows = await (base as unknown as { $queryRawUnsafe: (...a: unknown[]) => PromiseLike<Array<{ rowcrypt_pinning?: unknown }>> }).$queryRawUnsafe(PINNING_PROBE_SQL, PINNING_PROBE_ARG)
    const answer = rows?.[0]?.rowcrypt_pinning
    if (answer === expected || (answer === PINNING_PROBE_ARG && accept === 'either')) {
      chose?.(answer === expected)
      return undefined
    }
    return new ConfigError(
      answer === PINNING_PROBE_ARG
        ? "rowcrypt(): rls.pinning 'adapter' needs the client's driver adapter wrapped with withRlsPinning(), e.g. new PrismaClient({ adapter: withRlsPinning(new PrismaPg(...)) })"
        : "rowcrypt(): rls: the client's adapter is wrapped with withRlsPinning() for other setting names than rowcrypt's rls (pass the same tenantSetting and adminSetting to both)",
    )
  })
}

/**
 * `pinning: 'transaction'`: every guarded statement runs with `set_config(tenantSetting, tenant,
 * true)` (and the admin setting) in its own transaction: outside transactions as a batch
 * `[set_config, statement]` (Prisma's documented RLS pattern); inside the caller's batch the
 * `$transaction` override has put the set_config first; inside the caller's interactive
 * transaction the settings are set through its client before every statement (see inTransaction).
 */
function transactionPinning(settings: RlsSettings, base: AnyClient, transactions: ContextSlot<TransactionStore>, settingCall: ContextSlot<true>): RlsPinning {
  const current = () => {
    const scope = currentScope()
    return settingStatement(settings, scope?.tenantId, scope?.bypass !== undefined)
  }
  const statement = () => {
    const s = current()
    return base.$executeRawUnsafe(s.sql, ...s.values)
  }
  const alone = async <T>(run: () => PromiseLike<T>): Promise<T> => ((await base.$transaction([statement(), run()], settings.transactionOptions)) as [unknown, T])[1]
  return {
    adapter: false,
    settingCall,
    ready: () => undefined,
    batchItem: statement,
    alone,
    run: (run) => {
      const store = transactions.getStore()
      if (store?.batch === true) return Promise.resolve(run())
      if (store?.tx !== undefined) return inTransaction(settingCall, store as TransactionStore & { tx: AnyClient }, run, current)
      return alone(run)
    },
  }
}

/**
 * `pinning: 'adapter'`: the client's driver adapter is wrapped with `withRlsPinning`, which pins the
 * settings on each connection, session-level, only when they differ (rls-pinning.ts). What it is
 * told: outside transactions, a pin token around each request rowcrypt sends (only requests Prisma
 * sends at once: findUnique, which Prisma sends a tick later, batched with other calls and from the
 * first one's context, goes out as findFirst); inside transactions, a pin request through the
 * transaction before each statement (taken by the adapter, sent only when needed). Before the first
 * statement, the adapter must answer rowcrypt's probe: otherwise nothing is sent.
 */
function adapterPinning(settings: RlsSettings, base: AnyClient, transactions: ContextSlot<TransactionStore>, settingCall: ContextSlot<true>, probe: CollationGate | undefined): RlsPinning {
  const scopeValues = () => {
    const scope = currentScope()
    const bypass = scope?.bypass !== undefined
    return { tenant: bypass ? '' : (scope?.tenantId ?? ''), bypass }
  }
  const token = (raw: boolean): PinToken => {
    const { tenant, bypass } = scopeValues()
    return { tenant, admin: bypass, raw }
  }
  const request = (mode: PinRequestMode) => () => {
    const { tenant, bypass } = scopeValues()
    const s = settingStatement(settings, tenant, bypass)
    return { sql: pinRequestSql(settings, mode), values: s.values, key: s.key }
  }
  // Sent with the token: the lazy Prisma promise is subscribed to inside it, so that the request
  // starts there.
  const sendPinned = <T>(raw: boolean, send: () => PromiseLike<T>): Promise<T> => runPinned(token(raw), () => subscribe(send()))
  const fallback = transactionPinning(settings, base, transactions, settingCall)
  return {
    adapter: true,
    settingCall,
    // `probe` undefined: the adapter has answered already (autoPinning).
    ready: () => (probe === undefined || probe.passed ? undefined : probe.ready()),
    batchItem: () => {
      const s = request('batch')()
      return base.$executeRawUnsafe(s.sql, ...s.values)
    },
    alone: (read) => sendPinned(false, read),
    run<T>(run: () => PromiseLike<T>, how: { raw?: boolean; outside?: () => PromiseLike<T> | undefined } = {}): Promise<T> {
      const store = transactions.getStore()
      if (store?.batch === true) return Promise.resolve(run())
      if (store?.tx !== undefined) return inTransaction(settingCall, store as TransactionStore & { tx: AnyClient }, run, request(how.raw === true ? 'raw' : 'statement'))
      const outside = how.outside
      if (outside === undefined) return sendPinned(how.raw === true, run)
      // findUnique: sent as findFirst when Prisma takes it so; otherwise in a transaction of its own,
      // started outside the token (Prisma sends its items a tick later).
      const sent = runPinned(token(false), () => {
        const request = outside()
        return request === undefined ? undefined : subscribe(request)
      })
      return sent ?? fallback.alone(run)
    },
  }
}

/** A Promise of a lazy Prisma promise's result, subscribed to now (so the request starts in this context). */
function subscribe<T>(lazy: PromiseLike<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    lazy.then(resolve, reject)
  })
}

/**
 * A statement inside the caller's interactive transaction: the setting statement (`current()`),
 * then the statement, through the transaction's client. Pinned before every statement, not once
 * per tenant: a nested transaction's savepoint rollback undoes a setting sent inside it (a pinned
 * adapter takes the request without a round trip when the connection holds the settings). The
 * statements are queued so that concurrent calls of different tenants in one transaction cannot
 * interleave between setting and statement.
 */
function inTransaction<T>(
  settingCall: ContextSlot<true>,
  store: TransactionStore & { tx: AnyClient },
  run: () => PromiseLike<T>,
  current: () => { sql: string; values: string[]; key: string },
): Promise<T> {
  const s = current()
  const state = (store.rls ??= { key: undefined, queue: Promise.resolve() })
  const result = state.queue.then(async () => {
    await settingCall.run(true, async () => await store.tx.$executeRawUnsafe(s.sql, ...s.values))
    state.key = s.key
    return run()
  })
  state.queue = result.then(
    () => undefined,
    () => undefined,
  )
  return result
}

/**
 * A findUnique (or findUniqueOrThrow) sent as findFirst (findFirstOrThrow) with the same filter:
 * the same row, and Prisma sends it at once instead of batching it with the tick's other calls.
 * Through the request parameters Prisma hands a query extension (`__internalParams`), as the
 * second argument of `query`; undefined when Prisma does not take them that way (the request,
 * lazy, is then never sent).
 */
function asFindFirst(info: ModelInfo | undefined, operation: string, internal: unknown, query: Query, args: unknown): PromiseLike<unknown> | undefined {
  if (internal === null || typeof internal !== 'object' || typeof (internal as { action?: unknown }).action !== 'string') return undefined
  // Only a filter by the value of a unique key reads one row either way; Prisma refuses any other
  // findUnique, so that one goes out as it is.
  const where = isPlainObject(args) ? args.where : undefined
  const keyed = (k: string, v: unknown) => (info!.uniqueFields.has(k) ? isKeyValue(v) : info!.compounds.has(k) && isPlainObject(v) && info!.compounds.get(k)!.every((f) => isKeyValue(v[f])))
  if (info === undefined || !isPlainObject(where) || !Object.entries(where).some(([k, v]) => keyed(k, v))) return undefined
  const params: Record<string, unknown> = { ...internal, action: operation === 'findUnique' ? 'findFirst' : 'findFirstOrThrow' }
  const a = { ...(args as Record<string, unknown>), where: uniqueFilter(info, where) }
  const sent = (query as (args: unknown, params: unknown) => PromiseLike<unknown>)(a, params)
  return params.args === a ? sent : undefined
}

function isKeyValue(v: unknown): boolean {
  return v !== null && v !== undefined && (typeof v !== 'object' || v instanceof Date || ArrayBuffer.isView(v))
}

/** A unique filter as a plain one: compound unique inputs (`a_b: { a, b }`) become their fields. */
function uniqueFilter<W>(info: ModelInfo | undefined, where: W): W {
  if (info === undefined || !isPlainObject(where)) return where
  const out: Record<string, unknown> = { ...where }
  const fields: unknown[] = []
  for (const name of info.compounds.keys()) {
    if (!Object.hasOwn(out, name)) continue
    fields.push(out[name])
    delete out[name]
  }
  if (fields.length === 0) return where
  const and = out.AND === undefined ? [] : Array.isArray(out.AND) ? out.AND : [out.AND]
  return { ...out, AND: [...(and as unknown[]), ...fields] } as W
}

/** What `prisma.$rowcrypt()` returns: the configuration of the scoped models, without keys. */
export interface RowcryptDescription {
  models: Record<
    string,
    {
      fields: Array<{ name: string; type: string; index?: { column: string; bits: number } }>
      columns: SidecarColumns
      idField: string | undefined
      migrating: boolean
      /** Whether the model's rows are bound to their id, and why. */
      rowBinding: RowBinding
    }
  >
}

function describeSpec(s: ModelSpec, rowBinding: RowBinding): RowcryptDescription['models'][string] {
  const fields = [...s.fields.values()].map((f) => ({ name: f.name, type: f.type, ...(f.index !== undefined ? { index: { column: f.index.column, bits: f.index.bits } } : {}) }))
  return { fields, columns: { ...s.columns }, idField: s.idField, migrating: s.migrating, rowBinding }
}

function redactError(e: unknown): never {
  if (e instanceof Error) {
    e.message = redactCiphertexts(e.message)
    if (e.stack !== undefined) e.stack = redactCiphertexts(e.stack)
  }
  throw e
}

async function observed(
  observers: readonly RowcryptObserver[],
  model: string,
  operation: string,
  args: unknown,
  idField: string | undefined,
  run: (stats: CallStats) => Promise<unknown>,
): Promise<unknown> {
  const scope = currentScope()
  const time = new Date()
  const started = performance.now()
  const stats = newCallStats()
  const base = { operation, model, tenantId: scope?.tenantId, bypass: scope?.bypass !== undefined, time, ...targetOf(args, idField) }
  try {
    const result = await run(stats)
    notify(observers, { ...base, ...stats, ...rowsOf(operation, result, idField), outcome: 'ok', durationMs: performance.now() - started })
    return result
  } catch (e) {
    notify(observers, { ...base, ...stats, ...outcomeOf(e), durationMs: performance.now() - started })
    throw e
  }
}

// Rows and ids for operation events (audit trails): what the call returned, never any field value.
const NO_ROWS = new Set(['count', 'aggregate', 'groupBy'])
const BATCH_WRITES = new Set(['createMany', 'updateMany', 'deleteMany'])

function primaryKeyFields(manifest: Manifest): Map<string, string | undefined> {
  return new Map(Object.entries(manifest.models).map(([name, m]) => [name, m.primaryKey.length === 1 ? m.primaryKey[0] : undefined]))
}

function rowsOf(operation: string, result: unknown, idField: string | undefined): { rowCount?: number; rowIds?: string[] } {
  if (NO_ROWS.has(operation)) return {}
  if (result === null || result === undefined) return idField === undefined ? { rowCount: 0 } : { rowCount: 0, rowIds: [] }
  if (typeof result !== 'object') return {}
  if (BATCH_WRITES.has(operation)) {
    const count = (result as { count?: unknown }).count
    return typeof count === 'number' ? { rowCount: count } : {}
  }
  const rows: unknown[] = Array.isArray(result) ? result : [result]
  const ids = idField === undefined ? undefined : rows.map((r) => idString((r as Record<string, unknown> | null)?.[idField]))
  // Ids only when every row carries its own (a `select` may leave the id out).
  return ids !== undefined && ids.every((id) => id !== undefined) ? { rowCount: rows.length, rowIds: ids as string[] } : { rowCount: rows.length }
}

function targetOf(args: unknown, idField: string | undefined): { targetId?: string } {
  if (idField === undefined) return {}
  const where = (args as { where?: unknown } | null | undefined)?.where
  const id = typeof where === 'object' && where !== null ? idString((where as Record<string, unknown>)[idField]) : undefined
  return id === undefined ? {} : { targetId: id }
}

function idString(v: unknown): string | undefined {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' ? String(v) : undefined
}

/**
 * The client's default `omit` (`new PrismaClient({ omit })`), per model. Prisma keeps it in an
 * internal field, read here once per client. Anything but the shape Prisma 7 gives it (absent, or a
 * plain object of model delegate names to plain objects of booleans) reads as unknown: every model
 * then answers undefined and reads un-hide the columns they need explicitly. Results are checked
 * for the tenant column anyway (a row without it fails closed).
 */
function globalOmitOf(client: unknown, models: readonly string[]): (model: string) => ReadonlySet<string> | undefined {
  const notKnown = () => undefined
  if (typeof client !== 'object' || client === null || !('_globalOmit' in client)) return notKnown
  const option = (client as { _globalOmit?: unknown })._globalOmit
  const none: ReadonlySet<string> = new Set()
  if (option === undefined) return () => none
  if (!isPlainObject(option)) return notKnown
  const delegates = new Set(models.map(delegateName))
  const perModel = new Map<string, ReadonlySet<string>>()
  for (const [key, cols] of Object.entries(option)) {
    if (!delegates.has(key) || !isPlainObject(cols) || Object.values(cols).some((v) => typeof v !== 'boolean')) return notKnown
    perModel.set(key, new Set(Object.keys(cols).filter((c) => cols[c] === true)))
  }
  return (model) => perModel.get(delegateName(model)) ?? none
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

function delegateName(model: string): string {
  return model.charAt(0).toLowerCase() + model.slice(1)
}
