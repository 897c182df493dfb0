#!/usr/bin/env node
// The `rowcrypt` command. The only library folder besides examples/ that reads process.env.
import { LocalKeyProvider } from '../keys/local'
import { encryptExistingCommand } from './encrypt-existing'
import { kmsDevServerCommand } from './kms-dev-server'
import { rlsCommand } from './rls'
import { tenantCommand, terminalPrompt, type CommandIO } from './tenant'

const USAGE = `Usage: rowcrypt <command>

Commands:
  keygen          Print a new random 256-bit master key (base64) for LocalKeyProvider
  kms-dev-server  Run a local AWS KMS-compatible server for development (--port 4599)
  tenant shred    Crypto-shred a tenant: destroy its keys (--tenant <id>; reads rowcrypt.config.ts)
  rls sql         Print the PostgreSQL row-level security policies of the scoped models (reads rowcrypt.config.ts)
  encrypt-existing  Encrypt rows written before rowcrypt (--model <Model>; reads rowcrypt.config.ts)
  help            Show this text

Later releases add: rotate, status, verify.
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
    case 'keygen':
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

function processIO(out: (s: string) => void): CommandIO {
  return { out, err: (s) => process.stderr.write(s), cwd: process.cwd(), interactive: process.stdin.isTTY === true, prompt: terminalPrompt }
}

if (require.main === module) {
  void Promise.resolve(main(process.argv.slice(2))).then((code) => {
    process.exitCode = code
  })
}
