// The built package (dist/, made by `npm run build`) loads by name from CommonJS and ESM, and
// both entry points share one implementation (one tenant context).
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = join(__dirname, '..', '..')
const run = (file: string) => JSON.parse(execFileSync(process.execPath, [join(root, 'test', 'fixtures', file)], { cwd: root, encoding: 'utf8' }))

describe('package entry points', () => {
  it('declares types first and both module formats for every entry', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
    for (const name of ['.', './config', './kms-dev-server']) {
      const entry = pkg.exports[name]
      expect([name, Object.keys(entry)]).toEqual([name, ['import', 'require']])
      expect([name, Object.keys(entry.import), Object.keys(entry.require)]).toEqual([name, ['types', 'default'], ['types', 'default']])
      // ESM declarations for the ESM file, CommonJS ones for the CommonJS file.
      expect([entry.import.types, entry.import.default]).toEqual([expect.stringMatching(/\.d\.mts$/), expect.stringMatching(/\.mjs$/)])
      expect([entry.require.types, entry.require.default]).toEqual([expect.stringMatching(/\.d\.ts$/), expect.stringMatching(/\.js$/)])
    }
    expect(Object.keys(pkg.exports['./generator'])[0]).toBe('types')
    for (const f of [pkg.main, pkg.types, pkg.bin.rowcrypt, pkg.bin['rowcrypt-generator']]) expect([f, existsSync(join(root, f))]).toEqual([f, true])
  })

  it('resolves every exports path, and packs the built code with its license and no source maps', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
    const targets = (v: unknown): string[] => (typeof v === 'string' ? [v] : Object.values(v as Record<string, unknown>).flatMap(targets))
    for (const f of targets(pkg.exports)) expect([f, existsSync(join(root, f))]).toEqual([f, true])
    const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' })) as Array<{ files: Array<{ path: string }> }>
    const files = packed!.files.map((f) => f.path)
    expect(files).toEqual(
      expect.arrayContaining([
        'LICENSE',
        'package.json',
        'dist/index.js',
        'dist/index.mjs',
        'dist/index.d.ts',
        'dist/index.d.mts',
        'dist/config.mjs',
        'dist/kms-dev-server.mjs',
        'dist/prisma/generator-bin.js',
      ]),
    )
    expect(files.filter((f) => f.endsWith('.map') || f.startsWith('src/'))).toEqual([])
    expect(pkg.scripts.prepack).toBe('npm run build')
  })

  it('works from CommonJS', () => {
    expect(run('cjs-consumer.cjs')).toEqual({ rowcrypt: 'function', LocalKeyProvider: 'function', tenant: 't_cjs' })
  })

  it('works from ESM and shares one tenant context with CommonJS', () => {
    expect(run('esm-consumer.mjs')).toEqual({
      rowcrypt: 'function',
      LocalKeyProvider: 'function',
      RowcryptError: 'function',
      sharedContext: 't_esm',
      sameClass: true,
      subpaths: { KmsDevServer: 'function', defineConfig: 'function', sameServerClass: true },
    })
  })

  it('keeps the KMS dev server and the CLI config loader out of the main entry', () => {
    const script =
      "const rc = require('rowcrypt'); process.stdout.write(JSON.stringify({ exported: ['KmsDevServer', 'defineConfig'].filter((n) => n in rc), loaded: Object.keys(require.cache).filter((f) => /[\\\\/]dist[\\\\/](kms|cli)[\\\\/]/.test(f)) }))"
    expect(JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' }))).toEqual({ exported: [], loaded: [] })
    const sub = "const c = require('rowcrypt/config'), k = require('rowcrypt/kms-dev-server'); process.stdout.write(JSON.stringify([typeof c.defineConfig, typeof k.KmsDevServer]))"
    expect(JSON.parse(execFileSync(process.execPath, ['-e', sub], { cwd: root, encoding: 'utf8' }))).toEqual(['function', 'function'])
  })

  it('has no side effects at import time', () => {
    const out = execFileSync(
      process.execPath,
      ['-e', "const a=Object.keys(process._getActiveHandles()).length; require('rowcrypt'); console.log(Object.keys(process._getActiveHandles()).length===a)"],
      { cwd: root, encoding: 'utf8' },
    )
    expect(out.trim()).toBe('true')
  })
})
