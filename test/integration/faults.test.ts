// Fault injection. Every scenario asserts that nothing is lost or left unreadable and that writes
// are all-or-nothing: after a failed operation the tables are byte-for-byte what they were (raw
// SQL snapshot of every table rowcrypt writes), every row still decrypts (verifyRows from a cold
// process, and the decrypted state equals the state before), and the same operation retried
// once the fault is gone succeeds with exactly its effect.
//
// Faults: the local KMS server (src/kms/dev-server.ts `inject`), reached through the real AWS SDK,
// in direct and hierarchical mode: an outage, throttling beyond and within the SDK's retries,
// latency beyond the request timeout and added latency, and an outage half-way through an
// operation's KMS calls; during writes (create, createMany, nested create, update, an interactive
// transaction), reads and key rotation. The database connection killed by the server
// (PostgreSQL `pg_terminate_backend`, MariaDB `KILL CONNECTION`) in the middle of an interactive
// transaction and in the middle of a rotation batch.
//
// The rotation process killed with SIGKILL while the application writes is covered in
// test/integration/rotation-stress.test.ts ("rowcrypt rotate under load with three SIGKILLs on
// %s", every database), SIGINT in test/integration/rotation-cli.test.ts; not repeated here.
import { randomUUID } from 'node:crypto'
import { PrismaTenantKeyStore, rotateKeys, verifyRows, withTenant, type AwsKmsKeyProvider, type KeyProvider } from '../../src'
import { KmsDevServer } from '../../src/kms-dev-server'
import { openDatabase, type TestDatabase } from '../support/db'
import { awsProvider } from '../support/kms'
import { extend, type Extended } from '../support/setup'
import { rowsById, snapshot } from '../support/snapshot'

type Mode = 'hierarchical' | 'direct'
const MODES: readonly Mode[] = ['hierarchical', 'direct']
const uid = () => randomUUID().replace(/-/g, '').slice(0, 10)

// The SDK client of a faulted provider: 2 attempts, 120 ms per request.
const ATTEMPTS = 2
const TIMEOUT_MS = 120

/** Faults that outlast the SDK's retries: the operation must fail with ERR_ROWCRYPT_KMS_UNAVAILABLE. */
const FAILING: Record<string, (kms: KmsDevServer) => void> = {
  'KMS outage (503)': (kms) => kms.inject({ error: 'ServiceUnavailableException', status: 503, times: Infinity }),
  'throttling beyond the SDK retries': (kms) => kms.inject({ error: 'ThrottlingException', times: Infinity }),
  'latency beyond the request timeout': (kms) => kms.inject({ latencyMs: TIMEOUT_MS * 3, times: Infinity }),
}
/** Faults the SDK rides out: the operation must succeed with exactly its effect. */
const TRANSIENT: Record<string, (kms: KmsDevServer) => void> = {
  'throttling within the SDK retries': (kms) => kms.inject({ error: 'ThrottlingException', times: ATTEMPTS - 1 }),
  'added latency (30 ms per call)': (kms) => kms.inject({ latencyMs: 30, times: Infinity }),
}
/** The first `n` KMS requests are answered, then KMS is down. */
const outageAfter = (kms: KmsDevServer, n: number) => {
  kms.inject({ times: n })
  kms.inject({ error: 'ServiceUnavailableException', status: 503, times: Infinity })
}

/** Resolves once the KMS server has received no request for a while (in-flight retries are over). */
async function quiet(kms: KmsDevServer): Promise<void> {
  let last = -1
  while (kms.callCount() !== last) {
    last = kms.callCount()
    await new Promise((r) => setTimeout(r, TIMEOUT_MS + 30))
  }
}

interface UserState {
  id: number
  name: string
  email: string
  ssn: string | null
  notes: string | null
  posts: Array<{ title: string; body: string | null }>
}
interface State {
  users: UserState[]
  docs: Array<{ id: string; title: string; body: string }>
}

/** The tenant's rows as the application sees them (decrypted). */
async function state(prisma: Extended, tenant: string): Promise<State> {
  const [users, docs] = await withTenant(tenant, () => Promise.all([prisma.user.findMany({ orderBy: { id: 'asc' }, include: { posts: true } }), prisma.document.findMany({ orderBy: { id: 'asc' } })]))
  return {
    users: users.map((u) => ({
      id: u.id,
      name: u.name,
      email: u.email,
      ssn: u.ssn,
      notes: u.notes,
      posts: u.posts.map((p) => ({ title: p.title, body: p.body })).sort((a, b) => a.title.localeCompare(b.title)),
    })),
    docs: docs.map((d) => ({ id: d.id, title: d.title, body: d.body })),
  }
}

/** A write: `run` on a client for a tenant, `expected` is the state it leads to from `before`. */
interface WriteOp {
  run(prisma: Extended, tenant: string, v: string, target: number): Promise<unknown>
  expected(before: State, v: string, target: number): unknown
  /** KMS requests the write makes in direct mode (an outage after the first one then hits it mid-way). */
  directCalls: number
}

const newUser = (name: string, email: string, ssn: string | null, posts: UserState['posts'] = []) => ({ id: expect.any(Number), name, email, ssn, notes: null, posts })
const WRITES: Record<string, WriteOp> = {
  create: {
    run: (p, t, v) => withTenant(t, () => p.user.create({ data: { name: `c_${v}`, email: `${v}@create.test`, ssn: `ssn_${v}` } })),
    expected: (b, v) => ({ ...b, users: [...b.users, newUser(`c_${v}`, `${v}@create.test`, `ssn_${v}`)] }),
    directCalls: 1,
  },
  createMany: {
    run: (p, t, v) => withTenant(t, () => p.user.createMany({ data: [0, 1, 2].map((i) => ({ name: `m${i}_${v}`, email: `${v}_${i}@many.test`, ssn: null })) })),
    expected: (b, v) => ({ ...b, users: [...b.users, ...[0, 1, 2].map((i) => newUser(`m${i}_${v}`, `${v}_${i}@many.test`, null))] }),
    directCalls: 3,
  },
  'nested create': {
    run: (p, t, v) =>
      withTenant(t, () =>
        p.user.create({
          data: {
            name: `n_${v}`,
            email: `${v}@nested.test`,
            posts: {
              create: [
                { title: `a_${v}`, body: `body a ${v}` },
                { title: `b_${v}`, body: `body b ${v}` },
              ],
            },
          },
        }),
      ),
    expected: (b, v) => ({
      ...b,
      users: [
        ...b.users,
        newUser(`n_${v}`, `${v}@nested.test`, null, [
          { title: `a_${v}`, body: `body a ${v}` },
          { title: `b_${v}`, body: `body b ${v}` },
        ]),
      ],
    }),
    directCalls: 3,
  },
  update: {
    run: (p, t, v, target) => withTenant(t, () => p.user.update({ where: { id: target }, data: { email: `${v}@update.test`, notes: `notes_${v}` } })),
    expected: (b, v, target) => ({ ...b, users: b.users.map((u) => (u.id === target ? { ...u, email: `${v}@update.test`, notes: `notes_${v}` } : u)) }),
    directCalls: 1,
  },
  'interactive transaction (create, then update)': {
    run: (p, t, v, target) =>
      withTenant(t, () =>
        p.$transaction(async (tx) => {
          await tx.document.create({ data: { id: `d_${v}`, title: `t_${v}`, body: `doc ${v}` } })
          await tx.user.update({ where: { id: target }, data: { notes: `tx_${v}` } })
        }),
      ),
    expected: (b, v, target) => ({
      users: b.users.map((u) => (u.id === target ? { ...u, notes: `tx_${v}` } : u)),
      docs: [...b.docs, { id: `d_${v}`, title: `t_${v}`, body: `doc ${v}` }].sort((x, y) => (x.id < y.id ? -1 : 1)),
    }),
    directCalls: 2,
  },
}

const READS: Record<string, (prisma: Extended, tenant: string, target: number) => Promise<unknown>> = {
  'findMany with include': (p, t) => withTenant(t, () => p.user.findMany({ orderBy: { id: 'asc' }, include: { posts: true } })),
  findUnique: (p, t, target) => withTenant(t, () => p.user.findUnique({ where: { id: target } })),
}

let scenarios = 0
afterAll(() => {
  // The count the closing note reports (per database kind and mode, all included).
  expect(scenarios).toBeGreaterThan(0)
  process.stdout.write(`faults.test.ts: ${scenarios} fault scenarios run\n`)
})

// The whole matrix runs on PostgreSQL; MariaDB and SQLite (other transaction and rotation code
// paths) run the outage, the outage part-way through a write or a rotation, and the cached-key case.
describe.each([
  ['postgres', true],
  ['mysql', false],
  ['sqlite', false],
] as const)('KMS faults on %s', (kind, full) => {
  const failing = full ? Object.keys(FAILING) : ['KMS outage (503)']
  const transient = full ? Object.keys(TRANSIENT) : []
  let db: TestDatabase
  let kms: KmsDevServer
  let store: PrismaTenantKeyStore
  beforeAll(async () => {
    db = await openDatabase(kind, 'faults_kms')
    kms = await KmsDevServer.start({ port: 0 })
    kms.createKey({ alias: 'alias/test-v1' })
    kms.createKey({ alias: 'alias/test-v2' })
    store = new PrismaTenantKeyStore({ prisma: db.prisma, schema: db.manifest })
  })
  afterAll(async () => {
    await kms?.stop()
    await db?.close()
  })
  beforeEach(() => kms.clearFaults())

  /** A provider as a fresh process has it (cold cache); the tenant key store is the shared table. */
  const provider = (mode: Mode, options: { activeVersion?: 'v1' | 'v2'; healthy?: boolean } = {}): AwsKmsKeyProvider =>
    awsProvider(kms, {
      mode,
      tenantKeyStore: store,
      ...(options.activeVersion !== undefined ? { activeVersion: options.activeVersion } : {}),
      ...(options.healthy === true ? {} : { maxAttempts: ATTEMPTS, requestTimeoutMs: TIMEOUT_MS }),
    })
  const client = (keyProvider: KeyProvider) => extend(db, keyProvider)

  /** Every row of the tenant decrypts from a cold process, and the decrypted state is `expected`. */
  async function assertIntact(mode: Mode, tenant: string, expected: unknown): Promise<void> {
    kms.clearFaults()
    const fresh = client(provider(mode, { healthy: true }))
    const verified = await verifyRows({ prisma: fresh, tenantId: tenant })
    expect(verified).toMatchObject({ failed: 0 })
    expect(verified.checked).toBeGreaterThan(0)
    expect(await state(fresh, tenant)).toEqual(expected)
  }

  describe.each(MODES)('%s mode', (mode) => {
    // Each scenario works on a tenant of its own: two users, one post.
    async function freshTenant(): Promise<{ tenant: string; target: number }> {
      const tenant = `f_${kind}_${mode}_${uid()}`
      const seeder = client(provider(mode, { healthy: true }))
      const target = await withTenant(tenant, async () => {
        const u = await seeder.user.create({ data: { name: 'seed1', email: 'seed1@faults.test', ssn: 'ssn-1', notes: 'n1', posts: { create: { title: 'seed post', body: 'seed body' } } } })
        await seeder.user.create({ data: { name: 'seed2', email: 'seed2@faults.test', ssn: null, notes: 'n2' } })
        return u.id
      })
      return { tenant, target }
    }

    const healthy = () => client(provider(mode, { healthy: true }))

    /** One scenario: under the fault the write fails, coded, and changes no byte; retried, it succeeds. */
    async function failingWrite(name: string, tenant: string, target: number, inject: (kms: KmsDevServer) => void): Promise<void> {
      scenarios++
      const op = WRITES[name]!
      const v = uid()
      const before = await state(healthy(), tenant)
      const raw = await snapshot(db)
      const prisma = client(provider(mode)) // a cold cache, as in a process just started
      inject(kms)
      await expect(op.run(prisma, tenant, v, target)).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_KMS_UNAVAILABLE' })
      kms.clearFaults()
      expect({ name, tables: await snapshot(db) }).toEqual({ name, tables: raw })
      expect(await state(healthy(), tenant)).toEqual(before)
      // The same call retried on the same client once KMS is back: exactly its effect.
      await op.run(prisma, tenant, v, target)
      expect(await state(healthy(), tenant)).toEqual(op.expected(before, v, target))
    }

    it.each(failing)(
      `%s: each write (${Object.keys(WRITES).join(', ')}) fails with ERR_ROWCRYPT_KMS_UNAVAILABLE, leaves every table byte-for-byte unchanged, and succeeds when retried`,
      async (fault) => {
        const { tenant, target } = await freshTenant()
        for (const name of Object.keys(WRITES)) await failingWrite(name, tenant, target, FAILING[fault]!)
        await assertIntact(mode, tenant, await state(healthy(), tenant))
      },
    )

    it.each(failing)(`%s: each read (${Object.keys(READS).join(', ')}) fails with ERR_ROWCRYPT_KMS_UNAVAILABLE and writes nothing; retried, it returns every row`, async (fault) => {
      const { tenant, target } = await freshTenant()
      for (const name of Object.keys(READS)) {
        scenarios++
        const expected = await READS[name]!(healthy(), tenant, target)
        const raw = await snapshot(db)
        const prisma = client(provider(mode))
        FAILING[fault]!(kms)
        await expect(READS[name]!(prisma, tenant, target)).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_KMS_UNAVAILABLE' })
        kms.clearFaults()
        // Key requests of other rows of the read may still be in flight (and fail): let them end,
        // so that the retry does not join one of them.
        await quiet(kms)
        expect(await snapshot(db)).toBe(raw)
        expect(await READS[name]!(prisma, tenant, target)).toEqual(expected)
      }
    })

    if (full)
      it.each(transient)('%s: every write and read succeeds with exactly its effect', async (fault) => {
        const { tenant, target } = await freshTenant()
        for (const name of Object.keys(WRITES)) {
          scenarios++
          const op = WRITES[name]!
          const v = uid()
          const before = await state(healthy(), tenant)
          TRANSIENT[fault]!(kms)
          await op.run(client(provider(mode)), tenant, v, target)
          kms.clearFaults()
          expect(await state(healthy(), tenant)).toEqual(op.expected(before, v, target))
        }
        for (const name of Object.keys(READS)) {
          scenarios++
          const expected = await READS[name]!(healthy(), tenant, target)
          TRANSIENT[fault]!(kms)
          expect(await READS[name]!(client(provider(mode)), tenant, target)).toEqual(expected)
          kms.clearFaults()
        }
        await assertIntact(mode, tenant, await state(healthy(), tenant))
      })

    if (mode === 'direct') {
      const multi = Object.keys(WRITES).filter((n) => WRITES[n]!.directCalls > 1)
      it(`KMS down after the first of a write's key requests: each of ${multi.join(', ')} fails as a whole, nothing written; the retry succeeds`, async () => {
        const { tenant, target } = await freshTenant()
        for (const name of multi) await failingWrite(name, tenant, target, (k) => outageAfter(k, 1))
        await assertIntact(mode, tenant, await state(healthy(), tenant))
      })
    } else {
      it('KMS down once the tenant key is cached: writes and reads go on locally, nothing lost', async () => {
        scenarios++
        const { tenant, target } = await freshTenant()
        const prisma = client(provider(mode))
        const before = await state(prisma, tenant)
        kms.resetStats()
        kms.inject({ error: 'ServiceUnavailableException', status: 503, times: Infinity })
        const v = uid()
        await WRITES['nested create']!.run(prisma, tenant, v, target)
        await WRITES.update!.run(prisma, tenant, v, target)
        const expected = WRITES.update!.expected(WRITES['nested create']!.expected(before, v, target) as State, v, target)
        expect(await state(prisma, tenant)).toEqual(expected)
        expect(kms.callCount()).toBe(0)
        await assertIntact(mode, tenant, expected)
      })
    }

    describe('rotation', () => {
      // Each scenario rotates the Documents of its own tenant, 10 rows, in batches of 4.
      async function seedDocs(t: string): Promise<void> {
        const seeder = client(provider(mode, { healthy: true }))
        await withTenant(t, () =>
          seeder.document.createMany({ data: Array.from({ length: 10 }, (_, i) => ({ id: `${t}_${String(i).padStart(2, '0')}`, title: `doc ${i}`, body: `body ${i} of ${t}` })) }),
        )
      }
      const rotate = (t: string, keyProvider: KeyProvider) => rotateKeys({ prisma: client(keyProvider), model: 'Document', tenantId: t, batchSize: 4, concurrency: 1 })
      const docsOf = async (t: string) => new Map([...(await rowsById(db, 'Document'))].filter(([, r]) => r.orgId === t))

      it(`KMS down part-way: the run fails with ERR_ROWCRYPT_KMS_UNAVAILABLE, each row is on its old or its new key with its ciphertexts untouched, all decrypt; a re-run finishes`, async () => {
        scenarios++
        const t = `rot_${kind}_${mode}_${uid()}`
        await seedDocs(t)
        const before = await docsOf(t)
        const decrypted = await state(client(provider(mode, { healthy: true })), t)
        // Direct: 5 ReEncrypt answered, so the first batch (4 rows) commits and the second fails.
        // Hierarchical: the v1 tenant key is read, making the v2 tenant key fails.
        outageAfter(kms, mode === 'direct' ? 5 : 1)
        await expect(rotate(t, provider(mode, { activeVersion: 'v2' }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_KMS_UNAVAILABLE' })
        kms.clearFaults()
        const after = await docsOf(t)
        expect([...after.keys()].sort()).toEqual([...before.keys()].sort())
        const moved = movedRows(before, after)
        expect(moved).toBe(mode === 'direct' ? 4 : 0)
        await assertIntact(mode, t, decrypted)
        expect(await rotate(t, provider(mode, { activeVersion: 'v2', healthy: true }))).toBe(10 - moved)
        expect([...(await docsOf(t)).values()].map((r) => r.keyVersion)).toEqual(Array(10).fill('v2'))
        await assertIntact(mode, t, decrypted)
      })

      if (full)
        it.each(transient)('%s: the run finishes, every row on the new key and readable', async (fault) => {
          scenarios++
          const t = `rot_${kind}_${mode}_${uid()}`
          await seedDocs(t)
          const decrypted = await state(client(provider(mode, { healthy: true })), t)
          TRANSIENT[fault]!(kms)
          expect(await rotate(t, provider(mode, { activeVersion: 'v2' }))).toBe(10)
          expect([...(await docsOf(t)).values()].map((r) => r.keyVersion)).toEqual(Array(10).fill('v2'))
          await assertIntact(mode, t, decrypted)
        })
    })
  })
})

describe.each(['postgres', 'mysql'] as const)('database connection killed by the server on %s', (kind) => {
  let db: TestDatabase
  let prisma: Extended
  let kms: KmsDevServer
  beforeAll(async () => {
    db = await openDatabase(kind, 'faults_conn')
    prisma = extend(db)
    kms = await KmsDevServer.start({ port: 0 })
    kms.createKey({ alias: 'alias/test-v1' })
    kms.createKey({ alias: 'alias/test-v2' })
  })
  afterAll(async () => {
    await kms?.stop()
    await db?.close()
  })

  /** The server-side id of the connection a (transaction) client runs on. */
  const connectionId = async (client: { $queryRawUnsafe(sql: string): Promise<unknown> }): Promise<number> => {
    const rows = (await client.$queryRawUnsafe(kind === 'postgres' ? 'SELECT pg_backend_pid() AS id' : 'SELECT CONNECTION_ID() AS id')) as Array<{ id: unknown }>
    return Number(rows[0]!.id)
  }
  /** Kills a connection from another session, as a DBA or a failover would. */
  const kill = async (id: number): Promise<void> => {
    if (kind === 'postgres') expect(await db.raw<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [id])).toEqual([{ ok: true }])
    else await db.raw(`KILL CONNECTION ${id}`)
  }

  async function seedTenant(): Promise<{ tenant: string; target: number }> {
    const tenant = `c_${kind}_${uid()}`
    const u = await withTenant(tenant, () => prisma.user.create({ data: { name: 'seed', email: 'seed@conn.test', ssn: 'ssn-seed', posts: { create: { title: 'seed post', body: 'seed body' } } } }))
    return { tenant, target: u.id }
  }

  // The transaction's writes: a nested create, an update of an encrypted field, a createMany.
  const writes = async (tx: Extended, v: string, target: number) => {
    await tx.user.create({ data: { name: `tx_${v}`, email: `${v}@tx.test`, posts: { create: [{ title: `p_${v}`, body: `b_${v}` }] } } })
    await tx.user.update({ where: { id: target }, data: { email: `${v}@changed.test`, notes: `notes_${v}` } })
    await tx.document.createMany({
      data: [
        { id: `d1_${v}`, title: 't', body: `doc1 ${v}` },
        { id: `d2_${v}`, title: 't', body: `doc2 ${v}` },
      ],
    })
  }
  const expectedAfter = (before: State, v: string, target: number): unknown => ({
    users: [
      ...before.users.map((u) => (u.id === target ? { ...u, email: `${v}@changed.test`, notes: `notes_${v}` } : u)),
      newUser(`tx_${v}`, `${v}@tx.test`, null, [{ title: `p_${v}`, body: `b_${v}` }]),
    ],
    docs: [...before.docs, { id: `d1_${v}`, title: 't', body: `doc1 ${v}` }, { id: `d2_${v}`, title: 't', body: `doc2 ${v}` }],
  })

  it.each([
    ['before its next statement', true],
    ['just before it commits', false],
  ])('killed %s, an interactive transaction fails and none of its writes is in the database; the client recovers and the retry commits', async (_when, statementAfter) => {
    scenarios++
    const { tenant, target } = await seedTenant()
    const before = await state(prisma, tenant)
    const raw = await snapshot(db)
    const v = uid()
    let killed = 0
    const run = (killIt: boolean) =>
      withTenant(tenant, () =>
        prisma.$transaction(async (tx) => {
          await writes(tx as unknown as Extended, v, target)
          if (killIt) {
            killed = await connectionId(tx)
            await kill(killed)
            if (statementAfter) await tx.document.create({ data: { id: `d3_${v}`, title: 't', body: 'never' } })
          }
        }),
      )
    const error = await run(true).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(killed).toBeGreaterThan(0)
    // A driver or Prisma error (the connection is gone), never a rowcrypt error.
    expect(error).toBeInstanceOf(Error)
    expect((error as { code?: string }).code ?? '').not.toMatch(/^ERR_ROWCRYPT/)
    expect(await snapshot(db)).toBe(raw)
    // The client recovers. With @prisma/adapter-pg a connection whose COMMIT failed goes back to the
    // pool and the next query that gets it fails once with P1017; plain Prisma 7 does the same.
    const probes: string[] = []
    for (let i = 0; i < 5; i++)
      probes.push(
        await prisma.team.count().then(
          () => 'ok',
          (e: { code?: string; message?: string }) => e.code ?? `error: ${e.message?.split('\n').at(-1)}`,
        ),
      )
    expect(probes.filter((p) => p !== 'ok').length).toBeLessThanOrEqual(1)
    expect(probes.filter((p) => p !== 'ok' && p !== 'P1017')).toEqual([])
    expect(probes.slice(-2)).toEqual(['ok', 'ok'])
    expect(await state(prisma, tenant)).toEqual(before)
    expect((await verifyRows({ prisma, tenantId: tenant })).failed).toBe(0)
    // The same client, the same transaction again: it commits, all of it.
    await run(false)
    expect(await state(prisma, tenant)).toEqual(expectedAfter(before, v, target))
    expect((await verifyRows({ prisma, tenantId: tenant })).failed).toBe(0)
  })

  it('killed in the middle of a rotation batch (AWS KMS direct mode): the run fails, the batch rolls back, no row is half-rotated; a re-run completes and every row decrypts on the new version', async () => {
    scenarios++
    const tenant = `rot_conn_${kind}_${uid()}`
    const seeder = extend(db, awsProvider(kms, { mode: 'direct' }))
    await withTenant(tenant, () => seeder.document.createMany({ data: Array.from({ length: 20 }, (_, i) => ({ id: `${tenant}_${String(i).padStart(2, '0')}`, title: `t${i}`, body: `body ${i}` })) }))
    const docsOf = async () => new Map([...(await rowsById(db, 'Document'))].filter(([, r]) => r.orgId === tenant))
    const before = await docsOf()
    const decrypted = await state(seeder, tenant)
    const rotator = extend(db, awsProvider(kms, { mode: 'direct', activeVersion: 'v2' }))
    // Each ReEncrypt takes 100 ms: a batch of 5 rows holds its transaction open about half a second.
    kms.latencyMs = 100
    let batches = 0
    const run = rotateKeys({ prisma: rotator, model: 'Document', tenantId: tenant, batchSize: 5, concurrency: 1, onProgress: (p) => void (batches += p.done ? 0 : 1) }).then(
      (n) => ({ n }),
      (e: unknown) => ({ e }),
    )
    // Once the first batch has committed, the second holds its claim open while KMS answers.
    let settled = false
    void run.then(() => (settled = true))
    while (batches < 1 && !settled) await new Promise((r) => setTimeout(r, 5))
    await new Promise((r) => setTimeout(r, 150))
    let victims: number[]
    if (kind === 'postgres') {
      // The backend whose open transaction claimed the batch (FOR UPDATE SKIP LOCKED).
      victims = (
        await db.raw<{ id: number }>(`SELECT pid AS id FROM pg_stat_activity WHERE state = 'idle in transaction' AND query LIKE '%SKIP LOCKED%' AND query LIKE $1`, [`%${db.table('Document')}%`])
      ).map((r) => r.id)
      expect(victims).toHaveLength(1)
    } else {
      // MariaDB does not list that transaction in information_schema.INNODB_TRX reliably: drop every
      // connection of the application's pool, as a failover would (the test's own session stays).
      const me = Number((await db.raw<{ id: unknown }>('SELECT CONNECTION_ID() AS id'))[0]!.id)
      victims = (await db.raw<{ id: unknown }>('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> $1', [me])).map((r) => Number(r.id))
      expect(victims.length).toBeGreaterThan(0)
    }
    expect(settled).toBe(false)
    for (const id of victims) await kill(id)
    const outcome = await run
    kms.latencyMs = 0
    expect(outcome).toMatchObject({ e: expect.any(Error) })
    const moved = movedRows(before, await docsOf())
    // Whole batches only: the killed one rolled back.
    expect(moved % 5).toBe(0)
    expect(moved).toBeGreaterThanOrEqual(5)
    expect(moved).toBeLessThan(20)
    expect((await verifyRows({ prisma: rotator, tenantId: tenant })).failed).toBe(0)
    // The same client runs again and finishes.
    expect(await rotateKeys({ prisma: rotator, model: 'Document', tenantId: tenant, batchSize: 5 })).toBe(20 - moved)
    expect([...(await docsOf()).values()].map((r) => r.keyVersion)).toEqual(Array(20).fill('v2'))
    expect(await verifyRows({ prisma: rotator, tenantId: tenant })).toMatchObject({ checked: 20, failed: 0 })
    expect(await state(rotator, tenant)).toEqual(decrypted)
  })
})

/**
 * How many rows a partial rotation moved to v2. A moved row differs from before only in its
 * wrapped key (a new one) and key version; every other row is exactly as before.
 */
function movedRows<K>(before: ReadonlyMap<K, Record<string, unknown>>, after: ReadonlyMap<K, Record<string, unknown>>): number {
  let moved = 0
  for (const [id, row] of after) {
    const old = before.get(id)!
    if (row.keyVersion === 'v2') {
      moved++
      expect({ ...row, wrappedDek: null, keyVersion: null }).toEqual({ ...old, wrappedDek: null, keyVersion: null })
      expect(row.wrappedDek).not.toEqual(old.wrappedDek)
    } else expect(row).toEqual(old)
  }
  return moved
}
