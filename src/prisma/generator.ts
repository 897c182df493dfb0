// The Prisma generator that writes the manifest. Run by `prisma generate` through the
// `rowcrypt-generator` binary; loads @prisma/generator-helper only then.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, RowcryptError } from '../errors'
import { GENERATED_HEADER, manifestFromDatamodel, renderManifest, viewNames } from './manifest'
import { outputFormat } from './output-format'

/** Starts the generator protocol on stdio. Called by the `rowcrypt-generator` binary only. */
export function runGenerator(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when Prisma runs the generator
  const { generatorHandler } = require('@prisma/generator-helper') as typeof import('@prisma/generator-helper')
  generatorHandler({
    onManifest: () => ({ prettyName: 'rowcrypt manifest', defaultOutput: './generated/rowcrypt', requiresGenerators: [] }),
    onGenerate: async (options) => {
      try {
        const out = options.generator.output?.value
        if (!out) throw new ConfigError('rowcrypt-generator needs an output path')
        const format = outputFormat(options.generator, options.otherGenerators)
        const provider = options.datasources[0]?.provider ?? 'unknown'
        const files = renderManifest(manifestFromDatamodel(options.dmmf.datamodel, provider, viewNames(options.datamodel)), format)
        mkdirSync(out, { recursive: true })
        for (const [name, text] of Object.entries(files)) writeFileSync(join(out, name), text)
        removeStale(out, new Set(Object.keys(files)))
      } catch (e) {
        // `prisma generate` prints only the message: put the stable code in it.
        if (e instanceof RowcryptError) e.message = `${e.code}: ${e.message}`
        throw e
      }
    },
  })
}

// Files an earlier run wrote in another format (index.js after a switch to `ts`, ...). Only files
// that this generator wrote are removed.
function removeStale(dir: string, keep: ReadonlySet<string>): void {
  for (const name of ['index.js', 'index.d.ts', 'index.ts', 'package.json']) {
    const file = join(dir, name)
    if (keep.has(name) || !existsSync(file)) continue
    const text = readFileSync(file, 'utf8')
    const ours = name === 'package.json' ? /^\{"type":"(module|commonjs)"\}\n$/.test(text) : text.startsWith(GENERATED_HEADER)
    if (ours) rmSync(file)
  }
}
