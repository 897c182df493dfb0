// Secrets hygiene. Integration scenarios (CRUD, nested writes, transactions, failed writes of every
// kind, rotation, verify, the rotate / status / verify / tenant shred commands) run with sentinel
// plaintexts: unique random strings in string fields, inside JSON values and as bytes. None of them,
// and none of the key material in play (the local master keys, every data key the key provider
// handed out, the local KMS server's key material) may appear, as is or hex / base64 encoded, in:
// any thrown error (message, stack, inspect(), own properties, Prisma `meta`, every `cause` and
// AggregateError member), audit events, Prometheus metric text (tenant label on), anything written
// to stdout / stderr / console during the run (with DEBUG=* for dependencies that log through
// `debug`; rowcrypt itself has no debug channel, checked below), Prisma's query log (`query` and
// `params` of every event, each scanned on its own: params carry ciphertexts, wrapped keys, key
// versions, tenant ids and blind-index values, checked too, never plaintext or an unwrapped key; the
// tenant intermediate key and the blind-index keys in play are secrets as well), key-provider and
// progress events, and the commands' --json output.
import { DecryptCommand } from '@aws-sdk/client-kms'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { inspect } from 'node:util'
import * as promClient from 'prom-client'
import { auditTrail, LocalKeyProvider, PrismaTenantKeyStore, rotateKeys, rotationStatus, rowcrypt, rowcryptMetrics, verifyRows, withTenant, type KeyProvider, type RowcryptObserver } from '../../src'
import { KmsDevServer } from '../../src/kms-dev-server'
import { rotateCommand, statusCommand, verifyCommand, type JobIO } from '../../src/cli/rotate'
import { deriveFieldIndexKey } from '../../src/crypto/blind-index'
import { tenantCommand } from '../../src/cli/tenant'
import { openDatabase, type TestDatabase } from '../support/db'
import { awsProvider, kmsClient } from '../support/kms'
import { extendSearchable } from '../support/searchable'
import { noDisconnect, TEST_KEYS } from '../support/setup'
import { captureOutput, errorTexts, KeyRecordingProvider, SecretSet } from '../support/secrets'

/** A recording provider that also derives blind-index root keys, recording each as a secret. */
class IndexingRecorder extends KeyRecordingProvider {
  readonly indexRoots: Uint8Array[] = []
  constructor(private readonly local: LocalKeyProvider) {
    super(local)
  }
  async indexKey(tenantId: string, keyVersion: string): Promise<Uint8Array> {
    const root = await this.local.indexKey(tenantId, keyVersion)
    this.indexRoots.push(new Uint8Array(root))
    return root
  }
}

const MODELS = {
  User: { fields: ['email', 'ssn', 'notes', { name: 'prefs', type: 'json' }, { name: 'avatar', type: 'bytes' }] },
  Post: { fields: ['title', 'body'] },
  Document: { fields: ['body'], columns: { tenantId: 'orgId' } },
} as const

describe('rowcrypt library code has no output channel of its own', () => {
  it('src/ outside src/cli/ never touches console, process.stdout / stderr or a debug logger', () => {
    const root = join(__dirname, '..', '..', 'src')
    const files: string[] = []
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name)
        if (statSync(p).isDirectory()) {
          if (p !== join(root, 'cli')) walk(p)
        } else if (p.endsWith('.ts')) files.push(p)
      }
    }
    walk(root)
    expect(files.length).toBeGreaterThan(20)
    const offending = files.flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .map((line, i) => ({ where: `${f.slice(root.length + 1)}:${i + 1}`, line }))
        .filter(({ line }) => /\bconsole\s*\.|process\.(stdout|stderr)|require\(['"]debug['"]\)|from ['"]debug['"]/.test(line)),
    )
    expect(offending).toEqual([])
  })
})

describe.each(['postgres', 'mysql', 'sqlite'] as const)('secrets hygiene on %s', (kind) => {
  let db: TestDatabase
  let kms: KmsDevServer
  const secrets = new SecretSet()
  const errors: Array<{ where: string; error: unknown }> = []
  const audit: string[] = []
  const events: string[] = []
  const queryLog: Array<{ query: string; params: string }> = []
  // What the query log must show in `params` (checked in the second test): stored values read back.
  const carried = { wrappedKeys: [] as Buffer[], indexValues: [] as string[] }
  const cliOutput: string[] = []
  let output: ReturnType<typeof captureOutput> | undefined
  let registry: promClient.Registry
  let observers: RowcryptObserver[]
  let local: KeyRecordingProvider
  let kmsFile = ''
  let summary = ''
  const saved = { env: process.env.DEBUG, global: (globalThis as { DEBUG?: string }).DEBUG }

  beforeAll(async () => {
    db = await openDatabase(kind, 'hygiene')
    ;(db.prisma as unknown as { $on(event: 'query', cb: (e: { query: string; params: string }) => void): void }).$on('query', (e) => queryLog.push({ query: e.query, params: e.params }))
    kmsFile = join(mkdtempSync(join(tmpdir(), 'rowcrypt-hygiene-')), 'kms.json')
    kms = await KmsDevServer.start({ port: 0, file: kmsFile })
    kms.createKey({ alias: 'alias/test-v1' })
    kms.createKey({ alias: 'alias/test-v2' })
    const stored = JSON.parse(readFileSync(kmsFile, 'utf8')) as { keys: Array<{ material: string }> }
    expect(stored.keys).toHaveLength(2)
    for (const k of stored.keys) secrets.addKey('local KMS server key material', Buffer.from(k.material, 'base64'))
    for (const [v, key] of Object.entries(TEST_KEYS)) secrets.addKey(`local master key ${v}`, /^[0-9a-f]{64}$/.test(key) ? Buffer.from(key, 'hex') : Buffer.from(key, 'base64'))
    registry = new promClient.Registry()
    const metrics = rowcryptMetrics({ client: promClient, registry, tenantLabel: { enabled: true, maxTenants: 100 } })
    observers = [metrics, auditTrail((e) => void audit.push(JSON.stringify(e))), { operation: (e) => void events.push(JSON.stringify(e)), keyProvider: (e) => void events.push(JSON.stringify(e)) }]
    local = new KeyRecordingProvider(new LocalKeyProvider({ keys: TEST_KEYS, activeVersion: 'v1' }))
    // Dependencies that log through `debug` / @prisma/debug log everything from here on.
    process.env.DEBUG = '*'
    ;(globalThis as { DEBUG?: string }).DEBUG = '*'
    output = captureOutput()
  })
  afterAll(async () => {
    output?.restore()
    process.env.DEBUG = saved.env
    ;(globalThis as { DEBUG?: string }).DEBUG = saved.global
    if (saved.env === undefined) delete process.env.DEBUG
    await kms?.stop()
    await db?.close()
    rmSync(dirname(kmsFile), { recursive: true, force: true })
    if (summary !== '') process.stdout.write(summary)
  })

  const client = (keyProvider: KeyProvider = local) => db.prisma.$extends(rowcrypt({ schema: db.manifest, keyProvider, models: MODELS, observers }))
  type Client = ReturnType<typeof client>
  /** Runs `fn`, which must throw; keeps the error for the scan and returns its code. */
  async function failing(where: string, fn: () => Promise<unknown>): Promise<string | undefined> {
    try {
      await fn()
    } catch (error) {
      errors.push({ where, error })
      return (error as { code?: string }).code
    }
    throw new Error(`${where}: expected an error`)
  }
  const io = (config: Record<string, unknown>): JobIO => ({
    out: (s) => void cliOutput.push(s),
    err: (s) => void cliOutput.push(s),
    cwd: __dirname,
    interactive: false,
    prompt: async () => '',
    tty: false,
    importModule: async () => ({ default: { ...config, prisma: noDisconnect(config.prisma) } }),
  })

  it('runs the scenarios with sentinel plaintexts', async () => {
    const prisma: Client = client()
    const t = `hyg_${kind}`
    const s = (label: string) => secrets.sentinel(label)

    // CRUD, with sentinels in string, JSON (nested) and bytes fields.
    const user = await withTenant(t, () =>
      prisma.user.create({
        data: { name: 'alice', email: s('email'), ssn: s('ssn'), notes: s('notes'), prefs: { deep: { list: [s('jsonA'), { k: s('jsonB') }] } }, avatar: Buffer.from(s('bytes')) },
      }),
    )
    // The scanner finds what it must: the sentinels in a decrypted result, and a master key's hex.
    expect(secrets.leaks('self-check', inspect(user, { depth: 5 })).length).toBeGreaterThanOrEqual(5)
    expect(secrets.leaks('self-check', Buffer.from(TEST_KEYS.v1, 'base64').toString('hex'))).toEqual(['local master key v1 in self-check'])
    await withTenant(t, () =>
      prisma.user.createMany({
        data: [
          { name: 'bob', email: s('many1') },
          { name: 'carol', email: s('many2'), prefs: [s('jsonC')] },
        ],
      }),
    )
    await withTenant(t, () => prisma.user.findMany({ include: { posts: true } }))
    await withTenant(t, () => prisma.user.findUnique({ where: { id: user.id } }))
    await withTenant(t, () => prisma.user.update({ where: { id: user.id }, data: { email: s('updated'), prefs: { again: s('jsonD') } } }))
    await withTenant(t, () => prisma.user.upsert({ where: { id: user.id }, create: { name: 'x', email: s('upsertC') }, update: { notes: s('upsertU') } }))

    // Nested writes.
    const author = await withTenant(t, () =>
      prisma.user.create({ data: { name: 'dave', email: s('nestedUser'), posts: { create: [{ title: s('title1'), body: s('body1') }, { title: s('title2') }] } }, include: { posts: true } }),
    )
    await withTenant(t, () =>
      prisma.user.update({ where: { id: author.id }, data: { posts: { update: { where: { id: author.posts[0]!.id }, data: { body: s('nestedUpd') } }, create: { title: s('title3') } } } }),
    )

    // Transactions, interactive and batch, one committed and one rolled back.
    await withTenant(t, () =>
      prisma.$transaction(async (tx) => {
        const d = await tx.document.create({ data: { id: `${t}_doc1`, title: 'doc', body: s('txDoc') } })
        await tx.document.update({ where: { id: d.id }, data: { body: s('txDoc2') } })
      }),
    )
    await withTenant(t, () =>
      prisma.$transaction([prisma.document.create({ data: { id: `${t}_doc2`, title: 'doc', body: s('batchDoc') } }), prisma.user.create({ data: { name: 'eve', email: s('batchUser') } })]),
    )
    expect(
      await failing('interactive transaction rolled back by an invalid value', () =>
        withTenant(t, () =>
          prisma.$transaction(async (tx) => {
            await tx.document.create({ data: { id: `${t}_doc3`, title: 'doc', body: s('rolledBack') } })
            await tx.user.create({ data: { name: 'f', email: s('beforeBad'), avatar: s('notBytes') as never } })
          }),
        ),
      ),
    ).toBe('ERR_ROWCRYPT_INVALID_VALUE')

    // Failed writes and reads.
    expect(await failing('invalid value type', () => withTenant(t, () => prisma.user.create({ data: { name: 'g', email: 42 as never, ssn: s('besideInvalid') } })))).toBe('ERR_ROWCRYPT_INVALID_VALUE')
    expect(await failing('bytes field given a string', () => withTenant(t, () => prisma.user.create({ data: { name: 'g', email: s('e'), avatar: s('stringAsBytes') as never } })))).toBe(
      'ERR_ROWCRYPT_INVALID_VALUE',
    )
    expect(await failing('filter on an encrypted field', () => withTenant(t, () => prisma.user.findMany({ where: { email: s('filterValue') } })))).toBe('ERR_ROWCRYPT_UNSUPPORTED_QUERY')
    expect(await failing('updateMany of an encrypted field', () => withTenant(t, () => prisma.user.updateMany({ data: { ssn: s('bulkValue') } })))).toBe('ERR_ROWCRYPT_UNSUPPORTED_QUERY')
    expect(await failing('tenant mismatch in data', () => withTenant(t, () => prisma.document.create({ data: { id: `${t}_x`, title: 'x', body: s('mismatch'), orgId: 'other_tenant' } })))).toBe(
      'ERR_ROWCRYPT_TENANT_MISMATCH',
    )
    expect(await failing('no tenant', () => prisma.user.create({ data: { name: 'h', email: s('noTenant') } }))).toBe('ERR_ROWCRYPT_TENANT_MISSING')
    expect(await withTenant('hyg_other', () => prisma.user.findUnique({ where: { id: user.id } }))).toBeNull()
    expect(await failing("update of another tenant's row", () => withTenant('hyg_other', () => prisma.user.update({ where: { id: user.id }, data: { email: s('crossTenant') } })))).toBe('P2025')
    expect(await failing('Prisma unique violation', () => withTenant(t, () => prisma.document.create({ data: { id: `${t}_doc1`, title: 'dup', body: s('duplicate') } })))).toBe('P2002')
    expect(await failing('Prisma validation error', () => withTenant(t, () => prisma.user.create({ data: { name: 12345, email: s('validation') } as never })))).toBeUndefined()

    // Tampered rows: a flipped ciphertext, a value moved between rows, a row moved to another tenant.
    const rows = await db.raw<{ id: number; email: string }>(`SELECT "id", "email" FROM ${db.table('User')} WHERE "tenantId" = $1 ORDER BY "id"`, [t])
    const flip = (c: string) => c.slice(0, -3) + (c.at(-3) === 'A' ? 'B' : 'A') + c.slice(-2)
    await db.raw(`UPDATE ${db.table('User')} SET "email" = $1 WHERE "id" = $2`, [flip(rows[0]!.email), rows[0]!.id])
    await db.raw(`UPDATE ${db.table('User')} SET "email" = $1 WHERE "id" = $2`, [rows[1]!.email, rows[2]!.id])
    await db.raw(`UPDATE ${db.table('Document')} SET "orgId" = $1 WHERE "id" = $2`, ['hyg_thief', `${t}_doc2`])
    expect(await failing('tampered ciphertext', () => withTenant(t, () => prisma.user.findUnique({ where: { id: rows[0]!.id } })))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    expect(await failing('ciphertext moved between rows', () => withTenant(t, () => prisma.user.findMany()))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    expect(await failing('row moved to another tenant', () => withTenant('hyg_thief', () => prisma.document.findMany()))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    expect(
      await failing('wrong master key', () =>
        withTenant(t, () => client(new LocalKeyProvider({ keys: { v1: Buffer.alloc(32, 9) }, activeVersion: 'v1' })).user.findFirst({ where: { id: rows[3]!.id } })),
      ),
    ).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')

    // AWS KMS provider (direct and hierarchical): KMS down, throttled, access denied; the local KMS
    // server's key material is a secret too.
    const store = new PrismaTenantKeyStore({ prisma: db.prisma, schema: db.manifest })
    for (const mode of ['direct', 'hierarchical'] as const) {
      const aws = new KeyRecordingProvider(awsProvider(kms, { mode, tenantKeyStore: store, maxAttempts: 2, observers }))
      const p = client(aws)
      const tk = `hyg_kms_${kind}_${mode}`
      await withTenant(tk, () => p.user.create({ data: { name: 'k', email: s(`kms${mode}`), posts: { create: { title: s(`kmsPost${mode}`) } } } }))
      kms.inject({ error: 'ServiceUnavailableException', status: 503, times: Infinity })
      expect(await failing(`KMS down (${mode})`, () => withTenant(`${tk}_new`, () => p.user.create({ data: { name: 'k', email: s(`kmsDown${mode}`) } })))).toBe('ERR_ROWCRYPT_KMS_UNAVAILABLE')
      kms.clearFaults()
      kms.inject({ error: 'AccessDeniedException', times: Infinity })
      expect(await failing(`KMS access denied (${mode})`, () => withTenant(tk, () => client(awsProvider(kms, { mode, tenantKeyStore: store })).user.findMany()))).toBe('ERR_ROWCRYPT_KMS_ACCESS_DENIED')
      kms.clearFaults()
      await withTenant(tk, () => client(aws).user.findMany())
      for (const k of aws.keys) secrets.addKey(`data key (${mode})`, k)
    }

    // The hierarchical tenant's intermediate key, unwrapped here from its stored record: a secret too.
    {
      const tenantId = `hyg_kms_${kind}_hierarchical`
      const record = await store.get(tenantId, 'v1')
      const c = kmsClient(kms)
      try {
        const opened = await c.send(new DecryptCommand({ CiphertextBlob: record!.wrappedKey!, EncryptionContext: { purpose: 'tenant-key', tenantId, keyVersion: 'v1' } }))
        secrets.addKey('tenant intermediate key (hierarchical)', opened.Plaintext!)
      } finally {
        c.destroy()
      }
    }

    // Blind indexes: a searchable write and searches by searchable fields (the index values travel
    // as query parameters; the searched plaintexts must not).
    const indexing = new IndexingRecorder(new LocalKeyProvider({ keys: TEST_KEYS, activeVersion: 'v1' }))
    const searchable = extendSearchable(db, indexing)
    const indexedEmail = s('indexedEmail')
    await withTenant(t, () => searchable.customer.create({ data: { email: indexedEmail, ssn: s('indexedSsn') } }))
    expect((await withTenant(t, () => searchable.customer.findMany({ where: { email: indexedEmail } }))).map((c) => c.email)).toEqual([indexedEmail])
    expect(await withTenant(t, () => searchable.customer.findMany({ where: { email: s('searchedEmail') } }))).toEqual([])
    for (const k of indexing.keys) secrets.addKey('data key (searchable)', k)
    for (const root of indexing.indexRoots) {
      secrets.addKey('blind-index root key', root)
      for (const [model, field] of [
        ['Customer', 'email'],
        ['Customer', 'phone'],
        ['Customer', 'ssn'],
        ['Invoice', 'reference'],
      ] as const) {
        secrets.addKey('blind-index field key', deriveFieldIndexKey(root, { purpose: 'blind-index-field', model, field }))
      }
    }
    const indexed = await db.raw<{ emailIndex: string; ssnIdx: string }>(`SELECT "emailIndex", "ssnIdx" FROM ${db.table('Customer')} WHERE "tenantId" = $1`, [t])
    expect(indexed).toHaveLength(1)
    carried.indexValues.push(indexed[0]!.emailIndex, indexed[0]!.ssnIdx)

    // Crypto-shredding through the command, then a read of the shredded tenant.
    const shredder = awsProvider(kms, { tenantKeyStore: store })
    const shredClient = client(shredder)
    await withTenant('hyg_shred', () => shredClient.user.create({ data: { name: 's', email: s('shredded') } }))
    expect(await tenantCommand(['shred', '--tenant', 'hyg_shred', '--yes', '--kms-keys', 'keep', '--config', __filename], io({ prisma: db.prisma, keyProvider: shredder }))).toBe(0)
    expect(await failing('shredded tenant', () => withTenant('hyg_shred', () => shredClient.user.findMany()))).toBe('ERR_ROWCRYPT_TENANT_SHREDDED')

    // Rotation, verify and status, in code and through the commands (--json).
    const progress: string[] = []
    const rotator = client(new KeyRecordingProvider(new LocalKeyProvider({ keys: TEST_KEYS, activeVersion: 'v2' })))
    const rotation = await rotateKeys({ prisma: rotator, tenantId: t, model: 'User', rekey: true, batchSize: 3, onProgress: (p) => void progress.push(JSON.stringify(p)) }).then(
      (n) => n,
      (e: unknown) => (errors.push({ where: 'rotateKeys with tampered rows', error: e }), (e as { code?: string }).code),
    )
    expect(rotation).toBe('ERR_ROWCRYPT_ROTATION_INCOMPLETE')
    progress.push(JSON.stringify(await verifyRows({ prisma: rotator, onProgress: (p) => void progress.push(JSON.stringify(p)) })))
    progress.push(JSON.stringify(await rotationStatus({ prisma: rotator, byTenant: true })))
    cliOutput.push(...progress)
    const config = { prisma: db.prisma, schema: db.manifest, models: MODELS, keyProvider: new LocalKeyProvider({ keys: TEST_KEYS, activeVersion: 'v2' }) }
    expect(await rotateCommand(['--json', '--rekey', '--config', __filename], io(config))).toBe(1)
    expect(await statusCommand(['--json', '--by-tenant', '--config', __filename], io(config))).toBe(0)
    expect(await verifyCommand(['--json', '--config', __filename], io(config))).toBe(1)
    expect(await verifyCommand(['--json', '--sample', '3', '--model', 'Post', '--tenant', t, '--config', __filename], io(config))).toBe(0)
    // Unwrapped during the run: the keys every key provider of the scenario handed out.
    for (const k of local.keys) secrets.addKey('data key (local)', k)
    const wrapped = await db.raw<{ wrappedDek: Uint8Array | null }>(`SELECT "wrappedDek" FROM ${db.table('User')} WHERE "tenantId" = $1`, [t])
    carried.wrappedKeys.push(...wrapped.flatMap((r) => (r.wrappedDek === null ? [] : [Buffer.from(r.wrappedDek)])))
  })

  it('no sentinel plaintext and no key material appears in errors, audit events, metrics, output, the query log or command output', async () => {
    const metricsText = await registry.metrics()
    const captured = output!.text()
    const leaks = [
      ...errors.flatMap(({ where, error }) => errorTexts(error).flatMap((text) => secrets.leaks(`error (${where})`, text))),
      ...audit.flatMap((e) => secrets.leaks('audit event', e)),
      ...events.flatMap((e) => secrets.leaks('observer event', e)),
      ...secrets.leaks('Prometheus metrics', metricsText),
      ...secrets.leaks('stdout/stderr/console', captured),
      ...queryLog.flatMap((q) => [...secrets.leaks('Prisma query log (query)', q.query), ...secrets.leaks('Prisma query log (params)', q.params)]),
      ...cliOutput.flatMap((o) => secrets.leaks('command output', o)),
    ]
    expect(leaks).toEqual([])
    // What was scanned is the real thing, not empty haystacks.
    expect(errors.length).toBeGreaterThanOrEqual(20)
    expect(audit.length).toBeGreaterThan(20)
    expect(metricsText).toMatch(/row_encryption_operations_total\{[^}]*tenant="hyg_/)
    // What the query log does carry, in `params` (SECURITY.md, "Prisma's query log"): ciphertexts,
    // wrapped data keys (bytes as base64), key versions, tenant ids and blind-index values.
    const params = queryLog.map((q) => q.params).join('\n')
    expect(params).toMatch(/rc1\.A256GCM\./)
    expect(carried.wrappedKeys.length).toBeGreaterThan(0)
    expect(carried.wrappedKeys.some((w) => params.includes(w.toString('base64').replace(/=+$/, '')))).toBe(true)
    expect(params).toContain('"v1"')
    expect(params).toContain(`"hyg_${kind}"`)
    expect(carried.indexValues.length).toBe(2)
    for (const v of carried.indexValues) expect(params).toContain(v)
    expect(cliOutput.join('')).toContain('"event":"done"')
    expect(captured).toMatch(/prisma:/) // DEBUG=* was in effect: Prisma's own debug lines were captured
    expect(secrets.size).toBeGreaterThan(150)
    summary = `secrets-hygiene (${kind}): ${secrets.size} secret strings × ${secrets.scanned} haystacks = ${secrets.checks} sentinel checks\n`
  })
})
