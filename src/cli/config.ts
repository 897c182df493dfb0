// Loads the application's rowcrypt set-up for the CLI commands that need it (`tenant shred`,
// `rls sql`, `encrypt-existing`, rotation): `rowcrypt.config.ts` (or .cts, .mts, .js, .cjs, .mjs) in
// the working directory, or the file given with `--config`.
import { existsSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { ConfigError, RowcryptError } from '../errors'
import { prismaReason } from './db-error'
import type { KeyProvider } from '../keys/provider'

/**
 * What a `rowcrypt.config.ts` (or `.js`) exports, as its default export, `module.exports`, or named
 * exports: the objects your application builds at start-up. A function (sync or async) returning
 * it is accepted too, so the file can connect lazily. Commands use the entries they need and ignore
 * the rest.
 *
 * @example
 * ```ts
 * // rowcrypt.config.ts
 * import { KMSClient } from '@aws-sdk/client-kms'
 * import { AwsKmsKeyProvider, PrismaTenantKeyStore } from 'rowcrypt'
 * import type { RowcryptCliConfig } from 'rowcrypt/config'
 * import { PrismaClient } from './src/generated/client/client'
 *
 * export default async (): Promise<RowcryptCliConfig> => {
 *   const prisma = new PrismaClient({ adapter })
 *   const keyProvider = new AwsKmsKeyProvider({
 *     client: new KMSClient({ region: 'eu-west-1' }),
 *     keys: { v1: 'alias/rowcrypt-v1' },
 *     activeVersion: 'v1',
 *     tenantKeyStore: new PrismaTenantKeyStore({ prisma }),
 *   })
 *   return { prisma, keyProvider }
 * }
 * ```
 */
export interface RowcryptCliConfig {
  /** Your Prisma client (base, or extended with rowcrypt); disconnected when the command ends. */
  prisma?: unknown
  /** The key provider your application uses. */
  keyProvider?: KeyProvider
  /** Called when the command ends (close pools, clients). */
  close?: () => void | Promise<void>
  /**
   * `rotate`, `status`, `verify`: the PostgreSQL schema of the tables when the Prisma client is given
   * one (`new PrismaPg(..., { schema })`) and it cannot be found unambiguously (docs/rotation.md).
   */
  dbSchema?: string
  /** `rotate`, `status`: what `rowcryptMetrics()` returned; its `rows_per_key_version`, `plaintext_rows` and `key_age_seconds` gauges are refreshed. */
  metrics?: {
    setRowsPerKeyVersion(model: string, counts: Readonly<Record<string, number>>): void
    setPlaintextRows?(model: string, rows: number): void
    setKeyAgeSeconds?(model: string, seconds: number | undefined): void
  }
  /**
   * `status`: the key age policy, in days. `status` exits 3 when a key version that still has rows
   * (or, with `--by-tenant`, a tenant key) is older, or of unknown age. `--max-key-age-days` overrides it.
   */
  maxKeyAgeDays?: number
  /** Further entries for other commands (schema, models, ...). */
  readonly [key: string]: unknown
}

/** A loaded config and the file it came from. */
export interface LoadedConfig {
  readonly path: string
  readonly config: RowcryptCliConfig
  /** Runs `close`, disconnects `prisma` and drops cached keys. Never throws. */
  dispose(): Promise<void>
}

/** File names looked for in the working directory, in this order. */
export const CONFIG_FILE_NAMES = ['rowcrypt.config.ts', 'rowcrypt.config.cts', 'rowcrypt.config.mts', 'rowcrypt.config.js', 'rowcrypt.config.cjs', 'rowcrypt.config.mjs'] as const

/**
 * Finds and loads the config: `configPath` (relative to `cwd`) when given, else the first of
 * {@link CONFIG_FILE_NAMES} in `cwd`. Files are loaded with jiti, so TypeScript and ES module
 * configs need neither ts-node nor tsx. `importModule` replaces the module loading (for tests and
 * embedding).
 *
 * @example
 * ```ts
 * const { config, dispose } = await loadConfig({ cwd: process.cwd(), configPath: args.config })
 * try { await run(config) } finally { await dispose() }
 * ```
 */
export async function loadConfig(options: { cwd: string; configPath?: string | undefined; importModule?: ((path: string) => Promise<unknown>) | undefined }): Promise<LoadedConfig> {
  const path = findConfig(options.cwd, options.configPath)
  let mod: unknown
  try {
    mod = await (options.importModule ?? importFile)(path)
  } catch (cause) {
    if (cause instanceof RowcryptError) throw cause
    throw new ConfigError(`cannot load ${path}: ${reason(cause)}`, { cause })
  }
  const config = await resolveExport(mod, path)
  return { path, config, dispose: () => dispose(config) }
}

/**
 * Identity helper that types a `rowcrypt.config.ts`.
 *
 * @example
 * ```ts
 * export default defineConfig(async () => ({ prisma, keyProvider }))
 * ```
 */
export function defineConfig<T extends RowcryptCliConfig | (() => RowcryptCliConfig | Promise<RowcryptCliConfig>)>(config: T): T {
  return config
}

function findConfig(cwd: string, configPath: string | undefined): string {
  if (configPath !== undefined) {
    const p = isAbsolute(configPath) ? configPath : resolve(cwd, configPath)
    if (!existsSync(p)) throw new ConfigError(`config file ${p} does not exist`)
    return p
  }
  for (const name of CONFIG_FILE_NAMES) {
    const p = resolve(cwd, name)
    if (existsSync(p)) return p
  }
  throw new ConfigError(`no rowcrypt.config.ts (or .cts, .mts, .js, .cjs, .mjs) in ${cwd}; create one exporting { prisma, keyProvider } or pass --config <path>`)
}

// Every config is loaded through jiti, as Prisma loads prisma.config.ts: TypeScript (.ts, .mts,
// .cts) and ES modules need no loader installed in the project. jiti shares Node's module cache, so
// the config's `import 'rowcrypt'` is the same instance as the command's (one tenant context).
async function importFile(path: string): Promise<unknown> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- jiti loads only when a config file is read
  const { createJiti } = require('jiti') as typeof import('jiti')
  return createJiti(path, { interopDefault: false }).import(path)
}

async function resolveExport(mod: unknown, path: string): Promise<RowcryptCliConfig> {
  let value = mod as Record<string, unknown> | undefined
  if (value !== null && typeof value === 'object' && 'default' in value && value.default !== undefined) value = value.default as Record<string, unknown>
  if (typeof value === 'function') {
    try {
      value = (await (value as () => unknown)()) as Record<string, unknown>
    } catch (cause) {
      if (cause instanceof RowcryptError) throw cause
      throw new ConfigError(`the function exported by ${path} failed: ${reason(cause)}`, { cause })
    }
  }
  if (value === null || typeof value !== 'object') throw new ConfigError(`${path} must export an object { prisma, keyProvider, ... } or a function returning one`)
  return value as RowcryptCliConfig
}

// One line: the first of the message, or for Prisma's errors (whose messages start with a code
// frame of the call) the reason after the frame.
function reason(cause: unknown): string {
  const message = cause instanceof Error ? cause.message : String(cause)
  if (cause instanceof Error && cause.name.startsWith('PrismaClient')) return prismaReason(message)
  return (
    message
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '') ?? ''
  )
}

async function dispose(config: RowcryptCliConfig): Promise<void> {
  const steps: Array<() => unknown> = [
    () => config.close?.(),
    () => (config.prisma as { $disconnect?: () => Promise<void> } | undefined)?.$disconnect?.(),
    () => (config.keyProvider as { clearCache?: () => void } | undefined)?.clearCache?.(),
  ]
  for (const step of steps) {
    try {
      await step()
    } catch {
      // Closing is best effort; the command's own outcome is what the user needs.
    }
  }
}
