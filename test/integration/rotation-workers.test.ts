// Two `rowcrypt rotate` processes at once (issue 5: "two workers at once: each row rotated exactly
// once"): the built CLI (dist/cli/main.js, made by `npm run generate`) in two real OS processes on
// the same table, started at the same moment, while the application keeps updating random rows.
// Each process reports the rows it rotated (its successful compare-and-swap updates, JSON output):
// the two counts add up to the row count, both processes did some of the work, every row ends on
// the new version with the application's last write, and `rowcrypt verify` passes.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LocalKeyProvider, unsafeBypassTenantScope, withTenant } from '../../src'
import { STRESS_KEYS, stressEnv, writeRotationConfig, type StressTarget } from '../../bench/rotation-stress'
import { openDatabase, type TestDatabase } from '../support/db'
import { extend } from '../support/setup'

const root = join(__dirname, '..', '..')
const bin = join(root, 'dist', 'cli', 'main.js')
// Inside the repository (ignored by git as .rowcrypt-*) so that the config resolves its packages.
const work = join(root, `.rowcrypt-test-workers-${process.pid}`)
beforeAll(() => mkdirSync(work, { recursive: true }))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const ROWS = 3000
const keyProvider = (active: 'v1' | 'v2') => new LocalKeyProvider({ keys: STRESS_KEYS, activeVersion: active })

interface Done {
  event: 'done'
  rotated: number
  failed: number
  conflicts: number
  total: number
  interrupted: boolean
}

function rotateProcess(config: string, env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [bin, 'rotate', '--config', config, '--json', '--batch-size', '20', '--concurrency', '4', '--max-kms-rps', '1500'], { cwd: root, env })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const exit = new Promise<{ code: number | null; out: string; err: string; done: Done | undefined }>((resolve) =>
    child.on('close', (code) => {
      const last = out.trim().split('\n').at(-1) ?? ''
      resolve({ code, out, err, done: last.startsWith('{') ? (JSON.parse(last) as Done) : undefined })
    }),
  )
  return { exit, kill: () => child.exitCode === null && child.kill('SIGKILL') }
}

describe.each(['postgres', 'mysql'] as const)('two rowcrypt rotate processes at once on %s', (kind) => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await openDatabase(kind, 'rotation_workers_cli')
  })
  afterAll(() => db.close())

  it(`rotate ${ROWS.toLocaleString('en-US')} rows between them beside a writer: each row exactly once (CAS updates add up), both work, no lost update, verify passes`, async () => {
    const seeder = extend(db, keyProvider('v1'))
    const tenants = ['k_a', 'k_b', 'k_c']
    for (const tenant of tenants) {
      for (let i = 0; i < ROWS / tenants.length; i += 500) {
        await withTenant(tenant, () =>
          seeder.user.createMany({ data: Array.from({ length: 500 }, (_, j) => ({ name: `${tenant}${i + j}`, email: `${tenant}_${i + j}@example.com`, notes: 'initial' })) }),
        )
      }
    }
    const rows = (await unsafeBypassTenantScope('test', () => seeder.user.findMany({ select: { id: true, tenantId: true } }))).map((r) => ({ id: r.id, tenant: r.tenantId }))
    expect(rows).toHaveLength(ROWS)

    const target: StressTarget =
      kind === 'postgres' ? { kind, name: /^"([^"]+)"/.exec(db.table('User'))![1]! } : { kind, name: (await db.prisma.$queryRawUnsafe<Array<{ d: string }>>('SELECT DATABASE() AS d'))[0]!.d }
    const config = writeRotationConfig(join(work, kind), kind)
    const barrier = join(work, `${kind}-barrier`)
    mkdirSync(barrier, { recursive: true })
    const env = stressEnv(target, { ROWCRYPT_STRESS_BARRIER: barrier })

    // The application, on v2 already, updating random rows the whole time (one writer per row, so
    // the last acknowledged value of each row is known).
    const app = extend(db, keyProvider('v2'))
    const last = new Map<number, string>()
    const errors: unknown[] = []
    let stopped = false
    let writes = 0
    const writer = (async () => {
      for (let seq = 1; !stopped; seq++) {
        const r = rows[Math.floor(Math.random() * rows.length)]!
        try {
          await withTenant(r.tenant, () => app.user.update({ where: { id: r.id }, data: { notes: `w${seq}` } }))
          last.set(r.id, `w${seq}`)
          writes++
        } catch (e) {
          errors.push(e)
          return
        }
      }
    })()

    const workers = [rotateProcess(config, env), rotateProcess(config, env)]
    try {
      // Both loaded their config and wait at the barrier: let them go at the same moment.
      const deadline = Date.now() + 30_000
      while (readdirSync(barrier).filter((f) => f.startsWith('ready-')).length < 2) {
        if (Date.now() > deadline) throw new Error('the rotate processes did not start')
        await new Promise((r) => setTimeout(r, 10))
      }
      const writesAtStart = writes
      writeFileSync(join(barrier, 'go'), '')
      const results = await Promise.all(workers.map((w) => w.exit))
      const writesDuring = writes - writesAtStart
      stopped = true
      await writer

      for (const r of results) {
        expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' })
        expect(r.done).toMatchObject({ event: 'done', failed: 0, interrupted: false })
      }
      const [a, b] = results.map((r) => r.done!.rotated) as [number, number]
      // Exactly once: the successful compare-and-swap updates of the two processes are the rows.
      expect(a + b).toBe(ROWS)
      // Both took part (batches of 20, claimed with FOR UPDATE SKIP LOCKED).
      expect(a).toBeGreaterThan(0)
      expect(b).toBeGreaterThan(0)
      expect(existsSync(join(barrier, 'go'))).toBe(true)
      expect(writesDuring).toBeGreaterThan(0)
      expect(errors).toEqual([])

      const versions = await db.raw<{ v: string; n: unknown }>('SELECT "keyVersion" AS v, COUNT(*) AS n FROM "User" GROUP BY "keyVersion"')
      expect(Object.fromEntries(versions.map((v) => [v.v, Number(v.n)]))).toEqual({ v2: ROWS })
      const stored = await unsafeBypassTenantScope('test', () => app.user.findMany({ where: { id: { in: [...last.keys()] } }, select: { id: true, notes: true } }))
      expect(stored).toHaveLength(last.size)
      expect(stored.filter((r) => r.notes !== last.get(r.id))).toEqual([])

      const verified = spawnSync(process.execPath, [bin, 'verify', '--config', config, '--json'], { cwd: root, env, encoding: 'utf8' })
      expect(verified.status).toBe(0)
      expect(JSON.parse(verified.stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'done', checked: ROWS, failed: 0 })
    } finally {
      stopped = true
      await writer
      for (const w of workers) w.kill()
    }
  })
})
