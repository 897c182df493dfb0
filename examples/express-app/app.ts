// An Express 5 app over rowcrypt: every /users request runs inside withTenant(tenant of the
// caller), so one tenant never sees, changes or deletes another tenant's users (it gets a 404).
// /metrics serves the Prometheus registry; /stats the caller's operation statistics.
import express, { type NextFunction, type Request, type Response } from 'express'
import type { Registry } from 'prom-client'
import { currentTenant, type RowcryptMetrics } from 'rowcrypt'
import { tenantMiddleware, type TenantAuth } from './auth'
import type { ExampleClient } from './client'

export interface AppOptions {
  prisma: ExampleClient
  auth: TenantAuth
  /** Served at GET /metrics. In production, expose it on an internal port only. */
  registry: Registry
  metrics: RowcryptMetrics
}

/** What a user looks like to API clients: decrypted fields, never the sidecar columns. */
const PUBLIC = { id: true, name: true, email: true, ssn: true, notes: true } as const

/** HTTP status by error code; anything else is a 500 that reveals nothing. */
const STATUS: Readonly<Record<string, number>> = {
  ERR_UNAUTHENTICATED: 401,
  ERR_BAD_REQUEST: 400,
  ERR_NOT_FOUND: 404,
  ERR_ROWCRYPT_TENANT_MISSING: 401,
  ERR_ROWCRYPT_TENANT_INVALID: 400,
  ERR_ROWCRYPT_TENANT_MISMATCH: 403,
  ERR_ROWCRYPT_UNSUPPORTED_QUERY: 400,
  ERR_ROWCRYPT_INVALID_VALUE: 400,
  // Another tenant's row is simply not there (rowcrypt answers with Prisma's codes).
  P2025: 404,
  P2003: 400,
}

class HttpError extends Error {
  constructor(readonly code: 'ERR_BAD_REQUEST' | 'ERR_NOT_FOUND') {
    super(code)
  }
}

export function createApp({ prisma, auth, registry, metrics }: AppOptions): express.Express {
  const app = express()
  app.disable('x-powered-by')

  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics())
  })

  const api = express.Router()
  api.use(tenantMiddleware(auth))
  api.use(express.json({ limit: '64kb' }))

  api.get('/users', async (_req, res) => {
    res.json(await prisma.user.findMany({ select: PUBLIC, orderBy: { id: 'asc' }, take: 100 }))
  })

  api.get('/users/:id', async (req, res) => {
    const user = await prisma.user.findUnique({ where: { id: idParam(req) }, select: PUBLIC })
    if (user === null) throw new HttpError('ERR_NOT_FOUND')
    res.json(user)
  })

  api.post('/users', async (req, res) => {
    const body = userInput(req.body, true)
    const user = await prisma.user.create({ data: { name: body.name!, email: body.email!, ssn: body.ssn, notes: body.notes }, select: PUBLIC })
    res.status(201).json(user)
  })

  api.patch('/users/:id', async (req, res) => {
    const id = idParam(req)
    res.json(await prisma.user.update({ where: { id }, data: userInput(req.body, false), select: PUBLIC }))
  })

  api.delete('/users/:id', async (req, res) => {
    await prisma.user.delete({ where: { id: idParam(req) }, select: { id: true } })
    res.status(204).end()
  })

  api.get('/stats', (_req, res) => {
    res.json(metrics.getOperationStats({ tenantId: currentTenant()! }))
  })

  app.use(api)

  // Errors answer with a code only: messages stay in the server's logs.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = (err ?? {}) as { code?: unknown; status?: unknown; expose?: unknown }
    let code = typeof e.code === 'string' && STATUS[e.code] !== undefined ? e.code : 'ERR_INTERNAL'
    let status = STATUS[code] ?? 500
    // Body-parser errors (malformed JSON, too large) are the client's.
    if (code === 'ERR_INTERNAL' && e.expose === true && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      code = 'ERR_BAD_REQUEST'
      status = e.status
    }
    res.status(status).json({ error: { code } })
  })
  return app
}

function idParam(req: Request): number {
  const raw = req.params.id
  const id = typeof raw === 'string' && /^[1-9][0-9]{0,14}$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(id)) throw new HttpError('ERR_NOT_FOUND')
  return id
}

interface UserInput {
  name?: string
  email?: string
  ssn?: string | null
  notes?: string | null
}

/** Picks the writable fields (never tenant or sidecar columns) and checks their types. */
function userInput(body: unknown, create: boolean): UserInput {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError('ERR_BAD_REQUEST')
  const b = body as Record<string, unknown>
  const out: UserInput = {}
  for (const key of ['name', 'email'] as const) {
    const v = b[key]
    if (v === undefined && !create) continue
    if (typeof v !== 'string' || v === '') throw new HttpError('ERR_BAD_REQUEST')
    out[key] = v
  }
  for (const key of ['ssn', 'notes'] as const) {
    const v = b[key]
    if (v === undefined) continue
    if (v !== null && typeof v !== 'string') throw new HttpError('ERR_BAD_REQUEST')
    out[key] = v
  }
  if (!create && Object.keys(out).length === 0) throw new HttpError('ERR_BAD_REQUEST')
  return out
}
