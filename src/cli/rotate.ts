// `rowcrypt rotate`: key rotation from the command line, through the Prisma client and key
// provider of the application's rowcrypt.config. Options and help: table.ts.
import { RotationIncompleteError, type RowFailure } from '../errors'
import { parseAge } from '../rotation/ages'
import { rotateKeys, type RotationProgress } from '../rotation/rotate'
import { UsageError } from './errors'
import { EXIT, failureText } from './failure'
import type { JobIO } from './io'
import { definedOnly, failureLine, progressOutput, refreshGauge, rows, schemaOption, setup } from './job'
import { formatCount, formatDuration } from './progress'
import { runCli } from './run'
import type { CommandContext } from './spec'
import type { RotateValues } from './table'

export type { JobIO } from './io'
export { statusCommand } from './status'
export { verifyCommand } from './verify'

/** Runs `rowcrypt rotate` with `argv` (the arguments after `rotate`); resolves to the exit code. */
export function rotateCommand(argv: readonly string[], io: JobIO, signal?: AbortSignal): Promise<number> {
  return runCli(['rotate', ...argv], io, signal !== undefined ? { signal } : {})
}

/** The handler of `rowcrypt rotate`. */
export async function runRotate(v: RotateValues, { io, name, signal }: CommandContext): Promise<number> {
  if (v.to !== undefined && v.from.includes(v.to)) throw new UsageError('--from must not include the --to version')
  const olderThan = v['older-than']
  if (olderThan !== undefined && parseAge(olderThan) === undefined) throw new UsageError(`--older-than must be a number of days or hours, like 90d or 12h, not '${olderThan}'`)
  const options = {
    model: v.model,
    tenantId: v.tenant,
    fromVersion: v.from.length > 0 ? v.from : undefined,
    toVersion: v.to,
    olderThan,
    rekey: v.rekey,
    reindex: v.reindex,
    batchSize: v['batch-size'],
    concurrency: v.concurrency,
    maxKmsRps: v['max-kms-rps'],
    dryRun: v['dry-run'],
  }
  const verb = v.reindex ? ['reindex', 'reindexed'] : v.rekey ? ['rekey', 're-keyed'] : ['rotate', 'rotated']
  const json = v.json || io.tty !== true
  const s = await setup(io, v)
  const progress = progressOutput<RotationProgress>(io, json, (p) => ({
    label: `${verb[0]} ${p.model}`,
    done: p.rotated + p.failed,
    counts: { rotated: p.rotated, failed: p.failed, conflicts: p.conflicts },
  }))
  const { lines, onProgress } = progress
  let failures: readonly RowFailure[] = []
  let failedCount = 0
  let rotated = 0
  try {
    try {
      rotated = await rotateKeys({ prisma: s.prisma, ...definedOnly(options), ...schemaOption(s), ...(signal !== undefined ? { signal } : {}), onProgress })
    } catch (e) {
      if (!(e instanceof RotationIncompleteError)) throw e
      rotated = e.rotated
      failedCount = e.failedCount
      failures = e.failures
    } finally {
      progress.clear()
    }
    const interrupted = signal?.aborted === true
    if (!options.dryRun) {
      try {
        await refreshGauge(s)
      } catch (e) {
        io.err(`${name}: could not refresh the rows_per_key_version and key_age_seconds gauges: ${failureText(e)}\n`)
      }
    }
    const p = progress.last()
    const conflicts = p?.conflicts ?? 0
    if (json) {
      for (const f of failures) lines.emit({ event: 'failure', ...f }, true)
      const counts = options.dryRun ? { wouldRotate: rotated } : { rotated }
      lines.emit(
        {
          event: 'done',
          dryRun: options.dryRun,
          rekey: options.rekey,
          reindex: options.reindex,
          ...(olderThan !== undefined ? { olderThan } : {}),
          ...counts,
          failed: failedCount,
          conflicts,
          total: p?.total ?? rotated,
          elapsedMs: p?.elapsedMs ?? 0,
          rowsPerSecond: p?.rowsPerSecond ?? 0,
          interrupted,
        },
        true,
      )
    } else if (options.dryRun) {
      io.out(`Dry run: ${rows(rotated, formatCount)} would be ${verb[1]}; nothing was changed.\n`)
    } else {
      for (const f of failures) io.out(failureLine(f))
      if (failedCount > failures.length) io.out(`  ... and ${formatCount(failedCount - failures.length)} more\n`)
      const extra = `${failedCount > 0 ? `, ${formatCount(failedCount)} failed` : ''}${conflicts > 0 ? `, ${formatCount(conflicts)} concurrent writes retried` : ''}`
      io.out(
        `${interrupted ? 'Stopped' : 'Done'}: ${rows(rotated, formatCount)} ${verb[1]} in ${formatDuration((p?.elapsedMs ?? 0) / 1000)} (${formatCount(p?.rowsPerSecond ?? 0)} rows/s)${extra}.${interrupted ? ' Run again to continue.' : ''}\n`,
      )
    }
    if (failedCount > 0) return EXIT.failures
    return interrupted ? EXIT.interrupted : EXIT.ok
  } finally {
    await s.loaded.dispose()
  }
}
