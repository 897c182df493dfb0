// `rowcrypt tenant shred --tenant X`: crypto-shredding from the command line, through the key
// provider of the application's rowcrypt.config.
import { parseArgs } from 'node:util'
import { createInterface } from 'node:readline/promises'
import { ConfigError, RowcryptError } from '../errors'
import type { ShredTenantOptions, ShredTenantResult } from '../keys/aws-kms'
import { loadConfig } from './config'

/** What a command needs from its surroundings; `main` passes the real process. */
export interface CommandIO {
  out(s: string): void
  err(s: string): void
  cwd: string
  /** True when a person can answer a prompt. */
  interactive: boolean
  /** Asks a question and resolves with the answer. */
  prompt(question: string): Promise<string>
  /** Loads a config module; default: require / import of the file. */
  importModule?: (path: string) => Promise<unknown>
}

export const TENANT_USAGE = `Usage: rowcrypt tenant shred --tenant <id> [options]

Destroys the tenant's keys (crypto-shredding): every row of the tenant becomes unreadable for good.

Options:
  --tenant <id>                 The tenant to shred (required)
  --config <path>               Config file (default: rowcrypt.config.ts or .js in this directory)
  --kms-keys <action>           The tenant's own KMS keys: schedule-deletion (default), disable, keep
  --pending-window-days <n>     Days before KMS deletes a scheduled key, 7 to 30 (default 30)
  --yes                         Do not ask for confirmation
`

interface Shredder {
  shredTenant(tenantId: string, options?: ShredTenantOptions): Promise<ShredTenantResult>
}

/** Runs `rowcrypt tenant <subcommand>`; returns the exit code. */
export async function tenantCommand(argv: string[], io: CommandIO): Promise<number> {
  const [sub, ...rest] = argv
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    io.out(TENANT_USAGE)
    return sub === undefined ? 2 : 0
  }
  if (sub !== 'shred') {
    io.err(`rowcrypt tenant: unknown subcommand "${sub}"\n\n${TENANT_USAGE}`)
    return 2
  }
  let values: { tenant?: string; config?: string; 'kms-keys'?: string; 'pending-window-days'?: string; yes?: boolean }
  try {
    values = parseArgs({
      args: rest,
      options: { tenant: { type: 'string' }, config: { type: 'string' }, 'kms-keys': { type: 'string' }, 'pending-window-days': { type: 'string' }, yes: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }).values
  } catch (e) {
    io.err(`rowcrypt tenant shred: ${(e as Error).message}\n\n${TENANT_USAGE}`)
    return 2
  }
  const tenantId = values.tenant
  if (tenantId === undefined || tenantId === '') {
    io.err(`rowcrypt tenant shred: --tenant is required\n\n${TENANT_USAGE}`)
    return 2
  }
  const kmsKeys = values['kms-keys']
  if (kmsKeys !== undefined && !['schedule-deletion', 'disable', 'keep'].includes(kmsKeys)) {
    io.err('rowcrypt tenant shred: --kms-keys must be schedule-deletion, disable or keep\n')
    return 2
  }
  const windowText = values['pending-window-days']
  const pendingWindowInDays = windowText === undefined ? undefined : Number(windowText)
  if (pendingWindowInDays !== undefined && !(Number.isInteger(pendingWindowInDays) && pendingWindowInDays >= 7 && pendingWindowInDays <= 30)) {
    io.err('rowcrypt tenant shred: --pending-window-days must be an integer from 7 to 30\n')
    return 2
  }
  if (values.yes !== true) {
    if (!io.interactive) {
      io.err('rowcrypt tenant shred: refusing to shred without --yes when no one can confirm (stdin is not a terminal)\n')
      return 2
    }
    const answer = await io.prompt(`This destroys every key of tenant "${tenantId}"; its rows can never be read again.\nType the tenant id to confirm: `)
    if (answer.trim() !== tenantId) {
      io.err('rowcrypt tenant shred: not confirmed; nothing was changed\n')
      return 1
    }
  }

  let loaded: Awaited<ReturnType<typeof loadConfig>> | undefined
  try {
    loaded = await loadConfig({ cwd: io.cwd, configPath: values.config, importModule: io.importModule })
    const provider = loaded.config.keyProvider as Partial<Shredder> | undefined
    if (provider === undefined || provider === null) throw new ConfigError(`${loaded.path} exports no keyProvider`)
    if (typeof provider.shredTenant !== 'function') throw new ConfigError(`the key provider in ${loaded.path} cannot shred tenants (AwsKmsKeyProvider can)`)
    const result = await provider.shredTenant(tenantId, { ...(kmsKeys !== undefined ? { kmsKeys: kmsKeys as ShredTenantOptions['kmsKeys'] } : {}), ...(pendingWindowInDays !== undefined ? { pendingWindowInDays } : {}) })
    io.out(`Shredded tenant ${tenantId}: ${result.tenantKeysDestroyed} tenant key${result.tenantKeysDestroyed === 1 ? '' : 's'} destroyed.\n`)
    for (const k of result.kmsKeys) {
      const when = k.deletionDate !== undefined ? ` (deletion on ${k.deletionDate.toISOString()})` : ''
      io.out(`  KMS key ${k.keyArn} (version ${k.keyVersion}): ${k.action}${when}\n`)
    }
    return 0
  } catch (e) {
    io.err(`rowcrypt tenant shred: ${e instanceof Error ? e.message : String(e)}${e instanceof RowcryptError ? ` (${e.code})` : ''}\n`)
    return 1
  } finally {
    await loaded?.dispose()
  }
}

/** A prompt on the process's terminal. */
export async function terminalPrompt(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try {
    return await rl.question(question)
  } finally {
    rl.close()
  }
}
