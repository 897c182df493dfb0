// What `rotate`, `status` and `verify` share: the extended client of the config, its metrics, and
// how they print a failing row.
import { ConfigError, type RowFailure } from '../errors'
import type { KeyProvider } from '../keys/provider'
import { rowcrypt } from '../prisma/extension'
import type { RowcryptOptions } from '../prisma/config'
import { rotationStatus, type RotationStatus } from '../rotation/status'
import { ageSeconds } from '../rotation/ages'
import { loadConfig, type LoadedConfig, type RowcryptCliConfig } from './config'
import type { CommandIO } from './io'
import { JsonLines, ProgressBar } from './progress'

/** The config of a job, its extended client and where its tables are. */
export interface Setup {
  loaded: LoadedConfig
  prisma: unknown
  dbSchema: string | undefined
  metrics: NonNullable<RowcryptCliConfig['metrics']> | undefined
  /** The config's key age policy, in days. */
  maxKeyAgeDays: number | undefined
}

/**
 * Loads the config and returns its extended client: its `prisma` when already extended with
 * rowcrypt(), else its `prisma` extended with its `schema`, `models` and `keyProvider` (and `rls`,
 * `observers`). The caller disposes `loaded`.
 */
export async function setup(io: CommandIO, values: { config: string | undefined; 'db-schema': string | undefined }): Promise<Setup> {
  const loaded = await loadConfig({ cwd: io.cwd, configPath: values.config, importModule: io.importModule })
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
      prisma = base.$extends(
        rowcrypt({ schema, models, keyProvider, ...(extra.rls !== undefined ? { rls: extra.rls } : {}), ...(extra.observers !== undefined ? { observers: extra.observers } : {}) }),
      )
    }
    const configSchema = (c as { dbSchema?: unknown }).dbSchema
    if (configSchema !== undefined && (typeof configSchema !== 'string' || configSchema === '')) throw new ConfigError(`${loaded.path}: dbSchema must be a schema name`)
    const metrics = (c as { metrics?: Setup['metrics'] }).metrics
    if (metrics !== undefined && (metrics === null || typeof metrics.setRowsPerKeyVersion !== 'function')) throw new ConfigError(`${loaded.path}: metrics must be what rowcryptMetrics() returns`)
    const maxKeyAgeDays = (c as { maxKeyAgeDays?: unknown }).maxKeyAgeDays
    if (maxKeyAgeDays !== undefined && (typeof maxKeyAgeDays !== 'number' || !Number.isFinite(maxKeyAgeDays) || maxKeyAgeDays <= 0)) {
      throw new ConfigError(`${loaded.path}: maxKeyAgeDays must be a positive number of days`)
    }
    return { loaded, prisma, dbSchema: values['db-schema'] ?? (configSchema as string | undefined), metrics, maxKeyAgeDays }
  } catch (e) {
    await loaded.dispose()
    throw e
  }
}

/** `{ dbSchema }` when the job has one, for the rotation functions' options. */
export const schemaOption = (s: Setup): { dbSchema?: string } => (s.dbSchema !== undefined ? { dbSchema: s.dbSchema } : {})

/**
 * Refreshes the config's rows_per_key_version, plaintext_rows and key_age_seconds gauges (from
 * `status` when given). A model's key age is that of its oldest key version with rows whose
 * creation time is known; none known, and the series is removed.
 */
export async function refreshGauge(s: Setup, status?: RotationStatus): Promise<void> {
  if (s.metrics === undefined) return
  const st = status ?? (await rotationStatus({ prisma: s.prisma, ...schemaOption(s) }))
  const created = new Map(st.keyVersions.map((k) => [k.keyVersion, k.createdAt]))
  for (const m of st.models) {
    s.metrics.setRowsPerKeyVersion(m.model, m.versions)
    s.metrics.setPlaintextRows?.(m.model, m.plaintextRows)
    const times = Object.entries(m.versions).flatMap(([v, n]) => (n > 0 && created.get(v) != null ? [created.get(v)!.getTime()] : []))
    s.metrics.setKeyAgeSeconds?.(m.model, times.length === 0 ? undefined : ageSeconds(new Date(Math.min(...times)), st.checkedAt))
  }
}

/** A failing row in text output: model, id, tenant and error code, never a value. */
export const failureLine = (f: RowFailure): string => `  ${f.model} id=${f.id} tenant=${f.tenantId}: ${f.code}\n`

/** `o` without its undefined entries (for options under exactOptionalPropertyTypes-style checks). */
export function definedOnly<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> }
}

/** `1 row`, `2 rows`. */
export const rows = (n: number, format: (n: number) => string = String): string => `${format(n)} row${n === 1 ? '' : 's'}`

/** What `rotateKeys` and `verifyRows` report as they go. */
interface JobProgress {
  readonly model: string
  readonly done: boolean
  readonly failed: number
  readonly total: number
  readonly rowsPerSecond: number
  readonly etaSeconds: number | undefined
  readonly elapsedMs: number
}

/**
 * The progress output of a job: a bar on stderr (`json` false), else "progress" JSON lines on
 * stdout with the counts `view` gives. `last()` is the latest report, `clear()` removes the bar.
 */
export function progressOutput<P extends JobProgress>(io: CommandIO, json: boolean, view: (p: P) => { label: string; done: number; counts: Record<string, number> }) {
  const lines = new JsonLines(io.out)
  const bar = json ? undefined : new ProgressBar(io.err)
  let last: P | undefined
  const onProgress = (p: P): void => {
    last = p
    if (p.done) return
    const v = view(p)
    if (bar !== undefined) bar.update({ label: v.label, done: v.done, total: p.total, rowsPerSecond: p.rowsPerSecond, etaSeconds: p.etaSeconds, failed: p.failed })
    else lines.emit({ event: 'progress', model: p.model, ...v.counts, total: p.total, rowsPerSecond: p.rowsPerSecond, etaSeconds: p.etaSeconds ?? null, elapsedMs: p.elapsedMs })
  }
  return { lines, onProgress, last: (): P | undefined => last, clear: (): void => bar?.clear() }
}
