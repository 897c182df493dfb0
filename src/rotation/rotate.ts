// Online, resumable key rotation from old key versions to a new one, for one tenant or all. Each row's data key is moved to the new key version (re-wrap: field ciphertexts
// untouched; re-key: a fresh data key and re-encrypted fields) with a compare-and-swap update on the
// row's key version and wrapped key (and, when re-keying, its encrypted fields and tenant), so a
// concurrent application write is never overwritten: a row changed underneath is read again and
// retried. Every row is updated in one statement, so a killed process leaves each row either on its
// old key or on its new one, and running again continues with what is left.
//
// Scale: keyset pagination on the primary key (no OFFSET), one batch in memory at a time. On
// PostgreSQL and MySQL/MariaDB each batch is claimed with `SELECT ... FOR UPDATE SKIP LOCKED` in a
// READ COMMITTED transaction that also holds the updates, so workers on many machines share a
// table without doing a row twice. SQLite has no row locks: one worker (a second one stays correct
// through the compare-and-swap, but repeats key-provider work).
import { randomUUID } from 'node:crypto'
import { ConfigError, RowcryptError, RotationIncompleteError, type RowFailure } from '../errors'
import { mapLimited, positiveInteger, positiveRate, RateLimiter, yieldToEventLoop } from './limits'
import { indexPrefix } from '../fields/blind-index'
import { cacheKey } from '../crypto/cache-key'
import { clock, parseAge, selectByAge } from './ages'
import { bypass, idText, resolveTarget, rotationContext, selectModels, toCount, type ModelTarget, type RawClient, type RotationContext } from './target'

/**
 * Options of {@link rotateKeys}.
 *
 * @example
 * ```ts
 * const options: RotateKeysOptions = { prisma, fromVersion: 'v1', toVersion: 'v2', batchSize: 500, maxKmsRps: 200 }
 * ```
 */
export interface RotateKeysOptions {
  /** Your Prisma client extended with `rowcrypt()` (its key provider must know every version involved). */
  prisma: unknown
  /** Only this model (default: every configured model). */
  model?: string
  /** Only this tenant's rows (default: every tenant). */
  tenantId?: string
  /** Key version(s) to move rows off (default: every version but `toVersion`). */
  fromVersion?: string | readonly string[]
  /** Key version to move rows to (default: the key provider's active version). */
  toVersion?: string
  /**
   * Rotate by key age instead of naming versions: move the rows whose key is older than this
   * (`'90d'`, `'12h'`, or milliseconds), i.e. rows under key versions created before `now - olderThan`
   * and, with providers that keep per-tenant keys, rows whose tenant key under their version is that
   * old. The selection is made once, before the first row moves. Needs the provider's
   * `keyCreatedAt` (fails closed with `ConfigError` when a version in use has no known creation
   * time); throws `KeyTooOldError` when the target version (or a tenant's key under it) is itself
   * older, since rotating onto it cannot make rows younger. Not with `fromVersion` or `reindex`.
   */
  olderThan?: string | number
  /** The clock key ages are measured against (default: the system clock). */
  now?: () => Date
  /**
   * Re-key instead of re-wrap: a fresh data key per row and its fields re-encrypted under it, for a
   * suspected leak of data keys. Default `false` (re-wrap: only the wrapped key changes).
   */
  rekey?: boolean
  /**
   * Recompute blind indexes instead (after `blindIndex.keyVersion` changed): every row of a model
   * with searchable fields whose index values are not under the active index key version gets
   * them recomputed from its decrypted values; data keys and ciphertexts stay as they are. Same
   * compare-and-swap, batching and workers as a rotation. Default `false`.
   */
  reindex?: boolean
  /** Rows claimed and updated per batch (and per transaction). Default 200. */
  batchSize?: number
  /** Rows of a batch worked on at once (key-provider calls in flight). Default 8. */
  concurrency?: number
  /**
   * Most key-provider requests per second (a re-wrap is one request, a re-key two). Default: no limit.
   * Keeps a rotation under the KMS request quota that the application shares.
   */
  maxKmsRps?: number
  /** Count the rows that would be rotated and change nothing. Resolves to that count. */
  dryRun?: boolean
  /**
   * PostgreSQL schema of the tables, when Prisma is given one (`new PrismaPg(..., { schema })`) and
   * it cannot be found unambiguously. Default: found in `information_schema`.
   */
  dbSchema?: string
  /** Stops after the current batch when aborted; resolves with the rows rotated so far. */
  signal?: AbortSignal
  /** Called after every batch and once at the end (`done: true`). */
  onProgress?: (progress: RotationProgress) => void
}

/**
 * Progress of a {@link rotateKeys} run, across all its models.
 *
 * @example
 * ```ts
 * await rotateKeys({ prisma, onProgress: (p) => log.info(`${p.rotated}/${p.total} ${p.rowsPerSecond.toFixed(0)} rows/s`) })
 * ```
 */
export interface RotationProgress {
  /** The model being worked on. */
  readonly model: string
  /** Rows this run rotated (successful compare-and-swap updates, committed). */
  readonly rotated: number
  /** Rows that could not be rotated (see {@link RotationIncompleteError}). */
  readonly failed: number
  /** Compare-and-swap updates that missed because the row changed underneath (then retried). */
  readonly conflicts: number
  /** Rows to rotate when the run started (other workers may take some of them). */
  readonly total: number
  readonly elapsedMs: number
  readonly rowsPerSecond: number
  /** Estimated seconds left for this worker, when a rate is known. */
  readonly etaSeconds: number | undefined
  /** True on the last call. */
  readonly done: boolean
  /** True when a dry run counted rows without changing any. */
  readonly dryRun: boolean
}

// Errors that concern one row (its key cannot be opened, its tenant is gone): the row is reported
// and skipped. Anything else (the KMS is down, access denied, unknown key version, the database)
// aborts the batch, whose transaction rolls back, and the run.
const ROW_ERRORS = new Set([
  'ERR_ROWCRYPT_DECRYPTION_FAILED',
  'ERR_ROWCRYPT_CIPHERTEXT_FORMAT',
  'ERR_ROWCRYPT_TENANT_SHREDDED',
  'ERR_ROWCRYPT_TENANT_INVALID',
  'ERR_ROWCRYPT_TENANT_MISMATCH',
  'ERR_ROWCRYPT_INVALID_VALUE',
])
const CAS_ATTEMPTS = 5
const MAX_REPORTED_FAILURES = 1000

/**
 * Moves rows' data keys from old key versions to `toVersion`, online, across tenants, and resolves
 * to the number of rows rotated. Re-wrapping
 * uses the provider's `rewrapDataKey` when it has one (AWS KMS direct mode: `ReEncrypt`, so data keys
 * never leave KMS), else unwraps and wraps again in this process; `rekey: true` gives each row a
 * fresh data key and re-encrypts its fields.
 *
 * Safe beside the running application (compare-and-swap per row), resumable (rows already on
 * `toVersion` are never selected), and shareable between processes on PostgreSQL and MySQL/MariaDB
 * (batches claimed with `FOR UPDATE SKIP LOCKED`). Rows that cannot be rotated (a wrapped key that
 * does not unwrap, a shredded tenant) are skipped and, at the end, reported by a
 * {@link RotationIncompleteError}. Switch the application's key provider to the new active version
 * first, so that new rows are written under it.
 *
 * @example
 * ```ts
 * const prisma = base.$extends(rowcrypt({ schema: manifest, keyProvider: new LocalKeyProvider({ keys: { v1, v2 }, activeVersion: 'v2' }), models }))
 * const rotated = await rotateKeys({ prisma, fromVersion: 'v1', toVersion: 'v2', onProgress: (p) => log.info(p) })
 * ```
 */
export async function rotateKeys(options: RotateKeysOptions): Promise<number> {
  const caller = 'rotateKeys'
  if (options === null || typeof options !== 'object') throw new ConfigError(`${caller} needs { prisma, ... }`)
  const ctx = rotationContext(options.prisma, caller)
  const toVersion = options.toVersion ?? ctx.activeKeyVersion
  if (typeof toVersion !== 'string' || toVersion === '') throw new ConfigError(`${caller}: toVersion must be a key version name`)
  const fromVersions = options.fromVersion === undefined ? undefined : typeof options.fromVersion === 'string' ? [options.fromVersion] : [...options.fromVersion]
  if (fromVersions !== undefined) {
    if (fromVersions.length === 0 || fromVersions.some((v) => typeof v !== 'string' || v === '')) throw new ConfigError(`${caller}: fromVersion must name key versions`)
    if (fromVersions.includes(toVersion)) {
      throw new ConfigError(`${caller}: fromVersion includes the target version ${toVersion}; rotation moves rows off old versions (to re-key every row, activate a new version first)`)
    }
  }
  if (options.tenantId !== undefined && (typeof options.tenantId !== 'string' || options.tenantId === '')) throw new ConfigError(`${caller}: tenantId must be a non-empty string`)
  const reindex = options.reindex === true
  if (reindex && (options.rekey === true || options.fromVersion !== undefined || options.toVersion !== undefined || options.olderThan !== undefined)) {
    throw new ConfigError(`${caller}: reindex recomputes blind indexes under the active index key version; it takes no rekey, fromVersion, toVersion or olderThan`)
  }
  const olderThanMs = options.olderThan === undefined ? undefined : parseAge(options.olderThan)
  if (options.olderThan !== undefined) {
    if (olderThanMs === undefined) throw new ConfigError(`${caller}: olderThan must be a number of days or hours ('90d', '12h') or of milliseconds`)
    if (fromVersions !== undefined) throw new ConfigError(`${caller}: olderThan selects the versions to move rows off; it takes no fromVersion`)
  }
  const batchSize = positiveInteger(options.batchSize, 200, 'batchSize', caller)
  const concurrency = positiveInteger(options.concurrency, 8, 'concurrency', caller)
  const maxKmsRps = positiveRate(options.maxKmsRps, 'maxKmsRps', caller)
  const models = reindexable(ctx, selectModels(ctx, options.model, caller), reindex, caller)
  const targets: ModelTarget[] = []
  for (const m of models) targets.push(await resolveTarget(ctx, m, options.dbSchema, caller))
  const byAge =
    olderThanMs === undefined
      ? undefined
      : await selectByAge(ctx, targets, { olderThanMs, label: String(options.olderThan), now: clock(options.now, caller), toVersion, tenantId: options.tenantId }, caller)

  const job: Job = {
    ctx,
    toVersion,
    fromVersions: byAge?.versions ?? fromVersions,
    tenantVersions: byAge?.tenantVersions ?? [],
    tenantVersionKeys: new Set((byAge?.tenantVersions ?? []).map((p) => cacheKey(p.tenantId, p.keyVersion))),
    tenantId: options.tenantId,
    rekey: options.rekey === true,
    reindex: reindex ? { version: ctx.core.indexes!.keyVersion, prefix: indexPrefix(ctx.core.indexes!.keyVersion) } : undefined,
    batchSize,
    concurrency,
    limiter: maxKmsRps === undefined ? undefined : new RateLimiter(maxKmsRps),
    maxKmsRps,
    signal: options.signal,
    reason: `rowcrypt rotate ${randomUUID()}`,
    started: performance.now(),
    total: 0,
    rotated: 0,
    failed: 0,
    conflicts: 0,
    failures: [],
    failedIds: new Set(),
    onProgress: options.onProgress,
  }
  for (const t of targets) job.total += await countEligible(job, t)
  if (options.dryRun === true) {
    report(job, targets[targets.length - 1]?.model ?? '', true, true)
    return job.total
  }
  for (const t of targets) {
    if (job.signal?.aborted === true) break
    await rotateModel(job, t)
  }
  report(job, targets[targets.length - 1]?.model ?? '', true, false)
  if (job.failed > 0) throw new RotationIncompleteError(job.rotated, job.failed, job.failures)
  return job.rotated
}

interface Job {
  readonly ctx: RotationContext
  readonly toVersion: string
  readonly fromVersions: readonly string[] | undefined
  /** Rotation by age: tenants' keys (tenant, version) to move rows off, besides `fromVersions`. */
  readonly tenantVersions: ReadonlyArray<{ readonly tenantId: string; readonly keyVersion: string }>
  readonly tenantVersionKeys: ReadonlySet<string>
  readonly tenantId: string | undefined
  readonly rekey: boolean
  /** Set when recomputing blind indexes: the active index key version and its value prefix. */
  readonly reindex: { readonly version: string; readonly prefix: string } | undefined
  readonly batchSize: number
  readonly concurrency: number
  readonly limiter: RateLimiter | undefined
  readonly maxKmsRps: number | undefined
  readonly signal: AbortSignal | undefined
  readonly reason: string
  readonly started: number
  total: number
  rotated: number
  failed: number
  conflicts: number
  readonly failures: RowFailure[]
  readonly failedIds: Set<string>
  readonly onProgress: ((p: RotationProgress) => void) | undefined
}

type Row = Record<string, unknown>

/** Parameter list whose placeholders follow the order of the SQL text. */
class Params {
  readonly values: unknown[] = []
  constructor(readonly target: ModelTarget) {}
  add(value: unknown): string {
    this.values.push(value)
    return this.target.param(this.values.length)
  }
}

// The rows to rotate: a wrapped key on another version than the target (or on one of `from`, or
// under one of the tenant keys a rotation by age selected), and a tenant.
function eligible(job: Job, t: ModelTarget, p: Params): string {
  if (job.reindex !== undefined)
    return `${reindexEligible(job.reindex.prefix, t, p)} AND ${t.wrappedDek} IS NOT NULL AND ${t.tenantId} <> ''${job.tenantId === undefined ? '' : ` AND ${t.tenantId} = ${p.add(job.tenantId)}`}`
  const versions = job.fromVersions === undefined ? `${t.keyVersion} IS NOT NULL AND ${t.keyVersion} <> ${p.add(job.toVersion)}` : selectedVersions(job, t, p)
  const tenant = job.tenantId === undefined ? '' : ` AND ${t.tenantId} = ${p.add(job.tenantId)}`
  return `${versions} AND ${t.wrappedDek} IS NOT NULL AND ${t.tenantId} <> ''${tenant}`
}

function selectedVersions(job: Job, t: ModelTarget, p: Params): string {
  const any: string[] = []
  if (job.fromVersions!.length > 0) any.push(`${t.keyVersion} IN (${job.fromVersions!.map((v) => p.add(v)).join(', ')})`)
  for (const pair of job.tenantVersions) any.push(`(${t.tenantId} = ${p.add(pair.tenantId)} AND ${t.keyVersion} = ${p.add(pair.keyVersion)})`)
  // Nothing old enough: no row is eligible.
  return any.length === 0 ? '1 = 0' : `(${any.join(' OR ')})`
}

function isEligible(job: Job, t: ModelTarget, row: Row): boolean {
  const version = row[t.spec.columns.keyVersion]
  const tenant = row[t.spec.columns.tenantId]
  if (typeof version !== 'string' || row[t.spec.columns.wrappedDek] == null || typeof tenant !== 'string' || tenant === '') return false
  if (job.tenantId !== undefined && tenant !== job.tenantId) return false
  if (job.reindex !== undefined) return needsReindex(job.reindex.prefix, t, row)
  return job.fromVersions === undefined ? version !== job.toVersion : job.fromVersions.includes(version) || job.tenantVersionKeys.has(cacheKey(tenant, version))
}

async function countEligible(job: Job, t: ModelTarget): Promise<number> {
  const p = new Params(t)
  const rows = (await bypass(job.reason, () => job.ctx.client.$queryRawUnsafe(`SELECT COUNT(*) AS n FROM ${t.table} WHERE ${eligible(job, t, p)}`, ...p.values))) as Array<{ n: unknown }>
  return toCount(rows[0]?.n)
}

async function rotateModel(job: Job, t: ModelTarget): Promise<void> {
  // Passes over the table in primary-key order. A later pass picks up the rows a pass skipped
  // because another transaction held them (FOR UPDATE SKIP LOCKED): another worker, or the
  // application in the middle of a transaction on the row. Done when a pass rotates nothing and
  // saw every row still to rotate (those left then failed, or keep changing underneath); while some
  // of them are held, wait for their lock to go and look again, so that a completed run means every
  // row is on the target (a worker that holds them rotates them meanwhile; a killed worker's locks
  // go with its connection).
  let waitMs = 0
  for (;;) {
    let cursor: unknown
    let passRotated = 0
    let passClaimed = 0
    for (;;) {
      // Let timers and signal handlers run between batches (a synchronous driver never yields).
      await yieldToEventLoop()
      if (job.signal?.aborted === true) return
      const batch = await runBatch(job, t, cursor)
      if (batch.claimed === 0) break
      cursor = batch.lastId
      passClaimed += batch.claimed
      passRotated += batch.rotated
      job.rotated += batch.rotated
      job.conflicts += batch.conflicts
      for (const f of batch.failures) addFailure(job, f)
      report(job, t.model, false, false)
    }
    if (passRotated > 0) {
      waitMs = 0
      continue
    }
    if (job.ctx.dialect === 'sqlite' || (await countEligible(job, t)) <= passClaimed) return
    waitMs = Math.min(LOCK_WAIT_MAX_MS, Math.max(LOCK_WAIT_MIN_MS, waitMs * 2))
    await sleep(waitMs, job.signal)
  }
}

/** Waits between passes over rows held by other transactions: 20 ms, doubling up to 1 s. */
const LOCK_WAIT_MIN_MS = 20
const LOCK_WAIT_MAX_MS = 1000

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}

interface BatchResult {
  claimed: number
  lastId: unknown
  rotated: number
  conflicts: number
  failures: RowFailure[]
}

async function runBatch(job: Job, t: ModelTarget, cursor: unknown): Promise<BatchResult> {
  const work = async (db: RawClient, locking: boolean): Promise<BatchResult> => {
    const p = new Params(t)
    // Placeholders in text order (MySQL and SQLite number them by position).
    const where = eligible(job, t, p)
    const after = cursor === undefined ? '' : ` AND ${t.id} > ${p.add(cursor)}`
    const lock = locking ? ' FOR UPDATE SKIP LOCKED' : ''
    const sql = `SELECT ${selectFor(job, t)} FROM ${t.table} WHERE ${where}${after} ORDER BY ${t.id} LIMIT ${job.batchSize}${lock}`
    const rows = (await db.$queryRawUnsafe(sql, ...p.values)) as Row[]
    const result: BatchResult = { claimed: rows.length, lastId: rows[rows.length - 1]?.[t.idField], rotated: 0, conflicts: 0, failures: [] }
    // 1. New key material for every row (key-provider calls, `concurrency` at once).
    const computed = await mapLimited(rows, job.concurrency, (row) => nextRow(job, t, row, result))
    const pairs = computed.filter((c): c is Pair => c !== undefined)
    // 2. One compare-and-swap statement per chunk of rows.
    const missed: Pair[] = []
    for (let i = 0; i < pairs.length; i += SWAP_CHUNK) {
      const chunk = pairs.slice(i, i + SWAP_CHUNK)
      const swapped = await bulkSwap(job, t, db, chunk)
      for (const pair of chunk) {
        if (swapped.has(idText(pair.old[t.idField]))) result.rotated++
        else missed.push(pair)
      }
    }
    // 3. Rows changed underneath (an application write, another worker): read again and retry.
    for (const pair of missed) {
      result.conflicts++
      if ((await retryRow(job, t, db, pair.old, locking, result)) === 'rotated') result.rotated++
    }
    return result
  }
  if (job.ctx.dialect === 'sqlite') return bypass(job.reason, () => work(job.ctx.client, false))
  // The claim's row locks last until the batch's updates commit: other workers skip these rows,
  // and the application's writes to them wait for the commit (then see the new wrapped key).
  const opsPerRow = job.rekey ? 2 : 1
  const throttled = job.maxKmsRps === undefined ? 0 : Math.ceil(((job.batchSize * opsPerRow) / job.maxKmsRps) * 1000 * 2)
  return bypass(job.reason, () => job.ctx.client.$transaction((tx) => work(tx, true), { isolationLevel: 'ReadCommitted', timeout: 60_000 + throttled, maxWait: 60_000 })) as Promise<BatchResult>
}

interface Pair {
  readonly old: Row
  readonly next: Row
}

const SWAP_CHUNK = 100

// The row's new wrapped key (and, re-keying, new ciphertexts); undefined when the row fails.
async function nextRow(job: Job, t: ModelTarget, row: Row, result: BatchResult): Promise<Pair | undefined> {
  if (!isEligible(job, t, row)) return undefined
  const tenantId = row[t.spec.columns.tenantId] as string
  try {
    await job.limiter?.take(job.rekey ? 2 : 1)
    if (job.reindex !== undefined) return { old: row, next: await reindexedRow(job, t, row, tenantId) }
    const next = job.rekey ? await job.ctx.core.rekeyRow(row, job.toVersion, { model: t.model, tenantId }) : await job.ctx.core.reEncryptRow(row, job.toVersion, { model: t.model, tenantId })
    return { old: row, next }
  } catch (e) {
    if (e instanceof RowcryptError && ROW_ERRORS.has(e.code)) {
      result.failures.push({ model: t.model, id: idText(row[t.idField]), tenantId, code: e.code })
      return undefined
    }
    throw e
  }
}

async function retryRow(job: Job, t: ModelTarget, db: RawClient, initial: Row, locking: boolean, result: BatchResult): Promise<'rotated' | 'gone'> {
  let row = initial
  for (let attempt = 1; attempt <= CAS_ATTEMPTS; attempt++) {
    const p = new Params(t)
    const again = (await db.$queryRawUnsafe(`SELECT ${selectFor(job, t)} FROM ${t.table} WHERE ${t.id} = ${p.add(row[t.idField])}${locking ? ' FOR UPDATE' : ''}`, ...p.values)) as Row[]
    const fresh = again[0]
    if (fresh === undefined) return 'gone'
    const pair = await nextRow(job, t, fresh, result)
    if (pair === undefined) return 'gone'
    if ((await bulkSwap(job, t, db, [pair])).size === 1) return 'rotated'
    result.conflicts++
    row = fresh
  }
  // Still changing after several attempts: left for the next pass.
  return 'gone'
}

// One UPDATE for many rows: each row gets its new wrapped key (and fields) only WHERE it still has
// exactly what was read: id, key version, wrapped key, tenant (and, re-keying, every encrypted
// field). Returns the ids (as text) of the rows it changed.
async function bulkSwap(job: Job, t: ModelTarget, db: RawClient, pairs: readonly Pair[]): Promise<Set<string>> {
  const c = t.spec.columns
  const p = new Params(t)
  const pg = t.dialect === 'postgresql'
  // PostgreSQL types CASE branches of bare parameters as text: cast them to the column's type.
  const cast = (ph: string, type: string) => (pg ? `CAST(${ph} AS ${type})` : ph)
  const one = pairs.length === 1
  const caseOf = (value: (pair: Pair) => unknown, type: string) =>
    one ? cast(p.add(value(pairs[0]!)), type) : `CASE ${t.id}${pairs.map((pair) => ` WHEN ${p.add(pair.old[t.idField])} THEN ${cast(p.add(value(pair)), type)}`).join('')} END`
  const sets: string[] = []
  if (job.reindex !== undefined) for (const i of t.indexes) sets.push(`${i.column} = ${caseOf((pair) => pair.next[i.name] ?? null, 'text')}`)
  else sets.push(`${t.wrappedDek} = ${caseOf((pair) => pair.next[c.wrappedDek], 'bytea')}`, `${t.keyVersion} = ${p.add(job.toVersion)}`)
  if (job.rekey) for (const f of t.fields) sets.push(`${f.column} = ${f.write(caseOf((pair) => pair.next[f.name] ?? null, f.type))}`)
  const conds = pairs.map((pair) => {
    const o = pair.old
    const parts = [`${t.id} = ${p.add(o[t.idField])}`, `${t.keyVersion} = ${p.add(o[c.keyVersion])}`, `${t.wrappedDek} = ${p.add(o[c.wrappedDek])}`, `${t.tenantId} = ${p.add(o[c.tenantId])}`]
    if (job.rekey) for (const f of t.fields) parts.push(t.same(f.read, p.add(o[f.name] ?? null)))
    // Reindexing: the searchable values and their indexes are still what was read.
    if (job.reindex !== undefined) {
      for (const i of t.indexes) parts.push(t.same(t.fields.find((f) => f.name === i.field)!.column, p.add(o[i.field] ?? null)), t.same(i.column, p.add(o[i.name] ?? null)))
    }
    return `(${parts.join(' AND ')})`
  })
  const sql = `UPDATE ${t.table} SET ${sets.join(', ')} WHERE ${conds.join(' OR ')}`
  if (t.dialect !== 'mysql') {
    const rows = (await db.$queryRawUnsafe(`${sql} RETURNING ${t.id} AS id`, ...p.values)) as Array<{ id: unknown }>
    return new Set(rows.map((r) => idText(r.id)))
  }
  // MySQL/MariaDB has no UPDATE ... RETURNING: when fewer rows changed than sent, read back which
  // rows now hold their new wrapped key (each new wrapped key is unique).
  const changed = Number(await db.$executeRawUnsafe(sql, ...p.values))
  if (changed === pairs.length) return new Set(pairs.map((pair) => idText(pair.old[t.idField])))
  if (job.reindex !== undefined) return reindexedIds(t, db, pairs)
  const q = new Params(t)
  const back = (await db.$queryRawUnsafe(
    `SELECT ${t.id} AS id, ${t.wrappedDek} AS w FROM ${t.table} WHERE ${t.id} IN (${pairs.map((pair) => q.add(pair.old[t.idField])).join(', ')})`,
    ...q.values,
  )) as Array<{ id: unknown; w: unknown }>
  const expected = new Map(pairs.map((pair) => [idText(pair.old[t.idField]), pair.next[c.wrappedDek] as Uint8Array]))
  return new Set(back.filter((r) => r.w instanceof Uint8Array && Buffer.from(r.w).equals(Buffer.from(expected.get(idText(r.id)) ?? []))).map((r) => idText(r.id)))
}

// ---- reindexing (blind indexes) ---------------------------------------------------------------

/** The models a run works on: for a reindex, those with searchable fields. */
function reindexable(ctx: RotationContext, models: string[], reindex: boolean, caller: string): string[] {
  if (!reindex) return models
  if (ctx.core.indexes === undefined) throw new ConfigError(`${caller}: reindex needs searchable fields (no model has one)`)
  const out = models.filter((m) => ctx.core.spec(m).indexed.length > 0)
  if (out.length === 0) throw new ConfigError(`${caller}: model ${models.join(', ')} has no searchable field to reindex`)
  return out
}

function selectFor(job: Job, t: ModelTarget): string {
  return job.reindex !== undefined ? t.select(true, true) : t.select(job.rekey)
}

// Rows with a searchable value whose index is missing or under another version than the active one.
function reindexEligible(prefix: string, t: ModelTarget, p: Params): string {
  const len = prefix.length
  const stale = t.indexes.map((i) => {
    const field = t.fields.find((f) => f.name === i.field)!.column
    return `(${i.column} IS NULL AND ${field} IS NOT NULL) OR (${i.column} IS NOT NULL AND SUBSTR(${i.column}, 1, ${len}) <> ${p.add(prefix)})`
  })
  return `(${stale.join(' OR ')})`
}

function needsReindex(prefix: string, t: ModelTarget, row: Row): boolean {
  return t.indexes.some((i) => {
    const index = row[i.name]
    return index == null ? row[i.field] != null : typeof index !== 'string' || !index.startsWith(prefix)
  })
}

// The row's index columns recomputed from its decrypted searchable values.
async function reindexedRow(job: Job, t: ModelTarget, row: Row, tenantId: string): Promise<Row> {
  const encrypted: Row = {}
  for (const k of [t.idField, t.spec.columns.tenantId, t.spec.columns.keyVersion, t.spec.columns.wrappedDek]) encrypted[k] = row[k]
  for (const i of t.indexes) encrypted[i.field] = row[i.field]
  const plain = await job.ctx.core.decryptRow(encrypted, { model: t.model, tenantId })
  const values: Row = {}
  for (const i of t.indexes) values[i.field] = plain[i.field] ?? null
  return job.ctx.core.blindIndexes({ model: t.model, tenantId, data: values })
}

// MySQL without RETURNING: the rows whose index columns now hold exactly their new values.
async function reindexedIds(t: ModelTarget, db: RawClient, pairs: readonly Pair[]): Promise<Set<string>> {
  const q = new Params(t)
  const cols = t.indexes.map((i, n) => `${i.column} AS i${n}`).join(', ')
  const back = (await db.$queryRawUnsafe(`SELECT ${t.id} AS id, ${cols} FROM ${t.table} WHERE ${t.id} IN (${pairs.map((pair) => q.add(pair.old[t.idField])).join(', ')})`, ...q.values)) as Row[]
  const expected = new Map(pairs.map((pair) => [idText(pair.old[t.idField]), pair.next]))
  return new Set(back.filter((r) => t.indexes.every((i, n) => (r[`i${n}`] ?? null) === (expected.get(idText(r.id))?.[i.name] ?? null))).map((r) => idText(r.id)))
}

function addFailure(job: Job, f: RowFailure): void {
  const key = `${f.model}\u0000${f.id}`
  if (job.failedIds.has(key)) return
  job.failedIds.add(key)
  job.failed++
  if (job.failures.length < MAX_REPORTED_FAILURES) job.failures.push(f)
}

function report(job: Job, model: string, done: boolean, dryRun: boolean): void {
  if (job.onProgress === undefined) return
  const elapsedMs = performance.now() - job.started
  const rowsPerSecond = elapsedMs > 0 ? (job.rotated * 1000) / elapsedMs : 0
  const left = Math.max(0, job.total - job.rotated - job.failed)
  const etaSeconds = done ? 0 : rowsPerSecond > 0 ? left / rowsPerSecond : undefined
  job.onProgress({ model, rotated: job.rotated, failed: job.failed, conflicts: job.conflicts, total: job.total, elapsedMs, rowsPerSecond, etaSeconds, done, dryRun })
}
