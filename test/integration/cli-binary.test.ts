// The `rowcrypt` binary as users run it from the package (dist/cli/main.js, built by `npm run build`,
// which `npm run generate` runs): --version, --help, usage errors, --json failures, a TypeScript
// config loaded without ts-node or tsx, unreachable databases reported on one line, and
// encrypt-existing stopped by SIGTERM and continued.
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isGroup } from '../../src/cli/spec'
import { TABLE } from '../../src/cli/table'
import { BIN as bin, startCli } from '../support/cli'
import { openDatabase, type TestDatabase } from '../support/db'
import { TEST_KEYS } from '../support/setup'

const root = join(__dirname, '..', '..')
// Inside the repository (ignored by git as .rowcrypt-*) so that config files resolve its packages.
const work = join(root, `.rowcrypt-test-cli-binary-${process.pid}`)
beforeAll(() => mkdirSync(work, { recursive: true }))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const env = { ...process.env, NODE_NO_WARNINGS: '1' }
const cli = (args: string[], cwd = work, extraEnv: Record<string, string> = {}) => spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', env: { ...env, ...extraEnv } })
const jsonLines = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)

describe('rowcrypt binary: version, help, usage errors, --json failures', () => {
  it('--version and -v print the version of package.json and exit 0', () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
    for (const flag of ['--version', '-v']) {
      const r = cli([flag])
      expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: `${version}\n`, stderr: '' })
    }
  })

  it('--help prints the help of every command and subcommand with exit 0', () => {
    const paths = TABLE.flatMap((e) => (isGroup(e) ? [[e.name], ...e.subcommands.map((s) => [e.name, s.name])] : [[e.name]]))
    for (const path of [[], ...paths]) {
      const r = cli([...path, '--help'])
      expect({ path, status: r.status, stderr: r.stderr }).toEqual({ path, status: 0, stderr: '' })
      expect(r.stdout).toMatch(new RegExp(`^Usage: ${['rowcrypt', ...path].join(' ')} `))
    }
    expect(cli(['tenant', 'shred', '--tenant', 'x', '--help']).stdout).toContain('--pending-window-days <n>')
  })

  it('a usage error prints one line and the pointer to the help on stderr, and exits 2', () => {
    const r = cli(['rls', 'sql', '--schema', 'tenant_data'])
    expect(r.status).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe("rowcrypt rls sql: unknown option '--schema' (did you mean '--db-schema'?)\nRun 'rowcrypt rls sql --help' for usage.\n")
  })

  it('under --json a failure is one JSON event on stdout with the exit code of the failure', () => {
    const usage = cli(['rotate', '--json', '--batch-size', 'many'])
    expect(usage.status).toBe(2)
    expect(usage.stderr).toBe('')
    expect(jsonLines(usage.stdout)).toEqual([{ event: 'error', command: 'rotate', code: 'ERR_ROWCRYPT_USAGE', message: "option '--batch-size' must be a positive integer (got 'many')", exitCode: 2 }])
    const config = cli(['status', '--json', '--config', 'missing.config.ts'])
    expect(config.status).toBe(2)
    expect(jsonLines(config.stdout)).toEqual([expect.objectContaining({ event: 'error', command: 'status', code: 'ERR_ROWCRYPT_CONFIG', exitCode: 2 })])
  })
})

describe('rowcrypt binary: configs loaded without ts-node or tsx', () => {
  let project: string
  let db: TestDatabase
  beforeAll(async () => {
    db = await openDatabase('sqlite', 'cli_binary_config')
    // A project outside the repository whose node_modules holds only rowcrypt (its package.json and built dist).
    project = mkdtempSync(join(tmpdir(), 'rowcrypt-cli-project-'))
    mkdirSync(join(project, 'node_modules', 'rowcrypt'), { recursive: true })
    copyFileSync(join(root, 'package.json'), join(project, 'node_modules', 'rowcrypt', 'package.json'))
    symlinkSync(join(root, 'dist'), join(project, 'node_modules', 'rowcrypt', 'dist'), 'dir')
  })
  afterAll(async () => {
    await db.close()
    rmSync(project, { recursive: true, force: true })
  })

  it('the project resolves rowcrypt but neither ts-node nor tsx', () => {
    // Resolved by Node in the project, outside Jest's module mapping.
    const resolve = (name: string) => spawnSync(process.execPath, ['-e', `process.stdout.write(require.resolve(${JSON.stringify(name)}))`], { cwd: project, encoding: 'utf8' })
    // Through the project's node_modules/rowcrypt, whose dist links to the built one (Node resolves links).
    expect(resolve('rowcrypt').stdout).toBe(join(root, 'dist', 'index.js'))
    for (const loader of ['ts-node', 'tsx']) expect(resolve(loader).stderr).toContain(`Cannot find module '${loader}'`)
  })

  it("a TypeScript ES module config (export default defineConfig(...), imports from 'rowcrypt' and 'rowcrypt/config') runs status on a real SQLite database", async () => {
    const dbFile = (await db.prisma.$queryRawUnsafe<Array<{ file: string }>>('PRAGMA database_list'))[0]!.file
    await db.raw('INSERT INTO "User" ("name", "email", "tenantId") VALUES ($1, $2, $3)', ['legacy', 'legacy@x', 't_bin'])
    writeFileSync(
      join(project, 'rowcrypt.config.ts'),
      `import { LocalKeyProvider, rowcrypt } from 'rowcrypt'
import { defineConfig, type RowcryptCliConfig } from 'rowcrypt/config'
import { PrismaBetterSqlite3 } from ${JSON.stringify(join(root, 'node_modules', '@prisma', 'adapter-better-sqlite3'))}
import { PrismaClient } from ${JSON.stringify(join(root, 'generated', 'sqlite', 'client', 'client'))}
import { manifest } from ${JSON.stringify(join(root, 'generated', 'sqlite', 'rowcrypt'))}

const keys: Record<string, string> = { v1: process.env.CLI_TEST_V1! }
export default defineConfig(async (): Promise<RowcryptCliConfig> => {
  const base = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: 'file:' + process.env.CLI_TEST_DB }) })
  const keyProvider = new LocalKeyProvider({ keys, activeVersion: 'v1' })
  // Extended here with the config's own import of rowcrypt: the command must share its tenant context.
  const prisma = base.$extends(rowcrypt({ schema: manifest, keyProvider, models: { User: { fields: ['email'], migrating: { legacyIds: () => true } } } }))
  return { prisma, keyProvider }
})
`,
    )
    const r = cli(['status', '--json', '--model', 'User'], project, { CLI_TEST_DB: dbFile, CLI_TEST_V1: TEST_KEYS.v1 })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ activeKeyVersion: 'v1', models: [{ model: 'User', total: 1, plaintextRows: 1 }] })
  })

  it("a CommonJS config (require('rowcrypt/config')) runs rls sql", () => {
    const dir = join(project, 'cjs')
    mkdirSync(dir)
    writeFileSync(
      join(dir, 'rowcrypt.config.cjs'),
      `const { defineConfig } = require('rowcrypt/config')
const { manifest } = require(${JSON.stringify(join(root, 'generated', 'postgres', 'rowcrypt'))})
module.exports = defineConfig({ schema: manifest, models: { User: { fields: ['email'] } } })
`,
    )
    const r = cli(['rls', 'sql', '--db-schema', 'app'], dir)
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(r.stdout).toContain('ALTER TABLE "app"."User" ENABLE ROW LEVEL SECURITY;')
  })
})

describe('rowcrypt binary: an unreachable database is one line with its code', () => {
  // One config per database, exporting the extended client (migrating, so encrypt-existing accepts it).
  const config = (adapter: string, client: string, create: string) => `import { ${adapter} } from '@prisma/adapter-${client === 'postgres' ? 'pg' : client === 'mysql' ? 'mariadb' : 'better-sqlite3'}'
import { LocalKeyProvider, rowcrypt } from 'rowcrypt'
import { PrismaClient } from '../generated/${client}/client/client'
import { manifest } from '../generated/${client}/rowcrypt'
const keyProvider = new LocalKeyProvider({ keys: { v1: Buffer.alloc(32, 7) }, activeVersion: 'v1' })
export const prisma = new PrismaClient({ adapter: ${create} }).$extends(rowcrypt({ schema: manifest, keyProvider, models: { User: { fields: ['email'], migrating: { legacyIds: () => true } } } }))
`
  beforeAll(() => {
    writeFileSync(join(work, 'postgres-closed.config.ts'), config('PrismaPg', 'postgres', "new PrismaPg({ connectionString: 'postgresql://postgres@127.0.0.1:1/test' })"))
    writeFileSync(join(work, 'sqlite-missing.config.ts'), config('PrismaBetterSqlite3', 'sqlite', `new PrismaBetterSqlite3({ url: 'file:${join(work, 'no-such-directory', 'app.db')}' })`))
    writeFileSync(
      join(work, 'mysql-closed.config.ts'),
      config('PrismaMariaDb', 'mysql', "new PrismaMariaDb({ host: '127.0.0.1', port: 1, user: 'root', database: 'app', connectTimeout: 1000, acquireTimeout: 1500 })"),
    )
  })

  const commands = [['status'], ['rotate'], ['verify'], ['encrypt-existing', '--model', 'User']]
  const run = (args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, ...args], { cwd: work, env })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      child.on('exit', (status) => resolve({ status, stdout, stderr }))
    })

  it.each([
    ['PostgreSQL on a closed port', 'postgres-closed', /cannot reach the database \(P1001\): Can't reach database server at 127\.0\.0\.1:1$/],
    ['SQLite in a missing directory', 'sqlite-missing', /cannot reach the database: Cannot open database because the directory does not exist$/],
    ['MariaDB on a closed port', 'mysql-closed', /cannot reach the database \(ECONNREFUSED\): connect ECONNREFUSED 127\.0\.0\.1:1 \(pool timeout: .*\)$/],
  ])('%s: status, rotate, verify and encrypt-existing exit 1 with one line on stderr', async (_label, file, line) => {
    const results = await Promise.all(commands.map((c) => run([...c, '--config', `${file}.config.ts`])))
    results.forEach((r, i) => {
      const name = `rowcrypt ${commands[i]![0]}`
      expect({ name, status: r.status, stdout: r.stdout, lines: r.stderr.split('\n').length }).toEqual({ name, status: 1, stdout: '', lines: 2 })
      expect(r.stderr.startsWith(`${name}: `)).toBe(true)
      expect(r.stderr.trimEnd()).toMatch(line)
      expect(r.stderr).not.toMatch(/Invalid `|invocation|node_modules|dist\/|\n\s+at /)
    })
    const json = await run(['status', '--json', '--config', `${file}.config.ts`])
    expect(json.status).toBe(1)
    expect(json.stderr).toBe('')
    expect(jsonLines(json.stdout)).toEqual([expect.objectContaining({ event: 'error', command: 'status', code: 'ERR_ROWCRYPT_DATABASE', exitCode: 1 })])
    expect(String(jsonLines(json.stdout)[0]!.message)).toMatch(line)
  })
})

describe('rowcrypt binary: encrypt-existing stopped by SIGTERM', () => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await openDatabase('sqlite', 'cli_binary_sigterm')
  })
  afterAll(() => db.close())

  it('finishes the current batch, reports it, exits 130; a re-run encrypts the rest', async () => {
    const total = 600
    for (let i = 0; i < total; i += 100) {
      const values = Array.from({ length: 100 }, (_, j) => `('legacy', 'sig-${i + j}@x', 't_sig${(i + j) % 3}')`).join(', ')
      await db.raw(`INSERT INTO "User" ("name", "email", "tenantId") VALUES ${values}`)
    }
    const dbFile = (await db.prisma.$queryRawUnsafe<Array<{ file: string }>>('PRAGMA database_list'))[0]!.file
    writeFileSync(
      join(work, 'sigterm.config.ts'),
      `import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { LocalKeyProvider, rowcrypt } from 'rowcrypt'
import { PrismaClient } from '../generated/sqlite/client/client'
import { manifest } from '../generated/sqlite/rowcrypt'
const keyProvider = new LocalKeyProvider({ keys: { v1: process.env.CLI_TEST_V1! }, activeVersion: 'v1' })
export const prisma = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: 'file:' + process.env.CLI_TEST_DB }) })
  .$extends(rowcrypt({ schema: manifest, keyProvider, models: { User: { fields: ['email'], migrating: { legacyIds: (id) => Number(id) <= ${total} } } } }))
`,
    )
    const args = ['encrypt-existing', '--model', 'User', '--batch-size', '20', '--json', '--config', 'sigterm.config.ts']
    const childEnv = { ...env, CLI_TEST_DB: dbFile, CLI_TEST_V1: TEST_KEYS.v1 }
    const job = await startCli(args, { cwd: work, env: childEnv }, '"event":"progress"')
    job.child.kill('SIGTERM')
    expect(await job.exit).toBe(130)
    expect(job.err()).toContain('stopping after the current batch')
    const out = job.out()
    const events = jsonLines(out)
    expect(events[0]).toMatchObject({ event: 'progress', model: 'User', encrypted: 20, skipped: 0, total })
    const done = events.at(-1) as { event: string; encrypted: number; interrupted: boolean; total: number }
    expect(done).toMatchObject({ event: 'done', interrupted: true, skipped: 0, total })
    // Every batch it started was finished and counted: what it reports is what the table holds.
    expect(done.encrypted % 20).toBe(0)
    expect(done.encrypted).toBeLessThan(total)
    const keyed = async () => Number((await db.raw<{ n: unknown }>('SELECT COUNT(*) AS n FROM "User" WHERE "wrappedDek" IS NOT NULL'))[0]!.n)
    expect(await keyed()).toBe(done.encrypted)

    const again = cli(args, work, { CLI_TEST_DB: dbFile, CLI_TEST_V1: TEST_KEYS.v1 })
    expect(again.stderr).toBe('')
    expect(again.status).toBe(0)
    expect(jsonLines(again.stdout).at(-1)).toMatchObject({ event: 'done', encrypted: total - done.encrypted, total: total - done.encrypted, interrupted: false })
    expect(await keyed()).toBe(total)
    const stored = await db.raw<{ email: string }>('SELECT "email" FROM "User"')
    expect(stored.every((r) => r.email.startsWith('rc1.'))).toBe(true)
  })
})
