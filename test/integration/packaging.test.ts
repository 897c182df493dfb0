// The built package (dist/, made by `npm run build`) loads by name from CommonJS and ESM, and
// both entry points share one implementation (one tenant context).
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = join(__dirname, '..', '..')
const run = (file: string) => JSON.parse(execFileSync(process.execPath, [join(root, 'test', 'fixtures', file)], { cwd: root, encoding: 'utf8' }))

describe('package entry points', () => {
  it('declares types and both module formats', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
    const entry = pkg.exports['.']
    for (const f of [entry.types, entry.import, entry.require, pkg.bin.rowcrypt, pkg.bin['rowcrypt-generator']]) {
      expect(existsSync(join(root, f))).toBe(true)
    }
  })

  it('resolves every exports path, and packs the built code with its license and no source maps', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
    const targets = (v: unknown): string[] => (typeof v === 'string' ? [v] : Object.values(v as Record<string, unknown>).flatMap(targets))
    for (const f of targets(pkg.exports)) expect([f, existsSync(join(root, f))]).toEqual([f, true])
    const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' })) as Array<{ files: Array<{ path: string }> }>
    const files = packed!.files.map((f) => f.path)
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'package.json', 'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/prisma/generator-bin.js']))
    expect(files.filter((f) => f.endsWith('.map') || f.startsWith('src/'))).toEqual([])
    expect(pkg.scripts.prepack).toBe('npm run build')
  })

  it('works from CommonJS', () => {
    expect(run('cjs-consumer.cjs')).toEqual({ rowcrypt: 'function', LocalKeyProvider: 'function', tenant: 't_cjs' })
  })

  it('works from ESM and shares one tenant context with CommonJS', () => {
    expect(run('esm-consumer.mjs')).toEqual({ rowcrypt: 'function', LocalKeyProvider: 'function', RowcryptError: 'function', sharedContext: 't_esm', sameClass: true })
  })

  it('has no side effects at import time', () => {
    const out = execFileSync(process.execPath, ['-e', "const a=Object.keys(process._getActiveHandles()).length; require('rowcrypt'); console.log(Object.keys(process._getActiveHandles()).length===a)"], { cwd: root, encoding: 'utf8' })
    expect(out.trim()).toBe('true')
  })
})
