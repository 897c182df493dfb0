// Decrypts rows straight from the tables (raw SQL, keyset pagination) with the configured key
// provider, and lists the rows that fail, by id and error code. Read-only; plaintext is dropped as
// soon as a row has decrypted.
import { ConfigError, KeyProviderError, RowcryptError, type RowFailure } from '../errors'
import { isLegacyPlaintextRow } from '../fields/row'
import { mapLimited, positiveInteger, positiveRate, RateLimiter, yieldToEventLoop } from './limits'
import { bypass, idText, resolveTarget, rotationContext, selectModels, toCount, type ModelTarget, type RotationContext } from './target'

/**
 * Options of {@link verifyRows}.
 *
 * @example
 * ```ts
 * const options: VerifyRowsOptions = { prisma, model: 'User', sample: 1000 }
 * ```
 */
export interface VerifyRowsOptions {
  /** Your Prisma client extended with `rowcrypt()`. */
  prisma: unknown
  /** Only this model (default: every configured model). */
  model?: string
  /** Only this tenant's rows. */
  tenantId?: string
  /** Check this many randomly chosen rows per model instead of every row. */
  sample?: number
  /** Rows read per query. Default 500. */
  batchSize?: number
  /** Rows decrypted at once. Default 8. */
  concurrency?: number
  /** Most key-provider requests per second. Default: no limit. */
  maxKmsRps?: number
  /** PostgreSQL schema of the tables (see `RotateKeysOptions.dbSchema`). */
  dbSchema?: string
  /** Stops after the current batch when aborted. */
  signal?: AbortSignal
  /** Called after every batch and once at the end (`done: true`). */
  onProgress?: (progress: VerifyProgress) => void
}

/**
 * Progress of {@link verifyRows}.
 *
 * @example
 * ```ts
 * await verifyRows({ prisma, onProgress: (p) => log.info(`${p.checked}/${p.total}, ${p.failed} failed`) })
 * ```
 */
export interface VerifyProgress {
  readonly model: string
  readonly checked: number
  readonly failed: number
  readonly total: number
  readonly elapsedMs: number
  readonly rowsPerSecond: number
  readonly etaSeconds: number | undefined
  readonly done: boolean
}

/**
 * What {@link verifyRows} found.
 *
 * @example
 * ```ts
 * const { checked, failed, failures } = await verifyRows({ prisma })
 * ```
 */
export interface VerifyResult {
  /** Rows decrypted successfully or not (not counting `skipped`). */
  readonly checked: number
  /** Rows that failed to decrypt. */
  readonly failed: number
  /** Rows without a wrapped key in a model in `migrating` mode (plaintext, nothing to decrypt). */
  readonly skipped: number
  /** The first 1,000 failing rows: model, id, tenant and error code. */
  readonly failures: readonly RowFailure[]
}

const MAX_REPORTED_FAILURES = 1000

/**
 * Decrypts every row of the configured models (or `sample` random rows per model), directly from
 * the tables with the client's key provider, and reports those that fail with their ids and error
 * codes (`ERR_ROWCRYPT_DECRYPTION_FAILED`, `ERR_ROWCRYPT_CIPHERTEXT_FORMAT`, ...). Read-only.
 * An unavailable key provider aborts with its error instead of failing every row.
 *
 * @example
 * ```ts
 * const { failed, failures } = await verifyRows({ prisma, sample: 500 })
 * if (failed > 0) alerts.notify({ failed, ids: failures.map((f) => f.id) })
 * ```
 */
export async function verifyRows(options: VerifyRowsOptions): Promise<VerifyResult> {
  const caller = 'verifyRows'
  if (options === null || typeof options !== 'object') throw new ConfigError(`${caller} needs { prisma, ... }`)
  const ctx = rotationContext(options.prisma, caller)
  if (options.tenantId !== undefined && (typeof options.tenantId !== 'string' || options.tenantId === '')) throw new ConfigError(`${caller}: tenantId must be a non-empty string`)
  const sample = options.sample === undefined ? undefined : positiveInteger(options.sample, 1, 'sample', caller)
  const batchSize = positiveInteger(options.batchSize, 500, 'batchSize', caller)
  const concurrency = positiveInteger(options.concurrency, 8, 'concurrency', caller)
  const rps = positiveRate(options.maxKmsRps, 'maxKmsRps', caller)
  const limiter = rps === undefined ? undefined : new RateLimiter(rps)
  const targets: ModelTarget[] = []
  for (const m of selectModels(ctx, options.model, caller)) targets.push(await resolveTarget(ctx, m, options.dbSchema, caller))
  const state = { checked: 0, failed: 0, skipped: 0, total: 0, failures: [] as RowFailure[], started: performance.now() }
  const reason = 'rowcrypt verify'
  const stopped = () => options.signal?.aborted === true
  for (const t of targets) {
    const p = params(t)
    const where = tenantFilter(t, options.tenantId, p)
    const count = toCount(((await bypass(reason, () => ctx.client.$queryRawUnsafe(`SELECT COUNT(*) AS n FROM ${t.table}${where}`, ...p.values))) as Array<{ n: unknown }>)[0]?.n)
    state.total += sample === undefined ? count : Math.min(sample, count)
  }
  const progress = (model: string, done: boolean) => {
    if (options.onProgress === undefined) return
    const elapsedMs = performance.now() - state.started
    const rowsPerSecond = elapsedMs > 0 ? ((state.checked + state.skipped) * 1000) / elapsedMs : 0
    const left = Math.max(0, state.total - state.checked - state.skipped)
    options.onProgress({
      model,
      checked: state.checked,
      failed: state.failed,
      total: state.total,
      elapsedMs,
      rowsPerSecond,
      etaSeconds: done ? 0 : rowsPerSecond > 0 ? left / rowsPerSecond : undefined,
      done,
    })
  }

  const check = async (t: ModelTarget, rows: Array<Record<string, unknown>>) => {
    await yieldToEventLoop()
    await mapLimited(rows, concurrency, async (row) => {
      const outcome = await verifyRow(ctx, t, row, limiter)
      if (outcome === 'skipped') state.skipped++
      else {
        state.checked++
        if (outcome !== 'ok') {
          state.failed++
          if (state.failures.length < MAX_REPORTED_FAILURES) state.failures.push(outcome)
        }
      }
    })
  }

  for (const t of targets) {
    if (stopped()) break
    if (sample !== undefined) {
      // The sample's ids only (small), then the rows in batches.
      const p = params(t)
      const where = tenantFilter(t, options.tenantId, p)
      const random = ctx.dialect === 'mysql' ? 'RAND()' : 'RANDOM()'
      const ids = (
        (await bypass(reason, () => ctx.client.$queryRawUnsafe(`SELECT ${t.id} AS id FROM ${t.table}${where} ORDER BY ${random} LIMIT ${sample}`, ...p.values))) as Array<{ id: unknown }>
      ).map((r) => r.id)
      for (let i = 0; i < ids.length && !stopped(); i += batchSize) {
        const chunk = ids.slice(i, i + batchSize)
        const q = params(t)
        const rows = (await bypass(reason, () =>
          ctx.client.$queryRawUnsafe(`SELECT ${t.select(true)} FROM ${t.table} WHERE ${t.id} IN (${chunk.map((id) => q.add(id)).join(', ')})`, ...q.values),
        )) as Array<Record<string, unknown>>
        await check(t, rows)
        progress(t.model, false)
      }
      continue
    }
    let cursor: unknown
    for (;;) {
      if (stopped()) break
      const p = params(t)
      const conds: string[] = []
      if (options.tenantId !== undefined) conds.push(`${t.tenantId} = ${p.add(options.tenantId)}`)
      if (cursor !== undefined) conds.push(`${t.id} > ${p.add(cursor)}`)
      const sql = `SELECT ${t.select(true)} FROM ${t.table}${conds.length > 0 ? ` WHERE ${conds.join(' AND ')}` : ''} ORDER BY ${t.id} LIMIT ${batchSize}`
      const rows = (await bypass(reason, () => ctx.client.$queryRawUnsafe(sql, ...p.values))) as Array<Record<string, unknown>>
      if (rows.length === 0) break
      cursor = rows[rows.length - 1]![t.idField]
      await check(t, rows)
      progress(t.model, false)
    }
  }
  progress(targets[targets.length - 1]?.model ?? '', true)
  return { checked: state.checked, failed: state.failed, skipped: state.skipped, failures: state.failures }
}

function params(t: ModelTarget) {
  const values: unknown[] = []
  return { values, add: (v: unknown) => (values.push(v), t.param(values.length)) }
}

function tenantFilter(t: ModelTarget, tenantId: string | undefined, p: ReturnType<typeof params>): string {
  return tenantId === undefined ? '' : ` WHERE ${t.tenantId} = ${p.add(tenantId)}`
}

async function verifyRow(ctx: RotationContext, t: ModelTarget, row: Record<string, unknown>, limiter: RateLimiter | undefined): Promise<'ok' | 'skipped' | RowFailure> {
  const tenant = row[t.spec.columns.tenantId]
  const failure = (code: string): RowFailure => ({ model: t.model, id: idText(row[t.idField]), tenantId: typeof tenant === 'string' ? tenant : '', code })
  try {
    if (isLegacyPlaintextRow(t.spec, row)) return 'skipped'
    await limiter?.take(1)
    await ctx.core.decryptRow(row, { model: t.model, tenantId: tenant as string })
    return 'ok'
  } catch (e) {
    // The key provider is down or refuses: every row would fail; stop instead.
    if (e instanceof KeyProviderError) throw e
    if (e instanceof RowcryptError) return failure(e.code)
    // A value that authenticated but does not decode (e.g. JSON): still a failing row.
    return failure('ERR_ROWCRYPT_INVALID_VALUE')
  }
}
