// The Prisma generator that writes the manifest. Run by `prisma generate` through the
// `rowcrypt-generator` binary; loads @prisma/generator-helper only then.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { manifestFromDatamodel, renderManifest, viewNames } from './manifest'

/** Starts the generator protocol on stdio. Called by the `rowcrypt-generator` binary only. */
export function runGenerator(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { generatorHandler } = require('@prisma/generator-helper') as typeof import('@prisma/generator-helper')
  generatorHandler({
    onManifest: () => ({ prettyName: 'rowcrypt manifest', defaultOutput: './generated/rowcrypt', requiresGenerators: [] }),
    onGenerate: async (options) => {
      const out = options.generator.output?.value
      if (!out) throw new Error('rowcrypt-generator needs an output path')
      const provider = options.datasources[0]?.provider ?? 'unknown'
      const files = renderManifest(manifestFromDatamodel(options.dmmf.datamodel, provider, viewNames(options.datamodel)))
      mkdirSync(out, { recursive: true })
      for (const [name, text] of Object.entries(files)) writeFileSync(join(out, name), text)
    },
  })
}
