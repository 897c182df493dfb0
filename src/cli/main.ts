#!/usr/bin/env node
// The `rowcrypt` program: the process around runCli (its streams, terminal, signals and exit code).
// Commands, options and help are in table.ts.
import { EXIT } from './failure'
import { terminalPrompt, type JobIO } from './io'
import { runCli } from './run'
import { trapStopSignals } from './signals'

/**
 * Runs the CLI with `argv` (without node and script) on this process; resolves to the exit code.
 * `out` replaces stdout (tests).
 */
export function main(argv: readonly string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  return runCli(argv, processIO(out), { trapSignals: trapStopSignals })
}

function processIO(out: (s: string) => void): JobIO {
  return {
    out,
    err: (s) => process.stderr.write(s),
    cwd: process.cwd(),
    interactive: process.stdin.isTTY === true,
    prompt: terminalPrompt,
    // Long jobs draw a progress bar when a person watches both output streams.
    tty: process.stdout.isTTY === true && process.stderr.isTTY === true,
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    // runCli reports a command's failures itself, so a rejection here is a fault of rowcrypt's own:
    // one line naming its class, not Node's dump of the error and its properties (which may hold values).
    (e: unknown) => {
      process.stderr.write(`rowcrypt: unexpected ${e instanceof Error ? e.name : typeof e}\n`)
      process.exitCode = EXIT.failures
    },
  )
}
