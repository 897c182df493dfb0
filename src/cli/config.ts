// Loads the application's rowcrypt set-up for CLI commands that need it (`tenant shred`, rotation):
// `rowcrypt.config.ts` / `.js` in the working directory, or the file given with `--config`.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { extname, isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ConfigError, RowcryptError } from '../errors'
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
 * import { AwsKmsKeyProvider, PrismaTenantKeyStore, type RowcryptCliConfig } from 'rowcrypt'
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
  /** `rotate`, `status`: what `rowcryptMetrics()` returned; its `rows_per_key_version` and `plaintext_rows` gauges are refreshed. */
  metrics?: { setRowsPerKeyVersion(model: string, counts: Readonly<Record<string, number>>): void; setPlaintextRows?(model: string, rows: number): void }
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
 * {@link CONFIG_FILE_NAMES} in `cwd`. TypeScript files are loaded through ts-node or tsx when the
 * project has one installed (or when already running under one). `importModule` replaces the
 * module loading (for tests and embedding).
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
    throw new ConfigError(`cannot load ${path}: ${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}`, { cause })
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
  throw new ConfigError(`no rowcrypt.config.ts or rowcrypt.config.js in ${cwd}; create one exporting { prisma, keyProvider } or pass --config <path>`)
}

async function importFile(path: string): Promise<unknown> {
  const ext = extname(path)
  if (ext === '.mjs') return dynamicImport(path)
  const req = createRequire(path)
  if (ext === '.ts' || ext === '.cts' || ext === '.mts') registerTypeScript(req, path)
  try {
    return req(path)
  } catch (e) {
    // An ES module `.js` (package "type": "module") cannot be required on this Node version.
    if ((e as { code?: unknown } | null)?.code === 'ERR_REQUIRE_ESM') return dynamicImport(path)
    throw e
  }
}

// `import()` kept out of reach of the CommonJS compilation, which would turn it into require().
const dynamicImport = (path: string): Promise<unknown> => (new Function('u', 'return import(u)') as (u: string) => Promise<unknown>)(pathToFileURL(path).href)

function registerTypeScript(req: NodeRequire, path: string): void {
  const extensions = (req as unknown as { extensions?: Record<string, unknown> }).extensions
  if (extensions?.['.ts'] !== undefined) return
  // The project's own TypeScript loader, resolved from the config file's directory.
  try {
    const tsNode = req('ts-node') as { register(options: object): void }
    tsNode.register({ transpileOnly: true, compilerOptions: { module: 'commonjs' } })
    return
  } catch {
    // try tsx next
  }
  try {
    const tsx = req('tsx/cjs/api') as { register(): void }
    tsx.register()
    return
  } catch {
    throw new ConfigError(`${path} is TypeScript: install ts-node or tsx in the project, run through one, or write rowcrypt.config.js`)
  }
}

async function resolveExport(mod: unknown, path: string): Promise<RowcryptCliConfig> {
  let value = mod as Record<string, unknown> | undefined
  if (value !== null && typeof value === 'object' && 'default' in value && value.default !== undefined) value = value.default as Record<string, unknown>
  if (typeof value === 'function') {
    try {
      value = (await (value as () => unknown)()) as Record<string, unknown>
    } catch (cause) {
      if (cause instanceof RowcryptError) throw cause
      throw new ConfigError(`the function exported by ${path} failed: ${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}`, { cause })
    }
  }
  if (value === null || typeof value !== 'object') throw new ConfigError(`${path} must export an object { prisma, keyProvider, ... } or a function returning one`)
  return value as RowcryptCliConfig
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
