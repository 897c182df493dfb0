// The Express example over real HTTP: tenants from verified JWTs (or a gateway header), CRUD on
// encrypted users, another tenant's record answered with 404, /metrics with exact counters, and
// the audit trail written as JSON lines: one line per operation, no plaintext anywhere.
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import * as promClient from 'prom-client'
import { auditTrail, rowcryptMetrics, type AuditEvent } from '../../src'
import { createApp } from '../../examples/express-app/app'
import { jsonLines } from '../../examples/express-app/audit-log'
import { requestContext, signHs256, type TenantAuth } from '../../examples/express-app/auth'
import { createClient } from '../../examples/express-app/client'
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { line, series } from '../support/prom-text'
import { testKeyProvider } from '../support/setup'

const SECRET = 'express-example-test-secret-0123456789abcdef'
const now = () => Math.floor(Date.now() / 1000)
const token = (claims: Record<string, unknown>, secret = SECRET) => signHs256({ exp: now() + 300, ...claims }, secret)
const ACME = token({ sub: 'user_ada', tenant: 'acme' })
const GLOBEX = token({ sub: 'user_gus', tenant: 'globex' })

const PLAINTEXTS = ['pt-ada@acme.test', 'pt-ada-new@acme.test', 'pt-123-45-6789', 'pt-bob@acme.test', 'pt-cy@globex.test', 'pt-cy-private-note', 'pt-evil@globex.test']

interface Harness {
  db: TestDatabase
  server: Server
  registry: promClient.Registry
  lines: string[]
  close(): Promise<void>
  request(
    method: string,
    path: string,
    options?: { auth?: string; headers?: Record<string, string>; body?: unknown; rawBody?: string },
  ): Promise<{ status: number; body: unknown; text: string; headers: Headers }>
}

async function start(kind: (typeof DATABASES)[number], auth: TenantAuth): Promise<Harness> {
  const db = await openDatabase(kind, 'express')
  const registry = new promClient.Registry()
  const metrics = rowcryptMetrics({ client: promClient, registry, tenantLabel: { enabled: true } })
  // The audit trail as JSON lines, into a stream that keeps what it was given.
  const lines: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== ''),
      )
      done()
    },
  })
  const audit = auditTrail(jsonLines(sink), { context: () => requestContext.getStore() })
  const prisma = createClient({ base: db.prisma, manifest: db.manifest, keyProvider: testKeyProvider(), observers: [metrics, audit], rls: kind === 'postgres-rls' })
  const app = createApp({ prisma, auth, registry, metrics })
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    db,
    server,
    registry,
    lines,
    async request(method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers }
      if (options.auth !== undefined) headers.authorization = `Bearer ${options.auth}`
      let body: string | undefined = options.rawBody
      if (options.body !== undefined) {
        headers['content-type'] = 'application/json'
        body = JSON.stringify(options.body)
      } else if (body !== undefined) headers['content-type'] = 'application/json'
      const res = await fetch(base + path, { method, headers, body })
      const text = await res.text()
      let parsed: unknown = undefined
      try {
        parsed = text === '' ? undefined : JSON.parse(text)
      } catch {
        parsed = undefined
      }
      return { status: res.status, body: parsed, text, headers: res.headers }
    },
    async close() {
      await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())))
      await db.close()
    },
  }
}

const flush = () => new Promise((r) => setImmediate(r))

describe.each(DATABASES)('express example with JWT tenants on %s', (kind) => {
  let h: Harness
  beforeAll(async () => {
    h = await start(kind, { jwt: { secret: SECRET } })
  })
  afterAll(() => h.close())

  it('serves CRUD per tenant, answers another tenant with 404, and accounts for every operation', async () => {
    const responses: string[] = []
    const call = async (...args: Parameters<Harness['request']>) => {
      const r = await h.request(...args)
      responses.push(r.text)
      return r
    }

    // 1-3: two users for acme, one for globex.
    const ada = await call('POST', '/users', { auth: ACME, body: { name: 'Ada', email: 'pt-ada@acme.test', ssn: 'pt-123-45-6789' } })
    expect(ada.status).toBe(201)
    const adaId = (ada.body as { id: number }).id
    expect(ada.body).toEqual({ id: adaId, name: 'Ada', email: 'pt-ada@acme.test', ssn: 'pt-123-45-6789', notes: null })
    const bob = await call('POST', '/users', { auth: ACME, body: { name: 'Bob', email: 'pt-bob@acme.test', tenantId: 'globex' } })
    expect(bob.status).toBe(201)
    const bobId = (bob.body as { id: number }).id
    const cy = await call('POST', '/users', { auth: GLOBEX, body: { name: 'Cy', email: 'pt-cy@globex.test', notes: 'pt-cy-private-note' } })
    expect(cy.status).toBe(201)
    const cyId = (cy.body as { id: number }).id

    // Stored encrypted, under the tenant of the token (a tenantId in the body is ignored).
    const stored = await h.db.raw<{ email: string; tenantId: string }>('SELECT "email", "tenantId" FROM "User" ORDER BY "id"')
    expect(stored.map((r) => r.tenantId)).toEqual(['acme', 'acme', 'globex'])
    for (const r of stored) expect(r.email.startsWith('rc1.')).toBe(true)

    // 4-5: acme reads its own users.
    const list = await call('GET', '/users', { auth: ACME })
    expect(list.status).toBe(200)
    expect((list.body as Array<{ email: string }>).map((u) => u.email)).toEqual(['pt-ada@acme.test', 'pt-bob@acme.test'])
    expect((await call('GET', `/users/${adaId}`, { auth: ACME })).body).toMatchObject({ id: adaId, email: 'pt-ada@acme.test' })

    // 6-8: globex asks for, changes and deletes acme's record: 404 every time.
    const peek = await call('GET', `/users/${adaId}`, { auth: GLOBEX })
    expect(peek.status).toBe(404)
    expect(peek.body).toEqual({ error: { code: 'ERR_NOT_FOUND' } })
    const change = await call('PATCH', `/users/${adaId}`, { auth: GLOBEX, body: { email: 'pt-evil@globex.test' } })
    expect(change.status).toBe(404)
    expect(change.body).toEqual({ error: { code: 'P2025' } })
    const remove = await call('DELETE', `/users/${adaId}`, { auth: GLOBEX })
    expect(remove.status).toBe(404)
    expect(remove.body).toEqual({ error: { code: 'P2025' } })

    // 9-11: acme updates and deletes its own; globex lists only its own.
    const updated = await call('PATCH', `/users/${adaId}`, { auth: ACME, body: { email: 'pt-ada-new@acme.test' } })
    expect(updated.status).toBe(200)
    expect(updated.body).toMatchObject({ id: adaId, email: 'pt-ada-new@acme.test', ssn: 'pt-123-45-6789' })
    expect((await call('DELETE', `/users/${bobId}`, { auth: ACME })).status).toBe(204)
    const globexList = await call('GET', '/users', { auth: GLOBEX })
    expect(globexList.body).toEqual([{ id: cyId, name: 'Cy', email: 'pt-cy@globex.test', ssn: null, notes: 'pt-cy-private-note' }])

    // Metrics, served over HTTP without a tenant.
    const metricsRes = await h.request('GET', '/metrics')
    expect(metricsRes.status).toBe(200)
    expect(metricsRes.headers.get('content-type')).toMatch(/^text\/plain/)
    const ops = 'row_encryption_operations_total'
    const op = (operation: string, status: string, tenant: string, n: number) => line(ops, { operation, model: 'User', status, tenant }, n)
    expect(series(metricsRes.text, ops)).toEqual(
      [
        op('create', 'ok', 'acme', 2),
        op('create', 'ok', 'globex', 1),
        op('findMany', 'ok', 'acme', 1),
        op('findMany', 'ok', 'globex', 1),
        op('findUnique', 'ok', 'acme', 1),
        op('findUnique', 'ok', 'globex', 1),
        op('update', 'failed', 'globex', 1),
        op('delete', 'failed', 'globex', 1),
        op('update', 'ok', 'acme', 1),
        op('delete', 'ok', 'acme', 1),
      ].sort(),
    )
    // The deletes select only the id: nothing to decrypt.
    const rows = 'row_encryption_rows_processed_total'
    expect(series(metricsRes.text, rows)).toEqual(
      [
        line(rows, { operation: 'create', model: 'User' }, 3),
        line(rows, { operation: 'findMany', model: 'User' }, 3),
        line(rows, { operation: 'findUnique', model: 'User' }, 1),
        line(rows, { operation: 'update', model: 'User' }, 1),
      ].sort(),
    )

    // The audit trail: one JSON line per operation, in order, with outcome, rows and actor.
    await flush()
    const events = h.lines.map((l) => JSON.parse(l) as AuditEvent)
    expect(events.map((e) => [e.operation, e.tenantId, e.outcome, e.errorCode, e.actor])).toEqual([
      ['create', 'acme', 'ok', null, 'user_ada'],
      ['create', 'acme', 'ok', null, 'user_ada'],
      ['create', 'globex', 'ok', null, 'user_gus'],
      ['findMany', 'acme', 'ok', null, 'user_ada'],
      ['findUnique', 'acme', 'ok', null, 'user_ada'],
      ['findUnique', 'globex', 'ok', null, 'user_gus'],
      ['update', 'globex', 'failed', 'P2025', 'user_gus'],
      ['delete', 'globex', 'failed', 'P2025', 'user_gus'],
      ['update', 'acme', 'ok', null, 'user_ada'],
      ['delete', 'acme', 'ok', null, 'user_ada'],
      ['findMany', 'globex', 'ok', null, 'user_gus'],
    ])
    // Globex's look at acme's row is on record: the id it asked for, and that it got nothing.
    expect(events[5]).toMatchObject({ targetId: String(adaId), rowCount: 0, rowIds: [] })
    expect(events[6]).toMatchObject({ targetId: String(adaId), rowCount: null })
    for (const e of events) expect(e.requestId).toMatch(/^[0-9a-f-]{36}$/)

    // No plaintext in the metrics, the audit trail or the error responses.
    const errorResponses = responses.filter((r) => r.includes('"error"'))
    expect(errorResponses).toHaveLength(3)
    const produced = [metricsRes.text, ...h.lines, ...errorResponses].join('\n')
    for (const value of PLAINTEXTS) expect(produced).not.toContain(value)
  })

  it('serves the caller tenant its own operation stats', async () => {
    const res = await h.request('GET', '/stats', { auth: GLOBEX })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ total: 5, succeeded: 3, failed: 2, successRate: 0.6 })
  })

  it('refuses requests without a valid token before any query', async () => {
    const sent = h.db.queries.length
    const audited = h.lines.length
    const [h64, p64] = ACME.split('.') as [string, string]
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p64}.${Buffer.from('x').toString('base64url')}`
    const cases: Array<[string, Record<string, string>]> = [
      ['no credentials', {}],
      ['not a bearer token', { authorization: 'Basic YTpi' }],
      ['wrong secret', { authorization: `Bearer ${token({ sub: 'x', tenant: 'acme' }, 'another-secret-0123456789abcdef0123')}` }],
      ['alg none', { authorization: `Bearer ${none}` }],
      ['tampered claims', { authorization: `Bearer ${h64}.${Buffer.from(JSON.stringify({ sub: 'user_ada', tenant: 'globex', exp: now() + 300 })).toString('base64url')}.${ACME.split('.')[2]}` }],
      ['expired', { authorization: `Bearer ${token({ sub: 'x', tenant: 'acme', exp: now() - 60 })}` }],
      ['no expiry', { authorization: `Bearer ${signHs256({ sub: 'x', tenant: 'acme' }, SECRET)}` }],
      ['no tenant claim', { authorization: `Bearer ${token({ sub: 'x' })}` }],
      ['a tenant header is not enough', { 'x-tenant-id': 'acme' }],
    ]
    for (const [why, headers] of cases) {
      const res = await h.request('GET', '/users', { headers })
      expect([why, res.status, res.body]).toEqual([why, 401, { error: { code: 'ERR_UNAUTHENTICATED' } }])
    }
    expect(h.db.queries.length).toBe(sent)
    await flush()
    expect(h.lines.length).toBe(audited)
  })

  it('answers bad input with 400 and unknown ids with 404', async () => {
    expect((await h.request('POST', '/users', { auth: ACME, body: { name: 'No email' } })).body).toEqual({ error: { code: 'ERR_BAD_REQUEST' } })
    expect((await h.request('POST', '/users', { auth: ACME, rawBody: '{not json' })).status).toBe(400)
    expect((await h.request('PATCH', '/users/1', { auth: ACME, body: { email: 42 } })).status).toBe(400)
    expect((await h.request('GET', '/users/abc', { auth: ACME })).status).toBe(404)
    expect((await h.request('GET', '/users/999999', { auth: ACME })).status).toBe(404)
    const tooLong = token({ sub: 'x', tenant: 't'.repeat(300) })
    expect((await h.request('GET', '/users', { auth: tooLong })).body).toEqual({ error: { code: 'ERR_ROWCRYPT_TENANT_INVALID' } })
  })
})

describe.each(DATABASES)('express example with gateway header tenants on %s', (kind) => {
  let h: Harness
  beforeAll(async () => {
    h = await start(kind, { header: 'x-tenant-id' })
  })
  afterAll(() => h.close())

  it('takes the tenant from the header, and another tenant gets 404', async () => {
    const created = await h.request('POST', '/users', { headers: { 'x-tenant-id': 'initech' }, body: { name: 'Pete', email: 'pt-pete@initech.test' } })
    expect(created.status).toBe(201)
    const id = (created.body as { id: number }).id
    expect((await h.request('GET', `/users/${id}`, { headers: { 'x-tenant-id': 'initech' } })).status).toBe(200)
    const other = await h.request('GET', `/users/${id}`, { headers: { 'x-tenant-id': 'initrode' } })
    expect(other.status).toBe(404)
    expect(other.text).not.toContain('pt-pete')
    expect((await h.request('GET', '/users')).status).toBe(401)
    await flush()
    expect(h.lines.map((l) => (JSON.parse(l) as AuditEvent).tenantId)).toEqual(['initech', 'initech', 'initrode'])
  })
})
