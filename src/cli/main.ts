#!/usr/bin/env node
// The `rowcrypt` command. The only library folder besides examples/ that reads process.env.
import { LocalKeyProvider } from '../keys/local'
import { encryptExistingCommand } from './encrypt-existing'
import { kmsDevServerCommand } from './kms-dev-server'
import { rlsCommand } from './rls'
import { KEYGEN_USAGE, rotateCommand, statusCommand, verifyCommand, withStopSignal, type JobIO } from './rotate'
import { tenantCommand, terminalPrompt, type CommandIO } from './tenant'

const USAGE = `Usage: rowcrypt <command>

Commands:
  keygen          Print a new random 256-bit master key (base64) for LocalKeyProvider
  kms-dev-server  Run a local AWS KMS-compatible server for development (--port 4599)
  tenant shred    Crypto-shred a tenant: destroy its keys (--tenant <id>; reads rowcrypt.config.ts)
  rls sql         Print the PostgreSQL row-level security policies of the scoped models (reads rowcrypt.config.ts)
  encrypt-existing  Encrypt rows written before rowcrypt (--model <Model>; reads rowcrypt.config.ts)
  rotate          Move rows' data keys to the active key version, online and resumable (docs/rotation.md)
  status          Rows per model and key version; how many are not on the active version
  verify          Decrypt every row (or --sample N) and list the rows that fail
  help            Show this text

Run rowcrypt <command> --help for a command's options.
Exit codes: 0 success, 1 failures found (or the command failed), 2 usage error.
`

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): number | Promise<number> {
  const [command] = argv
  switch (command) {
    case 'kms-dev-server': {
      const stop = new AbortController()
      const onSignal = () => stop.abort()
      process.once('SIGINT', onSignal).once('SIGTERM', onSignal)
      return kmsDevServerCommand(argv.slice(1), processIO(out), stop.signal).finally(() => process.off('SIGINT', onSignal).off('SIGTERM', onSignal))
    }
    case 'tenant':
      return tenantCommand(argv.slice(1), processIO(out))
    case 'encrypt-existing': {
      // SIGINT stops after the current batch; running the command again continues.
      const stop = new AbortController()
      const onSignal = () => stop.abort()
      process.once('SIGINT', onSignal)
      return encryptExistingCommand(argv.slice(1), processIO(out), stop.signal).finally(() => process.off('SIGINT', onSignal))
    }
    case 'rls':
      return rlsCommand(argv.slice(1), processIO(out))
    case 'rotate':
      return withStopSignal(jobIO(out), (signal) => rotateCommand(argv.slice(1), jobIO(out), signal))
    case 'status':
      return statusCommand(argv.slice(1), jobIO(out))
    case 'verify':
      return withStopSignal(jobIO(out), (signal) => verifyCommand(argv.slice(1), jobIO(out), signal))
    case 'keygen':
      if (argv[1] === '--help' || argv[1] === '-h') {
        out(KEYGEN_USAGE)
        return 0
      }
      if (argv.length > 1) {
        process.stderr.write(`rowcrypt keygen: unexpected argument "${argv[1]}"\n\n${KEYGEN_USAGE}`)
        return 2
      }
      out(`${LocalKeyProvider.generateMasterKey()}\n`)
      return 0
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(USAGE)
      return 0
    default:
      process.stderr.write(`rowcrypt: unknown command "${command}"\n\n${USAGE}`)
      return 2
  }
}

// Long jobs draw a progress bar when a person watches both output streams.
function jobIO(out: (s: string) => void): JobIO {
  return { ...processIO(out), tty: process.stdout.isTTY === true && process.stderr.isTTY === true }
}

function processIO(out: (s: string) => void): CommandIO {
  return { out, err: (s) => process.stderr.write(s), cwd: process.cwd(), interactive: process.stdin.isTTY === true, prompt: terminalPrompt }
}

if (require.main === module) {
  void Promise.resolve(main(process.argv.slice(2))).then((code) => {
    process.exitCode = code
  })
}
