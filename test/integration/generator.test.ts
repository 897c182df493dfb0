// The rowcrypt generator run by the real `prisma generate` next to Prisma 7's default (ESM)
// prisma-client block: the manifest loads with `import` under Node.js, type-checks with its literal
// type under TypeScript's nodenext and bundler resolution, and switches to one .ts module on request.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const root = join(__dirname, '..', '..')
const bin = (pkg: string, file: string) => join(root, 'node_modules', pkg, file)

const MODELS = `
model User {
  id         Int     @id @default(autoincrement())
  email      String
  wrappedDek Bytes?
  keyVersion String?
  tenantId   String
}
`
const schema = (rowcryptOptions: string) => `generator client {
  provider = "prisma-client"
  output   = "./generated/prisma"
}

generator rowcrypt {
  provider = "node ${join(root, 'dist', 'prisma', 'generator-bin.js')}"
  output   = "./generated/rowcrypt"
${rowcryptOptions}}

datasource db {
  provider = "sqlite"
}
${MODELS}`

// Valid and invalid uses of the manifest's literal type: tsc fails unless the wrong field is refused.
const CHECK = (from: string) => `import { LocalKeyProvider, rowcrypt } from 'rowcrypt'
import { manifest } from '${from}'

const keyProvider = new LocalKeyProvider({ keys: { v1: new Uint8Array(32) }, activeVersion: 'v1' })
export const ok = rowcrypt({ schema: manifest, keyProvider, models: { User: { fields: ['email'] } } })
// @ts-expect-error: User has no field "nope"
export const wrong = rowcrypt({ schema: manifest, keyProvider, models: { User: { fields: ['nope'] } } })
`

describe('rowcrypt-generator under prisma generate', () => {
  let dir: string
  const prismaGenerate = (rowcryptOptions: string) => {
    writeFileSync(join(dir, 'schema.prisma'), schema(rowcryptOptions))
    return spawnSync(process.execPath, [bin('prisma', 'build/index.js'), 'generate', '--schema', join(dir, 'schema.prisma')], {
      cwd: dir,
      env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: '/bin/true', PRISMA_HIDE_UPDATE_MESSAGE: '1' },
      encoding: 'utf8',
    })
  }
  // Runs `prisma generate` with these options in the rowcrypt block; returns the manifest's folder.
  const generate = (rowcryptOptions: string) => {
    const r = prismaGenerate(rowcryptOptions)
    expect([r.status, r.status === 0 ? '' : `${r.stdout}${r.stderr}`]).toEqual([0, ''])
    return join(dir, 'generated', 'rowcrypt')
  }
  // Its diagnostics, so that a failure shows them ('' when the project type-checks).
  const tsc = (project: string) => {
    const r = spawnSync(process.execPath, [bin('typescript', 'bin/tsc'), '-p', join(dir, project)], { cwd: dir, encoding: 'utf8' })
    return `${r.stdout}${r.stderr}${r.status === 0 ? '' : `exit ${r.status}`}`
  }

  beforeAll(() => {
    // Inside the repository, so that Prisma resolves from here; 'rowcrypt' is the built package,
    // linked as an installed one.
    mkdirSync(join(root, 'generated'), { recursive: true })
    dir = mkdtempSync(join(root, 'generated', 'generator-test-'))
    mkdirSync(join(dir, 'node_modules'))
    symlinkSync(root, join(dir, 'node_modules', 'rowcrypt'), 'dir')
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }))
    // What an ESM application has; Prisma infers its own moduleFormat from these files too.
    const compilerOptions = { strict: true, noEmit: true, skipLibCheck: true, types: [] }
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...compilerOptions, module: 'nodenext' }, files: ['nodenext.ts'] }))
    writeFileSync(join(dir, 'tsconfig.bundler.json'), JSON.stringify({ compilerOptions: { ...compilerOptions, module: 'preserve', moduleResolution: 'bundler' }, files: ['bundler.ts'] }))
    writeFileSync(join(dir, 'nodenext.ts'), CHECK('./generated/rowcrypt/index.js'))
    writeFileSync(join(dir, 'bundler.ts'), CHECK('./generated/rowcrypt'))
  }, 30_000)
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('writes an ES module by default that Node.js imports and TypeScript (nodenext, bundler) checks', () => {
    const out = generate('')
    expect(readdirSync(out).sort()).toEqual(['index.d.ts', 'index.js', 'package.json'])
    expect(JSON.parse(readFileSync(join(out, 'package.json'), 'utf8'))).toEqual({ type: 'module' })
    const url = pathToFileURL(join(out, 'index.js')).href
    const script = `import { manifest } from ${JSON.stringify(url)}; process.stdout.write(JSON.stringify(Object.keys(manifest.models.User.fields)))`
    expect(JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8' }))).toEqual(['id', 'email', 'wrappedDek', 'keyVersion', 'tenantId'])
    expect(tsc('tsconfig.json')).toBe('')
    expect(tsc('tsconfig.bundler.json')).toBe('')
  }, 120_000)

  it('writes CommonJS when the rowcrypt block asks for it, whatever the client is', () => {
    const out = generate('  moduleFormat = "cjs"\n')
    expect(JSON.parse(readFileSync(join(out, 'package.json'), 'utf8'))).toEqual({ type: 'commonjs' })
    const script = `process.stdout.write(require(${JSON.stringify(out)}).manifest.provider)`
    expect(execFileSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8' })).toBe('sqlite')
    // Named imports of the CommonJS module work from ESM too (Node.js detects `exports.manifest`).
    expect(tsc('tsconfig.json')).toBe('')
  }, 120_000)

  it('writes one index.ts for generatedFileExtension "ts" and removes the .js files it wrote before', () => {
    const out = generate('  generatedFileExtension = "ts"\n')
    expect(readdirSync(out)).toEqual(['index.ts'])
    expect(existsSync(join(out, 'index.js'))).toBe(false)
    expect(tsc('tsconfig.json')).toBe('')
  }, 120_000)

  it('fails prisma generate with the coded error for an unknown moduleFormat', () => {
    const r = prismaGenerate('  moduleFormat = "umd"\n')
    expect(r.status).not.toBe(0)
    expect(`${r.stdout}${r.stderr}`).toContain('ERR_ROWCRYPT_CONFIG')
  }, 60_000)
})
