// PostgreSQL row-level security pinned at the driver adapter (`rls` with the adapter wrapped): a
// wrapper around Prisma's pg driver adapter that sets the tenant on a pooled connection with a
// session-level `set_config(..., false)` only when the connection does not already hold the tenant
// the statement needs. Prisma-free: the adapter, its transactions and the pg pool are typed by the
// shape this file uses of them (`@prisma/adapter-pg` stays the application's dependency).
//
// Where a statement's tenant comes from, and why:
// - Outside transactions, from the pin token rowcrypt's extension puts around the one Prisma
//   request it sends (`runPinned`). Prisma dispatches some requests later, from whichever request
//   started the tick (findUnique batching, transactions), so the tenant scope of the async context
//   is not trusted here; rowcrypt sends only requests Prisma runs at once inside a token. No
//   token: the empty tenant (no scoped row).
// - Inside a transaction, from the pin requests rowcrypt sends through it before its statements
//   (`pinRequestSql`), taken here without a round trip, else from the token around the request that
//   started it (Prisma's own transaction for a nested write), else the empty tenant.
// - What a connection holds is remembered per connection and checkout: any other checkout of it
//   (another client of the pool, a transaction whose end is not known), an error, a ROLLBACK or
//   ROLLBACK TO SAVEPOINT, raw SQL that may have set it, or a new connection make it unknown, and
//   unknown is pinned again.
import { ConfigError } from '../errors'
import { ContextSlot } from '../tenant/slots'
import { PINNING_PROBE_SQL, pinRequestSql, pinningProbeAnswer, resolveSettingNames, sessionPinSql, settingValues, type PinRequestMode, type RlsOptions, type RlsSettingNames } from './rls'

/** A statement as Prisma hands it to a driver adapter (`SqlQuery`). */
interface SqlStatement {
  sql: string
  args: unknown[]
  argTypes: unknown[]
}

interface Queryable {
  readonly provider: string
  readonly adapterName: string
  queryRaw(query: SqlStatement): Promise<unknown>
  executeRaw(query: SqlStatement): Promise<number>
}

interface AdapterTransaction extends Queryable {
  readonly options: unknown
  commit(): Promise<void>
  rollback(): Promise<void>
  createSavepoint?(name: string): Promise<void>
  rollbackToSavepoint?(name: string): Promise<void>
  releaseSavepoint?(name: string): Promise<void>
}

interface DriverAdapter extends Queryable {
  executeScript(script: string): Promise<void>
  startTransaction(isolationLevel?: string): Promise<AdapterTransaction>
  getConnectionInfo?(): unknown
  dispose(): Promise<void>
  underlyingDriver?(): unknown
}

/** A Prisma driver adapter factory for PostgreSQL, such as `new PrismaPg(...)` of `@prisma/adapter-pg`. */
export interface PinnableAdapterFactory {
  readonly provider: string
  readonly adapterName: string
  connect(): Promise<DriverAdapter>
}

/** What {@link withRlsPinning} returns: a driver adapter factory to pass to `new PrismaClient({ adapter })`. */
export type RlsPinnedAdapterFactory<F extends PinnableAdapterFactory> = {
  readonly provider: F['provider']
  readonly adapterName: F['adapterName']
  connect: F['connect']
} & (F extends { connectToShadowDb: infer S } ? { connectToShadowDb: S } : unknown)

/** A pooled pg connection (`pg.PoolClient`), as used here. */
interface Connection {
  query(config: unknown, values?: unknown): Promise<unknown>
  release(err?: Error | boolean): void
  on(event: 'error', listener: (err: Error) => void): unknown
  removeListener(event: 'error', listener: (err: Error) => void): unknown
}

/** A pg pool (`pg.Pool`), as used here. */
interface Pool {
  connect(callback?: (err: Error | undefined, client?: Connection, done?: (release?: unknown) => void) => void): Promise<Connection> | undefined
  query(config: unknown, values?: unknown, callback?: unknown): Promise<unknown> | undefined
  on(event: 'acquire', listener: (client: Connection) => void): unknown
}

/** @internal What rowcrypt's extension tells the adapter about the Prisma request it sends. */
export interface PinToken {
  /** The tenant ('' outside a tenant and inside the bypass). */
  readonly tenant: string
  /** Inside `unsafeBypassTenantScope`: the admin setting is 'on'. */
  readonly admin: boolean
  /** Raw SQL: it may change the settings itself. */
  readonly raw: boolean
}

// The settings a statement needs, for one adapter's setting names. `trusted`: Prisma's own SQL,
// which never changes them (raw SQL may).
interface Target {
  readonly key: string
  readonly values: readonly string[]
  readonly trusted: boolean
}

const tokens = new ContextSlot<PinToken>()

/**
 * @internal Runs `send` (which sends one Prisma request that Prisma runs at once, outside any
 * transaction) with `token` telling a pinned adapter what the request's statements need.
 */
export function runPinned<T>(token: PinToken, send: () => T): T {
  return tokens.run(token, send)
}

const PINNED = Symbol('rowcrypt.pinnedAdapter')

/**
 * Wraps a Prisma driver adapter for PostgreSQL (`new PrismaPg(...)` of `@prisma/adapter-pg`) so that
 * rowcrypt's row-level security settings are pinned on each pooled connection, session-level, and
 * sent only when the connection does not hold the ones the statement needs: a statement whose
 * connection already serves its tenant costs no extra round trip. Use it with `rowcrypt({ rls })`,
 * passing both the same `rls` options (this reads their `tenantSetting` and `adminSetting`):
 * without `pinning`, rowcrypt finds the wrapped adapter before its first statement and pins here;
 * with `pinning: 'adapter'` it refuses to run on an adapter that is not wrapped. Either way it
 * refuses an adapter wrapped for other setting names.
 *
 * Every statement through the wrapped adapter is checked, whatever sends it: statements of the
 * rowcrypt-extended client run with the tenant of their `withTenant` (the admin setting inside
 * `unsafeBypassTenantScope`); everything else (another client on the same adapter, a query outside
 * any tenant) runs with the empty tenant, which no policy admits. Needs a connection per client
 * session: a pooler in transaction mode (PgBouncer `pool_mode = transaction`) would hand the
 * session-level setting to other clients; use `pinning: 'transaction'` behind one.
 *
 * @example
 * ```ts
 * import { PrismaPg } from '@prisma/adapter-pg'
 * import { rowcrypt, withRlsPinning } from 'rowcrypt'
 *
 * const rls = { pinning: 'adapter' } as const
 * const adapter = withRlsPinning(new PrismaPg({ connectionString: config.databaseUrl }), rls)
 * export const prisma = new PrismaClient({ adapter }).$extends(rowcrypt({ schema: manifest, keyProvider, models, rls }))
 * ```
 */
export function withRlsPinning<F extends PinnableAdapterFactory>(factory: F, options: RlsOptions = {}): RlsPinnedAdapterFactory<F> {
  if (options === null || typeof options !== 'object') throw new ConfigError('withRlsPinning(): options must be { tenantSetting?, adminSetting? }')
  const settings = resolveSettingNames(options, 'withRlsPinning(): ')
  if (factory === null || typeof factory !== 'object' || typeof factory.connect !== 'function') {
    throw new ConfigError('withRlsPinning() takes a Prisma driver adapter factory such as new PrismaPg({ connectionString })')
  }
  if (factory.provider !== 'postgres') throw new ConfigError(`withRlsPinning(): row-level security needs PostgreSQL; this adapter's provider is ${JSON.stringify(factory.provider)}`)
  const pinned: Record<string, unknown> = {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => pinAdapter(await factory.connect(), settings),
  }
  // Migrations' shadow database: no policies to serve, passed through as it is.
  const shadow = (factory as { connectToShadowDb?: () => Promise<unknown> }).connectToShadowDb
  if (typeof shadow === 'function') pinned.connectToShadowDb = () => shadow.call(factory)
  return pinned as RlsPinnedAdapterFactory<F>
}

function pinAdapter(adapter: DriverAdapter, settings: RlsSettingNames): DriverAdapter {
  if ((adapter as unknown as Record<symbol, unknown>)[PINNED] === true) throw new ConfigError('withRlsPinning(): this adapter is wrapped already')
  if (adapter.provider !== 'postgres') throw new ConfigError(`withRlsPinning(): row-level security needs PostgreSQL; this adapter's provider is ${JSON.stringify(adapter.provider)}`)
  const pool = typeof adapter.underlyingDriver === 'function' ? adapter.underlyingDriver() : undefined
  if (!isPool(pool)) throw new ConfigError("withRlsPinning() needs @prisma/adapter-pg's PrismaPg: this adapter exposes no pg pool to pin connections of")
  return new PinnedAdapter(adapter, pinningOf(pool, settings), settings)
}

function isPool(p: unknown): p is Pool {
  const o = p as Record<string, unknown> | null
  return typeof o === 'object' && o !== null && typeof o.connect === 'function' && typeof o.query === 'function' && typeof o.on === 'function'
}

const pinnings = new WeakMap<object, PoolPinning>()

// One pinning per pool (a pool given to two adapters is pinned once, with one set of names).
function pinningOf(pool: Pool, settings: RlsSettingNames): PoolPinning {
  const known = pinnings.get(pool)
  if (known === undefined) {
    const made = new PoolPinning(pool, settings)
    pinnings.set(pool, made)
    return made
  }
  if (known.settings.tenantSetting !== settings.tenantSetting || known.settings.adminSetting !== settings.adminSetting) {
    throw new ConfigError('withRlsPinning(): this pg pool is pinned already, with other setting names')
  }
  return known
}

/**
 * The pool's side: which settings each connection holds, and the pool's `query` (what the adapter
 * sends outside transactions through) replaced by a checkout that pins before the statement.
 */
class PoolPinning {
  // Checkouts per connection (the pool's 'acquire' event), and what a connection held when the
  // checkout numbered `use` ended. Valid only for the next checkout: any other one in between
  // (another user of the pool, a transaction that did not report its end) makes it unknown.
  readonly #checkouts = new WeakMap<Connection, number>()
  readonly #held = new WeakMap<Connection, { key: string; use: number }>()
  readonly #connect: () => Promise<Connection>
  // Handed over synchronously by the adapter to the pool's query it calls; the connection a
  // transaction starts on, handed back by the pool's connect.
  #next: Target | undefined
  #capture: { connection?: Connection } | undefined
  readonly #pinSql: string
  readonly foreign: Target

  constructor(
    pool: Pool,
    readonly settings: RlsSettingNames,
  ) {
    this.#pinSql = sessionPinSql(settings)
    this.foreign = this.target({ tenant: '', admin: false, raw: true })
    pool.on('acquire', (c) => this.#checkouts.set(c, (this.#checkouts.get(c) ?? 0) + 1))
    const connect = pool.connect.bind(pool)
    this.#connect = () => connect() as Promise<Connection>
    // The adapter's transactions check out through here (the capture reports the connection; its
    // statements are pinned by the transaction). Anyone else gets the connection with no tenant:
    // it may still hold the one rowcrypt pinned for its last statement.
    pool.connect = (callback) => {
      const capture = this.#capture
      this.#capture = undefined
      const connecting =
        capture === undefined
          ? this.#checkoutCleared()
          : (connect() as Promise<Connection>).then((c) => {
              capture.connection = c
              return c
            })
      if (typeof callback !== 'function') return connecting
      connecting.then(
        (c) => callback(undefined, c, (err) => c.release(err as Error | undefined)),
        (e: Error) => callback(e, undefined, () => undefined),
      )
      return undefined
    }
    pool.query = (config, values, callback) => {
      if (typeof values === 'function') {
        callback = values
        values = undefined
      }
      const target = this.#next ?? this.foreign
      this.#next = undefined
      // A cursor or stream reads after the query returns: it needs a connection of its own.
      const submittable = typeof (config as { submit?: unknown } | null)?.submit === 'function'
      const result = submittable
        ? Promise.reject(new ConfigError("withRlsPinning(): a cursor or stream cannot run through the pool's query; check a connection out with pool.connect()"))
        : this.#send(target, config, values)
      if (typeof callback !== 'function') return result
      const cb = callback as (err: unknown, res?: unknown) => void
      result.then(
        (r) => cb(undefined, r),
        (e: unknown) => cb(e),
      )
      return undefined
    }
  }

  /** The settings `token` asks for, with these setting names. */
  target(token: PinToken): Target {
    const { values, key } = settingValues(this.settings, token.tenant, token.admin)
    return { key, values, trusted: !token.raw }
  }

  /**
   * Calls `send`, which reaches the pool's `query` synchronously (as `@prisma/adapter-pg` does), with
   * `target` for the statement it sends. An adapter that does not is refused: its statement went
   * out with the empty tenant.
   */
  handOver<T>(target: Target, send: () => Promise<T>): Promise<T> {
    this.#next = target
    let sent: Promise<T>
    try {
      sent = send()
    } catch (e) {
      this.#next = undefined
      return Promise.reject(e)
    }
    const taken = this.#next === undefined
    this.#next = undefined
    // Not taken: nothing went through the pool's query (a statement that failed before it was sent
    // keeps its own error).
    return taken ? sent : sent.then(() => Promise.reject(unsupported()))
  }

  /** Calls `start` (which checks a connection out synchronously) and reports the connection. */
  capture<T>(start: () => Promise<T>): { started: Promise<T>; connection: () => Connection | undefined } {
    const capture: { connection?: Connection } = {}
    this.#capture = capture
    try {
      return { started: start(), connection: () => capture.connection }
    } finally {
      this.#capture = undefined
    }
  }

  /** The checkout a connection is in. */
  checkoutOf(c: Connection | undefined): number | undefined {
    return c === undefined ? undefined : this.#checkouts.get(c)
  }

  /** The key of the settings `c` holds at the start of its checkout `use`, when known. */
  heldAt(c: Connection | undefined, use: number | undefined): string | undefined {
    if (c === undefined || use === undefined) return undefined
    const held = this.#held.get(c)
    return held !== undefined && held.use + 1 === use ? held.key : undefined
  }

  /** Records what `c` holds at the end of checkout `use` (undefined: not known). */
  settle(c: Connection | undefined, use: number | undefined, key: string | undefined): void {
    if (c === undefined) return
    if (key === undefined || use === undefined) this.#held.delete(c)
    else this.#held.set(c, { key, use })
  }

  /** The pin statement for `target`, as the adapter sends it inside a transaction. */
  pinStatement(target: Target): SqlStatement {
    return { sql: this.#pinSql, args: [...target.values], argTypes: target.values.map(() => ({ scalarType: 'string', arity: 'scalar' })) }
  }

  // A checkout for someone other than the adapter: pinned to no tenant first.
  async #checkoutCleared(): Promise<Connection> {
    const c = await this.#connect()
    const use = this.#checkouts.get(c)
    if (this.heldAt(c, use) === this.foreign.key) return c
    this.#held.delete(c)
    try {
      await c.query({ text: this.#pinSql, values: this.foreign.values })
    } catch (e) {
      c.release(e instanceof Error ? e : true)
      throw e
    }
    return c
  }

  // A statement outside transactions: a checkout of its own, pinned first when the connection may
  // hold other settings. Errors release the connection with the error, which removes it from the
  // pool, as the pool's own query does.
  async #send(target: Target, config: unknown, values: unknown): Promise<unknown> {
    const c = await this.#connect()
    const use = this.#checkouts.get(c)
    const onError = () => this.#held.delete(c)
    c.on('error', onError)
    try {
      if (this.heldAt(c, use) !== target.key) {
        this.#held.delete(c)
        await c.query({ text: this.#pinSql, values: target.values })
      }
      const result = await c.query(config, values)
      this.settle(c, use, target.trusted ? target.key : undefined)
      c.removeListener('error', onError)
      c.release()
      return result
    } catch (e) {
      this.#held.delete(c)
      c.removeListener('error', onError)
      c.release(e instanceof Error ? e : true)
      throw e
    }
  }
}

function unsupported(): ConfigError {
  return new ConfigError("withRlsPinning(): this driver adapter does not send its statements through its pg pool's query as @prisma/adapter-pg's PrismaPg does; it cannot be pinned")
}

function currentTarget(pool: PoolPinning): Target {
  const token = tokens.getStore()
  return token === undefined ? pool.foreign : pool.target(token)
}

/** The wrapped adapter: statements outside transactions through the pinned pool, transactions wrapped. */
class PinnedAdapter implements DriverAdapter {
  readonly provider: string
  readonly adapterName: string
  readonly [PINNED] = true

  constructor(
    private readonly inner: DriverAdapter,
    private readonly pool: PoolPinning,
    private readonly settings: RlsSettingNames,
  ) {
    this.provider = inner.provider
    this.adapterName = inner.adapterName
  }

  queryRaw(query: SqlStatement): Promise<unknown> {
    // rowcrypt asks whether the adapter is pinned: the database returns the parameter it is given.
    const q = query.sql === PINNING_PROBE_SQL ? { ...query, args: [pinningProbeAnswer(this.settings)] } : query
    return this.pool.handOver(currentTarget(this.pool), () => this.inner.queryRaw(q))
  }

  executeRaw(query: SqlStatement): Promise<number> {
    return this.pool.handOver(currentTarget(this.pool), () => this.inner.executeRaw(query))
  }

  executeScript(script: string): Promise<void> {
    return this.inner.executeScript(script)
  }

  async startTransaction(isolationLevel?: string): Promise<AdapterTransaction> {
    // A transaction Prisma starts for one request sent with a token (a nested write) serves that
    // request; any other starts with the empty tenant until rowcrypt's pin requests say otherwise.
    const target = currentTarget(this.pool)
    const { started, connection } = this.pool.capture(() => this.inner.startTransaction(isolationLevel))
    const tx = await started
    return new PinnedTransaction(tx, this.pool, connection(), target, this.settings)
  }

  getConnectionInfo(): unknown {
    return this.inner.getConnectionInfo?.()
  }

  dispose(): Promise<void> {
    return this.inner.dispose()
  }

  underlyingDriver(): unknown {
    return this.inner.underlyingDriver?.()
  }
}

const COMMIT = 'COMMIT'
const ROLLBACK = 'ROLLBACK'

/**
 * A transaction on one connection: before each statement, the settings of the current target are
 * pinned unless the connection holds them. rowcrypt's pin requests change the target (and are not
 * sent); a ROLLBACK (TO SAVEPOINT) or an error makes what the connection holds unknown; at COMMIT
 * the connection keeps it for the next checkout, unless raw SQL may have changed it.
 */
class PinnedTransaction implements AdapterTransaction {
  readonly provider: string
  readonly adapterName: string
  readonly options: unknown
  createSavepoint?: (name: string) => Promise<void>
  rollbackToSavepoint?: (name: string) => Promise<void>
  releaseSavepoint?: (name: string) => Promise<void>

  readonly #requests: ReadonlyMap<string, PinRequestMode>
  readonly #use: number | undefined
  #target: Target
  #mode: PinRequestMode | 'foreign'
  #holds: string | undefined
  #unknownAtEnd = false
  #committed = false
  #queue: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly inner: AdapterTransaction,
    private readonly pool: PoolPinning,
    private readonly connection: Connection | undefined,
    target: Target,
    settings: RlsSettingNames,
  ) {
    this.provider = inner.provider
    this.adapterName = inner.adapterName
    this.options = inner.options
    this.#requests = new Map((['statement', 'raw', 'batch'] as const).map((m) => [pinRequestSql(settings, m), m]))
    this.#use = pool.checkoutOf(connection)
    this.#holds = pool.heldAt(connection, this.#use)
    this.#target = target
    this.#mode = target.trusted ? 'statement' : 'foreign'
    const savepoint = (call: ((name: string) => Promise<void>) | undefined, forget: boolean) =>
      call === undefined
        ? undefined
        : (name: string) =>
            this.#serial(async () => {
              try {
                await call.call(inner, name)
              } finally {
                // Rolled back to the savepoint: a setting sent after it is undone.
                if (forget) this.#holds = undefined
              }
            })
    this.createSavepoint = savepoint(inner.createSavepoint, false)
    this.rollbackToSavepoint = savepoint(inner.rollbackToSavepoint, true)
    this.releaseSavepoint = savepoint(inner.releaseSavepoint, false)
  }

  queryRaw(query: SqlStatement): Promise<unknown> {
    return this.#statement(query, (q) => this.inner.queryRaw(q))
  }

  executeRaw(query: SqlStatement): Promise<number> {
    const mode = this.#requests.get(query.sql)
    if (mode !== undefined && this.#take(query.args, mode)) return Promise.resolve(0)
    return this.#statement(query, (q) => this.inner.executeRaw(q))
  }

  async commit(): Promise<void> {
    this.pool.settle(this.connection, this.#use, this.#committed && !this.#unknownAtEnd ? this.#holds : undefined)
    await this.inner.commit()
  }

  async rollback(): Promise<void> {
    this.pool.settle(this.connection, this.#use, undefined)
    await this.inner.rollback()
  }

  // A pin request: the settings the next statements need. Only ones naming this adapter's settings.
  #take(args: readonly unknown[], mode: PinRequestMode): boolean {
    const names = this.pool.settings
    const admin = names.adminSetting !== undefined
    if (args.length !== (admin ? 4 : 2) || args[0] !== names.tenantSetting || typeof args[1] !== 'string') return false
    if (admin && (args[2] !== names.adminSetting || (args[3] !== '' && args[3] !== 'on'))) return false
    this.#target = this.pool.target({ tenant: args[1], admin: admin && args[3] === 'on', raw: mode !== 'statement' })
    this.#mode = mode
    if (mode === 'batch') this.#unknownAtEnd = true
    return true
  }

  #statement<T>(query: SqlStatement, run: (q: SqlStatement) => Promise<T>): Promise<T> {
    if (query.sql === COMMIT || query.sql === ROLLBACK) return this.#serial(() => this.#end(query, run))
    const target = this.#target
    const mode = this.#mode
    return this.#serial(async () => {
      try {
        if (this.#holds !== target.key) {
          this.#holds = undefined
          await this.inner.executeRaw(this.pool.pinStatement(target))
          this.#holds = target.key
        }
        return await run(query)
      } catch (e) {
        this.#holds = undefined
        throw e
      } finally {
        // Raw SQL may have changed the settings: pinned again before the next statement of another
        // request; in a transaction not told what its statements are, at its end.
        if (mode === 'raw') this.#holds = undefined
        else if (mode !== 'statement') this.#unknownAtEnd = true
      }
    })
  }

  async #end<T>(query: SqlStatement, run: (q: SqlStatement) => Promise<T>): Promise<T> {
    try {
      const result = await run(query)
      if (query.sql === COMMIT) this.#committed = true
      else this.#holds = undefined
      return result
    } catch (e) {
      this.#holds = undefined
      throw e
    }
  }

  // One statement at a time, each after its pin: concurrent requests on one transaction cannot
  // slip a statement between another's pin and its statement.
  #serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(step)
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    )
    return run
  }
}
