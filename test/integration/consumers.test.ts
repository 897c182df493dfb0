// The packed tarball as users get it: `npm pack`, checked by @arethetypeswrong/cli and publint, then
// installed into two fresh applications built from test/consumers/ (Prisma 7's default ESM setup,
// and a CommonJS one). Each generates its client and manifest, type-checks with skipLibCheck off
// and without the optional peers (@aws-sdk/client-kms, prom-client), compiles, and runs a
// tenant-scoped round trip on SQLite under Node.js.
import { execFile, execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const root = join(__dirname, '..', '..')
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> }
const KEY = 'a1'.repeat(32)

// Child npm processes get the environment without the variables of the npm run that started Jest.
const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_') && k !== 'INIT_CWD')),
  PRISMA_SCHEMA_ENGINE_BINARY: '/bin/true',
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
  ...extra,
})
const run = (cwd: string, file: string, args: string[], extra?: Record<string, string>) => {
  const r = spawnSync(file, args, { cwd, env: env(extra), encoding: 'utf8' })
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

let work: string
let tarball: string
const apps = { esm: '', cjs: '' }

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'rowcrypt-consumers-'))
  // dist/ is built by `npm test` (generate); packing must not rebuild it under running suites.
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: root, env: env(), encoding: 'utf8' })) as Array<{ filename: string }>
  tarball = join(work, packed!.filename)
  await Promise.all((['esm', 'cjs'] as const).map((kind) => install(kind)))
}, 240_000)
afterAll(() => rmSync(work, { recursive: true, force: true }))

// Copies the template, points `rowcrypt` at the tarball and pins the other packages to the versions
// of this repository's lockfile (all in the npm cache), and installs them.
async function install(kind: 'esm' | 'cjs'): Promise<void> {
  const dir = join(work, kind)
  cpSync(join(root, 'test', 'consumers', kind), dir, { recursive: true })
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string>>
  for (const deps of [pkg.dependencies!, pkg.devDependencies!]) {
    for (const name of Object.keys(deps)) deps[name] = name === 'rowcrypt' ? `file:${tarball}` : lock.packages[`node_modules/${name}`]!.version
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2))
  // Install scripts are skipped: better-sqlite3 would compile SQLite from source (minutes; no
  // prebuilt binary can be downloaded here). The binary the repository's own install compiled from
  // the same version is copied in instead; everything else is what npm installed.
  await promisify(execFile)('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir, env: env() })
  const binary = join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')
  mkdirSync(join(dir, 'node_modules', 'better-sqlite3', 'build', 'Release'), { recursive: true })
  copyFileSync(join(root, binary), join(dir, binary))
  apps[kind] = dir
}

describe('the packed tarball', () => {
  it('has no type problems for @arethetypeswrong/cli in any resolution mode', () => {
    const r = run(root, join(root, 'node_modules', '.bin', 'attw'), [tarball])
    expect(r.out).toContain('No problems found')
    expect(r.status).toBe(0)
  })

  it('passes publint --strict with nothing to report', () => {
    const r = run(root, join(root, 'node_modules', '.bin', 'publint'), ['--strict', tarball])
    expect(r.out).not.toMatch(/Errors:|Warnings:|Suggestions:/)
    expect(r.out).toContain('All good!')
    expect(r.status).toBe(0)
  })
})

// Generates, type-checks and compiles (one `tsc`, skipLibCheck off), creates the table, runs.
function buildAndRun(dir: string): { status: number | null; out: string; db: string } {
  for (const script of ['generate', 'build']) {
    const r = run(dir, 'npm', ['run', '--silent', script])
    expect([script, r.status, r.status === 0 ? '' : r.out]).toEqual([script, 0, ''])
  }
  const db = join(dir, 'dev.db')
  const sql = readFileSync(join(dir, 'prisma', 'migrations', '0_init', 'migration.sql'), 'utf8')
  execFileSync(process.execPath, ['-e', `new (require('better-sqlite3'))(${JSON.stringify(db)}).exec(${JSON.stringify(sql)})`], { cwd: dir })
  return { ...run(dir, 'npm', ['start', '--silent'], { DATABASE_URL: `file:${db}`, ROWCRYPT_KEY_V1: KEY }), db }
}

// One stored row, read around rowcrypt.
const storedRow = (dir: string, db: string, table: string) =>
  JSON.parse(
    execFileSync(process.execPath, ['-e', `process.stdout.write(JSON.stringify(new (require('better-sqlite3'))(${JSON.stringify(db)}).prepare('SELECT * FROM "${table}"').all()))`], {
      cwd: dir,
      encoding: 'utf8',
    }),
  ) as Array<Record<string, unknown>>

describe('consumer applications built from the tarball', () => {
  it('installs neither optional peer', () => {
    for (const dir of Object.values(apps)) {
      expect(existsSync(join(dir, 'node_modules', 'rowcrypt', 'dist', 'index.mjs'))).toBe(true)
      expect(['@aws-sdk/client-kms', 'prom-client'].filter((p) => existsSync(join(dir, 'node_modules', p)))).toEqual([])
    }
  })

  it('ESM ("type": "module", default prisma-client, nodenext): generates an ES module manifest, type-checks, and round-trips per tenant', () => {
    const dir = apps.esm
    const { status, out, db } = buildAndRun(dir)
    expect([status, out.trim().startsWith('{') ? '' : out]).toEqual([0, ''])
    expect(readFileSync(join(dir, 'generated', 'rowcrypt', 'index.js'), 'utf8')).toContain('export const manifest')
    const result = JSON.parse(out) as { id: string; diagnosis: string; own: unknown[]; other: unknown[] }
    expect(result).toEqual({ id: expect.any(String), diagnosis: 'hay fever', own: [{ id: result.id, diagnosis: 'hay fever' }], other: [] })
    const [row] = storedRow(dir, db, 'Patient')
    expect(row).toMatchObject({ id: result.id, name: 'Ada', tenantId: 'clinic_a', keyVersion: 'v1', diagnosis: expect.stringMatching(/^rc1\./) })
    expect(String(row!.diagnosis)).not.toContain('hay fever')
  }, 120_000)

  it('CommonJS (moduleFormat "cjs", commonjs): generates a .ts manifest, type-checks, and round-trips per tenant', () => {
    const dir = apps.cjs
    const { status, out, db } = buildAndRun(dir)
    expect([status, out.trim().startsWith('{') ? '' : out]).toEqual([0, ''])
    expect(existsSync(join(dir, 'src', 'generated', 'rowcrypt', 'index.ts'))).toBe(true)
    expect(JSON.parse(out)).toEqual({ id: 1, email: 'ada@example.com', plan: 'pro', fromOtherTenant: null })
    const [row] = storedRow(dir, db, 'Customer')
    expect(row).toMatchObject({ id: 1, plan: 'pro', tenantId: 'shop_a', keyVersion: 'v1', email: expect.stringMatching(/^rc1\./) })
    expect(String(row!.email)).not.toContain('ada@example.com')
  }, 120_000)
})
