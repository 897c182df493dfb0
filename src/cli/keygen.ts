// `rowcrypt keygen`: a new master key for LocalKeyProvider. Help: table.ts.
import { LocalKeyProvider } from '../keys/local'
import { EXIT } from './failure'
import type { CommandContext } from './spec'

/** The handler of `rowcrypt keygen`: prints the key on stdout, and nothing else anywhere. */
export async function runKeygen({ io }: CommandContext): Promise<number> {
  io.out(`${LocalKeyProvider.generateMasterKey()}\n`)
  return EXIT.ok
}
