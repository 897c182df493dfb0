// `rowcrypt tenant shred`: crypto-shredding from the command line, through the key provider of the
// application's rowcrypt.config. Options and help: table.ts.
import { ConfigError } from '../errors'
import type { ShredTenantOptions, ShredTenantResult } from '../keys/aws-kms'
import { loadConfig } from './config'
import { UsageError } from './errors'
import { EXIT } from './failure'
import type { CommandIO } from './io'
import { runCli } from './run'
import type { CommandContext } from './spec'
import type { ShredValues } from './table'

export type { CommandIO } from './io'

interface Shredder {
  shredTenant(tenantId: string, options?: ShredTenantOptions): Promise<ShredTenantResult>
}

/** Runs `rowcrypt tenant` with `argv` (the arguments after `tenant`: `shred ...`); resolves to the exit code. */
export function tenantCommand(argv: readonly string[], io: CommandIO): Promise<number> {
  return runCli(['tenant', ...argv], io)
}

/** The handler of `rowcrypt tenant shred`. */
export async function runShred(v: ShredValues, { io, name }: CommandContext): Promise<number> {
  const tenantId = v.tenant
  if (!v.yes) {
    if (!io.interactive) throw new UsageError('refusing to shred without --yes when no one can confirm (stdin is not a terminal)')
    const answer = await io.prompt(`This destroys every key of tenant "${tenantId}"; its rows can never be read again.\nType the tenant id to confirm: `)
    if (answer.trim() !== tenantId) {
      io.err(`${name}: not confirmed; nothing was changed\n`)
      return EXIT.failures
    }
  }
  const loaded = await loadConfig({ cwd: io.cwd, configPath: v.config, importModule: io.importModule })
  try {
    const provider = loaded.config.keyProvider as Partial<Shredder> | undefined
    if (provider === undefined || provider === null) throw new ConfigError(`${loaded.path} exports no keyProvider`)
    if (typeof provider.shredTenant !== 'function') throw new ConfigError(`the key provider in ${loaded.path} cannot shred tenants (AwsKmsKeyProvider and LocalKeyProvider with a tenantKeyStore can)`)
    const kmsKeys = v['kms-keys'] as ShredTenantOptions['kmsKeys'] | undefined
    const pendingWindowInDays = v['pending-window-days']
    const result = await provider.shredTenant(tenantId, { ...(kmsKeys !== undefined ? { kmsKeys } : {}), ...(pendingWindowInDays !== undefined ? { pendingWindowInDays } : {}) })
    if (v.json) {
      io.out(`${JSON.stringify({ event: 'done', ...result })}\n`)
      return EXIT.ok
    }
    io.out(`Shredded tenant ${tenantId}: ${result.tenantKeysDestroyed} tenant key${result.tenantKeysDestroyed === 1 ? '' : 's'} destroyed.\n`)
    for (const k of result.kmsKeys) {
      const when = k.deletionDate !== undefined ? ` (deletion on ${k.deletionDate.toISOString()})` : ''
      io.out(`  KMS key ${k.keyArn} (version ${k.keyVersion}): ${k.action}${when}\n`)
    }
    return EXIT.ok
  } finally {
    await loaded.dispose()
  }
}
