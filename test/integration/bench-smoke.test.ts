// The bench's workload functions (bench/workloads.ts) on tiny sizes against PostgreSQL: they run,
// touch the rows they should, and rowcrypt's rows are stored encrypted and decrypt correctly; and
// the bench itself (bench/run.ts) in quick mode on tiny sizes, with its reports; and the
// instruction counts (bench/instructions.ts) under valgrind.
// Benchmarks are not tests: nothing here looks at timings.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isCiphertext } from '../../src'
import { localKeyProvider, openBenchDatabase, type BenchDatabase } from '../../bench/setup'
import { buildVariant, freshTarget, runsWorkload, VARIANT_NAMES, type BuiltVariant, type VariantName } from '../../bench/variants'
import { coreDecryptor, floorDecrypt, floorDecryptWithUnwrap, makeFloorRows, makeInputs, seed, valueLength, WORKLOADS, type Target } from '../../bench/workloads'

const N = 5
const FIELDS = ['email', 'name', 'ssn', 'notes'] as const

describe('bench workloads (tiny sizes)', () => {
  let db: BenchDatabase
  let targets: Target[]
  const built = new Map<VariantName, BuiltVariant>()

  beforeAll(async () => {
    db = await openBenchDatabase('bench_smoke')
    for (const n of VARIANT_NAMES) built.set(n, await buildVariant(db, n))
    targets = [...built.values()].map((v) => v.target!)
  })
  afterAll(async () => {
    await built.get('rowcrypt-kms')?.kms?.stop()
    await db?.close()
  })

  it('builds every variant, the KMS ones against the local KMS server', () => {
    for (const [name, v] of built) expect([name, v.target?.name]).toEqual([name, name])
    expect(built.get('rowcrypt-kms')!.status).toMatch(/^available/)
    // Both KMS variants share one server and tenant key store.
    expect(built.get('rowcrypt-kms-cold')!.kms!.calls()).toBe(built.get('rowcrypt-kms')!.kms!.calls())
  })

  it('makes the data the issue describes: four values per row, a 1 KB notes text', () => {
    const inputs = makeInputs(3)
    expect(inputs).toHaveLength(3)
    for (const d of inputs) {
      expect(d.notes).toHaveLength(1024)
      for (const f of FIELDS) expect(d[f].length).toBeGreaterThan(0)
    }
    expect(makeInputs(3)).toEqual(inputs) // deterministic
  })

  it.each([...VARIANT_NAMES])('runs every workload for %s', async (name) => {
    const v = built.get(name)!
    const t = v.target!
    const tenant = `smoke-${name}`
    const ids = await seed(t, tenant, makeInputs(N, 1))
    expect(ids).toHaveLength(N)
    for (const w of WORKLOADS) {
      if (!runsWorkload(name, w)) continue
      // As the runner does: a new instance for the cold workloads and the always-cold variants.
      const on = w.cold === true || v.freshEachRepetition === true ? await freshTarget(db, name, v) : t
      const fixture = { tenant: w.fresh ? `fresh-${name}-${w.name}` : tenant, inputs: makeInputs(N, 2), ids, rep: 1 }
      await expect(w.run(on, fixture)).resolves.toBe(N)
      if (w.fresh) await db.clearTenant(fixture.tenant)
    }
  })

  it("bound-cas updates a row only while it keeps the wrapped key the update encrypted under; the bound's update writes under a stale key", async () => {
    const rewrap = async (ids: string[]) => {
      // As a re-key by rotation would: row 0 now holds another wrapped key (row 1's).
      await db.raw(`UPDATE "${db.schema}"."Customer" SET "wrappedDek" = (SELECT "wrappedDek" FROM "${db.schema}"."Customer" WHERE id = $2) WHERE id = $1`, [ids[0], ids[1]])
    }
    for (const [name, checks] of [
      ['bound-cas', true],
      ['bound', false],
    ] as const) {
      const t = built.get(name)!.target!
      const tenant = `cas-${name}`
      const ids = await seed(t, tenant, makeInputs(2, 12))
      await rewrap(ids)
      const stored = async () => (await db.raw<{ name: string }>(`SELECT name FROM "${db.schema}"."Customer" WHERE id = $1`, [ids[0]]))[0]!.name
      const before = await stored()
      const first = t.update(tenant, ids[0]!, 'Renamed')
      if (checks) {
        // Nothing written: the row is as rotation left it.
        await expect(first).rejects.toMatchObject({ code: 'P2025' })
        expect(await stored()).toBe(before)
      } else {
        // Written under the old key into a row that now names another: the row no longer decrypts.
        await expect(first).rejects.toThrow(/authenticate/)
        expect(await stored()).not.toBe(before)
      }
      await expect(t.update(tenant, ids[1]!, 'Renamed too')).resolves.toMatchObject({ name: 'Renamed too' })
    }
  })

  it("rowcrypt-core's updates are rowcrypt's own format and binding (rowcrypt reads them), and it refuses a re-keyed row", async () => {
    const v = built.get('rowcrypt-core')!
    const inputs = makeInputs(3, 13)
    const tenant = 'core-smoke'
    const ids = await seed(v.target!, tenant, inputs)
    await expect(v.target!.findUnique(tenant, ids[0]!)).resolves.toMatchObject(inputs[0]!)
    await expect(v.target!.findUnique('another-tenant', ids[0]!)).resolves.toBeNull()
    await expect(v.target!.update(tenant, ids[0]!, 'Renamed')).resolves.toMatchObject({ ...inputs[0]!, name: 'Renamed' })
    // A cold instance reads the row's sidecars first.
    await expect((await freshTarget(db, 'rowcrypt-core', v)).update(tenant, ids[1]!, 'Renamed cold')).resolves.toMatchObject({ ...inputs[1]!, name: 'Renamed cold' })
    const reader = built.get('rowcrypt')!.target!
    const after = (await reader.findMany(tenant)).sort((a, b) => a.seq - b.seq)
    expect(after.map((r) => r.name)).toEqual(['Renamed', 'Renamed cold', inputs[2]!.name])
    const stored = async (id: string) => (await db.raw<{ name: string }>(`SELECT name FROM "${db.schema}"."Customer" WHERE id = $1`, [id]))[0]!.name
    expect(isCiphertext(await stored(ids[0]!))).toBe(true)
    // Row 2 now names row 1's wrapped key (as after a re-key): an update under the key this instance
    // read for it matches nothing and writes nothing.
    await db.raw(`UPDATE "${db.schema}"."Customer" SET "wrappedDek" = (SELECT "wrappedDek" FROM "${db.schema}"."Customer" WHERE id = $2) WHERE id = $1`, [ids[2], ids[1]])
    const before = await stored(ids[2]!)
    await expect(v.target!.update(tenant, ids[2]!, 'Renamed late')).rejects.toMatchObject({ code: 'P2025' })
    expect(await stored(ids[2]!)).toBe(before)
  })

  it('the cold update runs on an instance that has not read the rows, and writes what a reader then decrypts', async () => {
    for (const name of ['rowcrypt', 'bound', 'rowcrypt-kms'] as const) {
      const v = built.get(name)!
      const inputs = makeInputs(N, 11)
      const ids = await seed(v.target!, `cold-${name}`, inputs)
      const updateCold = WORKLOADS.find((w) => w.name === 'updateCold')!
      await updateCold.run(await freshTarget(db, name, v), { tenant: `cold-${name}`, inputs: [], ids, rep: 3 })
      const after = (await (await freshTarget(db, name, v)).findMany(`cold-${name}`)).sort((a, b) => a.seq - b.seq)
      expect(after.map((r) => r.name)).toEqual(inputs.map((_, i) => `Customer ${i} RenamedCold3`))
      expect(after.map((r) => r.notes)).toEqual(inputs.map((d) => d.notes))
    }
  })

  it('rowcrypt-kms-cold loads the tenant key with one KMS call per new instance, rowcrypt-kms none once warm', async () => {
    const warm = built.get('rowcrypt-kms')!
    const cold = built.get('rowcrypt-kms-cold')!
    const kms = cold.kms!
    await seed(cold.target!, 'kms-cold', makeInputs(N, 12))
    await seed(warm.target!, 'kms-warm', makeInputs(N, 13))
    for (let i = 0; i < 2; i++) {
      const t = await freshTarget(db, 'rowcrypt-kms-cold', cold)
      const before = kms.calls()
      expect(await t.findMany('kms-cold')).toHaveLength(N)
      expect(await t.findMany('kms-cold')).toHaveLength(N)
      expect(kms.calls() - before).toBe(1)
    }
    // rowcrypt-kms's new instances (its cold update) keep the provider: the tenant key stays cached.
    const before = kms.calls()
    expect(await warm.target!.findMany('kms-warm')).toHaveLength(N)
    expect(await (await freshTarget(db, 'rowcrypt-kms', warm)).findMany('kms-warm')).toHaveLength(N)
    expect(kms.calls() - before).toBe(0)
  })

  it('stores prisma-field-encryption rows in its format, in the same columns, and reads them back', async () => {
    const t = built.get('pfe')!.target!
    const inputs = makeInputs(N, 14)
    const ids = await seed(t, 'pfe-format', inputs)
    const stored = await db.raw<Record<string, unknown>>(`SELECT * FROM "${db.schema}"."Customer" WHERE "tenantId" = $1 ORDER BY seq`, ['pfe-format'])
    expect(stored).toHaveLength(N)
    for (let i = 0; i < N; i++) {
      for (const f of FIELDS) {
        expect(stored[i]![f]).toMatch(/^v1\.aesgcm256\.[0-9a-f]{8}\./)
        expect(stored[i]![f]).not.toContain(inputs[i]![f].slice(0, 8))
      }
      expect(stored[i]!.wrappedDek).toBeNull()
    }
    expect((await t.findMany('pfe-format')).sort((a, b) => a.seq - b.seq).map((r) => [r.email, r.name, r.ssn, r.notes])).toEqual(inputs.map((d) => [d.email, d.name, d.ssn, d.notes]))
    await t.update('pfe-format', ids[1]!, 'Renamed pfe')
    expect(await t.findUnique('pfe-format', ids[1]!)).toMatchObject({ ...inputs[1]!, name: 'Renamed pfe' })
    expect(await t.findUnique('another-tenant', ids[1]!)).toBeNull()
  })

  it('stores rowcrypt rows encrypted and reads them back decrypted', async () => {
    const t = targets.find((x) => x.name === 'rowcrypt')!
    const tenant = 'smoke-decrypt'
    const inputs = makeInputs(N, 3)
    const ids = await seed(t, tenant, inputs)

    // At rest: ciphertext in all four fields, sidecars filled.
    const stored = await db.raw<Record<string, unknown>>(`SELECT * FROM "${db.schema}"."Customer" WHERE "tenantId" = $1`, [tenant])
    expect(stored).toHaveLength(N)
    for (const r of stored) {
      for (const f of FIELDS) expect(isCiphertext(r[f])).toBe(true)
      expect(r.wrappedDek).toBeInstanceOf(Uint8Array)
      expect(r.keyVersion).toBe('v1')
    }

    // findMany and findUnique give the plaintext back.
    const rows = (await t.findMany(tenant)).sort((a, b) => a.seq - b.seq)
    expect(rows.map((r) => ({ email: r.email, name: r.name, ssn: r.ssn, notes: r.notes, seq: r.seq }))).toEqual(inputs)
    const one = await t.findUnique(tenant, ids[2]!)
    expect(one).toMatchObject(inputs[2]!)
    expect(await t.findUnique('another-tenant', ids[2]!)).toBeNull()

    // The update workload changes one encrypted field; it decrypts to the new value, the rest is kept.
    const update = WORKLOADS.find((w) => w.name === 'update')!
    await update.run(t, { tenant, inputs: [], ids, rep: 7 })
    const after = await t.findUnique(tenant, ids[0]!)
    expect(after).toMatchObject({ ...inputs[0]!, name: 'Customer 0 Renamed7' })
    const raw = await db.raw<{ name: string }>(`SELECT name FROM "${db.schema}"."Customer" WHERE id = $1`, [ids[0]])
    expect(isCiphertext(raw[0]!.name)).toBe(true)

    // The create workload's rows decrypt too.
    const create = WORKLOADS.find((w) => w.name === 'create')!
    const fresh = makeInputs(2, 4)
    await create.run(t, { tenant: 'smoke-create', inputs: fresh, ids: [], rep: 1 })
    const created = (await t.findMany('smoke-create')).sort((a, b) => a.seq - b.seq)
    expect(created.map((r) => r.notes)).toEqual(fresh.map((d) => d.notes))

    // rowcrypt's core decrypts the stored rows the same way.
    const decrypt = coreDecryptor(localKeyProvider())
    await expect(decrypt(stored, tenant)).resolves.toBe(N)
  })

  it.each(['adapter', 'transaction'] as const)('runs rowcrypt-rls (pinning %s) through a role that the policies bind', async (pinning) => {
    const rls = await db.rlsClient(pinning)
    const [role] = await rls.$queryRawUnsafe<Array<{ rolsuper: boolean; rolbypassrls: boolean }>>('SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user')
    expect(role).toEqual({ rolsuper: false, rolbypassrls: false })
    const t = targets.find((x) => x.name === (pinning === 'adapter' ? 'rowcrypt-rls' : 'rowcrypt-rls-tx'))!
    await seed(t, `smoke-rls-${pinning}`, makeInputs(2, 6))
    // The rows are there (the superuser sees them), but the restricted role outside any tenant sees none.
    expect(await db.raw(`SELECT id FROM "${db.schema}"."Customer" WHERE "tenantId" = 'smoke-rls-${pinning}'`)).toHaveLength(2)
    const visible = await rls.$queryRawUnsafe<unknown[]>(`SELECT id FROM "${db.schema}"."Customer"`)
    expect(visible).toHaveLength(0)
  })

  it("the bound variant stores values of exactly rowcrypt's size, encrypted, and reads them back", async () => {
    const inputs = makeInputs(N, 8)
    const bound = targets.find((x) => x.name === 'bound')!
    const rowcrypt = targets.find((x) => x.name === 'rowcrypt')!
    const ids = await seed(bound, 'size-bound', inputs)
    await seed(rowcrypt, 'size-bound-rc', inputs)
    const at = async (tenant: string) => db.raw<Record<string, unknown>>(`SELECT * FROM "${db.schema}"."Customer" WHERE "tenantId" = $1 ORDER BY seq`, [tenant])
    const [b, r] = [await at('size-bound'), await at('size-bound-rc')]
    expect(b).toHaveLength(N)
    for (let i = 0; i < N; i++) {
      for (const f of FIELDS) {
        expect(b[i]![f]).not.toContain(inputs[i]![f].slice(0, 8))
        expect((b[i]![f] as string).length).toBe((r[i]![f] as string).length)
      }
      expect((b[i]!.wrappedDek as Uint8Array).length).toBe((r[i]!.wrappedDek as Uint8Array).length)
    }
    expect((await bound.findMany('size-bound')).sort((x, y) => x.seq - y.seq).map((x) => x.notes)).toEqual(inputs.map((d) => d.notes))
    await bound.update('size-bound', ids[1]!, 'Renamed')
    expect(await bound.findUnique('size-bound', ids[1]!)).toMatchObject({ ...inputs[1]!, name: 'Renamed' })
  })

  it('the bound-row variant (one GCM message per row) stores ciphertext and reads it back', async () => {
    const inputs = makeInputs(N, 9)
    const t = targets.find((x) => x.name === 'bound-row')!
    const ids = await seed(t, 'size-bound-row', inputs)
    const stored = await db.raw<Record<string, unknown>>(`SELECT * FROM "${db.schema}"."Customer" WHERE "tenantId" = $1 ORDER BY seq`, ['size-bound-row'])
    for (let i = 0; i < N; i++) for (const f of FIELDS) expect(stored[i]![f]).not.toContain(inputs[i]![f].slice(0, 8))
    expect((await t.findMany('size-bound-row')).sort((x, y) => x.seq - y.seq).map((x) => [x.email, x.name, x.ssn, x.notes])).toEqual(inputs.map((d) => [d.email, d.name, d.ssn, d.notes]))
    await t.update('size-bound-row', ids[2]!, 'Renamed row')
    expect(await t.findUnique('size-bound-row', ids[2]!)).toMatchObject({ ...inputs[2]!, name: 'Renamed row' })
  })

  it('computes the floor over the same values', () => {
    const inputs = makeInputs(N, 5)
    const { kek, rows } = makeFloorRows(inputs)
    const chars = inputs.reduce((s, d) => s + valueLength(d), 0)
    expect(floorDecrypt(rows)).toBe(chars)
    expect(floorDecryptWithUnwrap(kek, rows)).toBe(chars)
  })
})

/** Runs node with `args` in the project's folder. */
function spawnNode(args: string[], timeout: number): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, args, { cwd: join(__dirname, '..', '..'), encoding: 'utf8', timeout })
}

/** `spawnNode`, which must exit 0 (its stderr shown if not). */
function runNode(args: string[], timeout: number): { stdout: string } {
  const run = spawnNode(args, timeout)
  expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({ status: 0, stderr: '' })
  return run
}

describe('npm run bench -- --quick (tiny sizes)', () => {
  it('runs every variant and workload and writes its reports', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rowcrypt-bench-'))
    try {
      const args = [
        '--expose-gc',
        '-r',
        'ts-node/register/transpile-only',
        'bench/run.ts',
        '--quick',
        '--size',
        '4',
        '--reps',
        '1',
        '--cheap-repeats',
        '1',
        '--large-repeats',
        '2',
        '--slices',
        '2',
        '--no-write',
        '--markdown',
        dir,
      ]
      const run = runNode(args, 240_000)
      for (const name of VARIANT_NAMES) expect(run.stdout).toContain(` ${name} `)
      expect(run.stdout).toContain('findMany of 40 ')
      expect(run.stdout).toMatch(/targets \(.*\): \d+ of \d+ met/)
      expect(run.stdout).toMatch(/KMS calls, cold findMany of 4 rows of one tenant.* 1 ✓/)
      const results = readFileSync(join(dir, 'RESULTS.md'), 'utf8')
      for (const what of [
        'rowcrypt / bound',
        'rowcrypt / prisma-field-encryption',
        'AWS KMS hierarchical, warm / local keys',
        "cold update / bound's cold update",
        'rowcrypt with rls: true (adapter wrapped with withRlsPinning) / rowcrypt',
      ])
        expect(results).toMatch(new RegExp(`^\\| ${what.replace(/[/{}()]/g, '\\$&')}[^|]* \\| ≤ `, 'm'))
      expect(results).toContain('**Peak memory of one call**')
      expect(results).toContain('findMany and createMany run 1× per round and the findMany of ten times the rows 2×')
      const table = readFileSync(join(dir, 'README-table.md'), 'utf8').split('\n')
      expect(table[0]).toBe(
        '| workload | Prisma 7 (plain) | bound¹ | rowcrypt | prisma-field-encryption | rowcrypt + AWS KMS, warm | rowcrypt + AWS KMS, cold² | rowcrypt, RLS (adapter pinning) | rowcrypt / bound | rowcrypt / prisma-field-encryption |',
      )
      expect(table.filter((l) => l.startsWith('| ') && !l.startsWith('| workload'))).toHaveLength(WORKLOADS.length)
      expect(table.join('\n')).toMatch(/^Measured \d{4}-\d\d-\d\d on .+, \d+ cores, .*Node .*PostgreSQL .*Prisma .*prisma-field-encryption /m)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 300_000)

  it('refuses a count of repeats that is not a positive integer, before it opens the database', () => {
    for (const flag of ['--cheap-repeats', '--large-repeats']) {
      const run = spawnNode(['-r', 'ts-node/register/transpile-only', 'bench/run.ts', '--quick', flag, '0'], 60_000)
      expect({ status: run.status, error: /must be a positive integer/.exec(run.stderr)?.[0] }).toEqual({ status: 1, error: 'must be a positive integer' })
      expect(run.stderr).toContain(flag)
    }
  }, 120_000)
})

describe('npm run bench:instructions (tiny sizes, under valgrind)', () => {
  it('counts every sample and reports instructions per call with the ratios that apply', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rowcrypt-instructions-'))
    try {
      const file = join(dir, 'instructions.md')
      const args = [
        '-r',
        'ts-node/register/transpile-only',
        'bench/instructions.ts',
        '--variants',
        'plain,bound,rowcrypt',
        '--workloads',
        'findUnique,findMany',
        '--rows',
        '3',
        '--reps',
        '2',
        '--warmup',
        '1',
        '--no-write',
        '--markdown',
        file,
      ]
      runNode(args, 400_000)
      const report = readFileSync(file, 'utf8')
      expect(report).toContain('median of 2 counted repetitions of 3 rows after 1 untimed')
      expect(report).toContain('| workload | plain | bound | rowcrypt |')
      // A count per cell, and for the extensions a ratio to plain Prisma above 1: they do more.
      for (const w of ['findUnique', 'findMany']) {
        const row = report.split('\n').find((l) => l.startsWith(`| ${w} |`))
        expect(row).toMatch(new RegExp(`^\\| ${w} \\| [\\d.]+ [kM] \\| [\\d.]+ [kM] \\(1\\.\\d\\d×\\) \\| [\\d.]+ [kM] \\(1\\.\\d\\d×\\) \\|$`))
      }
      expect(report).toMatch(/^\| rowcrypt \/ bound \| \d\.\d{3}× \| \d\.\d{3}× \|$/m)
      expect(report).not.toContain('AWS KMS')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 450_000)
})
