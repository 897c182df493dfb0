// Online key rotation under load (issue 5 acceptance): N rows on key version v1; an application
// process updating random rows through rowcrypt the whole time; `rowcrypt rotate` (the built CLI,
// dist/cli/main.js, with a rowcrypt.config.cjs) killed with SIGKILL at random moments and run again
// after each kill until it completes. Then every row must decrypt, hold the application's last
// acknowledged write (no lost update) and be on v2, and `rowcrypt verify` must exit 0.
//
//   npm run bench:rotation-stress -- --db postgres --rows 100000 --kills 3
//
// Options: --db postgres|mysql|sqlite (default postgres), --rows N (default 100000), --kills K
// (default 3), --seed S (the random kill moments; default 1), --writers W (write loops of the
// application, default 4), --batch-size, --concurrency, --max-kms-rps (passed to rotate; defaults:
// rotate's), --json (the report as one JSON line on stdout), --keep (do not drop the database),
// --writer inline (the application in this process instead of a child). The npm script builds
// dist/ first; the generated Prisma clients come from `npm run generate`; the servers are the
// tests' (ROWCRYPT_TEST_PG_URL, ROWCRYPT_TEST_MYSQL_URL). Exit code 0 when every check passes, 1
// otherwise. Results: docs/rotation.md#performance.
//
// The application is a child process of its own (this file with --app-process): W loops, each updating
// random rows of its own share of the table (so that the last acknowledged write of every row is
// known), each update followed by a read of another row of its share, which must decrypt to the
// last value written there. The parent measures each rotate process's peak RSS (VmHWM, Linux) and
// its rate, checks after each kill that every row decrypts (verifyRows), and counts the
// compare-and-swap retries of the rotations and of the application (its UPDATE statements beyond one
// per acknowledged write: updates that raced the rotation of their row).
//
// Tests import `runStress` (small sizes) and `writeRotationConfig` from here.
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import type { PrismaClient as SqliteClient } from '../generated/sqlite/client/client'
import type { manifest as sqliteManifest } from '../generated/sqlite/rowcrypt'
import { LocalKeyProvider, rowcrypt, unsafeBypassTenantScope, verifyRows, withTenant, RowcryptError } from '../src'

export type StressDb = 'postgres' | 'mysql' | 'sqlite'

const ROOT = join(__dirname, '..')
const BIN = join(ROOT, 'dist', 'cli', 'main.js')
const PG_URL = process.env.ROWCRYPT_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test'
const MYSQL_URL = process.env.ROWCRYPT_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306'
/** The master keys of the stress set-up (the config file reads them from ROWCRYPT_STRESS_V1 / _V2). */
export const STRESS_KEYS = { v1: Buffer.alloc(32, 21).toString('base64'), v2: Buffer.alloc(32, 22).toString('base64') }
const TENANTS = 8
const INITIAL = 'initial'

/** The encrypted fields of the test schema's User model, as the config file configures them. */
const MODELS = { User: { fields: ['email', 'ssn', 'notes', { name: 'prefs', type: 'json' }, { name: 'avatar', type: 'bytes' }] } } as const

// ---------------------------------------------------------------------------------------------
// The database and the config file the CLI loads

/** Where a stress database lives; passed to child processes as ROWCRYPT_STRESS_* variables. */
export interface StressTarget {
  kind: StressDb
  /** PostgreSQL schema, MariaDB database, or SQLite file. */
  name: string
}

/** The environment of a child process (rotate, verify, the writer) reaching `target`. */
export function stressEnv(target: StressTarget, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_NO_WARNINGS: '1',
    ROWCRYPT_STRESS_DB: target.kind,
    ROWCRYPT_STRESS_NAME: target.name,
    ROWCRYPT_STRESS_PG_URL: PG_URL,
    ROWCRYPT_STRESS_MYSQL_URL: MYSQL_URL,
    ROWCRYPT_STRESS_V1: STRESS_KEYS.v1,
    ROWCRYPT_STRESS_V2: STRESS_KEYS.v2,
    ...extra,
  }
}

/**
 * Writes `<dir>/rowcrypt.config.cjs` for `kind` (`dir` inside the repository, so that `rowcrypt`
 * and Prisma's runtime resolve): the test schema's Prisma client, compiled to JavaScript once into
 * `<dir>/generated/` (as an application's build would; a TypeScript config would make every
 * process compile it again), extended with rowcrypt: User model, LocalKeyProvider with v1 and v2,
 * v2 active. The database comes from the ROWCRYPT_STRESS_* variables of {@link stressEnv}. With
 * ROWCRYPT_STRESS_BARRIER set to a directory, the config writes `ready-<pid>` there and waits for
 * a file `go`, so that several rotate processes start working at the same moment.
 */
export function writeRotationConfig(dir: string, kind: StressDb): string {
  mkdirSync(dir, { recursive: true })
  compileClient(kind, join(dir, 'generated'))
  const adapter = {
    postgres: `new (require('@prisma/adapter-pg').PrismaPg)({ connectionString: env.ROWCRYPT_STRESS_PG_URL, max: 4 }, { schema: env.ROWCRYPT_STRESS_NAME })`,
    mysql: `(() => {
    const url = new URL(env.ROWCRYPT_STRESS_MYSQL_URL)
    return new (require('@prisma/adapter-mariadb').PrismaMariaDb)({ host: url.hostname, port: Number(url.port || 3306), user: decodeURIComponent(url.username), password: decodeURIComponent(url.password), database: env.ROWCRYPT_STRESS_NAME, connectionLimit: 4, acquireTimeout: 60000 })
  })()`,
    sqlite: `new (require('@prisma/adapter-better-sqlite3').PrismaBetterSqlite3)({ url: 'file:' + env.ROWCRYPT_STRESS_NAME, timeout: 30000 })`,
  }[kind]
  const file = join(dir, 'rowcrypt.config.cjs')
  writeFileSync(
    file,
    `// Written by bench/rotation-stress.ts.
const { existsSync, writeFileSync } = require('node:fs')
const { join } = require('node:path')
const { LocalKeyProvider, rowcrypt } = require('rowcrypt')
const { PrismaClient } = require('./generated/client/client.js')
const { manifest } = require(${JSON.stringify(join(ROOT, 'generated', kind, 'rowcrypt'))})

const env = process.env
const models = ${JSON.stringify(MODELS)}

async function barrier() {
  const dir = env.ROWCRYPT_STRESS_BARRIER
  if (dir === undefined || dir === '') return
  writeFileSync(join(dir, 'ready-' + process.pid), '')
  while (!existsSync(join(dir, 'go'))) await new Promise((r) => setTimeout(r, 5))
}

module.exports = async () => {
  const keyProvider = new LocalKeyProvider({ keys: { v1: env.ROWCRYPT_STRESS_V1, v2: env.ROWCRYPT_STRESS_V2 }, activeVersion: 'v2' })
  const prisma = new PrismaClient({ adapter: ${adapter} })
  await barrier()
  return { prisma: prisma.$extends(rowcrypt({ schema: manifest, keyProvider, models })) }
}
`,
  )
  return file
}

// A run uses one database: only its client, adapter and driver are loaded, and TypeScript only to
// compile a client.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the lazy loading described above
const load = <T>(id: string): T => require(id) as T

/** Transpiles generated/<kind>/client/**.ts to CommonJS under `out`/client. */
function compileClient(kind: StressDb, out: string): void {
  const ts = load<typeof import('typescript')>('typescript')
  const src = join(ROOT, 'generated', kind, 'client')
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]))
  for (const file of walk(src)) {
    const target = join(out, 'client', relative(src, file))
    mkdirSync(dirname(target), { recursive: true })
    if (!file.endsWith('.ts')) {
      writeFileSync(target, readFileSync(file))
      continue
    }
    const js = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true }, fileName: file })
    writeFileSync(target.replace(/\.ts$/, '.js'), js.outputText)
  }
}

/** A base Prisma client of the test schema on `target` (typed as the SQLite client for all three). */
function connect(target: StressTarget, poolSize = 8): SqliteClient {
  const client = connectBase(target, poolSize)
  // Counts the UPDATE statements sent (the application's compare-and-swap attempts).
  ;(client as unknown as { $on(event: 'query', cb: (e: { query: string }) => void): void }).$on('query', (e) => {
    if (/^\s*UPDATE\b/i.test(e.query)) updateStatements++
  })
  return client
}

let updateStatements = 0
const log = [{ emit: 'event' as const, level: 'query' as const }]

function connectBase(target: StressTarget, poolSize: number): SqliteClient {
  if (target.kind === 'postgres') {
    const { PrismaClient } = load<typeof import('../generated/postgres/client/client')>('../generated/postgres/client/client')
    const { PrismaPg } = load<typeof import('@prisma/adapter-pg')>('@prisma/adapter-pg')
    return new PrismaClient({ log, adapter: new PrismaPg({ connectionString: PG_URL, max: poolSize }, { schema: target.name }) }) as unknown as SqliteClient
  }
  if (target.kind === 'mysql') {
    const { PrismaClient } = load<typeof import('../generated/mysql/client/client')>('../generated/mysql/client/client')
    const { PrismaMariaDb } = load<typeof import('@prisma/adapter-mariadb')>('@prisma/adapter-mariadb')
    return new PrismaClient({ log, adapter: new PrismaMariaDb({ ...mysqlConfig(), database: target.name, connectionLimit: poolSize, acquireTimeout: 60_000 }) }) as unknown as SqliteClient
  }
  const { PrismaClient } = load<typeof import('../generated/sqlite/client/client')>('../generated/sqlite/client/client')
  const { PrismaBetterSqlite3 } = load<typeof import('@prisma/adapter-better-sqlite3')>('@prisma/adapter-better-sqlite3')
  return new PrismaClient({ log, adapter: new PrismaBetterSqlite3({ url: `file:${target.name}`, timeout: 30_000 }) }) as unknown as SqliteClient
}

function manifestOf(kind: StressDb): typeof sqliteManifest {
  return load<{ manifest: typeof sqliteManifest }>(`../generated/${kind}/rowcrypt`).manifest
}

function extend(base: SqliteClient, kind: StressDb, active: 'v1' | 'v2') {
  return base.$extends(rowcrypt({ schema: manifestOf(kind), keyProvider: new LocalKeyProvider({ keys: STRESS_KEYS, activeVersion: active }), models: MODELS }))
}

type App = ReturnType<typeof extend>

function mysqlConfig() {
  const url = new URL(MYSQL_URL)
  return { host: url.hostname, port: Number(url.port || 3306), user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) }
}

interface StressDatabase {
  target: StressTarget
  /** Raw SQL outside Prisma, `"quoted"` identifiers and `$n` placeholders on every database. */
  raw<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>
  close(): Promise<void>
}

let counter = 0

const migrate = () => load<typeof import('../prisma/migrate')>('../prisma/migrate')

/** Creates and migrates a fresh database (PostgreSQL schema, MariaDB database, SQLite file in WAL mode). */
async function createDatabase(kind: StressDb, keep: boolean): Promise<StressDatabase> {
  const name = `rc_stress_${process.pid}_${Date.now().toString(36)}_${++counter}`
  if (kind === 'sqlite') {
    const Database = load<typeof import('better-sqlite3')>('better-sqlite3')
    const dir = mkdtempSync(join(tmpdir(), 'rowcrypt-stress-'))
    const file = join(dir, `${name}.db`)
    const db = new Database(file)
    migrate().applySqliteMigrations(db)
    // The usual mode for a database shared by an application and a maintenance job.
    db.pragma('journal_mode = WAL')
    db.pragma('busy_timeout = 30000')
    return {
      target: { kind, name: file },
      raw: async (sql, params = []) => {
        const stmt = db.prepare(sql.replace(/\$\d+/g, '?'))
        return (stmt.reader ? stmt.all(...params) : (stmt.run(...params), [])) as never
      },
      close: async () => {
        db.close()
        if (!keep) rmSync(dir, { recursive: true, force: true })
      },
    }
  }
  if (kind === 'mysql') {
    const mariadb = load<typeof import('mariadb')>('mariadb')
    const admin = await mariadb.createConnection({ ...mysqlConfig(), connectTimeout: 5000 })
    await migrate().applyMysqlMigrations(admin, name)
    await admin.query("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',ANSI_QUOTES')")
    return {
      target: { kind, name },
      raw: async (sql, params = []) => {
        const rows = (await admin.query({ sql: sql.replace(/\$\d+/g, '?'), bigIntAsNumber: true }, params)) as unknown
        return (Array.isArray(rows) ? rows : []) as never
      },
      close: async () => {
        if (!keep) await admin.query(`DROP DATABASE IF EXISTS \`${name}\``)
        await admin.end()
      },
    }
  }
  const { Client } = load<typeof import('pg')>('pg')
  const admin = new Client({ connectionString: PG_URL })
  await admin.connect()
  await migrate().applyPostgresMigrations(admin, name)
  return {
    target: { kind, name },
    raw: async (sql, params = []) => (await admin.query(sql, params)).rows,
    close: async () => {
      if (!keep) await admin.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)
      await admin.end()
    },
  }
}

async function versions(db: StressDatabase): Promise<Record<string, number>> {
  const rows = await db.raw<{ v: string | null; n: unknown }>('SELECT "keyVersion" AS v, COUNT(*) AS n FROM "User" GROUP BY "keyVersion"')
  return Object.fromEntries(rows.map((r) => [String(r.v), Number(r.n)]))
}

// ---------------------------------------------------------------------------------------------
// Randomness (seeded: the same --seed gives the same kill thresholds and the same writes)

function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// ---------------------------------------------------------------------------------------------
// The application: a child process writing through rowcrypt until told to stop

type ToWriter = { type: 'count' } | { type: 'stop' }
type FromWriter = { type: 'ready'; rows: number } | { type: 'count'; writes: number } | { type: 'result'; result: WriterResult }

interface WriterResult {
  writes: number
  /** UPDATE statements the application sent: one per write, plus one per compare-and-swap retry. */
  updateStatements: number
  reads: number
  /** Reads of a row of the writer's own share that did not return its last acknowledged value. */
  readMismatches: Array<{ id: number }>
  /** Reads and writes that threw: [operation, error code or name]. */
  errors: Array<[string, string]>
  /** Per row written: the values it may hold (the last acknowledged one, then any write that failed after it). */
  expected: Array<[number, string[]]>
  elapsedMs: number
}

const codeOf = (e: unknown): string => (e instanceof RowcryptError ? e.code : String((e as { code?: unknown } | null)?.code ?? (e as Error | null)?.name ?? 'unknown'))

/**
 * The application's writes: `loops` loops, each updating random rows of its own share of `rows`
 * (so that the last acknowledged write of every row is known) and then reading another row of its
 * share, which must hold the last value written there.
 */
class AppWriter {
  readonly #expected = new Map<number, string[]>()
  readonly #result: WriterResult = { writes: 0, reads: 0, updateStatements: 0, readMismatches: [], errors: [], expected: [], elapsedMs: 0 }
  readonly #started = performance.now()
  readonly #updatesAtStart = updateStatements
  readonly #running: Promise<unknown>
  #stopped = false
  #seq = 0

  constructor(app: App, rows: ReadonlyArray<{ id: number; tenant: string }>, loops: number, seed: number) {
    const random = prng(seed * 7919 + 17)
    const loop = async (k: number) => {
      const mine = rows.filter((_, i) => i % loops === k)
      if (mine.length === 0) return
      while (!this.#stopped) {
        const r = mine[Math.floor(random() * mine.length)]!
        const value = `w${k}_${++this.#seq}`
        try {
          await withTenant(r.tenant, () => app.user.update({ where: { id: r.id }, data: { notes: value } }))
          this.#expected.set(r.id, [value])
          this.#result.writes++
        } catch (e) {
          // Not acknowledged: the row may hold this value or the ones before.
          this.#expected.set(r.id, [...(this.#expected.get(r.id) ?? [INITIAL]), value])
          this.#result.errors.push(['update', codeOf(e)])
        }
        const s = mine[Math.floor(random() * mine.length)]!
        try {
          const got = await withTenant(s.tenant, () => app.user.findUnique({ where: { id: s.id }, select: { notes: true } }))
          this.#result.reads++
          if (got === null || !(this.#expected.get(s.id) ?? [INITIAL]).includes(got.notes ?? '')) this.#result.readMismatches.push({ id: s.id })
        } catch (e) {
          this.#result.errors.push(['read', codeOf(e)])
        }
        // Like a server between requests (SQLite's driver never yields on its own).
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
    this.#running = Promise.all(Array.from({ length: loops }, (_, k) => loop(k)))
  }

  writes(): number {
    return this.#result.writes
  }

  async stop(): Promise<WriterResult> {
    this.#stopped = true
    await this.#running
    return { ...this.#result, updateStatements: updateStatements - this.#updatesAtStart, expected: [...this.#expected], elapsedMs: performance.now() - this.#started }
  }
}

async function rowList(app: App): Promise<Array<{ id: number; tenant: string }>> {
  const rows = await unsafeBypassTenantScope('stress writer: row list', () => app.user.findMany({ select: { id: true, tenantId: true }, orderBy: { id: 'asc' } }))
  return rows.map((r) => ({ id: r.id, tenant: r.tenantId }))
}

/** The application process (this file with --app-process): an AppWriter driven over IPC. */
async function writerMain(): Promise<void> {
  const env = process.env
  const target: StressTarget = { kind: env.ROWCRYPT_STRESS_DB as StressDb, name: env.ROWCRYPT_STRESS_NAME! }
  const loops = Number(env.ROWCRYPT_STRESS_WRITERS ?? 4)
  const base = connect(target, loops + 2)
  const app = extend(base, target.kind, 'v2')
  const rows = await rowList(app)
  const writer = new AppWriter(app, rows, loops, Number(env.ROWCRYPT_STRESS_SEED ?? 1))
  process.on('message', (m: ToWriter) => {
    if (m.type === 'count') process.send!({ type: 'count', writes: writer.writes() } satisfies FromWriter)
    if (m.type === 'stop') {
      void writer.stop().then((result) =>
        process.send!({ type: 'result', result } satisfies FromWriter, () => {
          void base.$disconnect().finally(() => process.exit(0))
        }),
      )
    }
  })
  process.send!({ type: 'ready', rows: rows.length } satisfies FromWriter)
}

/** The application as the scenario drives it: in a child process, or in this process. */
interface Writer {
  writes(): Promise<number>
  stop(): Promise<WriterResult>
  kill(): void
}

class ProcessWriter implements Writer {
  readonly #child: ChildProcess
  readonly #waiting: Array<(m: FromWriter) => boolean> = []
  readonly #exit: Promise<number | null>

  constructor(env: NodeJS.ProcessEnv) {
    this.#child = fork(__filename, ['--app-process'], { cwd: ROOT, env, execArgv: ['-r', 'ts-node/register/transpile-only'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.#child.on('message', (m: FromWriter) => {
      const i = this.#waiting.findIndex((w) => w(m))
      if (i >= 0) this.#waiting.splice(i, 1)
    })
    this.#exit = new Promise((resolve) => this.#child.on('exit', (code) => resolve(code)))
  }

  #next<T extends FromWriter['type']>(type: T): Promise<Extract<FromWriter, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.#waiting.push((m) => (m.type === type ? (resolve(m as Extract<FromWriter, { type: T }>), true) : false))
      void this.#exit.then((code) => reject(new Error(`the writer process exited (${code}) before sending ${type}`)))
    })
  }

  async ready(): Promise<void> {
    await this.#next('ready')
  }

  async writes(): Promise<number> {
    const reply = this.#next('count')
    this.#child.send({ type: 'count' } satisfies ToWriter)
    return (await reply).writes
  }

  async stop(): Promise<WriterResult> {
    const reply = this.#next('result')
    this.#child.send({ type: 'stop' } satisfies ToWriter)
    const { result } = await reply
    await this.#exit
    return result
  }

  kill(): void {
    if (this.#child.exitCode === null) this.#child.kill('SIGKILL')
  }
}

class InlineWriter implements Writer {
  constructor(readonly inner: AppWriter) {}
  writes() {
    return Promise.resolve(this.inner.writes())
  }
  stop() {
    return this.inner.stop()
  }
  kill() {
    void this.inner.stop()
  }
}

// ---------------------------------------------------------------------------------------------
// One rotate process

interface RotateRun {
  /** 'killed' (SIGKILL as planned), 'completed' (exit 0), or 'failed' (anything else). */
  outcome: 'killed' | 'completed' | 'failed'
  exitCode: number | null
  /** Milliseconds from its start to the SIGKILL. */
  killedAtMs?: number
  /** The last progress or done event. */
  last: Record<string, unknown> | undefined
  done: Record<string, unknown> | undefined
  /** Peak RSS (VmHWM) seen while it ran, MB. */
  peakRssMb: number
  wallMs: number
  stderr: string
}

function readHwmKb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? 0 : Number(m[1])
  } catch {
    return 0
  }
}

/** When to kill a rotate process: once it has rotated about `fraction` of the rows it found. */
interface KillPlan {
  fraction: number
}

/**
 * Runs `rowcrypt rotate --json`. With `kill`: from its progress lines (at most four a second),
 * estimates when it will have rotated `fraction` of its rows and sends SIGKILL then, so the moment
 * falls anywhere in a batch (claim, key-provider calls, updates, commit) or between batches; at
 * once if a progress line shows the target passed.
 */
async function runRotate(configFile: string, env: NodeJS.ProcessEnv, args: string[], kill?: KillPlan): Promise<RotateRun> {
  const started = performance.now()
  const child = spawn(process.execPath, [BIN, 'rotate', '--config', configFile, '--json', ...args], { cwd: ROOT, env })
  let hwm = 0
  const sample = () => (hwm = Math.max(hwm, readHwmKb(child.pid!)))
  const poll = setInterval(sample, 50)
  let out = ''
  let err = ''
  let last: Record<string, unknown> | undefined
  let done: Record<string, unknown> | undefined
  let timer: NodeJS.Timeout | undefined
  let target: number | undefined
  let previous: { rotated: number; at: number } | undefined
  let killedAt: number | undefined
  let killed = false
  let exited = false
  const killNow = () => {
    if (killed || exited) return
    killed = true
    killedAt = performance.now() - started
    sample()
    child.kill('SIGKILL')
  }
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
    let nl: number
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl)
      out = out.slice(nl + 1)
      let event: Record<string, unknown>
      try {
        event = JSON.parse(line) as Record<string, unknown>
      } catch {
        continue
      }
      if (event.event === 'done') done = event
      if (event.event !== 'progress') continue
      last = event
      if (kill === undefined || killed || exited) continue
      const rotated = Number(event.rotated)
      const at = Number(event.elapsedMs)
      target ??= Math.max(1, Math.round(kill.fraction * Number(event.total)))
      if (rotated >= target) {
        killNow()
        continue
      }
      // The rate since the previous progress line (or since the start), and the time to the target.
      const rate = previous !== undefined && at > previous.at && rotated > previous.rotated ? (rotated - previous.rotated) / (at - previous.at) : rotated / Math.max(1, at)
      previous = { rotated, at }
      clearTimeout(timer)
      timer = setTimeout(killNow, Math.max(0, Math.round((target - rotated) / Math.max(rate, 1e-3))))
    }
  })
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (c, s) => resolve({ code: c, signal: s })))
  exited = true
  clearInterval(poll)
  clearTimeout(timer)
  const outcome = signal === 'SIGKILL' && killed ? 'killed' : code === 0 ? 'completed' : 'failed'
  return { outcome, exitCode: code, ...(killedAt !== undefined ? { killedAtMs: killedAt } : {}), last: done ?? last, done, peakRssMb: hwm / 1024, wallMs: performance.now() - started, stderr: err }
}

// ---------------------------------------------------------------------------------------------
// The scenario

export interface StressOptions {
  db: StressDb
  rows: number
  kills: number
  seed?: number
  writers?: number
  batchSize?: number
  concurrency?: number
  maxKmsRps?: number
  keep?: boolean
  /** The application in a child process of its own (default), or in this process (quicker to start, for tests). */
  writer?: 'process' | 'inline'
  /** Progress messages (stderr by default). */
  log?: (line: string) => void
}

export interface KillReport {
  kill: number
  /** Milliseconds from the process's start to the SIGKILL, and the planned share of its rows. */
  killedAtMs: number
  fraction: number
  /** Rows this process moved to v2 before it was killed (from the table). */
  rotated: number
  /** Rows on v1 / v2 after the kill. */
  onOld: number
  onTarget: number
  /** Rows that failed to decrypt after the kill (verifyRows). */
  unreadable: number
  conflicts: number
  peakRssMb: number
}

export interface StressReport {
  db: StressDb
  rows: number
  seed: number
  options: { writers: number; batchSize: number | null; concurrency: number | null; maxKmsRps: number | null }
  seedSeconds: number
  kills: KillReport[]
  /** Kills planned but not made because the rotation completed first. */
  completedBeforeKill: number
  final: { exitCode: number | null; rotated: number; expected: number; conflicts: number; rowsPerSecond: number; elapsedMs: number; peakRssMb: number; stderr: string }
  /** Rows per second over the whole rotation: rows / (sum of the rotate processes' wall times). */
  overallRowsPerSecond: number
  /** Sum of the rotate processes' wall times (start-up included), and their highest peak RSS. */
  rotateWallSeconds: number
  peakRssMb: number
  /** Rotation's compare-and-swap updates that missed (a concurrent application write) and were retried, over all runs. */
  conflictsRetried: number
  writer: { writes: number; writesDuringRotation: number; casRetries: number; reads: number; readMismatches: number; errors: Array<[string, string]>; writesPerSecond: number }
  versionsAfter: Record<string, number>
  lostUpdates: Array<{ id: number }>
  unreadableAfter: number
  verify: { exitCode: number | null; checked: number; failed: number }
  ok: boolean
  problems: string[]
}

export async function runStress(options: StressOptions): Promise<StressReport> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const seed = options.seed ?? 1
  const writers = options.writers ?? 4
  const random = prng(seed)
  const db = await createDatabase(options.db, options.keep === true)
  const dir = join(ROOT, `.rowcrypt-stress-${process.pid}-${++counter}`)
  let writer: Writer | undefined
  const base = connect(db.target)
  try {
    // 1. N rows on v1, over TENANTS tenants.
    const t0 = performance.now()
    const seeder = extend(base, options.db, 'v1')
    const chunk = 1000
    for (let i = 0; i < options.rows; i += chunk) {
      const tenant = `t${(i / chunk) % TENANTS}`
      const n = Math.min(chunk, options.rows - i)
      await withTenant(tenant, () =>
        seeder.user.createMany({ data: Array.from({ length: n }, (_, j) => ({ name: `u${i + j}`, email: `u${i + j}@example.com`, ssn: (i + j) % 3 === 0 ? null : '123-45-6789', notes: INITIAL })) }),
      )
    }
    const seedSeconds = (performance.now() - t0) / 1000
    log(`${options.db}: seeded ${options.rows} rows on v1 in ${seedSeconds.toFixed(1)} s`)

    // 2. The application, writing from now until the checks.
    const configFile = writeRotationConfig(dir, options.db)
    const env = stressEnv(db.target, { ROWCRYPT_STRESS_WRITERS: String(writers), ROWCRYPT_STRESS_SEED: String(seed) })
    if (options.writer === 'inline') {
      const app = extend(base, options.db, 'v2')
      writer = new InlineWriter(new AppWriter(app, await rowList(app), writers, seed))
    } else {
      const child = new ProcessWriter(env)
      writer = child
      await child.ready()
    }
    while ((await writer.writes()) < writers) await new Promise((r) => setTimeout(r, 10))
    const writesBefore = await writer.writes()

    // 3. rotate, killed `kills` times at random moments, then run to completion.
    const args = [
      ...(options.batchSize !== undefined ? ['--batch-size', String(options.batchSize)] : []),
      ...(options.concurrency !== undefined ? ['--concurrency', String(options.concurrency)] : []),
      ...(options.maxKmsRps !== undefined ? ['--max-kms-rps', String(options.maxKmsRps)] : []),
    ]
    const app = extend(base, options.db, 'v2')
    const problems: string[] = []
    const kills: KillReport[] = []
    let completedBeforeKill = 0
    let wallMs = 0
    let peakRss = 0
    let conflicts = 0
    let onTarget = 0
    let final: RotateRun | undefined
    let finalExpected = 0
    for (let k = 1; k <= options.kills; k++) {
      const remaining = options.rows - onTarget
      // After 5% to 50% of the rows left.
      const plan: KillPlan = { fraction: 0.05 + 0.45 * random() }
      const run = await runRotate(configFile, env, args, plan)
      wallMs += run.wallMs
      peakRss = Math.max(peakRss, run.peakRssMb)
      conflicts += Number(run.last?.conflicts ?? 0)
      if (run.outcome !== 'killed') {
        if (run.outcome === 'completed') {
          completedBeforeKill = options.kills - k + 1
          final = run
          finalExpected = remaining
          break
        }
        problems.push(`rotate run ${k} exited with ${run.exitCode}: ${run.stderr.trim().split('\n').at(-1) ?? ''}`)
        break
      }
      const v = await versions(db)
      const verified = await verifyRows({ prisma: app })
      const report: KillReport = {
        kill: k,
        killedAtMs: Math.round(run.killedAtMs ?? 0),
        fraction: Math.round(plan.fraction * 1000) / 1000,
        rotated: (v.v2 ?? 0) - onTarget,
        onOld: v.v1 ?? 0,
        onTarget: v.v2 ?? 0,
        unreadable: verified.failed,
        conflicts: Number(run.last?.conflicts ?? 0),
        peakRssMb: run.peakRssMb,
      }
      kills.push(report)
      log(
        `  kill ${k}: at ${report.killedAtMs} ms (target ${Math.round(report.fraction * 100)}% of ${remaining}), having rotated ${report.rotated} rows: v1 ${report.onOld}, v2 ${report.onTarget}, unreadable ${report.unreadable}`,
      )
      if (report.onOld + report.onTarget !== options.rows) problems.push(`after kill ${k}: ${JSON.stringify(v)} is not ${options.rows} rows on v1/v2`)
      if (report.unreadable > 0) problems.push(`after kill ${k}: ${report.unreadable} rows do not decrypt`)
      if (report.rotated <= 0) problems.push(`kill ${k}: the process had moved no row`)
      onTarget = report.onTarget
    }
    if (final === undefined && problems.length === 0) {
      finalExpected = options.rows - onTarget
      final = await runRotate(configFile, env, args)
      wallMs += final.wallMs
      peakRss = Math.max(peakRss, final.peakRssMb)
      conflicts += Number(final.done?.conflicts ?? 0)
    }
    const writesAfter = await writer.writes()
    // 4. Stop the application, then check.
    const w = await writer.stop()
    writer = undefined
    const finalReport = {
      exitCode: final?.exitCode ?? null,
      rotated: Number(final?.done?.rotated ?? -1),
      expected: finalExpected,
      conflicts: Number(final?.done?.conflicts ?? 0),
      rowsPerSecond: Number(final?.done?.rowsPerSecond ?? 0),
      elapsedMs: Number(final?.done?.elapsedMs ?? 0),
      peakRssMb: final?.peakRssMb ?? 0,
      stderr: final?.stderr ?? '',
    }
    log(
      `  final run: exit ${finalReport.exitCode}, rotated ${finalReport.rotated} of ${finalExpected} left, ${Math.round(finalReport.rowsPerSecond)} rows/s, peak RSS ${finalReport.peakRssMb.toFixed(0)} MB`,
    )
    if (final === undefined || final.outcome !== 'completed') problems.push(`the final rotate run did not complete (exit ${final?.exitCode ?? 'none'}): ${final?.stderr ?? ''}`)
    // Exactly once: the final run's successful compare-and-swap updates are the rows that were left.
    if (finalReport.rotated !== finalExpected) problems.push(`the final run rotated ${finalReport.rotated} rows; ${finalExpected} were left`)
    if (finalReport.stderr !== '') problems.push(`the final run wrote to stderr: ${finalReport.stderr.slice(0, 500)}`)

    const versionsAfter = await versions(db)
    if (versionsAfter.v2 !== options.rows || Object.keys(versionsAfter).length !== 1) problems.push(`key versions after: ${JSON.stringify(versionsAfter)}`)

    // Every row decrypts and holds the application's last acknowledged write (or the initial value).
    const expected = new Map(w.expected)
    const lostUpdates: Array<{ id: number }> = []
    let unreadableAfter = 0
    let cursor: number | undefined
    let seen = 0
    for (;;) {
      const page = await unsafeBypassTenantScope('stress check', () =>
        app.user.findMany({ where: cursor === undefined ? {} : { id: { gt: cursor } }, orderBy: { id: 'asc' }, take: 1000, select: { id: true, notes: true } }).catch((e: unknown) => {
          unreadableAfter++
          throw e
        }),
      )
      if (page.length === 0) break
      for (const r of page) {
        seen++
        if (!(expected.get(r.id) ?? [INITIAL]).includes(r.notes ?? '')) lostUpdates.push({ id: r.id })
      }
      cursor = page[page.length - 1]!.id
    }
    if (seen !== options.rows) problems.push(`read back ${seen} rows of ${options.rows}`)
    if (lostUpdates.length > 0)
      problems.push(
        `${lostUpdates.length} lost updates (rows not holding the last acknowledged write), e.g. ids ${lostUpdates
          .slice(0, 10)
          .map((l) => l.id)
          .join(', ')}`,
      )
    if (w.readMismatches.length > 0) problems.push(`${w.readMismatches.length} application reads did not return the row's last acknowledged write`)
    if (w.errors.length > 0) problems.push(`${w.errors.length} application reads or writes failed: ${JSON.stringify(w.errors.slice(0, 5))}`)
    const writesDuringRotation = writesAfter - writesBefore
    if (writesDuringRotation <= 0) problems.push('the application wrote nothing during the rotation')

    const vr = spawnSync(process.execPath, [BIN, 'verify', '--config', configFile, '--json'], { cwd: ROOT, env, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 })
    const vdone = JSON.parse(vr.stdout.trim().split('\n').at(-1) ?? '{}') as { checked?: number; failed?: number }
    const verify = { exitCode: vr.status, checked: Number(vdone.checked ?? -1), failed: Number(vdone.failed ?? -1) }
    if (verify.exitCode !== 0 || verify.checked !== options.rows || verify.failed !== 0) problems.push(`rowcrypt verify: ${JSON.stringify(verify)} ${vr.stderr}`)
    log(`  verify: exit ${verify.exitCode}, ${verify.checked} checked, ${verify.failed} failed`)

    const report: StressReport = {
      db: options.db,
      rows: options.rows,
      seed,
      options: { writers, batchSize: options.batchSize ?? null, concurrency: options.concurrency ?? null, maxKmsRps: options.maxKmsRps ?? null },
      seedSeconds,
      kills,
      completedBeforeKill,
      final: finalReport,
      overallRowsPerSecond: wallMs > 0 ? (options.rows * 1000) / wallMs : 0,
      rotateWallSeconds: wallMs / 1000,
      peakRssMb: peakRss,
      conflictsRetried: conflicts,
      writer: {
        writes: w.writes,
        writesDuringRotation,
        casRetries: w.updateStatements - w.writes - w.errors.filter(([op]) => op === 'update').length,
        reads: w.reads,
        readMismatches: w.readMismatches.length,
        errors: w.errors,
        writesPerSecond: (w.writes * 1000) / w.elapsedMs,
      },
      versionsAfter,
      lostUpdates,
      unreadableAfter,
      verify,
      ok: problems.length === 0,
      problems,
    }
    return report
  } finally {
    writer?.kill()
    await base.$disconnect()
    await db.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

function parseArgs(argv: string[]): StressOptions & { json: boolean } {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`)
    return i >= 0 ? argv[i + 1] : undefined
  }
  const num = (name: string) => {
    const v = get(name)
    if (v === undefined) return undefined
    const n = Number(v)
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`)
    return n
  }
  const db = (get('db') ?? 'postgres') as StressDb
  if (!['postgres', 'mysql', 'sqlite'].includes(db)) throw new Error('--db must be postgres, mysql or sqlite')
  const optional = <K extends string>(key: K, value: number | undefined) => (value === undefined ? {} : ({ [key]: value } as Record<K, number>))
  return {
    db,
    rows: num('rows') ?? 100_000,
    kills: get('kills') === '0' ? 0 : (num('kills') ?? 3),
    seed: num('seed') ?? 1,
    writers: num('writers') ?? 4,
    ...optional('batchSize', num('batch-size')),
    ...optional('concurrency', num('concurrency')),
    ...optional('maxKmsRps', num('max-kms-rps')),
    keep: argv.includes('--keep'),
    writer: get('writer') === 'inline' ? 'inline' : 'process',
    json: argv.includes('--json'),
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--app-process')) return writerMain()
  const options = parseArgs(process.argv.slice(2))
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run generate (or npm run build) first`)
  const r = await runStress(options)
  if (options.json) process.stdout.write(`${JSON.stringify(r)}\n`)
  else {
    const f = (n: number) => Math.round(n).toLocaleString('en-US')
    process.stdout.write(
      [
        `Rotation under load on ${r.db}: ${f(r.rows)} rows v1 -> v2, ${r.kills.length} SIGKILLs${r.completedBeforeKill > 0 ? ` (${r.completedBeforeKill} planned kills not made: the rotation completed first)` : ''}, seed ${r.seed}`,
        `  rotate: ${f(r.overallRowsPerSecond)} rows/s overall (${r.rotateWallSeconds.toFixed(1)} s in ${r.kills.length + 1} processes, start-up included); final run ${f(r.final.rowsPerSecond)} rows/s; peak RSS ${f(r.peakRssMb)} MB`,
        `  application: ${f(r.writer.writes)} updates (${f(r.writer.writesDuringRotation)} during the rotation, ${f(r.writer.writesPerSecond)}/s), ${f(r.writer.reads)} reads, ${r.writer.errors.length} errors`,
        `  compare-and-swap conflicts retried: ${f(r.conflictsRetried)} by rotate, ${f(r.writer.casRetries)} by the application (its update raced a row's rotation)`,
        `  after: ${JSON.stringify(r.versionsAfter)}, lost updates ${r.lostUpdates.length}, rowcrypt verify exit ${r.verify.exitCode} (${f(r.verify.checked)} checked, ${r.verify.failed} failed)`,
        r.ok ? 'OK' : `FAILED:\n${r.problems.map((p) => `  - ${p}`).join('\n')}`,
        '',
      ].join('\n'),
    )
  }
  process.exitCode = r.ok ? 0 : 1
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
    process.exit(1)
  })
}
