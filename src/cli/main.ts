#!/usr/bin/env node
// The `rowcrypt` command. The only library folder besides examples/ that reads process.env.
import { LocalKeyProvider } from '../keys/local'

const USAGE = `Usage: rowcrypt <command>

Commands:
  keygen        Print a new random 256-bit master key (base64) for LocalKeyProvider
  help          Show this text

Later releases add: rotate, status, verify, kms-dev-server.
`

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): number {
  const [command] = argv
  switch (command) {
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

if (require.main === module) process.exitCode = main(process.argv.slice(2))
