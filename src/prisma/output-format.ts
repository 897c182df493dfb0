// Which module format and file type the rowcrypt generator writes. The manifest is imported next
// to the Prisma client, so it follows the client: the rowcrypt block's own `moduleFormat` first,
// then the `prisma-client` generator's, then the same inference Prisma applies when that is unset
// (the `module` of the nearest tsconfig.json, and for node16/nodenext the nearest package.json's
// `type`), and ESM otherwise, as Prisma 7 does.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { ConfigError } from '../errors'

/** `esm` (`export const manifest`) or `cjs` (`exports.manifest`). */
export type ModuleFormat = 'esm' | 'cjs'

/** `js` writes `index.js` and `index.d.ts`; `ts` writes `index.ts`, compiled with your sources. */
export type GeneratedFileExtension = 'js' | 'ts'

/** What the generator writes. */
export interface OutputFormat {
  readonly moduleFormat: ModuleFormat
  readonly extension: GeneratedFileExtension
}

/** The part of a schema's generator block that is read here (Prisma's `GeneratorConfig`). */
export interface GeneratorBlock {
  readonly provider: { readonly value: string | null }
  readonly output?: { readonly value: string | null } | null
  readonly config: Readonly<Record<string, string | string[] | undefined>>
}

const PRISMA_CLIENT = new Set(['prisma-client', 'prisma-client-ts'])

/** Decides the output of the rowcrypt generator block `own` among the schema's `others`. */
export function outputFormat(own: GeneratorBlock, others: readonly GeneratorBlock[]): OutputFormat {
  const extension = option(own, 'generatedFileExtension', ['js', 'ts'] as const) ?? 'js'
  return { moduleFormat: option(own, 'moduleFormat', ['esm', 'cjs'] as const) ?? clientFormat(others), extension }
}

function option<T extends string>(block: GeneratorBlock, name: string, allowed: readonly T[]): T | undefined {
  const value = block.config[name]
  if (value === undefined) return undefined
  const v = typeof value === 'string' ? value.toLowerCase() : value
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(`rowcrypt-generator: ${name} must be ${allowed.map((a) => `"${a}"`).join(' or ')}, not ${JSON.stringify(value)}`)
  }
  return v as T
}

function clientFormat(others: readonly GeneratorBlock[]): ModuleFormat {
  const client = others.find((g) => PRISMA_CLIENT.has(g.provider.value ?? ''))
  if (client === undefined) return others.some((g) => g.provider.value === 'prisma-client-js') ? 'cjs' : 'esm'
  const explicit = client.config.moduleFormat
  if (typeof explicit === 'string' && (explicit.toLowerCase() === 'esm' || explicit.toLowerCase() === 'cjs')) return explicit.toLowerCase() as ModuleFormat
  if (client.config.generatedFileExtension === 'cts' || client.config.importFileExtension === 'cjs') return 'cjs'
  const out = client.output?.value
  return out ? inferredFormat(out) : 'esm'
}

// Prisma's rule for an unset moduleFormat, from the client's output folder.
function inferredFormat(outputDir: string): ModuleFormat {
  const tsconfig = nearest(outputDir, 'tsconfig.json')
  const module = tsconfig === undefined ? undefined : tsconfigModule(tsconfig, 0)?.toLowerCase()
  if (module === undefined) return 'esm'
  if (module === 'commonjs') return 'cjs'
  if (module !== 'node16' && module !== 'nodenext') return 'esm'
  const pkg = nearest(outputDir, 'package.json')
  return pkg !== undefined && (readJsonc(pkg) as { type?: unknown } | undefined)?.type === 'module' ? 'esm' : 'cjs'
}

function nearest(from: string, name: string): string | undefined {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, name))) return join(dir, name)
    if (dirname(dir) === dir) return undefined
  }
}

// `compilerOptions.module`, following relative `extends` (a few levels; packages are not resolved).
function tsconfigModule(file: string, depth: number): string | undefined {
  const config = readJsonc(file) as { compilerOptions?: { module?: unknown }; extends?: unknown } | undefined
  const module = config?.compilerOptions?.module
  if (typeof module === 'string') return module
  const base = config?.extends
  if (depth < 5 && typeof base === 'string' && base.startsWith('.')) {
    const target = resolve(dirname(file), base.endsWith('.json') ? base : `${base}.json`)
    if (existsSync(target)) return tsconfigModule(target, depth + 1)
  }
  return undefined
}

// tsconfig files may hold comments and trailing commas; strings are kept as they are.
function readJsonc(file: string): unknown {
  try {
    const text = readFileSync(file, 'utf8')
      .replace(/("(?:\\.|[^"\\])*")|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (_, s: string | undefined) => s ?? '')
      .replace(/("(?:\\.|[^"\\])*")|,(\s*[}\]])/g, (_, s: string | undefined, close: string | undefined) => s ?? close ?? '')
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
