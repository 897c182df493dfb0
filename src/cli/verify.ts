// `rowcrypt verify`: decrypts rows and lists those that fail, read-only. Options and help: table.ts.
import { verifyRows, type VerifyProgress } from '../rotation/verify'
import { EXIT } from './failure'
import type { JobIO } from './io'
import { definedOnly, failureLine, progressOutput, rows, schemaOption, setup } from './job'
import { formatCount } from './progress'
import { runCli } from './run'
import type { CommandContext } from './spec'
import type { VerifyValues } from './table'

/** Runs `rowcrypt verify` with `argv` (the arguments after `verify`); resolves to the exit code. */
export function verifyCommand(argv: readonly string[], io: JobIO, signal?: AbortSignal): Promise<number> {
  return runCli(['verify', ...argv], io, signal !== undefined ? { signal } : {})
}

/** The handler of `rowcrypt verify`. */
export async function runVerify(v: VerifyValues, { io, signal }: CommandContext): Promise<number> {
  const options = { model: v.model, tenantId: v.tenant, sample: v.sample, batchSize: v['batch-size'], concurrency: v.concurrency, maxKmsRps: v['max-kms-rps'] }
  const json = v.json || io.tty !== true
  const s = await setup(io, v)
  const progress = progressOutput<VerifyProgress>(io, json, (p) => ({ label: `verify ${p.model}`, done: p.checked, counts: { checked: p.checked, failed: p.failed } }))
  const { lines, onProgress } = progress
  try {
    let result
    try {
      result = await verifyRows({ prisma: s.prisma, ...definedOnly(options), ...schemaOption(s), ...(signal !== undefined ? { signal } : {}), onProgress })
    } finally {
      progress.clear()
    }
    const interrupted = signal?.aborted === true
    if (json) {
      for (const f of result.failures) lines.emit({ event: 'failure', ...f }, true)
      lines.emit(
        {
          event: 'done',
          checked: result.checked,
          failed: result.failed,
          skipped: result.skipped,
          elapsedMs: progress.last()?.elapsedMs ?? 0,
          rowsPerSecond: progress.last()?.rowsPerSecond ?? 0,
          interrupted,
        },
        true,
      )
    } else {
      if (result.failed > 0) io.out('Rows that fail to decrypt:\n')
      for (const f of result.failures) io.out(failureLine(f))
      if (result.failed > result.failures.length) io.out(`  ... and ${formatCount(result.failed - result.failures.length)} more\n`)
      const skipped = result.skipped > 0 ? `, ${formatCount(result.skipped)} plaintext rows skipped (migrating)` : ''
      io.out(`${interrupted ? 'Stopped' : 'Verified'}: ${rows(result.checked, formatCount)} checked, ${formatCount(result.failed)} failed${skipped}.\n`)
    }
    if (result.failed > 0) return EXIT.failures
    return interrupted ? EXIT.interrupted : EXIT.ok
  } finally {
    await s.loaded.dispose()
  }
}
