// README.md as the consumer-app test reads it: its fenced code blocks, their line numbers and the
// HTML comment on the line right before each fence:
//   <!-- file: path -->           the block is the file `path` of both consumer apps (blocks naming
//                                 the same path are joined with a blank line between them)
//   <!-- file esm: path -->       the same for one app only (`esm` or `cjs`)
//   <!-- dependencies -->         `npm install` lines: the apps' dependencies and devDependencies
//   <!-- output -->               what the app prints with `npm start`
//   <!-- not-compiled: reason --> a `ts` block that is not application code
// Every other `ts` block is compiled as a module of its own in each app's src/.

export type AppKind = 'esm' | 'cjs'

export type Marker =
  | { readonly kind: 'file'; readonly apps: readonly AppKind[]; readonly path: string }
  | { readonly kind: 'not-compiled'; readonly reason: string }
  | { readonly kind: 'dependencies' }
  | { readonly kind: 'output' }

export interface ReadmeBlock {
  /** The fence's language (`ts`, `prisma`, `json`, `sh`, ...). */
  readonly lang: string
  /** The lines between the fences, each ending in a newline. */
  readonly code: string
  /** README line (1-based) of the block's first line. */
  readonly line: number
  readonly marker: Marker | undefined
}

/** A file made of README blocks, with where each of its lines comes from. */
export interface ReadmeFile {
  readonly path: string
  readonly text: string
  /** README line of each line of `text` (0-based index), undefined for the blank joining lines. */
  readonly readmeLines: ReadonlyArray<number | undefined>
}

const APPS: readonly AppKind[] = ['esm', 'cjs']

/** The fenced blocks of `text`, in order. A marker that is not one of the forms above throws. */
export function readmeBlocks(text: string): ReadmeBlock[] {
  const lines = text.split('\n')
  const blocks: ReadmeBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!)
    if (open === null) continue
    let end = i + 1
    while (end < lines.length && lines[end] !== '```') end++
    if (end === lines.length) throw new Error(`README.md:${i + 1}: the code block is not closed`)
    const code = lines
      .slice(i + 1, end)
      .map((l) => `${l}\n`)
      .join('')
    blocks.push({ lang: open[1]!, code, line: i + 2, marker: i > 0 ? parseMarker(lines[i - 1]!, i) : undefined })
    i = end
  }
  return blocks
}

function parseMarker(line: string, lineIndex: number): Marker | undefined {
  const comment = /^<!--\s*(.*?)\s*-->$/.exec(line.trim())
  if (comment === null) return undefined
  const body = comment[1]!
  if (body === 'dependencies') return { kind: 'dependencies' }
  if (body === 'output') return { kind: 'output' }
  const notCompiled = /^not-compiled:\s*(\S.*)$/.exec(body)
  if (notCompiled !== null) return { kind: 'not-compiled', reason: notCompiled[1]! }
  const file = /^file(?:\s+(esm|cjs))?:\s*(\S+)$/.exec(body)
  if (file !== null) return { kind: 'file', apps: file[1] === undefined ? APPS : [file[1] as AppKind], path: file[2]! }
  throw new Error(`README.md:${lineIndex}: unknown marker before a code block: ${line.trim()}`)
}

/** The files of app `kind` that the README shows, by path. */
export function appFiles(blocks: readonly ReadmeBlock[], kind: AppKind): Map<string, ReadmeFile> {
  const files = new Map<string, ReadmeFile>()
  for (const b of blocks) {
    if (b.marker?.kind !== 'file' || !b.marker.apps.includes(kind)) continue
    const own = b.code
      .split('\n')
      .slice(0, -1)
      .map((_, i) => b.line + i)
    const before = files.get(b.marker.path)
    files.set(
      b.marker.path,
      before === undefined
        ? { path: b.marker.path, text: b.code, readmeLines: own }
        : { path: b.marker.path, text: `${before.text}\n${b.code}`, readmeLines: [...before.readmeLines, undefined, ...own] },
    )
  }
  return files
}

/** The `ts` blocks without a marker, each as a module `src/readme-L<line>.ts`. */
export function snippetModules(blocks: readonly ReadmeBlock[]): ReadmeFile[] {
  return blocks
    .filter((b) => b.lang === 'ts' && b.marker === undefined)
    .map((b) => ({
      path: `src/readme-L${b.line}.ts`,
      text: b.code,
      readmeLines: b.code
        .split('\n')
        .slice(0, -1)
        .map((_, i) => b.line + i),
    }))
}

/** The packages of the `npm install` lines of a block: `--save-dev` / `-D` lines are devDependencies. */
export function installedPackages(block: ReadmeBlock): { dependencies: string[]; devDependencies: string[] } {
  const out = { dependencies: [] as string[], devDependencies: [] as string[] }
  for (const line of block.code.split('\n')) {
    const words = line.trim().split(/\s+/)
    if (words[0] !== 'npm' || words[1] !== 'install') continue
    const dev = words.includes('--save-dev') || words.includes('-D')
    out[dev ? 'devDependencies' : 'dependencies'].push(...words.slice(2).filter((w) => !w.startsWith('-')))
  }
  return out
}

/**
 * Rewrites `tsc` diagnostics (`path(line,col): error TS...`) about README files to name the README
 * line: `README.md:123 (src/readme-L120.ts, esm): error TS...`. Other lines are kept as they are.
 */
export function locateDiagnostics(output: string, files: readonly ReadmeFile[], kind: AppKind): string[] {
  const byPath = new Map(files.map((f) => [f.path, f]))
  return output
    .split('\n')
    .filter((l) => /error TS\d+/.test(l))
    .map((l) => {
      const m = /^(.+?)\((\d+),(\d+)\): (.*)$/.exec(l)
      const file = m === null ? undefined : byPath.get(m[1]!)
      const readmeLine = file?.readmeLines[Number(m![2]) - 1]
      return readmeLine === undefined ? `${l} (${kind})` : `README.md:${readmeLine} (${m![1]}, ${kind}): ${m![4]}`
    })
}
