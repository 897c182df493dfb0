// The packed tarball as users get it, and the README's Getting started as users follow it.
// `npm pack`, checked by @arethetypeswrong/cli and publint, is installed into two applications
// assembled from test/consumers/ (app/ plus esm/ or cjs/): Prisma 7's default ES module setup and a
// CommonJS one. Their files must be the ones README.md shows (see test/support/readme-blocks.ts for
// the markers). Each generates its client and manifest, type-checks with skipLibCheck off and
// without the optional peers, compiles, applies its migration, prints what the README says it
// prints, and runs `rowcrypt status` and `verify` through its rowcrypt.config.ts. Then every other
// `ts` block of the README is type-checked as a module of both applications.
import { execFile, execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { appFiles, installedPackages, locateDiagnostics, readmeBlocks, snippetModules, type AppKind, type ReadmeBlock } from '../support/readme-blocks'

const root = join(__dirname, '..', '..')
const templates = join(root, 'test', 'consumers')
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> }
const KEY = 'a1'.repeat(32)
const KINDS: readonly AppKind[] = ['esm', 'cjs']

const blocks = readmeBlocks(readFileSync(join(root, 'README.md'), 'utf8'))
const marked = (kind: string): ReadmeBlock[] => blocks.filter((b) => b.marker?.kind === kind)

// Child npm processes get the environment without the variables of the npm run that started Jest.
const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_') && k !== 'INIT_CWD')),
  PRISMA_SCHEMA_ENGINE_BINARY: '/bin/true',
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
  ...extra,
})

interface Step {
  readonly status: number
  readonly out: string
}
const run = (cwd: string, file: string, args: string[], extra?: Record<string, string>): Promise<Step> =>
  new Promise((resolve) => {
    execFile(file, args, { cwd, env: env(extra), maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = (error as { code?: unknown } | null)?.code
      resolve({ status: error === null ? 0 : typeof code === 'number' ? code : 1, out: `${stdout}${stderr}` })
    })
  })
const lockVersion = (name: string): string => lock.packages[`node_modules/${name}`]!.version

// The template files of an app, by path: app/ overlaid with esm/ or cjs/.
function templateFiles(kind: AppKind): Map<string, string> {
  const files = new Map<string, string>()
  for (const dir of [join(templates, 'app'), join(templates, kind)]) {
    for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) files.set(relative(dir, join(entry.parentPath, entry.name)), readFileSync(join(entry.parentPath, entry.name), 'utf8'))
    }
  }
  return files
}

interface AppRun {
  readonly dir: string
  readonly db: string
  readonly peers: string[]
  readonly steps: Record<string, Step>
}

let work: string
let tarball: string
const apps = {} as Record<AppKind, Promise<AppRun>>

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'rowcrypt-consumers-'))
  // dist/ is built by `npm test` (generate); packing must not rebuild it under running suites.
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: root, env: env(), encoding: 'utf8' })) as Array<{ filename: string }>
  tarball = join(work, packed!.filename)
  for (const kind of KINDS) apps[kind] = buildAndRun(kind)
  await Promise.all(KINDS.map((kind) => apps[kind]))
}, 300_000)
afterAll(() => rmSync(work, { recursive: true, force: true }))

// Installs the app (rowcrypt from the tarball, the other packages at this repository's lockfile
// versions, all in the npm cache), then does what the README says: generate, build, migrate, start,
// and the two commands. A failed step ends the run; the tests report it.
async function buildAndRun(kind: AppKind): Promise<AppRun> {
  const dir = join(work, kind)
  for (const [path, text] of templateFiles(kind)) {
    mkdirSync(join(dir, path, '..'), { recursive: true })
    writeFileSync(join(dir, path), text)
  }
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string>>
  for (const deps of [pkg.dependencies!, pkg.devDependencies!]) {
    for (const name of Object.keys(deps)) deps[name] = name === 'rowcrypt' ? `file:${tarball}` : lockVersion(name)
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2))
  const db = join(dir, 'dev.db')
  const result: AppRun = { dir, db, peers: [], steps: {} }
  // Install scripts are skipped: better-sqlite3 would compile SQLite from source (minutes; no
  // prebuilt binary can be downloaded here). The binary the repository's own install compiled from
  // the same version is copied in instead; everything else is what npm installed.
  const install = await run(dir, 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'])
  result.steps.install = install
  if (install.status !== 0) return result
  const binary = join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')
  mkdirSync(join(dir, binary, '..'), { recursive: true })
  copyFileSync(join(root, binary), join(dir, binary))
  result.peers.push(...['@aws-sdk/client-kms', 'prom-client'].filter((p) => existsSync(join(dir, 'node_modules', p))))

  const withDb = { DATABASE_URL: `file:${db}`, ROWCRYPT_KEY_V1: KEY }
  for (const script of ['generate', 'build']) {
    result.steps[script] = await run(dir, 'npm', ['run', '--silent', script])
    if (result.steps[script]!.status !== 0) return result
  }
  // `prisma migrate dev` needs Prisma's native schema engine, which cannot be downloaded here: the
  // migration it wrote (test/consumers/app/prisma/migrations) is applied as it would apply it.
  const [migration] = readdirSync(join(dir, 'prisma', 'migrations')).filter((d) => d.endsWith('_init'))
  const sql = readFileSync(join(dir, 'prisma', 'migrations', migration!, 'migration.sql'), 'utf8')
  result.steps.migrate = await run(dir, process.execPath, ['-e', `new (require('better-sqlite3'))(${JSON.stringify(db)}).exec(${JSON.stringify(sql)})`])
  if (result.steps.migrate.status !== 0) return result
  result.steps.start = await run(dir, 'npm', ['start', '--silent'], withDb)
  const bin = join(dir, 'node_modules', '.bin', 'rowcrypt')
  const [status, verify] = await Promise.all([run(dir, bin, ['status', '--json'], withDb), run(dir, bin, ['verify', '--json'], withDb)])
  Object.assign(result.steps, { status, verify })
  return result
}

// Asserts that `steps` ran and exited 0, showing the output of the first one that did not.
function expectSteps(app: AppRun, names: string[]): void {
  const failed = names.find((n) => app.steps[n]?.status !== 0)
  expect([failed, failed === undefined ? '' : (app.steps[failed]?.out ?? 'not run (an earlier step failed)')]).toEqual([undefined, ''])
}

describe('the packed tarball', () => {
  it('has no type problems for @arethetypeswrong/cli in any resolution mode', async () => {
    const r = await run(root, join(root, 'node_modules', '.bin', 'attw'), [tarball])
    expect(r.out).toContain('No problems found')
    expect(r.status).toBe(0)
  })

  it('passes publint --strict with nothing to report', async () => {
    const r = await run(root, join(root, 'node_modules', '.bin', 'publint'), ['--strict', tarball])
    expect(r.out).not.toMatch(/Errors:|Warnings:|Suggestions:/)
    expect(r.out).toContain('All good!')
    expect(r.status).toBe(0)
  })
})

describe("the consumer applications are the README's Getting started", () => {
  it.each(KINDS)('%s: every file of the app is the one the README shows, and the README shows no file the app lacks', (kind) => {
    const shown = appFiles(blocks, kind)
    const actual = templateFiles(kind)
    // package.json: the README shows the keys it sets (type, scripts); the CommonJS app has the same
    // scripts with "type": "commonjs", as the README says. Dependencies are the install commands'.
    const esmPackage = JSON.parse(appFiles(blocks, 'esm').get('package.json')!.text) as Record<string, unknown>
    const pkg = JSON.parse(actual.get('package.json')!) as Record<string, unknown>
    const expectedPackage = kind === 'esm' ? esmPackage : { ...esmPackage, type: 'commonjs' }
    expect(Object.fromEntries(Object.keys(expectedPackage).map((k) => [k, pkg[k]]))).toEqual(expectedPackage)
    const files = [...actual.keys()].filter((p) => p !== 'package.json' && !p.startsWith('prisma/migrations/')).sort()
    expect(files).toEqual([...shown.keys()].filter((p) => p !== 'package.json').sort())
    for (const path of files) expect([path, actual.get(path)]).toEqual([path, shown.get(path)!.text])
  })

  it('both apps depend on exactly the packages of the install commands', () => {
    const [install] = marked('dependencies')
    const wanted = installedPackages(install!)
    expect(wanted.dependencies).toContain('rowcrypt')
    for (const kind of KINDS) {
      const pkg = JSON.parse(templateFiles(kind).get('package.json')!) as Record<string, Record<string, string>>
      expect([kind, Object.keys(pkg.dependencies!).sort(), Object.keys(pkg.devDependencies!).sort()]).toEqual([kind, wanted.dependencies.sort(), wanted.devDependencies.sort()])
    }
  })

  it("the app's migration is what `prisma migrate dev --create-only` writes, plus the README's CHECK", () => {
    const migrations = [...templateFiles('esm').keys()].filter((p) => p.startsWith('prisma/migrations/')).sort()
    expect(migrations).toEqual([expect.stringMatching(/^prisma\/migrations\/\d{14}_init\/migration\.sql$/), 'prisma/migrations/migration_lock.toml'])
    const check = `CHECK ("tenantId" <> '' AND "wrappedDek" IS NOT NULL)`
    expect(blocks.some((b) => b.lang === 'sql' && b.code.includes(check))).toBe(true)
    expect(templateFiles('esm').get(migrations[0]!)).toContain(check)
  })

  it('every ts block is an app file, a module the snippet test compiles, or not compiled for a stated reason', () => {
    const ts = blocks.filter((b) => b.lang === 'ts')
    const kinds = ts.map((b) => b.marker?.kind ?? 'snippet')
    expect(kinds.filter((k) => !['file', 'not-compiled', 'snippet'].includes(k))).toEqual([])
    expect(kinds.filter((k) => k === 'snippet').length).toBeGreaterThanOrEqual(5)
    expect(kinds.filter((k) => k === 'file').length).toBe(4)
  })
})

describe('consumer applications built from the tarball', () => {
  it('install neither optional peer', async () => {
    for (const kind of KINDS) {
      const app = await apps[kind]
      expectSteps(app, ['install'])
      expect(existsSync(join(app.dir, 'node_modules', 'rowcrypt', 'dist', 'index.mjs'))).toBe(true)
      expect([kind, app.peers]).toEqual([kind, []])
    }
  })

  it.each(KINDS)('%s: generates, type-checks, migrates, and prints what the README shows', async (kind) => {
    const app = await apps[kind]
    expectSteps(app, ['install', 'generate', 'build', 'migrate', 'start'])
    expect(readFileSync(join(app.dir, 'src', 'generated', 'rowcrypt', 'index.ts'), 'utf8')).toContain('export const manifest')
    const [output] = marked('output')
    expect(app.steps.start!.out).toBe(output!.code)
    // The row as stored, read around rowcrypt: ciphertexts, the tenant and the wrapped key.
    const stored = JSON.parse(
      execFileSync(
        process.execPath,
        [
          '-e',
          `process.stdout.write(JSON.stringify(new (require('better-sqlite3'))(${JSON.stringify(app.db)}).prepare('SELECT * FROM "User"').all().map((r) => ({ ...r, avatar: r.avatar.toString('latin1'), wrappedDek: r.wrappedDek.length }))))`,
        ],
        { cwd: app.dir, encoding: 'utf8' },
      ),
    ) as Array<Record<string, unknown>>
    expect(stored).toEqual([
      {
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        name: 'Ada',
        email: expect.stringMatching(/^rc1\.A256GCM\.s\./),
        ssn: expect.stringMatching(/^rc1\.A256GCM\.s\./),
        prefs: expect.stringMatching(/^"rc1\.A256GCM\.j\.[^"]+"$/),
        avatar: expect.stringMatching(/^rc1\.A256GCM\.b\./),
        wrappedDek: expect.any(Number),
        keyVersion: 'v1',
        tenantId: 'acme',
      },
    ])
    const values = stored.flatMap((r) => Object.values(r).map(String))
    expect(['ada@acme.test', '123-45-6789', 'theme'].filter((p) => values.some((v) => v.includes(p)))).toEqual([])
  })

  it.each(KINDS)('%s: `rowcrypt status` and `verify` load rowcrypt.config.ts and see the row', async (kind) => {
    const app = await apps[kind]
    expectSteps(app, ['start', 'status', 'verify'])
    expect(JSON.parse(app.steps.status!.out)).toEqual({
      activeKeyVersion: 'v1',
      checkedAt: expect.any(String),
      keyVersions: [{ keyVersion: 'v1', rows: 1, createdAt: null, ageSeconds: null, ageDays: null }],
      models: [{ model: 'User', total: 1, versions: { v1: 1 }, notActive: 0, plaintextRows: 0 }],
    })
    const events = app.steps
      .verify!.out.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(events.at(-1)).toMatchObject({ event: 'done', checked: 1, failed: 0 })
  })
})

describe('README snippets', () => {
  // With the optional peers installed (a snippet imports prom-client), each app type-checks its
  // sources, its root config files and every unmarked `ts` block of the README, one module each.
  it.each(KINDS)(
    '%s: every ts block type-checks as a module of the app (failures name the README line)',
    async (kind) => {
      const app = await apps[kind]
      expectSteps(app, ['build'])
      const peers = await run(app.dir, 'npm', ['install', '--no-save', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', `prom-client@${lockVersion('prom-client')}`])
      expect([peers.status, peers.status === 0 ? '' : peers.out]).toEqual([0, ''])
      const snippets = snippetModules(blocks)
      for (const s of snippets) writeFileSync(join(app.dir, s.path), s.text)
      const rootFiles = [...appFiles(blocks, kind).keys()].filter((p) => p.endsWith('.ts') && !p.includes('/'))
      writeFileSync(join(app.dir, 'tsconfig.readme.json'), JSON.stringify({ extends: './tsconfig.json', compilerOptions: { noEmit: true, rootDir: '.' }, include: ['src', ...rootFiles] }))
      const tsc = await run(app.dir, join(app.dir, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.readme.json'])
      const readmeFiles = [...snippets, ...appFiles(blocks, kind).values()]
      expect(locateDiagnostics(tsc.out, readmeFiles, kind)).toEqual([])
      expect([tsc.status, tsc.status === 0 ? '' : tsc.out]).toEqual([0, ''])
    },
    120_000,
  )
})
