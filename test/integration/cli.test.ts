// The CLI commands of issue 4 as users run them: `rowcrypt kms-dev-server` and
// `rowcrypt tenant shred`, through the built binary (dist/cli/main.js, made by `npm run generate`)
// in child processes, and in-process on every database.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DecryptCommand, GenerateDataKeyCommand } from '@aws-sdk/client-kms'
import { LocalKeyProvider, PrismaTenantKeyStore, withTenant } from '../../src'
import { verifyCommand } from '../../src/cli/rotate'
import type { KmsDevServer } from '../../src/kms-dev-server'
import { tenantCommand, type CommandIO } from '../../src/cli/tenant'
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { awsProvider, kmsClient, startKms } from '../support/kms'
import { extend } from '../support/setup'

const root = join(__dirname, '..', '..')
const bin = join(root, 'dist', 'cli', 'main.js')
// Inside the repository (ignored by git as .rowcrypt-*) so that config files resolve its packages.
const work = join(root, `.rowcrypt-test-cli-${process.pid}`)
beforeAll(() => mkdirSync(work, { recursive: true }))
afterAll(() => rmSync(work, { recursive: true, force: true }))

/** Starts `rowcrypt kms-dev-server` and resolves once it printed its endpoint. */
function startServerProcess(args: string[]): Promise<{ child: ChildProcessWithoutNullStreams; endpoint: string; output: () => string; exit: Promise<number | null> }> {
  const child = spawn(process.execPath, [bin, 'kms-dev-server', ...args], { cwd: work })
  let output = ''
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kms-dev-server did not start: ${output}`)), 10_000)
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString()
      const m = /listening on (http:\/\/[^\s]+)/.exec(output)
      if (m !== null && output.includes('Press Ctrl+C')) {
        clearTimeout(timer)
        resolve({ child, endpoint: m[1]!, output: () => output, exit })
      }
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`kms-dev-server exited with ${code}: ${output}`))
    })
  })
}

describe('rowcrypt kms-dev-server', () => {
  it('serves the KMS protocol, keeps its keys in a file across restarts, and stops on SIGTERM', async () => {
    const file = join(work, 'dev-keys.json')
    const first = await startServerProcess(['--port', '0', '--file', file])
    expect(first.output()).toMatch(/alias\/rowcrypt-dev -> arn:aws:kms:us-east-1:111122223333:key\/[0-9a-f-]{36} \(created\)/)
    const c1 = kmsClient({ endpoint: first.endpoint } as KmsDevServer)
    const g = await c1.send(new GenerateDataKeyCommand({ KeyId: 'alias/rowcrypt-dev', KeySpec: 'AES_256', EncryptionContext: { tenantId: 'cli' } }))
    c1.destroy()
    first.child.kill('SIGTERM')
    expect(await first.exit).toBe(0)
    expect(first.output()).toContain('Stopped. Calls: GenerateDataKey=1')

    const second = await startServerProcess(['--port', '0', '--file', file])
    try {
      expect(second.output()).not.toContain('(created)')
      const c2 = kmsClient({ endpoint: second.endpoint } as KmsDevServer)
      const d = await c2.send(new DecryptCommand({ CiphertextBlob: g.CiphertextBlob, EncryptionContext: { tenantId: 'cli' } }))
      c2.destroy()
      expect(Buffer.from(d.Plaintext!).equals(Buffer.from(g.Plaintext!))).toBe(true)
    } finally {
      second.child.kill('SIGINT')
      expect(await second.exit).toBe(0)
    }
  })

  it('rejects bad options with exit code 2', () => {
    const r = spawnSync(process.execPath, [bin, 'kms-dev-server', '--port', '70000'], { cwd: work, encoding: 'utf8' })
    expect(r.status).toBe(2)
    expect(r.stderr).toBe("rowcrypt kms-dev-server: option '--port' must be an integer from 0 to 65535 (got '70000')\nRun 'rowcrypt kms-dev-server --help' for usage.\n")
  })

  it('--json prints a "listening" event with the endpoint and aliases, and a "stopped" event with the calls', async () => {
    const child = spawn(process.execPath, [bin, 'kms-dev-server', '--port', '0', '--memory', '--alias', 'alias/a,alias/b', '--json'], { cwd: work })
    let out = ''
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    const listening = await new Promise<{ endpoint: string; aliases: Array<{ alias: string; created: boolean }> }>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!))
      })
      void exit.then(() => reject(new Error(`kms-dev-server exited: ${out}`)))
    })
    expect(listening).toMatchObject({ event: 'listening', endpoint: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), keyFile: null })
    expect(listening.aliases.map((a) => [a.alias, a.created])).toEqual([
      ['alias/a', true],
      ['alias/b', true],
    ])
    const c = kmsClient({ endpoint: listening.endpoint } as KmsDevServer)
    await c.send(new GenerateDataKeyCommand({ KeyId: 'alias/b', KeySpec: 'AES_256', EncryptionContext: { tenantId: 'json' } }))
    c.destroy()
    child.kill('SIGTERM')
    expect(await exit).toBe(0)
    expect(
      out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([listening, { event: 'stopped', calls: { GenerateDataKey: 1 } }])
  })
})

describe('rowcrypt tenant shred (child process)', () => {
  it('loads an ES module config (rowcrypt.config.mjs) and refuses without --yes when stdin is no terminal', () => {
    const dir = join(work, 'esm')
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'rowcrypt.config.mjs'), 'export default { keyProvider: { shredTenant: async (tenantId) => ({ tenantId, tenantKeysDestroyed: 1, kmsKeys: [] }) } }\n')
    const ok = spawnSync(process.execPath, [bin, 'tenant', 'shred', '--tenant', 'esm_t', '--yes'], { cwd: dir, encoding: 'utf8' })
    expect(ok.stderr).toBe('')
    expect(ok.stdout).toBe('Shredded tenant esm_t: 1 tenant key destroyed.\n')
    expect(ok.status).toBe(0)
    const refused = spawnSync(process.execPath, [bin, 'tenant', 'shred', '--tenant', 'esm_t'], { cwd: dir, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] })
    expect(refused.status).toBe(2)
    expect(refused.stdout).toBe('')
  })

  it('shreds a tenant of a real SQLite database through a TypeScript rowcrypt.config.ts and the AWS KMS provider', async () => {
    const { server } = await startKms()
    const db = await openDatabase('sqlite', 'cli_shred')
    try {
      const store = new PrismaTenantKeyStore({ prisma: db.prisma })
      const prisma = extend(db, awsProvider(server, { tenantKeyStore: store }))
      await withTenant('cli_x', () => prisma.user.create({ data: { name: 'x', email: 'x@cli.test' } }))
      await withTenant('cli_y', () => prisma.user.create({ data: { name: 'y', email: 'y@cli.test' } }))
      const dbFile = (await db.prisma.$queryRawUnsafe<Array<{ file: string }>>('PRAGMA database_list'))[0]!.file
      const dir = join(work, 'ts')
      mkdirSync(dir, { recursive: true })
      writeFileSync(
        join(dir, 'rowcrypt.config.ts'),
        `import { KMSClient } from '@aws-sdk/client-kms'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { AwsKmsKeyProvider, PrismaTenantKeyStore } from 'rowcrypt'
import type { RowcryptCliConfig } from 'rowcrypt/config'
import { PrismaClient } from '../../generated/sqlite/client/client'

export default async (): Promise<RowcryptCliConfig> => {
  const prisma = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: 'file:' + process.env.CLI_TEST_DB }) })
  const client = new KMSClient({ endpoint: process.env.CLI_TEST_KMS, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } })
  const keyProvider = new AwsKmsKeyProvider({ client, keys: { v1: 'alias/test-v1', v2: 'alias/test-v2' }, activeVersion: 'v1', tenantKeyStore: new PrismaTenantKeyStore({ prisma }) })
  return { prisma, keyProvider, close: () => client.destroy() }
}
`,
      )
      const env = { ...process.env, CLI_TEST_DB: dbFile, CLI_TEST_KMS: server.endpoint, NODE_NO_WARNINGS: '1' }
      const r = spawnSync(process.execPath, [bin, 'tenant', 'shred', '--tenant', 'cli_x', '--yes', '--config', 'ts/rowcrypt.config.ts'], { cwd: work, env, encoding: 'utf8' })
      expect(r.stderr).toBe('')
      expect(r.stdout).toBe('Shredded tenant cli_x: 1 tenant key destroyed.\n')
      expect(r.status).toBe(0)
      const fresh = extend(db, awsProvider(server, { tenantKeyStore: new PrismaTenantKeyStore({ prisma: db.prisma }) }))
      await expect(withTenant('cli_x', () => fresh.user.findMany())).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_TENANT_SHREDDED' })
      expect((await withTenant('cli_y', () => fresh.user.findMany())).map((u) => u.email)).toEqual(['y@cli.test'])
    } finally {
      await db.close()
      await server.stop()
    }
  })
})

describe('rowcrypt tenant shred with local keys (child processes)', () => {
  it('one process shreds X through rowcrypt.config.ts; another process can read neither X nor write it, and still reads Y', async () => {
    const db = await openDatabase('sqlite', 'cli_shred_local')
    try {
      const master = Buffer.alloc(32, 0x6b).toString('base64')
      const local = () => new LocalKeyProvider({ keys: { v1: master }, activeVersion: 'v1', tenantKeyStore: new PrismaTenantKeyStore({ prisma: db.prisma }) })
      const prisma = extend(db, local())
      await withTenant('lx', () => prisma.user.create({ data: { name: 'x', email: 'x@local.test' } }))
      await withTenant('ly', () => prisma.user.create({ data: { name: 'y', email: 'y@local.test' } }))
      const dbFile = (await db.prisma.$queryRawUnsafe<Array<{ file: string }>>('PRAGMA database_list'))[0]!.file
      const dir = join(work, 'local')
      mkdirSync(dir, { recursive: true })
      writeFileSync(
        join(dir, 'rowcrypt.config.ts'),
        `import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { LocalKeyProvider, PrismaTenantKeyStore, rowcrypt } from 'rowcrypt'
import type { RowcryptCliConfig } from 'rowcrypt/config'
import { PrismaClient } from '../../generated/sqlite/client/client'
import { manifest } from '../../generated/sqlite/rowcrypt'

export default async (): Promise<RowcryptCliConfig> => {
  const base = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: 'file:' + process.env.CLI_TEST_DB }) })
  const keyProvider = new LocalKeyProvider({ keys: { v1: process.env.CLI_TEST_KEY! }, activeVersion: 'v1', tenantKeyStore: new PrismaTenantKeyStore({ prisma: base }) })
  const prisma = base.$extends(rowcrypt({ schema: manifest, keyProvider, models: { User: { fields: ['email', 'ssn', 'notes', 'prefs', 'avatar'] }, Post: { fields: ['title', 'body'] }, Document: { fields: ['body'], columns: { tenantId: 'orgId' } } } }))
  return { prisma, keyProvider }
}
`,
      )
      const env = { ...process.env, CLI_TEST_DB: dbFile, CLI_TEST_KEY: master, NODE_NO_WARNINGS: '1' }
      const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args, '--config', 'local/rowcrypt.config.ts'], { cwd: work, env, encoding: 'utf8' })
      const shred = run('tenant', 'shred', '--tenant', 'lx', '--yes')
      expect(shred.stderr).toBe('')
      expect(shred.stdout).toBe('Shredded tenant lx: 1 tenant key destroyed.\n')
      expect(shred.status).toBe(0)
      // Another process: verify decrypts every row of a tenant.
      const x = run('verify', '--json', '--tenant', 'lx', '--model', 'User')
      expect(x.status).toBe(1)
      expect(x.stdout).toContain('ERR_ROWCRYPT_TENANT_SHREDDED')
      const y = run('verify', '--json', '--tenant', 'ly', '--model', 'User')
      expect(y.status).toBe(0)
      // And this process, with nothing cached: X is gone for reads and writes, Y is readable.
      const fresh = extend(db, local())
      await expect(withTenant('lx', () => fresh.user.findMany())).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_TENANT_SHREDDED' })
      await expect(withTenant('lx', () => fresh.user.create({ data: { name: 'x2', email: 'x2@local.test' } }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_TENANT_SHREDDED' })
      expect((await withTenant('ly', () => fresh.user.findMany())).map((u) => u.email)).toEqual(['y@local.test'])
    } finally {
      await db.close()
    }
  })
})

// The command's IO with the application's config module giving `keyProvider`; the disconnect is a
// no-op so the test keeps its client. Output and errors (prefixed ERR) go to `out`.
function shredIo(out: string[], keyProvider: unknown): CommandIO {
  return {
    out: (s) => out.push(s),
    err: (s) => out.push(`ERR ${s}`),
    cwd: work,
    interactive: false,
    prompt: async () => '',
    importModule: async () => ({ default: async () => ({ prisma: { $disconnect: async () => undefined }, keyProvider }) }),
  }
}

describe.each(DATABASES)('rowcrypt tenant shred on %s', (kind) => {
  let db: TestDatabase
  let kms: KmsDevServer
  beforeAll(async () => {
    db = await openDatabase(kind, 'cli_tenant')
    kms = (await startKms()).server
  })
  afterAll(async () => {
    await kms.stop()
    await db.close()
  })

  it("destroys X's keys through the configured provider; X unreadable, Y readable", async () => {
    const keyProvider = awsProvider(kms, { tenantKeyStore: new PrismaTenantKeyStore({ prisma: db.prisma, schema: db.manifest }) })
    const prisma = extend(db, keyProvider)
    await withTenant('x', () =>
      prisma.user.createMany({
        data: [
          { name: 'x1', email: 'x1@t.test' },
          { name: 'x2', email: 'x2@t.test' },
        ],
      }),
    )
    await withTenant('y', () => prisma.user.create({ data: { name: 'y1', email: 'y1@t.test' } }))
    const out: string[] = []
    const io = shredIo(out, keyProvider)
    expect(await tenantCommand(['shred', '--tenant', 'x', '--yes', '--config', __filename], io)).toBe(0)
    expect(out.join('')).toBe('Shredded tenant x: 1 tenant key destroyed.\n')
    const other = extend(db, awsProvider(kms, { tenantKeyStore: new PrismaTenantKeyStore({ prisma: db.prisma }) }))
    for (const client of [prisma, other]) {
      await expect(withTenant('x', () => client.user.findMany())).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_TENANT_SHREDDED' })
      expect((await withTenant('y', () => client.user.findMany())).map((u) => u.email)).toEqual(['y1@t.test'])
    }
  })
})

describe.each(DATABASES)('rowcrypt tenant shred with local keys on %s', (kind) => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await openDatabase(kind, 'cli_tenant_local')
  })
  afterAll(async () => {
    await db.close()
  })

  it("destroys X's tenant keys kept in the store; X unreadable here and in a fresh provider, Y readable", async () => {
    const master = Buffer.alloc(32, 0x5a)
    const local = () => new LocalKeyProvider({ keys: { v1: master }, activeVersion: 'v1', tenantKeyStore: new PrismaTenantKeyStore({ prisma: db.prisma, schema: db.manifest }) })
    const keyProvider = local()
    const prisma = extend(db, keyProvider)
    await withTenant('x', () =>
      prisma.user.createMany({
        data: [
          { name: 'x1', email: 'x1@l.test' },
          { name: 'x2', email: 'x2@l.test' },
        ],
      }),
    )
    await withTenant('y', () => prisma.user.create({ data: { name: 'y1', email: 'y1@l.test' } }))
    // Before shredding, a provider with nothing cached (another process) reads X.
    expect((await withTenant('x', () => extend(db, local()).user.findMany())).map((u) => u.email).sort()).toEqual(['x1@l.test', 'x2@l.test'])
    const out: string[] = []
    const io = shredIo(out, keyProvider)
    expect(await tenantCommand(['shred', '--tenant', 'x', '--yes', '--config', __filename], io)).toBe(0)
    expect(out.join('')).toBe('Shredded tenant x: 1 tenant key destroyed.\n')
    for (const client of [prisma, extend(db, local())]) {
      await expect(withTenant('x', () => client.user.findMany())).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_TENANT_SHREDDED' })
      await expect(withTenant('x', () => client.user.create({ data: { name: 'x3', email: 'x3@l.test' } }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_TENANT_SHREDDED' })
      expect((await withTenant('y', () => client.user.findMany())).map((u) => u.email)).toEqual(['y1@l.test'])
    }
  })

  it('refuses to shred with a LocalKeyProvider that has no tenant key store, naming the fix', async () => {
    const keyProvider = new LocalKeyProvider({ keys: { v1: Buffer.alloc(32, 1) }, activeVersion: 'v1' })
    const out: string[] = []
    expect(await tenantCommand(['shred', '--tenant', 'x', '--yes', '--config', __filename], shredIo(out, keyProvider))).not.toBe(0)
    expect(out.join('')).toMatch(/^ERR .*tenantKeyStore.*ERR_ROWCRYPT_CONFIG/)
  })
})

describe('rowcrypt verify with a KMS that cannot be reached', () => {
  it("reports the key provider's error and code, not a database error (both are connection failures)", async () => {
    const { server } = await startKms()
    const db = await openDatabase('sqlite', 'cli_kms_down')
    try {
      const store = new PrismaTenantKeyStore({ prisma: db.prisma })
      await withTenant('down', () => extend(db, awsProvider(server, { tenantKeyStore: store })).user.create({ data: { name: 'd', email: 'd@cli.test' } }))
      await server.stop()
      // A fresh provider (no cached keys) on the stopped server's port: every KMS request is refused.
      const keyProvider = awsProvider(server, { tenantKeyStore: store, maxAttempts: 1, requestTimeoutMs: 1_000 })
      const out: string[] = []
      const err: string[] = []
      const io: CommandIO = {
        out: (s) => out.push(s),
        err: (s) => err.push(s),
        cwd: work,
        interactive: false,
        prompt: async () => '',
        importModule: async () => ({ default: { prisma: extend(db, keyProvider) } }),
      }
      expect(await verifyCommand(['--config', __filename], io)).toBe(1)
      expect(err.join('')).toMatch(/^rowcrypt verify: [^\n]*\(ERR_ROWCRYPT_KMS_UNAVAILABLE\)\n$/)
      expect(err.join('')).not.toContain('database')
      expect(out.join('')).toBe('')
    } finally {
      await db.close()
    }
  })
})
