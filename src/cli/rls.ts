// `rowcrypt rls sql`: prints the row-level security statements for the scoped models of the
// application's rowcrypt.config (its `schema`, `models` and `rls` entries). Options and help: table.ts.
import { ConfigError } from '../errors'
import { rlsPolicySql, type RlsPolicySource } from '../prisma/rls'
import { loadConfig } from './config'
import { EXIT } from './failure'
import type { CommandContext } from './spec'
import type { RlsSqlValues } from './table'

/** The handler of `rowcrypt rls sql`. */
export async function runRlsSql(v: RlsSqlValues, { io }: CommandContext): Promise<number> {
  const loaded = await loadConfig({ cwd: io.cwd, configPath: v.config, importModule: io.importModule })
  try {
    const { schema, models, rls } = loaded.config as Partial<RlsPolicySource>
    if (schema === undefined || models === undefined) {
      throw new ConfigError(`${loaded.path} must export schema (the manifest of rowcrypt-generator) and models, as passed to rowcrypt()`)
    }
    io.out(rlsPolicySql({ schema, models, ...(rls !== undefined ? { rls } : {}) }, v['db-schema'] !== undefined ? { dbSchema: v['db-schema'] } : {}))
    return EXIT.ok
  } finally {
    await loaded.dispose()
  }
}
