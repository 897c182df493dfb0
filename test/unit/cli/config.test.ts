// The CLI's config loader: file discovery, module shapes, errors, disposal, and every file kind
// loaded through jiti from a directory outside the repository, where neither ts-node nor tsx can be
// resolved. The built binary loads a TypeScript config importing 'rowcrypt' in cli-binary.test.ts.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CONFIG_FILE_NAMES, defineConfig, loadConfig } from '../../../src/cli/config'

let root: string
let n = 0
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'rowcrypt-config-'))
})
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** A fresh directory holding the given files. */
function project(files: Record<string, string>): string {
  const dir = join(root, `p${++n}`)
  mkdirSync(dir)
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  return dir
}

async function failure(p: Promise<unknown>): Promise<{ code?: string; message: string; cause?: unknown }> {
  try {
    await p
  } catch (e) {
    return e as { code?: string; message: string }
  }
  throw new Error('expected a rejection')
}

describe('loadConfig', () => {
  it('looks for rowcrypt.config.{ts,cts,mts,js,cjs,mjs} in that order', () => {
    expect(CONFIG_FILE_NAMES).toEqual(['rowcrypt.config.ts', 'rowcrypt.config.cts', 'rowcrypt.config.mts', 'rowcrypt.config.js', 'rowcrypt.config.cjs', 'rowcrypt.config.mjs'])
  })

  it('loads rowcrypt.config.js (module.exports object) from the working directory', async () => {
    const cwd = project({ 'rowcrypt.config.js': "module.exports = { keyProvider: { kind: 'stub' }, extra: 42 }" })
    const { path, config } = await loadConfig({ cwd })
    expect(path).toBe(join(cwd, 'rowcrypt.config.js'))
    expect(config).toEqual({ keyProvider: { kind: 'stub' }, extra: 42 })
  })

  it('prefers the TypeScript file and passes it to the module loader', async () => {
    const cwd = project({ 'rowcrypt.config.ts': '', 'rowcrypt.config.cjs': '' })
    const seen: string[] = []
    const { config } = await loadConfig({ cwd, importModule: async (p) => (seen.push(p), { default: { from: 'ts' } }) })
    expect(seen).toEqual([join(cwd, 'rowcrypt.config.ts')])
    expect(config).toEqual({ from: 'ts' })
  })

  it('takes --config relative to the working directory', async () => {
    const cwd = project({ 'custom.cjs': "exports.default = { from: 'default export' }" })
    expect((await loadConfig({ cwd, configPath: 'custom.cjs' })).config).toEqual({ from: 'default export' })
  })

  it('accepts named exports, and a (sync or async) function', async () => {
    const named = project({ 'rowcrypt.config.cjs': 'exports.prisma = { p: 1 }; exports.keyProvider = { k: 1 }' })
    expect((await loadConfig({ cwd: named })).config).toMatchObject({ prisma: { p: 1 }, keyProvider: { k: 1 } })
    const asyncFn = project({ 'rowcrypt.config.js': "module.exports = async () => ({ made: 'lazily' })" })
    expect((await loadConfig({ cwd: asyncFn })).config).toEqual({ made: 'lazily' })
    const fnDefault = project({ 'rowcrypt.config.js': "exports.default = () => ({ made: 'sync' })" })
    expect((await loadConfig({ cwd: fnDefault })).config).toEqual({ made: 'sync' })
  })

  it('reports a missing config, a missing --config file, a broken file, a failing function and a non-object with ConfigError', async () => {
    const empty = project({})
    const missing = await failure(loadConfig({ cwd: empty }))
    expect(missing.code).toBe('ERR_ROWCRYPT_CONFIG')
    expect(missing.message).toContain(empty)
    expect((await failure(loadConfig({ cwd: empty, configPath: 'nope.js' }))).code).toBe('ERR_ROWCRYPT_CONFIG')
    const broken = await failure(loadConfig({ cwd: project({ 'rowcrypt.config.js': 'module.exports = {' }) }))
    expect(broken.code).toBe('ERR_ROWCRYPT_CONFIG')
    expect(broken.cause).toBeDefined()
    const throwing = await failure(loadConfig({ cwd: project({ 'rowcrypt.config.js': "module.exports = async () => { throw new Error('no database') }" }) }))
    expect(throwing.code).toBe('ERR_ROWCRYPT_CONFIG')
    expect(throwing.message).toContain('no database')
    expect((await failure(loadConfig({ cwd: project({ 'rowcrypt.config.js': 'module.exports = 42' }) }))).code).toBe('ERR_ROWCRYPT_CONFIG')
  })

  it('dispose closes, disconnects prisma and drops cached keys, and never throws', async () => {
    const calls: string[] = []
    const config = {
      close: () => {
        calls.push('close')
        throw new Error('close failed')
      },
      prisma: { $disconnect: async () => void calls.push('disconnect') },
      keyProvider: { clearCache: () => void calls.push('clearCache') },
    }
    const { dispose } = await loadConfig({ cwd: project({ 'rowcrypt.config.ts': '' }), importModule: async () => config })
    await expect(dispose()).resolves.toBeUndefined()
    expect(calls).toEqual(['close', 'disconnect', 'clearCache'])
  })

  it('resolves neither ts-node nor tsx from the test projects', () => {
    const req = createRequire(join(project({}), 'x.js'))
    expect(() => req.resolve('ts-node')).toThrow()
    expect(() => req.resolve('tsx')).toThrow()
  })

  it('loads a TypeScript ES module config (types, a relative .ts import, top-level await, export default) without ts-node or tsx', async () => {
    const cwd = project({
      'helper.ts': "export const region: string = 'eu-west-1'\nexport type Region = typeof region\n",
      'rowcrypt.config.ts': [
        "import { region, type Region } from './helper'",
        'interface Config { prisma: { region: Region }; dbSchema: string }',
        'const schemaName = await Promise.resolve<string>("tenant_data")',
        'export default async (): Promise<Config> => ({ prisma: { region }, dbSchema: schemaName })',
        '',
      ].join('\n'),
    })
    const { path, config } = await loadConfig({ cwd })
    expect(path).toBe(join(cwd, 'rowcrypt.config.ts'))
    expect(config).toEqual({ prisma: { region: 'eu-west-1' }, dbSchema: 'tenant_data' })
  })

  it.each([
    ['rowcrypt.config.mts', 'const n: number = 1\nexport const keyProvider = { n }\n', { keyProvider: { n: 1 } }],
    ['rowcrypt.config.cts', 'const n: number = 2\nmodule.exports = { keyProvider: { n } }\n', { keyProvider: { n: 2 } }],
    ['rowcrypt.config.mjs', 'export default { keyProvider: { n: 3 } }\n', { keyProvider: { n: 3 } }],
    ['rowcrypt.config.cjs', 'module.exports = async () => ({ keyProvider: { n: 4 } })\n', { keyProvider: { n: 4 } }],
  ])('loads %s', async (name, text, expected) => {
    expect((await loadConfig({ cwd: project({ [name]: text }) })).config).toEqual(expected)
  })

  it('loads an ES module .js config (package "type": "module") and a CommonJS .js config', async () => {
    const esm = project({ 'package.json': '{ "type": "module" }', 'rowcrypt.config.js': "const made = await Promise.resolve('esm')\nexport default { made }\n" })
    expect((await loadConfig({ cwd: esm })).config).toEqual({ made: 'esm' })
    const cjs = project({ 'rowcrypt.config.js': "exports.prisma = { made: 'cjs' }\n" })
    expect((await loadConfig({ cwd: cjs })).config).toEqual({ prisma: { made: 'cjs' } })
  })

  it('a TypeScript config that does not compile, or imports a missing module, is a ConfigError with a one-line message', async () => {
    const broken = await failure(loadConfig({ cwd: project({ 'rowcrypt.config.ts': 'export default {\n  prisma: ,\n}\n' }) }))
    expect(broken.code).toBe('ERR_ROWCRYPT_CONFIG')
    expect(broken.message).not.toContain('\n')
    const missing = await failure(loadConfig({ cwd: project({ 'rowcrypt.config.ts': "import { x } from './nope'\nexport default { x }\n" }) }))
    expect(missing.code).toBe('ERR_ROWCRYPT_CONFIG')
    expect(missing.message).toContain('nope')
    expect(missing.message).not.toContain('\n')
  })

  it('defineConfig returns what it is given', () => {
    const f = async () => ({ prisma: 1 })
    expect(defineConfig(f)).toBe(f)
  })
})
