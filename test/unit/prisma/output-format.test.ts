// Which module format the rowcrypt generator writes: its own block, then the prisma-client block,
// then Prisma's inference from the tsconfig.json and package.json next to the client's output.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { outputFormat, type GeneratorBlock } from '../../../src/prisma/output-format'

const block = (provider: string, config: Record<string, string> = {}, output?: string): GeneratorBlock => ({
  provider: { value: provider },
  output: output === undefined ? null : { value: output },
  config,
})
const own = (config: Record<string, string> = {}) => block('rowcrypt-generator', config)

describe('outputFormat', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rowcrypt-format-'))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  // A project folder with the given files, and the client's output folder inside it.
  const project = (name: string, files: Record<string, string>): string => {
    const root = join(dir, name)
    mkdirSync(join(root, 'src', 'generated'), { recursive: true })
    for (const [file, text] of Object.entries(files)) writeFileSync(join(root, file), text)
    return join(root, 'src', 'generated', 'prisma')
  }

  it('writes ESM .js by default, as Prisma 7 does', () => {
    expect(outputFormat(own(), [])).toEqual({ moduleFormat: 'esm', extension: 'js' })
    expect(outputFormat(own(), [block('prisma-client')])).toEqual({ moduleFormat: 'esm', extension: 'js' })
  })

  it("follows the prisma-client block's moduleFormat; prisma-client-js is CommonJS", () => {
    expect(outputFormat(own(), [block('prisma-client', { moduleFormat: 'cjs' })]).moduleFormat).toBe('cjs')
    expect(outputFormat(own(), [block('prisma-client', { moduleFormat: 'ESM' })]).moduleFormat).toBe('esm')
    expect(outputFormat(own(), [block('prisma-client-js')]).moduleFormat).toBe('cjs')
    expect(outputFormat(own(), [block('prisma-client', { generatedFileExtension: 'cts' })]).moduleFormat).toBe('cjs')
  })

  it("takes the rowcrypt block's own moduleFormat and generatedFileExtension first", () => {
    expect(outputFormat(own({ moduleFormat: 'esm' }), [block('prisma-client', { moduleFormat: 'cjs' })])).toEqual({ moduleFormat: 'esm', extension: 'js' })
    expect(outputFormat(own({ moduleFormat: 'cjs', generatedFileExtension: 'ts' }), [block('prisma-client')])).toEqual({ moduleFormat: 'cjs', extension: 'ts' })
  })

  it('refuses unknown values with ERR_ROWCRYPT_CONFIG', () => {
    expect(() => outputFormat(own({ moduleFormat: 'umd' }), [])).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
    expect(() => outputFormat(own({ generatedFileExtension: 'mjs' }), [])).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
  })

  it("infers the format as Prisma does from the tsconfig.json and package.json near the client's output", () => {
    const infer = (name: string, files: Record<string, string>) => outputFormat(own(), [block('prisma-client', {}, project(name, files))]).moduleFormat
    expect(infer('commonjs', { 'tsconfig.json': '{ "compilerOptions": { "module": "CommonJS" } }' })).toBe('cjs')
    expect(infer('esnext', { 'tsconfig.json': '{ "compilerOptions": { "module": "ESNext" } }' })).toBe('esm')
    expect(infer('no-module', { 'tsconfig.json': '{ "compilerOptions": { "strict": true } }' })).toBe('esm')
    expect(infer('nodenext-module', { 'tsconfig.json': '{ "compilerOptions": { "module": "nodenext" } }', 'package.json': '{ "type": "module" }' })).toBe('esm')
    expect(infer('nodenext-commonjs', { 'tsconfig.json': '{ "compilerOptions": { "module": "node16" } }', 'package.json': '{ "name": "app" }' })).toBe('cjs')
    // Comments, trailing commas and a relative `extends`, as tsc accepts them.
    const commented = '{\n  // the base holds the module\n  "extends": "./tsconfig.base",\n  /* "compilerOptions": { "module": "esnext" } */\n  "include": ["src/**/*.ts",],\n}\n'
    expect(infer('extends', { 'tsconfig.json': commented, 'tsconfig.base.json': '{ "compilerOptions": { "module": "commonjs", }, }' })).toBe('cjs')
  })
})
