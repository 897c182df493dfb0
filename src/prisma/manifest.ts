// The schema facts rowcrypt needs (models, field kinds and types, relations, primary keys),
// written at `prisma generate` time by the rowcrypt generator. Read at setup, never parsed from
// schema.prisma at run time and never taken from Prisma's private client fields.
import type { OutputFormat } from './output-format'

/** One field of a model, as the generator records it. */
export interface ManifestField {
  readonly kind: 'scalar' | 'object' | 'enum' | 'unsupported'
  /** Scalar type (`String`, `Int`, `Bytes`, ...), enum name, or related model name. */
  readonly type: string
  readonly isList: boolean
  readonly isRequired: boolean
  readonly isId: boolean
  /** Name of the default function (`uuid`, `cuid`, `autoincrement`, ...), if any. */
  readonly default?: string
  /** Arguments of the default function, e.g. `[7]` for `uuid(7)`. */
  readonly defaultArgs?: readonly unknown[]
  /** For a relation that holds the foreign key: the local foreign-key fields. */
  readonly relationFromFields?: readonly string[]
  /** For a relation that holds the foreign key: the referenced fields of the related model. */
  readonly relationToFields?: readonly string[]
  /** The database column name, when it differs from the field name (`@map`). */
  readonly dbName?: string
}

/** One model, as the generator records it. */
export interface ManifestModel {
  readonly fields: Readonly<Record<string, ManifestField>>
  /** The primary key's field names (one for `@id`, several for `@@id`). */
  readonly primaryKey: readonly string[]
  /** The database table name, when it differs from the model name (`@@map`). */
  readonly dbName?: string
  /** The database schema of the table, when the model names one (`@@schema`, multiSchema). */
  readonly schema?: string
  /**
   * Unique constraints other than the primary key (`@unique`, `@@unique`): their fields and, for
   * `@@unique(name: ...)`, the name Prisma's unique input uses. Absent in older manifests.
   */
  readonly uniques?: ReadonlyArray<{ readonly name?: string; readonly fields: readonly string[] }>
  /** True for a `view` block (the `views` preview feature): rows the database derives from tables. */
  readonly isView?: boolean
}

/**
 * What the `rowcrypt-generator` writes to `<output>/index.js` and `index.d.ts` (or `index.ts`), and
 * what `rowcrypt({ schema })` takes. The literal type of the generated declaration lets the config map
 * be checked against your own model and field names at compile time.
 *
 * The module format follows the schema's `prisma-client` generator (ESM unless it says or infers
 * `cjs`); `moduleFormat = "esm" | "cjs"` in the rowcrypt block overrides it, and
 * `generatedFileExtension = "ts"` writes one `index.ts` to compile with your sources instead.
 *
 * @example
 * ```prisma
 * generator rowcrypt {
 *   provider = "rowcrypt-generator"
 *   output   = "../src/generated/rowcrypt"
 * }
 * ```
 * ```ts
 * import { manifest } from './generated/rowcrypt/index.js'
 * prisma.$extends(rowcrypt({ schema: manifest, keyProvider, models: { User: { fields: ['email'] } } }))
 * ```
 */
export interface Manifest {
  readonly version: 1
  readonly provider: string
  readonly models: Readonly<Record<string, ManifestModel>>
}

/** Minimal structural view of Prisma's DMMF datamodel that the generator reads. */
export interface DmmfLikeDatamodel {
  models: ReadonlyArray<{
    name: string
    dbName?: string | null
    schema?: string | null
    primaryKey: { fields: readonly string[] } | null
    uniqueIndexes?: ReadonlyArray<{ name?: string | null; fields: readonly string[] }>
    fields: ReadonlyArray<{
      name: string
      dbName?: string | null
      kind: string
      type: string
      isList: boolean
      isRequired: boolean
      isId: boolean
      isUnique?: boolean
      default?: unknown
      relationFromFields?: readonly string[]
      relationToFields?: readonly string[]
    }>
  }>
}

/**
 * The names of the `view` blocks of a schema's text. Prisma's datamodel lists views among the
 * models without telling them apart, so the generator reads the schema it is given.
 */
export function viewNames(schemaText: string): Set<string> {
  // Comments first: a commented-out view is not one.
  const text = schemaText.replace(/\/\/[^\n]*/g, '')
  return new Set([...text.matchAll(/(?:^|\n)\s*view\s+([A-Za-z][A-Za-z0-9_]*)\s*\{/g)].map((m) => m[1]!))
}

/** Builds the manifest from a DMMF datamodel. Pure, so it is tested without running Prisma. */
export function manifestFromDatamodel(datamodel: DmmfLikeDatamodel, provider: string, views: ReadonlySet<string> = new Set()): Manifest {
  const models: Record<string, ManifestModel> = {}
  for (const m of datamodel.models) {
    const fields: Record<string, ManifestField> = {}
    for (const f of m.fields) {
      const d = f.default as { name?: unknown; args?: unknown } | undefined
      const isFn = d !== null && typeof d === 'object' && !Array.isArray(d) && typeof d.name === 'string'
      fields[f.name] = {
        kind: f.kind as ManifestField['kind'],
        type: f.type,
        isList: f.isList,
        isRequired: f.isRequired,
        isId: f.isId,
        ...(isFn ? { default: d.name as string, defaultArgs: Array.isArray(d.args) ? (d.args as unknown[]) : [] } : {}),
        ...(f.relationFromFields?.length ? { relationFromFields: [...f.relationFromFields], relationToFields: [...(f.relationToFields ?? [])] } : {}),
        ...(typeof f.dbName === 'string' && f.dbName !== '' ? { dbName: f.dbName } : {}),
      }
    }
    const primaryKey = m.primaryKey?.fields ?? m.fields.filter((f) => f.isId).map((f) => f.name)
    const uniques = [
      ...m.fields.filter((f) => f.isUnique === true).map((f) => ({ fields: [f.name] })),
      ...(m.uniqueIndexes ?? []).map((u) => ({ ...(typeof u.name === 'string' && u.name !== '' ? { name: u.name } : {}), fields: [...u.fields] })),
    ]
    models[m.name] = {
      fields,
      primaryKey: [...primaryKey],
      ...(uniques.length > 0 ? { uniques } : {}),
      ...(typeof m.dbName === 'string' && m.dbName !== '' ? { dbName: m.dbName } : {}),
      ...(typeof m.schema === 'string' && m.schema !== '' ? { schema: m.schema } : {}),
      ...(views.has(m.name) ? { isView: true } : {}),
    }
  }
  return { version: 1, provider, models }
}

/** The first line of every generated module; the generator only replaces or removes files that carry it. */
export const GENERATED_HEADER = '// Generated by rowcrypt-generator at `prisma generate`. Do not edit.\n'

/**
 * The generated files. `js`: the module in the requested format, its literal-typed declaration, and
 * a package.json whose `type` makes Node.js and TypeScript read `index.js` in that format whatever
 * the application's own `type`. `ts`: one TypeScript module, compiled with the application.
 */
export function renderManifest(manifest: Manifest, format: OutputFormat): Record<string, string> {
  const json = JSON.stringify(manifest, null, 2)
  if (format.extension === 'ts') return { 'index.ts': `${GENERATED_HEADER}export const manifest = ${json} as const\n` }
  const js =
    format.moduleFormat === 'esm'
      ? `${GENERATED_HEADER}export const manifest = ${json};\n`
      : `${GENERATED_HEADER}"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\nexports.manifest = ${json};\n`
  return {
    'index.js': js,
    'index.d.ts': `${GENERATED_HEADER}export declare const manifest: ${json};\n`,
    'package.json': `${JSON.stringify({ type: format.moduleFormat === 'esm' ? 'module' : 'commonjs' })}\n`,
  }
}
