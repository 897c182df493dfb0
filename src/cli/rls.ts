// `rowcrypt rls sql`: prints the row-level security statements for the scoped models of the
// application's rowcrypt.config (its `schema`, `models` and `rls` entries).
import { parseArgs } from 'node:util'
import { ConfigError, RowcryptError } from '../errors'
import { rlsPolicySql, type RlsPolicySource } from '../prisma/rls'
import { loadConfig } from './config'
import type { CommandIO } from './tenant'

export const RLS_USAGE = `Usage: rowcrypt rls sql [options]

Prints the SQL that enables PostgreSQL row-level security on every tenant-scoped model: ENABLE and
FORCE ROW LEVEL SECURITY and one policy per table on its tenant column. Apply it as a migration step.
Reads rowcrypt.config.ts, which must export the options you pass to rowcrypt(): schema (the
generated manifest), models and, if you set it, rls.

Options:
  --config <path>    Config file (default: rowcrypt.config.ts or .js in this directory)
  --schema <name>    Qualify table names with this PostgreSQL schema (default: unqualified)
`

/** Runs `rowcrypt rls <subcommand>`; returns the exit code. */
export async function rlsCommand(argv: string[], io: CommandIO): Promise<number> {
  const [sub, ...rest] = argv
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    io.out(RLS_USAGE)
    return sub === undefined ? 2 : 0
  }
  if (sub !== 'sql') {
    io.err(`rowcrypt rls: unknown subcommand "${sub}"\n\n${RLS_USAGE}`)
    return 2
  }
  let values: { config?: string; schema?: string }
  try {
    values = parseArgs({ args: rest, options: { config: { type: 'string' }, schema: { type: 'string' } }, strict: true, allowPositionals: false }).values
  } catch (e) {
    io.err(`rowcrypt rls sql: ${(e as Error).message}\n\n${RLS_USAGE}`)
    return 2
  }
  let loaded: Awaited<ReturnType<typeof loadConfig>> | undefined
  try {
    loaded = await loadConfig({ cwd: io.cwd, configPath: values.config, importModule: io.importModule })
    const { schema, models, rls } = loaded.config as Partial<RlsPolicySource>
    if (schema === undefined || models === undefined) {
      throw new ConfigError(`${loaded.path} must export schema (the manifest of rowcrypt-generator) and models, as passed to rowcrypt()`)
    }
    io.out(rlsPolicySql({ schema, models, ...(rls !== undefined ? { rls } : {}) }, values.schema !== undefined ? { dbSchema: values.schema } : {}))
    return 0
  } catch (e) {
    io.err(`rowcrypt rls sql: ${e instanceof Error ? e.message : String(e)}${e instanceof RowcryptError ? ` (${e.code})` : ''}\n`)
    return 1
  } finally {
    await loaded?.dispose()
  }
}
