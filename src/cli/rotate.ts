// `rowcrypt rotate`, `rowcrypt status` and `rowcrypt verify`: key rotation from the command line,
// through the Prisma client and key provider of the application's rowcrypt.config.
//
// Exit codes: 0 success; 1 rows failed (could not be rotated, or did not decrypt) or the job failed
// at run time (database, key provider); 2 usage error (options, config file); 130 stopped by
// SIGINT / SIGTERM after the current batch (run again to continue).
import { parseArgs } from 'node:util'
import { ConfigError, RotationIncompleteError, RowcryptError, type RowFailure } from '../errors'
import type { KeyProvider } from '../keys/provider'
import { rowcrypt } from '../prisma/extension'
import type { RowcryptOptions } from '../prisma/config'
import { rotateKeys, type RotationProgress } from '../rotation/rotate'
import { rotationStatus, type RotationStatus } from '../rotation/status'
import { verifyRows, type VerifyProgress } from '../rotation/verify'
import { loadConfig, type LoadedConfig } from './config'
import { formatCount, formatDuration, JsonLines, ProgressBar } from './progress'
import type { CommandIO } from './tenant'

/** {@link CommandIO} plus whether progress may be drawn on a terminal. */
export interface JobIO extends CommandIO {
  /** True when stdout and stderr are terminals: a progress bar on stderr, text on stdout. */
  tty?: boolean
}

export const EXIT = { ok: 0, failures: 1, usage: 2, interrupted: 130 } as const

const COMMON_OPTIONS = `  --config <path>       Config file (default: rowcrypt.config.ts or .js in this directory)
  --db-schema <name>    PostgreSQL schema of the tables, if it cannot be found (default: from
                        information_schema, or the config's dbSchema)
  --json                JSON output (JSON lines for rotate and verify)
  -h, --help            Show this text`

const EXIT_CODES = `Exit codes:
  0    success
  1    rows failed (listed with their ids), or the job failed (database, key provider)
  2    usage error: unknown or invalid option, missing or invalid config file`

export const ROTATE_USAGE = `Usage: rowcrypt rotate [options]

Moves every row's data key from old key versions to the active one, online: each row is updated
with a compare-and-swap on its key version and wrapped key, so the application keeps running and
none of its writes is lost. Re-wrapping keeps the field ciphertexts (AWS KMS direct mode uses
ReEncrypt, so data keys never leave KMS); --rekey gives each row a fresh data key and re-encrypts
its fields. Safe to stop at any moment (SIGKILL included): run it again to continue. Several
processes may run at once on PostgreSQL and MySQL/MariaDB (batches are claimed with FOR UPDATE
SKIP LOCKED); on SQLite run one.

Options:
  --model <name>        Only this model (default: every configured model)
  --tenant <id>         Only this tenant's rows (default: every tenant)
  --from <version>      Move rows off this key version; repeat or comma-separate for several
                        (default: every version but the target)
  --to <version>        Target key version (default: the key provider's active version)
  --rekey               Fresh data key per row, fields re-encrypted (for a suspected data-key leak)
  --reindex             Recompute blind indexes of searchable fields not under the active index
                        key version (blindIndex.keyVersion); data keys and ciphertexts unchanged
  --batch-size <n>      Rows claimed and updated per transaction (default 200)
  --concurrency <n>     Rows of a batch worked on at once (default 8)
  --max-kms-rps <n>     Most key-provider (KMS) requests per second (default: no limit)
  --dry-run             Count the rows that would be rotated; change nothing
${COMMON_OPTIONS}

Output: a progress bar with rate and ETA on a terminal; JSON lines ("progress", "failure", "done"
events) with --json or when stdout is not a terminal. SIGINT or SIGTERM stops after the current
batch (a second one stops at once; the open batch rolls back).

${EXIT_CODES}
  130  stopped by SIGINT/SIGTERM; run again to continue
`

export const STATUS_USAGE = `Usage: rowcrypt status [options]

Counts each configured model's rows per key version, how many are not yet on the key provider's
active version, and how many are plaintext (no wrapped key). Read-only. Refreshes the
rows_per_key_version and plaintext_rows gauges when the config exports metrics.

Options:
  --model <name>        Only this model
  --by-tenant           Also count per tenant
${COMMON_OPTIONS}

${EXIT_CODES}
`

export const VERIFY_USAGE = `Usage: rowcrypt verify [options]

Decrypts every row of the configured models (or a random sample) with the configured key provider
and lists the rows that fail, with model, id, tenant and error code. Read-only.

Options:
  --model <name>        Only this model
  --tenant <id>         Only this tenant's rows
  --sample <n>          Check n random rows per model instead of every row
  --batch-size <n>      Rows read per query (default 500)
  --concurrency <n>     Rows decrypted at once (default 8)
  --max-kms-rps <n>     Most key-provider (KMS) requests per second (default: no limit)
${COMMON_OPTIONS}

Output: a progress bar on a terminal, then the failing rows and a summary; JSON lines ("progress",
"failure", "done" events) with --json or when stdout is not a terminal.

${EXIT_CODES}
`

class UsageError extends Error {}

type Values = Record<string, string | boolean | string[] | undefined>

function parse(command: string, argv: string[], options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>, io: JobIO, usage: string): Values | number {
  let values: Values
  try {
    values = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }).values as Values
  } catch (e) {
    io.err(`rowcrypt ${command}: ${(e as Error).message}\n\n${usage}`)
    return EXIT.usage
  }
  if (values.help === true) {
    io.out(usage)
    return EXIT.ok
  }
  return values
}

function integer(values: Values, name: string): number | undefined {
  const v = values[name]
  if (v === undefined) return undefined
  const n = Number(v)
  if (typeof v !== 'string' || !/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer`)
  return n
}

function rate(values: Values, name: string): number | undefined {
  const v = values[name]
  if (v === undefined) return undefined
  const n = Number(v)
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number`)
  return n
}

function text(values: Values, name: string): string | undefined {
  const v = values[name]
  if (v === undefined) return undefined
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} needs a value`)
  return v
}

interface Setup {
  loaded: LoadedConfig
  prisma: unknown
  dbSchema: string | undefined
  metrics: { setRowsPerKeyVersion(model: string, counts: Readonly<Record<string, number>>): void; setPlaintextRows?(model: string, rows: number): void } | undefined
}

/**
 * The extended client of the config: its `prisma` when already extended with rowcrypt(), else its
 * `prisma` extended with its `schema`, `models` and `keyProvider` (and `rls`, `observers`).
 */
async function setup(io: JobIO, values: Values): Promise<Setup> {
  const loaded = await loadConfig({ cwd: io.cwd, configPath: text(values, 'config'), importModule: io.importModule })
  try {
    const c = loaded.config
    const base = c.prisma as ({ $extends?: (ext: unknown) => unknown; $rowcrypt?: unknown } & Record<string, unknown>) | undefined | null
    if (base === undefined || base === null || typeof base !== 'object') throw new ConfigError(`${loaded.path} exports no prisma client`)
    let prisma: unknown = base
    if (typeof base.$rowcrypt !== 'function') {
      const { schema, models, keyProvider } = c as { schema?: RowcryptOptions['schema']; models?: RowcryptOptions['models']; keyProvider?: KeyProvider }
      if (schema === undefined || models === undefined || keyProvider === undefined || typeof base.$extends !== 'function') {
        throw new ConfigError(`${loaded.path}: export prisma already extended with rowcrypt(), or the base prisma client with schema, models and keyProvider`)
      }
      const extra = c as { rls?: RowcryptOptions['rls']; observers?: RowcryptOptions['observers'] }
      prisma = base.$extends(rowcrypt({ schema, models, keyProvider, ...(extra.rls !== undefined ? { rls: extra.rls } : {}), ...(extra.observers !== undefined ? { observers: extra.observers } : {}) }))
    }
    const configSchema = (c as { dbSchema?: unknown }).dbSchema
    if (configSchema !== undefined && (typeof configSchema !== 'string' || configSchema === '')) throw new ConfigError(`${loaded.path}: dbSchema must be a schema name`)
    const metrics = (c as { metrics?: Setup['metrics'] }).metrics
    if (metrics !== undefined && (metrics === null || typeof metrics.setRowsPerKeyVersion !== 'function')) throw new ConfigError(`${loaded.path}: metrics must be what rowcryptMetrics() returns`)
    return { loaded, prisma, dbSchema: text(values, 'db-schema') ?? (configSchema as string | undefined), metrics }
  } catch (e) {
    await loaded.dispose()
    throw e
  }
}

async function refreshGauge(s: Setup, status?: RotationStatus): Promise<void> {
  if (s.metrics === undefined) return
  const st = status ?? (await rotationStatus({ prisma: s.prisma, ...(s.dbSchema !== undefined ? { dbSchema: s.dbSchema } : {}) }))
  for (const m of st.models) {
    s.metrics.setRowsPerKeyVersion(m.model, m.versions)
    s.metrics.setPlaintextRows?.(m.model, m.plaintextRows)
  }
}

function describeError(e: unknown): string {
  return `${e instanceof Error ? e.message : String(e)}${e instanceof RowcryptError ? ` (${e.code})` : ''}`
}

/** Usage and configuration problems (bad options, config file, unknown model) → 2; anything else → 1. */
async function guarded(command: string, io: JobIO, usage: string, run: () => Promise<number>): Promise<number> {
  try {
    return await run()
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`rowcrypt ${command}: ${e.message}\n\n${usage}`)
      return EXIT.usage
    }
    io.err(`rowcrypt ${command}: ${describeError(e)}\n`)
    return e instanceof ConfigError ? EXIT.usage : EXIT.failures
  }
}

const failureLine = (f: RowFailure) => `  ${f.model} id=${f.id} tenant=${f.tenantId}: ${f.code}\n`

/** Runs `rowcrypt rotate`; returns the exit code. */
export async function rotateCommand(argv: string[], io: JobIO, signal?: AbortSignal): Promise<number> {
  const values = parse(
    'rotate',
    argv,
    {
      model: { type: 'string' },
      tenant: { type: 'string' },
      from: { type: 'string', multiple: true },
      to: { type: 'string' },
      rekey: { type: 'boolean' },
      reindex: { type: 'boolean' },
      'batch-size': { type: 'string' },
      concurrency: { type: 'string' },
      'max-kms-rps': { type: 'string' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
      config: { type: 'string' },
      'db-schema': { type: 'string' },
    },
    io,
    ROTATE_USAGE,
  )
  if (typeof values === 'number') return values
  return guarded('rotate', io, ROTATE_USAGE, async () => {
    const from = ((values.from as string[] | undefined) ?? []).flatMap((v) => v.split(',')).map((v) => v.trim())
    if (from.some((v) => v === '')) throw new UsageError('--from needs key version names')
    const options = {
      model: text(values, 'model'),
      tenantId: text(values, 'tenant'),
      fromVersion: from.length > 0 ? from : undefined,
      toVersion: text(values, 'to'),
      rekey: values.rekey === true,
      reindex: values.reindex === true,
      batchSize: integer(values, 'batch-size'),
      concurrency: integer(values, 'concurrency'),
      maxKmsRps: rate(values, 'max-kms-rps'),
      dryRun: values['dry-run'] === true,
    }
    if (options.toVersion !== undefined && options.fromVersion?.includes(options.toVersion)) throw new UsageError('--from must not include the --to version')
    if (options.reindex && (options.rekey || options.fromVersion !== undefined || options.toVersion !== undefined)) throw new UsageError('--reindex takes no --rekey, --from or --to')
    const verb = options.reindex ? ['reindex', 'reindexed'] : options.rekey ? ['rekey', 're-keyed'] : ['rotate', 'rotated']
    const json = values.json === true || io.tty !== true
    const s = await setup(io, values)
    const lines = new JsonLines(io.out)
    const bar = json ? undefined : new ProgressBar(io.err)
    let last: RotationProgress | undefined
    const onProgress = (p: RotationProgress) => {
      last = p
      if (p.done) return
      if (bar !== undefined) bar.update({ label: `${verb[0]} ${p.model}`, done: p.rotated + p.failed, total: p.total, rowsPerSecond: p.rowsPerSecond, etaSeconds: p.etaSeconds, failed: p.failed })
      else lines.emit({ event: 'progress', model: p.model, rotated: p.rotated, failed: p.failed, conflicts: p.conflicts, total: p.total, rowsPerSecond: p.rowsPerSecond, etaSeconds: p.etaSeconds ?? null, elapsedMs: p.elapsedMs })
    }
    let failures: readonly RowFailure[] = []
    let failedCount = 0
    let rotated = 0
    try {
      try {
        rotated = await rotateKeys({ prisma: s.prisma, ...definedOnly(options), ...(s.dbSchema !== undefined ? { dbSchema: s.dbSchema } : {}), ...(signal !== undefined ? { signal } : {}), onProgress })
      } catch (e) {
        if (!(e instanceof RotationIncompleteError)) throw e
        rotated = e.rotated
        failedCount = e.failedCount
        failures = e.failures
      } finally {
        bar?.clear()
      }
      const interrupted = signal?.aborted === true
      if (!options.dryRun) {
        try {
          await refreshGauge(s)
        } catch (e) {
          io.err(`rowcrypt rotate: could not refresh the rows_per_key_version gauge: ${describeError(e)}\n`)
        }
      }
      const p = last
      const done = {
        event: 'done',
        dryRun: options.dryRun,
        rekey: options.rekey,
        reindex: options.reindex,
        ...(options.dryRun ? { wouldRotate: rotated } : { rotated }),
        failed: failedCount,
        conflicts: p?.conflicts ?? 0,
        total: p?.total ?? rotated,
        elapsedMs: p?.elapsedMs ?? 0,
        rowsPerSecond: p?.rowsPerSecond ?? 0,
        interrupted,
      }
      if (json) {
        for (const f of failures) lines.emit({ event: 'failure', ...f }, true)
        lines.emit(done, true)
      } else if (options.dryRun) {
        io.out(`Dry run: ${formatCount(rotated)} row${rotated === 1 ? '' : 's'} would be ${verb[1]}; nothing was changed.\n`)
      } else {
        for (const f of failures) io.out(failureLine(f))
        if (failedCount > failures.length) io.out(`  ... and ${formatCount(failedCount - failures.length)} more\n`)
        io.out(
          `${interrupted ? 'Stopped' : 'Done'}: ${formatCount(rotated)} row${rotated === 1 ? '' : 's'} ${verb[1]} in ${formatDuration((p?.elapsedMs ?? 0) / 1000)} (${formatCount(p?.rowsPerSecond ?? 0)} rows/s)` +
            `${failedCount > 0 ? `, ${formatCount(failedCount)} failed` : ''}${(p?.conflicts ?? 0) > 0 ? `, ${formatCount(p!.conflicts)} concurrent writes retried` : ''}.${interrupted ? ' Run again to continue.' : ''}\n`,
        )
      }
      if (failedCount > 0) return EXIT.failures
      return interrupted ? EXIT.interrupted : EXIT.ok
    } finally {
      await s.loaded.dispose()
    }
  })
}

/** Runs `rowcrypt status`; returns the exit code. */
export async function statusCommand(argv: string[], io: JobIO): Promise<number> {
  const values = parse('status', argv, { model: { type: 'string' }, 'by-tenant': { type: 'boolean' }, json: { type: 'boolean' }, config: { type: 'string' }, 'db-schema': { type: 'string' } }, io, STATUS_USAGE)
  if (typeof values === 'number') return values
  return guarded('status', io, STATUS_USAGE, async () => {
    const model = text(values, 'model')
    const s = await setup(io, values)
    try {
      const status = await rotationStatus({ prisma: s.prisma, ...(model !== undefined ? { model } : {}), byTenant: values['by-tenant'] === true, ...(s.dbSchema !== undefined ? { dbSchema: s.dbSchema } : {}) })
      await refreshGauge(s, status)
      if (values.json === true) io.out(`${JSON.stringify(status)}\n`)
      else io.out(renderStatus(status))
      return EXIT.ok
    } finally {
      await s.loaded.dispose()
    }
  })
}

/** The human-readable table of `rowcrypt status`. */
export function renderStatus(status: RotationStatus): string {
  const rows: string[][] = [['MODEL', 'TENANT', 'KEY VERSION', 'ROWS']]
  const byTenant = status.models.some((m) => m.tenants !== undefined)
  const add = (model: string, tenant: string, counts: { versions: Readonly<Record<string, number>>; plaintextRows: number }) => {
    for (const [v, n] of Object.entries(counts.versions)) rows.push([model, tenant, v === status.activeKeyVersion ? `${v} (active)` : v, formatCount(n)])
    if (counts.plaintextRows > 0) rows.push([model, tenant, '(plaintext)', formatCount(counts.plaintextRows)])
  }
  for (const m of status.models) {
    if (m.tenants !== undefined) for (const t of m.tenants) add(m.model, t.tenantId === '' ? "''" : t.tenantId, t)
    else add(m.model, '', m)
  }
  const cols = byTenant ? [0, 1, 2, 3] : [0, 2, 3]
  const widths = cols.map((c) => Math.max(...rows.map((r) => r[c]!.length)))
  const line = (r: string[]) => `${cols.map((c, i) => (c === 3 ? r[c]!.padStart(widths[i]!) : r[c]!.padEnd(widths[i]!))).join('  ')}\n`
  let out = `Active key version: ${status.activeKeyVersion}\n\n`
  if (rows.length === 1) out += '(no rows)\n'
  else out += rows.map(line).join('')
  out += '\n'
  for (const m of status.models) {
    out += `${m.model}: ${formatCount(m.total)} row${m.total === 1 ? '' : 's'}, ${formatCount(m.notActive)} not on ${status.activeKeyVersion}, ${formatCount(m.plaintextRows)} plaintext (no wrapped key)\n`
  }
  return out
}

/** Runs `rowcrypt verify`; returns the exit code. */
export async function verifyCommand(argv: string[], io: JobIO, signal?: AbortSignal): Promise<number> {
  const values = parse(
    'verify',
    argv,
    {
      model: { type: 'string' },
      tenant: { type: 'string' },
      sample: { type: 'string' },
      'batch-size': { type: 'string' },
      concurrency: { type: 'string' },
      'max-kms-rps': { type: 'string' },
      json: { type: 'boolean' },
      config: { type: 'string' },
      'db-schema': { type: 'string' },
    },
    io,
    VERIFY_USAGE,
  )
  if (typeof values === 'number') return values
  return guarded('verify', io, VERIFY_USAGE, async () => {
    const options = { model: text(values, 'model'), tenantId: text(values, 'tenant'), sample: integer(values, 'sample'), batchSize: integer(values, 'batch-size'), concurrency: integer(values, 'concurrency'), maxKmsRps: rate(values, 'max-kms-rps') }
    const json = values.json === true || io.tty !== true
    const s = await setup(io, values)
    const lines = new JsonLines(io.out)
    const bar = json ? undefined : new ProgressBar(io.err)
    let last: VerifyProgress | undefined
    try {
      let result
      try {
        result = await verifyRows({
          prisma: s.prisma,
          ...definedOnly(options),
          ...(s.dbSchema !== undefined ? { dbSchema: s.dbSchema } : {}),
          ...(signal !== undefined ? { signal } : {}),
          onProgress: (p) => {
            last = p
            if (p.done) return
            if (bar !== undefined) bar.update({ label: `verify ${p.model}`, done: p.checked, total: p.total, rowsPerSecond: p.rowsPerSecond, etaSeconds: p.etaSeconds, failed: p.failed })
            else lines.emit({ event: 'progress', model: p.model, checked: p.checked, failed: p.failed, total: p.total, rowsPerSecond: p.rowsPerSecond, etaSeconds: p.etaSeconds ?? null, elapsedMs: p.elapsedMs })
          },
        })
      } finally {
        bar?.clear()
      }
      const interrupted = signal?.aborted === true
      if (json) {
        for (const f of result.failures) lines.emit({ event: 'failure', ...f }, true)
        lines.emit({ event: 'done', checked: result.checked, failed: result.failed, skipped: result.skipped, elapsedMs: last?.elapsedMs ?? 0, rowsPerSecond: last?.rowsPerSecond ?? 0, interrupted }, true)
      } else {
        if (result.failed > 0) io.out(`Rows that fail to decrypt:\n`)
        for (const f of result.failures) io.out(failureLine(f))
        if (result.failed > result.failures.length) io.out(`  ... and ${formatCount(result.failed - result.failures.length)} more\n`)
        io.out(
          `${interrupted ? 'Stopped' : 'Verified'}: ${formatCount(result.checked)} row${result.checked === 1 ? '' : 's'} checked, ${formatCount(result.failed)} failed` +
            `${result.skipped > 0 ? `, ${formatCount(result.skipped)} plaintext rows skipped (migrating)` : ''}.\n`,
        )
      }
      if (result.failed > 0) return EXIT.failures
      return interrupted ? EXIT.interrupted : EXIT.ok
    } finally {
      await s.loaded.dispose()
    }
  })
}

export const KEYGEN_USAGE = `Usage: rowcrypt keygen

Prints a new random 256-bit master key (base64) for LocalKeyProvider, e.g. for a new key version:
add it to your key file or secret store as "v2", make v2 the active version, then run
rowcrypt rotate.

Options:
  -h, --help    Show this text

Exit codes: 0 success, 2 usage error.
`

/**
 * Runs `job` with an AbortSignal that the first SIGINT or SIGTERM aborts (the job stops after its
 * current batch); a second signal exits at once with 130 (the database rolls the open batch back).
 */
export async function withStopSignal(io: Pick<CommandIO, 'err'>, job: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const stop = new AbortController()
  const onSignal = () => {
    if (stop.signal.aborted) {
      io.err('rowcrypt: stopped.\n')
      process.exit(EXIT.interrupted)
    }
    io.err('\nrowcrypt: stopping after the current batch (press Ctrl+C again to stop now)\n')
    stop.abort()
  }
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal)
  try {
    return await job(stop.signal)
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal)
  }
}

function definedOnly<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> }
}
