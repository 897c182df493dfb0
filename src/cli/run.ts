// Runs one command line against the command table: help and version, usage errors, signals, and
// the report of a failure. Every command goes through here, so they all behave alike.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { UsageError } from './errors'
import { reportFailure } from './failure'
import { renderHelp } from './help'
import type { JobIO } from './io'
import { optionPart, parseOptions, resolveCommand, strayArgument } from './parse'
import type { SignalTrap } from './signals'
import { isGroup } from './spec'
import { TABLE, INTRO } from './table'

/** How {@link runCli} reaches the process. */
export interface RunOptions {
  /** Stops the command (after its current batch, for batch jobs) when aborted. */
  readonly signal?: AbortSignal
  /** Traps SIGINT / SIGTERM for commands that declare how they stop; `main` passes the real one. */
  readonly trapSignals?: (mode: 'batch' | 'server', io: JobIO) => SignalTrap
}

/**
 * Runs `rowcrypt` with `argv` (the arguments after the program name); resolves to the exit code.
 * Never rejects: failures are reported on `io` (or as a JSON event under `--json`).
 *
 * @example
 * ```ts
 * process.exitCode = await runCli(['status', '--json'], io)
 * ```
 */
export async function runCli(argv: readonly string[], io: JobIO, options: RunOptions = {}): Promise<number> {
  const flags = optionPart(argv)
  const json = flags.includes('--json')
  const wantsHelp = flags.includes('--help') || flags.includes('-h')
  if (argv[0] === 'help') return help(argv.slice(1), io, json)
  // `rowcrypt --help rotate` is the help of rotate, as `rowcrypt rotate --help` is.
  const at = resolveCommand(TABLE, wantsHelp ? withoutHelp(argv) : argv)
  const name = ['rowcrypt', ...at.path].join(' ')
  try {
    if (at.problem !== undefined && !(wantsHelp && at.entry !== undefined)) throw new UsageError(at.problem)
    if (wantsHelp) {
      io.out(renderHelp(TABLE, at.path, at.entry, INTRO))
      return 0
    }
    if (at.entry === undefined) {
      if (at.rest.length === 0) {
        io.out(renderHelp(TABLE, [], undefined, INTRO))
        return 0
      }
      if (at.rest.length === 1 && (at.rest[0] === '--version' || at.rest[0] === '-v')) {
        io.out(`${packageVersion()}\n`)
        return 0
      }
      throw new UsageError(strayArgument(at.rest[0]!))
    }
    // resolveCommand reports a group without its subcommand as a problem.
    if (isGroup(at.entry)) throw new UsageError(at.problem ?? 'missing subcommand')
    const spec = at.entry
    const values = parseOptions(spec.options, at.rest)
    const trap = spec.stop !== undefined && options.signal === undefined ? options.trapSignals?.(spec.stop, io) : undefined
    try {
      return await spec.run(values as never, { io, name, signal: trap?.signal ?? options.signal })
    } finally {
      trap?.release()
    }
  } catch (e) {
    return reportFailure(io, name, e, json)
  }
}

function help(argv: readonly string[], io: JobIO, json: boolean): number {
  // `rowcrypt help --help` is the help of rowcrypt, as `rowcrypt help` is.
  const at = resolveCommand(TABLE, withoutHelp(argv))
  const extra = at.rest[0]
  if (at.problem !== undefined || extra !== undefined) {
    return reportFailure(io, 'rowcrypt help', new UsageError(at.problem ?? strayArgument(extra!)), json)
  }
  io.out(renderHelp(TABLE, at.path, at.entry, INTRO))
  return 0
}

const withoutHelp = (argv: readonly string[]) => argv.filter((a) => a !== '--help' && a !== '-h')

/** The version in rowcrypt's package.json (two folders up, from src/cli and from dist/cli). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version
}
