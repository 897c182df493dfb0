// The bench's workload functions (bench/workloads.ts) on tiny sizes against PostgreSQL: they run,
// touch the rows they should, and rowcrypt's rows are stored encrypted and decrypt correctly.
// Benchmarks are not tests: nothing here looks at timings.
import { isCiphertext } from '../../src'
import { localKeyProvider, openBenchDatabase, type BenchDatabase } from '../../bench/setup'
import { buildVariant, type VariantName } from '../../bench/variants'
import { coreDecryptor, floorDecrypt, floorDecryptWithUnwrap, makeFloorRows, makeInputs, seed, valueLength, WORKLOADS, type Target } from '../../bench/workloads'

const N = 5
const FIELDS = ['email', 'name', 'ssn', 'notes'] as const

describe('bench workloads (tiny sizes)', () => {
  let db: BenchDatabase
  let targets: Target[]

  beforeAll(async () => {
    db = await openBenchDatabase('bench_smoke')
    const names: VariantName[] = ['plain', 'noop-ext', 'bound', 'bound-row', 'rowcrypt', 'rowcrypt-rls', 'rowcrypt-rls-tx']
    targets = (await Promise.all(names.map((n) => buildVariant(db, n)))).map((v) => v.target!)
  })
  afterAll(async () => {
    await db?.close()
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

  it.each(['plain', 'noop-ext', 'bound', 'bound-row', 'rowcrypt', 'rowcrypt-rls', 'rowcrypt-rls-tx'])('runs every workload for %s', async (name) => {
    const t = targets.find((x) => x.name === name)!
    const tenant = `smoke-${name}`
    const ids = await seed(t, tenant, makeInputs(N, 1))
    expect(ids).toHaveLength(N)
    for (const w of WORKLOADS) {
      const fixture = { tenant: w.fresh ? `fresh-${name}-${w.name}` : tenant, inputs: makeInputs(N, 2), ids, rep: 1 }
      await expect(w.run(t, fixture)).resolves.toBe(N)
      if (w.fresh) await db.clearTenant(fixture.tenant)
    }
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
