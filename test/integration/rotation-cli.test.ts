// `rowcrypt rotate`, `status`, `verify` and `keygen` as users run them: the built binary
// (dist/cli/main.js, made by `npm run generate`) in child processes with a rowcrypt.config.ts, and
// the commands in-process on every database. The SIGKILL test kills a real rotation three times at
// random moments while the application keeps writing, then runs it to the end.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as promClient from 'prom-client'
import { LocalKeyProvider, rowcryptMetrics, unsafeBypassTenantScope, verifyRows, withTenant } from '../../src'
import { rotateCommand, statusCommand, verifyCommand, type JobIO } from '../../src/cli/rotate'
import { MYSQL_URL, openDatabase, PG_URL, type TestDatabase } from '../support/db'
import { extend, TEST_KEYS } from '../support/setup'

const root = join(__dirname, '..', '..')
const bin = join(root, 'dist', 'cli', 'main.js')
// Inside the repository (ignored by git as .rowcrypt-*) so that config files resolve its packages.
const work = join(root, `.rowcrypt-test-rotation-${process.pid}`)
beforeAll(() => mkdirSync(work, { recursive: true }))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const keyProvider = (active: 'v1' | 'v2') => new LocalKeyProvider({ keys: TEST_KEYS, activeVersion: active })
const cli = (args: string[], cwd = work) => spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NODE_NO_WARNINGS: '1' } })

async function seed(db: TestDatabase, n: number): Promise<Array<{ id: number; tenant: string }>> {
  const prisma = extend(db, keyProvider('v1'))
  for (const tenant of ['c_a', 'c_b', 'c_c']) {
    for (let i = 0; i < n / 3; i += 500) {
      await withTenant(tenant, () => prisma.user.createMany({ data: Array.from({ length: Math.min(500, n / 3 - i) }, (_, j) => ({ name: `${tenant}${i + j}`, email: `${tenant}_${i + j}@example.com`, notes: 'initial' })) }))
    }
  }
  const rows = await unsafeBypassTenantScope('test', () => prisma.user.findMany({ select: { id: true, tenantId: true } }))
  return rows.map((r) => ({ id: r.id, tenant: r.tenantId }))
}

async function versions(db: TestDatabase): Promise<Record<string, number>> {
  const rows = await db.raw<{ v: string; n: unknown }>('SELECT "keyVersion" AS v, COUNT(*) AS n FROM "User" GROUP BY "keyVersion"')
  return Object.fromEntries(rows.map((r) => [r.v, Number(r.n)]))
}

describe('rowcrypt rotate / status / verify / keygen: help, usage errors and exit codes (child process)', () => {
  it('prints --help for every command with exit code 0', () => {
    for (const command of ['rotate', 'status', 'verify', 'keygen']) {
      const r = cli([command, '--help'])
      expect(r.status).toBe(0)
      expect(r.stdout).toContain(`Usage: rowcrypt ${command}`)
      expect(r.stdout).toMatch(/Exit codes/)
    }
    const top = cli(['--help'])
    expect(top.stdout).toMatch(/rotate .*\n.*status .*\n.*verify /)
    expect(cli(['keygen']).stdout).toMatch(/^[A-Za-z0-9+/]{43}=\n$/)
  })

  it('exits 2 on usage errors: unknown or invalid options, no config file', () => {
    for (const args of [['rotate', '--batch-size', '0'], ['rotate', '--max-kms-rps', 'fast'], ['rotate', '--bogus'], ['rotate', '--from', 'v2', '--to', 'v2'], ['verify', '--sample', 'abc'], ['status', '--nope'], ['keygen', 'extra'], ['rotate'], ['status', '--config', 'missing.ts']]) {
      const r = cli(args)
      expect({ args, status: r.status }).toEqual({ args, status: 2 })
      expect(r.stderr).not.toBe('')
    }
  })
})

describe('rowcrypt rotate on PostgreSQL, killed with SIGKILL three times while the application writes', () => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await openDatabase('postgres', 'rotation_kill')
  })
  afterAll(() => db.close())

  it('loses nothing: after each kill every row decrypts, and a re-run finishes the rotation; no lost update', async () => {
    const rows = await seed(db, 3000)
    const schema = /^"([^"]+)"/.exec(db.table('User'))![1]!
    const dir = join(work, 'pg')
    mkdirSync(dir, { recursive: true })
    writeFileSync(
      join(dir, 'rowcrypt.config.ts'),
      `import { PrismaPg } from '@prisma/adapter-pg'
import { LocalKeyProvider, rowcrypt, type RowcryptCliConfig } from 'rowcrypt'
import { PrismaClient } from '../../generated/postgres/client/client'
import { manifest } from '../../generated/postgres/rowcrypt'

export default (): RowcryptCliConfig => {
  const base = new PrismaClient({ adapter: new PrismaPg({ connectionString: process.env.ROTATION_TEST_PG_URL }, { schema: process.env.ROTATION_TEST_SCHEMA }) })
  const keyProvider = new LocalKeyProvider({ keys: { v1: process.env.ROTATION_TEST_V1!, v2: process.env.ROTATION_TEST_V2! }, activeVersion: 'v2' })
  const models = {
    User: { fields: ['email', 'ssn', 'notes', { name: 'prefs', type: 'json' as const }, { name: 'avatar', type: 'bytes' as const }] },
    Post: { fields: ['title', 'body'] },
    Document: { fields: ['body'], columns: { tenantId: 'orgId' } },
  }
  return { prisma: base.$extends(rowcrypt({ schema: manifest, keyProvider, models })) }
}
`,
    )
    const env = { ...process.env, NODE_NO_WARNINGS: '1', ROTATION_TEST_PG_URL: PG_URL, ROTATION_TEST_SCHEMA: schema, ROTATION_TEST_V1: TEST_KEYS.v1, ROTATION_TEST_V2: TEST_KEYS.v2 }
    const args = [bin, 'rotate', '--config', 'pg/rowcrypt.config.ts', '--batch-size', '50', '--max-kms-rps', '1000']

    // The application, on v2 already, updating random rows the whole time.
    const app = extend(db, keyProvider('v2'))
    const last = new Map<number, string>()
    const errors: unknown[] = []
    let stopped = false
    let seq = 0
    const writer = (async () => {
      while (!stopped) {
        const r = rows[Math.floor(Math.random() * rows.length)]!
        const value = `w${++seq}`
        try {
          await withTenant(r.tenant, () => app.user.update({ where: { id: r.id }, data: { notes: value } }))
          last.set(r.id, value)
        } catch (e) {
          errors.push(e)
          return
        }
      }
    })()

    let onV2 = 0
    for (let kill = 1; kill <= 3; kill++) {
      const child = spawn(process.execPath, args, { cwd: work, env })
      let out = ''
      let err = ''
      child.stderr.on('data', (d: Buffer) => (err += d.toString()))
      const exit = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)))
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString()
          if (out.includes('"event":"progress"')) resolve()
        })
        void exit.then(() => reject(new Error(`rotate exited before it was killed: ${out} ${err}`)))
      })
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 350))
      child.kill('SIGKILL')
      expect(await exit).toBe('SIGKILL')
      // Nothing lost: every row decrypts, on its old or its new key, and the rotation moved on.
      const now = await versions(db)
      expect((now.v1 ?? 0) + (now.v2 ?? 0)).toBe(3000)
      expect(now.v2 ?? 0).toBeGreaterThan(onV2)
      expect(now.v1 ?? 0).toBeGreaterThan(0)
      onV2 = now.v2 ?? 0
      expect((await verifyRows({ prisma: app })).failed).toBe(0)
    }

    const final = spawnSync(process.execPath, args, { cwd: work, env, encoding: 'utf8' })
    stopped = true
    await writer
    expect(final.stderr).toBe('')
    expect(final.status).toBe(0)
    const done = JSON.parse(final.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>
    expect(done).toMatchObject({ event: 'done', rotated: 3000 - onV2, failed: 0, interrupted: false })
    expect(await versions(db)).toEqual({ v2: 3000 })
    expect(errors).toEqual([])
    expect(last.size).toBeGreaterThan(0)
    const stored = await unsafeBypassTenantScope('test', () => app.user.findMany({ where: { id: { in: [...last.keys()] } }, select: { id: true, notes: true } }))
    expect(stored.filter((r) => r.notes !== last.get(r.id))).toEqual([])
    const verified = spawnSync(process.execPath, [bin, 'verify', '--config', 'pg/rowcrypt.config.ts', '--json'], { cwd: work, env, encoding: 'utf8' })
    expect(verified.status).toBe(0)
    expect(JSON.parse(verified.stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'done', checked: 3000, failed: 0 })
  })
})

describe('rowcrypt rotate on MariaDB, stopped with SIGINT', () => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await openDatabase('mysql', 'rotation_sigint')
  })
  afterAll(() => db.close())

  it('finishes the current batch, reports what it did, exits 130; a re-run continues', async () => {
    await seed(db, 1500)
    const url = new URL(MYSQL_URL)
    const database = (await db.prisma.$queryRawUnsafe<Array<{ d: string }>>('SELECT DATABASE() AS d'))[0]!.d
    const dir = join(work, 'my')
    mkdirSync(dir, { recursive: true })
    writeFileSync(
      join(dir, 'rowcrypt.config.ts'),
      `import { PrismaMariaDb } from '@prisma/adapter-mariadb'
import { LocalKeyProvider, rowcrypt } from 'rowcrypt'
import { PrismaClient } from '../../generated/mysql/client/client'
import { manifest } from '../../generated/mysql/rowcrypt'

const prisma = new PrismaClient({ adapter: new PrismaMariaDb({ host: ${JSON.stringify(url.hostname)}, port: ${Number(url.port || 3306)}, user: ${JSON.stringify(decodeURIComponent(url.username))}, password: ${JSON.stringify(decodeURIComponent(url.password))}, database: process.env.ROTATION_TEST_DB, connectionLimit: 3 }) })
export { prisma, manifest as schema }
export const keyProvider = new LocalKeyProvider({ keys: { v1: process.env.ROTATION_TEST_V1!, v2: process.env.ROTATION_TEST_V2! }, activeVersion: 'v2' })
export const models = { User: { fields: ['email', 'ssn', 'notes', { name: 'prefs', type: 'json' }, { name: 'avatar', type: 'bytes' }] } }
`,
    )
    // Named exports, and the base client: the command extends it with schema, models and keyProvider.
    const env = { ...process.env, NODE_NO_WARNINGS: '1', ROTATION_TEST_DB: database, ROTATION_TEST_V1: TEST_KEYS.v1, ROTATION_TEST_V2: TEST_KEYS.v2 }
    const args = [bin, 'rotate', '--config', 'my/rowcrypt.config.ts', '--batch-size', '100', '--max-kms-rps', '1000']
    const child = spawn(process.execPath, args, { cwd: work, env })
    let out = ''
    let err = ''
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.includes('"event":"progress"')) resolve()
      })
      void exit.then(() => reject(new Error(`rotate exited before SIGINT: ${out} ${err}`)))
    })
    child.kill('SIGINT')
    expect(await exit).toBe(130)
    expect(err).toContain('stopping after the current batch')
    const done = JSON.parse(out.trim().split('\n').at(-1)!) as { event: string; rotated: number; interrupted: boolean }
    expect(done).toMatchObject({ event: 'done', interrupted: true })
    // Every batch it started was finished and counted: what it reports is what the table holds.
    expect(done.rotated % 100).toBe(0)
    expect(done.rotated).toBeLessThan(1500)
    expect(await versions(db)).toEqual({ v1: 1500 - done.rotated, v2: done.rotated })

    const again = spawnSync(process.execPath, args, { cwd: work, env, encoding: 'utf8' })
    expect(again.status).toBe(0)
    expect(JSON.parse(again.stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'done', rotated: 1500 - done.rotated, interrupted: false })
    expect(await versions(db)).toEqual({ v2: 1500 })
  })
})

describe.each(['sqlite', 'postgres', 'mysql'] as const)('rowcrypt rotate / status / verify in-process on %s', (kind) => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await openDatabase(kind, 'rotation_cli')
  })
  afterAll(() => db.close())

  function io(config: Record<string, unknown>, tty = false) {
    const out: string[] = []
    const err: string[] = []
    const value: JobIO = {
      out: (s) => out.push(s),
      err: (s) => err.push(s),
      cwd: work,
      interactive: false,
      prompt: async () => '',
      tty,
      // The application's config module; its disconnect is a no-op so the test keeps its client.
      importModule: async () => ({ default: { ...config, prisma: withNoDisconnect(config.prisma) } }),
    }
    return { io: value, out: () => out.join(''), err: () => err.join('') }
  }

  it('dry-run, rotate and status print JSON lines with --json, refresh the rows_per_key_version gauge, and verify exits 1 listing failing ids', async () => {
    const rows = await seed(db, 60)
    const registry = new promClient.Registry()
    const metrics = rowcryptMetrics({ client: promClient, registry })
    // A base client with schema, models and keyProvider: the command extends it itself.
    const config = {
      prisma: db.prisma,
      schema: db.manifest,
      keyProvider: keyProvider('v2'),
      models: { User: { fields: ['email', 'ssn', 'notes', { name: 'prefs', type: 'json' }, { name: 'avatar', type: 'bytes' }] }, Document: { fields: ['body'], columns: { tenantId: 'orgId' } } },
      metrics,
    }
    const gauge = async () => (await registry.getSingleMetric(metrics.names.rowsPerKeyVersion)!.get()).values.filter((v) => v.labels.model === 'User').map((v) => [v.labels.key_version, v.value])

    const dry = io(config)
    expect(await rotateCommand(['--dry-run', '--json', '--config', __filename], dry.io)).toBe(0)
    expect(JSON.parse(dry.out().trim())).toMatchObject({ event: 'done', dryRun: true, wouldRotate: 60 })
    expect(await versions(db)).toEqual({ v1: 60 })

    const status = io(config)
    expect(await statusCommand(['--json', '--by-tenant', '--config', __filename], status.io)).toBe(0)
    const parsed = JSON.parse(status.out()) as { activeKeyVersion: string; models: Array<{ model: string; notActive: number; tenants: unknown[] }> }
    expect(parsed.activeKeyVersion).toBe('v2')
    expect(parsed.models.find((m) => m.model === 'User')).toMatchObject({ notActive: 60, tenants: [{ tenantId: 'c_a', total: 20 }, { tenantId: 'c_b', total: 20 }, { tenantId: 'c_c', total: 20 }] })
    expect(await gauge()).toEqual([['v1', 60]])

    const run = io(config)
    expect(await rotateCommand(['--json', '--batch-size', '7', '--model', 'User', '--config', __filename], run.io)).toBe(0)
    const lines = run.out().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines[0]).toMatchObject({ event: 'progress', model: 'User', total: 60 })
    expect(lines.at(-1)).toMatchObject({ event: 'done', rotated: 60, failed: 0, interrupted: false })
    expect(await versions(db)).toEqual({ v2: 60 })
    expect(await gauge()).toEqual([['v2', 60]])

    // A row moved to another tenant behind rowcrypt's back no longer decrypts.
    await db.raw('UPDATE "User" SET "tenantId" = $1 WHERE "id" = $2', ['c_evil', rows[3]!.id])
    const bad = io(config)
    expect(await verifyCommand(['--json', '--config', __filename], bad.io)).toBe(1)
    const vlines = bad.out().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(vlines.filter((l) => l.event === 'failure')).toEqual([{ event: 'failure', model: 'User', id: String(rows[3]!.id), tenantId: 'c_evil', code: 'ERR_ROWCRYPT_DECRYPTION_FAILED' }])
    expect(vlines.at(-1)).toMatchObject({ event: 'done', checked: 60, failed: 1 })
    // Nothing printed holds a value or a key.
    expect(bad.out() + run.out() + status.out()).not.toMatch(/example\.com|rc1\.|initial/)

    const sample = io(config)
    expect(await verifyCommand(['--sample', '5', '--model', 'User', '--tenant', 'c_b', '--json', '--config', __filename], sample.io)).toBe(0)
    expect(JSON.parse(sample.out().trim().split('\n').at(-1)!)).toMatchObject({ event: 'done', checked: 5, failed: 0 })
  })

  it('on a terminal: a progress bar with rate and ETA on stderr, a summary on stdout; an unknown model is a usage error', async () => {
    await db.raw('DELETE FROM "User"')
    await seed(db, 30)
    const config = { prisma: extend(db, keyProvider('v2')) }
    const t = io(config, true)
    expect(await rotateCommand(['--batch-size', '5', '--rekey', '--config', __filename], t.io)).toBe(0)
    expect(t.err()).toMatch(/rekey User \[[█░]+\] +\d+%  [\d,]+\/30 rows  [\d,]+ rows\/s  ETA /)
    expect(t.out()).toMatch(/^Done: 30 rows re-keyed in \d+:\d\d \([\d,]+ rows\/s\)\.\n$/)
    const s = io(config, true)
    expect(await statusCommand(['--config', __filename], s.io)).toBe(0)
    expect(s.out()).toContain('Active key version: v2')
    expect(s.out()).toMatch(/User +v2 \(active\) +30\n/)
    expect(s.out()).toContain('User: 30 rows, 0 not on v2')
    const v = io(config, true)
    expect(await verifyCommand(['--config', __filename], v.io)).toBe(0)
    expect(v.out()).toBe('Verified: 30 rows checked, 0 failed.\n')
    const u = io(config)
    expect(await rotateCommand(['--model', 'Nope', '--config', __filename], u.io)).toBe(2)
    expect(u.err()).toContain('ERR_ROWCRYPT_CONFIG')
  })
})

/** The test's client, as a config module exports it, except that the command cannot disconnect it. */
function withNoDisconnect(prisma: unknown): unknown {
  return new Proxy(prisma as object, {
    get: (target, key) => {
      if (key === '$disconnect') return async () => undefined
      const v = Reflect.get(target, key) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
}
