// `rowcrypt rotate`, `status`, `verify` and `keygen` as users run them: the built binary
// (dist/cli/main.js, made by `npm run generate`) in child processes with a rowcrypt.config.ts, and
// the commands in-process on every database. Rotation killed with SIGKILL while the application
// writes: rotation-stress.test.ts (every database); two rotate processes at once:
// rotation-workers.test.ts.
import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as promClient from 'prom-client'
import { LocalKeyProvider, rowcryptMetrics, unsafeBypassTenantScope, withTenant } from '../../src'
import { rotateCommand, statusCommand, verifyCommand, type JobIO } from '../../src/cli/rotate'
import { BIN as bin, startCli } from '../support/cli'
import { MYSQL_URL, openDatabase, type TestDatabase } from '../support/db'
import { extend, noDisconnect, TEST_KEYS } from '../support/setup'
import { extendSearchable } from '../support/searchable'

const root = join(__dirname, '..', '..')
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
      await withTenant(tenant, () =>
        prisma.user.createMany({ data: Array.from({ length: Math.min(500, n / 3 - i) }, (_, j) => ({ name: `${tenant}${i + j}`, email: `${tenant}_${i + j}@example.com`, notes: 'initial' })) }),
      )
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
    for (const args of [
      ['rotate', '--batch-size', '0'],
      ['rotate', '--max-kms-rps', 'fast'],
      ['rotate', '--bogus'],
      ['rotate', '--from', 'v2', '--to', 'v2'],
      ['verify', '--sample', 'abc'],
      ['status', '--nope'],
      ['keygen', 'extra'],
      ['rotate'],
      ['status', '--config', 'missing.ts'],
    ]) {
      const r = cli(args)
      expect({ args, status: r.status }).toEqual({ args, status: 2 })
      expect(r.stderr).not.toBe('')
    }
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
    const args = ['rotate', '--config', 'my/rowcrypt.config.ts', '--batch-size', '100', '--max-kms-rps', '1000']
    const rotation = await startCli(args, { cwd: work, env }, '"event":"progress"')
    rotation.child.kill('SIGINT')
    expect(await rotation.exit).toBe(130)
    expect(rotation.err()).toContain('stopping after the current batch')
    const out = rotation.out()
    const done = JSON.parse(out.trim().split('\n').at(-1)!) as { event: string; rotated: number; interrupted: boolean }
    expect(done).toMatchObject({ event: 'done', interrupted: true })
    // Every batch it started was finished and counted: what it reports is what the table holds.
    expect(done.rotated % 100).toBe(0)
    expect(done.rotated).toBeLessThan(1500)
    expect(await versions(db)).toEqual({ v1: 1500 - done.rotated, v2: done.rotated })

    const again = spawnSync(process.execPath, [bin, ...args], { cwd: work, env, encoding: 'utf8' })
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
      importModule: async () => ({ default: { ...config, prisma: noDisconnect(config.prisma) } }),
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
    expect(parsed.models.find((m) => m.model === 'User')).toMatchObject({
      notActive: 60,
      tenants: [
        { tenantId: 'c_a', total: 20 },
        { tenantId: 'c_b', total: 20 },
        { tenantId: 'c_c', total: 20 },
      ],
    })
    expect(await gauge()).toEqual([['v1', 60]])

    const run = io(config)
    expect(await rotateCommand(['--json', '--batch-size', '7', '--model', 'User', '--config', __filename], run.io)).toBe(0)
    const lines = run
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines[0]).toMatchObject({ event: 'progress', model: 'User', total: 60 })
    expect(lines.at(-1)).toMatchObject({ event: 'done', rotated: 60, failed: 0, interrupted: false })
    expect(await versions(db)).toEqual({ v2: 60 })
    expect(await gauge()).toEqual([['v2', 60]])

    // A row moved to another tenant behind rowcrypt's back no longer decrypts.
    await db.raw('UPDATE "User" SET "tenantId" = $1 WHERE "id" = $2', ['c_evil', rows[3]!.id])
    const bad = io(config)
    expect(await verifyCommand(['--json', '--config', __filename], bad.io)).toBe(1)
    const vlines = bad
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
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
    expect(t.err()).toMatch(/rekey User \[[█░]+\] +\d+% {2}[\d,]+\/30 rows {2}[\d,]+ rows\/s {2}ETA /)
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

  it('--reindex recomputes blind indexes under the new index key version; combined with --rekey it is a usage error', async () => {
    await withTenant('c_a', () => extendSearchable(db).customer.createMany({ data: Array.from({ length: 12 }, (_, i) => ({ email: `r${i}@example.com`, ssn: String(i) })) }))
    const config = { prisma: extendSearchable(db, keyProvider('v1'), { keyVersion: 'v2', previousKeyVersions: ['v1'] }) }
    const r = io(config)
    expect(await rotateCommand(['--reindex', '--json', '--batch-size', '5', '--config', __filename], r.io)).toBe(0)
    expect(JSON.parse(r.out().trim().split('\n').at(-1)!)).toMatchObject({ event: 'done', reindex: true, rotated: 12, failed: 0 })
    const left = await db.raw<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${db.table('Customer')} WHERE "emailIndex" NOT LIKE 'v2:%' OR "ssnIdx" NOT LIKE 'v2:%'`)
    expect(Number(left[0]!.n)).toBe(0)
    const t = io(config, true)
    expect(await rotateCommand(['--reindex', '--config', __filename], t.io)).toBe(0)
    expect(t.out()).toMatch(/^Done: 0 rows reindexed in /)
    const bad = io(config)
    expect(await rotateCommand(['--reindex', '--rekey', '--config', __filename], bad.io)).toBe(2)
  })
})
