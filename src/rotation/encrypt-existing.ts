// Encrypts rows written before rowcrypt was turned on, through the extension itself: each
// plaintext row is "touched" by an empty update, which in migrating mode encrypts the whole row
// under a fresh key with a compare-and-swap on it still having none. So the job is idempotent
// (rows already encrypted are never selected or changed), resumable (running it again continues
// with what is left) and safe beside the application's own writes.
import { CiphertextFormatError, ConfigError } from '../errors'
import { unsafeBypassTenantScope } from '../tenant/context'

/** Options of {@link encryptExistingRows}. */
export interface EncryptExistingOptions {
  /** The model to encrypt; it must be configured with `migrating: { legacyIds }`. */
  model: string
  /** Rows read and encrypted per batch. Default 100. */
  batchSize?: number
  /** Rows encrypted at once within a batch. Default 4. */
  concurrency?: number
  /** Stops after the current batch when aborted. */
  signal?: AbortSignal
  /** Called after each batch with the running totals. */
  onBatch?: (progress: EncryptExistingResult) => void
}

/** Totals of {@link encryptExistingRows}. */
export interface EncryptExistingResult {
  /** Rows this run encrypted. */
  encrypted: number
  /** Rows left as they are: no tenant (`''`), or encrypted meanwhile by the application. */
  skipped: number
}

type Row = Record<string, unknown>
interface Delegate {
  findMany(args: unknown): Promise<Row[]>
  update(args: unknown): Promise<unknown>
}
interface DescribedClient {
  $rowcrypt(): { models: Record<string, { columns: { wrappedDek: string; tenantId: string }; idField: string | undefined; migrating: boolean }> }
}

/**
 * Encrypts every row of `model` that has no wrapped data key yet, in batches, across all tenants
 * (each row under its own tenant). Rows whose tenant column is empty are skipped and counted: give
 * them a tenant first. Requires the extended client and `migrating: { legacyIds }` on the model. A
 * row without a key whose id is not in the legacy set fails the job (`ERR_ROWCRYPT_CIPHERTEXT_FORMAT`):
 * it was not written before cutover, so its values are not taken as the row's.
 *
 * @example
 * ```ts
 * const legacyIds = (id: string | number | bigint) => Number(id) <= 104_233 // the largest id at cutover
 * const prisma = base.$extends(rowcrypt({ schema, keyProvider, models: { User: { fields: ['email'], migrating: { legacyIds } } } }))
 * const { encrypted, skipped } = await encryptExistingRows(prisma, { model: 'User', batchSize: 500 })
 * ```
 */
export async function encryptExistingRows(prisma: unknown, options: EncryptExistingOptions): Promise<EncryptExistingResult> {
  const client = prisma as DescribedClient & Record<string, unknown>
  if (typeof client?.$rowcrypt !== 'function') throw new ConfigError('encryptExistingRows needs a client extended with rowcrypt()')
  const model = client.$rowcrypt().models[options.model]
  if (model === undefined) throw new ConfigError(`encryptExistingRows: model ${options.model} is not configured in rowcrypt()`)
  if (!model.migrating) throw new ConfigError(`encryptExistingRows: model ${options.model} must be configured with migrating: { legacyIds: (id) => id <= <largest id at cutover> }`)
  const id = model.idField
  if (id === undefined) throw new ConfigError(`encryptExistingRows: model ${options.model} needs a single-column primary key`)
  const batchSize = positive(options.batchSize ?? 100, 'batchSize')
  const concurrency = positive(options.concurrency ?? 4, 'concurrency')
  const delegate = client[options.model.charAt(0).toLowerCase() + options.model.slice(1)] as Delegate
  const { wrappedDek, tenantId } = model.columns
  const result: EncryptExistingResult = { encrypted: 0, skipped: 0 }
  const asAdmin = <T>(fn: () => Promise<T>) => unsafeBypassTenantScope(`rowcrypt encrypt-existing ${options.model}`, fn)

  let after: unknown
  while (options.signal?.aborted !== true) {
    const where: Row = { [wrappedDek]: null, ...(after === undefined ? {} : { [id]: { gt: after } }) }
    const rows = await asAdmin(() => delegate.findMany({ where, orderBy: { [id]: 'asc' }, take: batchSize, select: { [id]: true, [tenantId]: true } }))
    if (rows.length === 0) break
    after = rows[rows.length - 1]![id]
    const pending = rows.filter((r) => {
      if (typeof r[tenantId] === 'string' && r[tenantId] !== '') return true
      result.skipped++
      return false
    })
    for (let i = 0; i < pending.length; i += concurrency) {
      await Promise.all(
        pending.slice(i, i + concurrency).map(async (r) => {
          try {
            await asAdmin(() => delegate.update({ where: { [id]: r[id] }, data: {}, select: { [id]: true } }))
            result.encrypted++
          } catch (e) {
            // Encrypted (or deleted) by the application meanwhile: the compare-and-swap missed.
            const code = (e as { code?: unknown })?.code
            if (code === 'P2025') result.skipped++
            else if (code === CiphertextFormatError.code) throw new CiphertextFormatError(`encryptExistingRows: model ${options.model}, row ${String(r[id])}: ${(e as Error).message}`, { cause: e })
            else throw e
          }
        }),
      )
    }
    options.onBatch?.({ ...result })
    // A driver that never waits on I/O (better-sqlite3) would run every batch without returning to
    // the event loop, so a signal handler could never abort `signal`: let it run between batches.
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  return result
}

function positive(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`encryptExistingRows: ${name} must be a positive integer`)
  return n
}
