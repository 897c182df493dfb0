// Errors of Prisma and its driver adapters, as one line for a command's output. Prisma's own
// messages start with "Invalid `prisma.x.findFirst()` invocation in <file>" and a code frame of the
// call (which can show argument values); only the reason after the frame is kept, with Prisma's code.
import { DatabaseError } from './errors'

// Driver adapter error kinds that mean "no usable connection", with the code Prisma gives each.
const CONNECTION_KINDS: Readonly<Record<string, { code: string; text: (c: AdapterCause) => string }>> = {
  AuthenticationFailed: { code: 'P1000', text: (c) => `authentication failed for user ${c.user ?? '(unknown)'}` },
  DatabaseNotReachable: { code: 'P1001', text: (c) => `Can't reach database server${c.host !== undefined ? ` at ${c.host}${c.port !== undefined ? `:${c.port}` : ''}` : ''}` },
  DatabaseDoesNotExist: { code: 'P1003', text: (c) => `database ${c.db ?? '(unknown)'} does not exist` },
  SocketTimeout: { code: 'P1008', text: () => 'operation timed out' },
  DatabaseAccessDenied: { code: 'P1010', text: (c) => `access denied to database ${c.db ?? '(unknown)'}` },
  TlsConnectionError: { code: 'P1011', text: (c) => `TLS connection failed: ${c.reason ?? '(no reason given)'}` },
  ConnectionClosed: { code: 'P1017', text: () => 'the server closed the connection' },
  TooManyConnections: { code: 'P2037', text: () => 'too many database connections' },
}

// Node and driver codes of a connection that could not be made (or kept).
const NETWORK_CODES = /\b(ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EAI_AGAIN|SQLITE_CANTOPEN)\b/
// mariadb's pool gives up with 45028 when no connection can be made.
const POOL_TIMEOUT = '45028'

interface AdapterCause {
  kind?: string
  host?: string
  port?: number | string
  db?: string
  user?: string
  reason?: string
  code?: unknown
  originalCode?: unknown
  originalMessage?: unknown
  message?: unknown
  cause?: unknown
}

interface ErrorLike {
  name?: unknown
  clientVersion?: unknown
  code?: unknown
  errorCode?: unknown
  message?: unknown
  meta?: { driverAdapterError?: { cause?: AdapterCause } }
  cause?: unknown
}

/**
 * The error, or the first error of its cause chain, that came from the database, its driver or
 * Prisma, as a one-line {@link DatabaseError}; undefined when none did.
 *
 * @example
 * ```ts
 * databaseError(e)?.message // "cannot reach the database (P1001): Can't reach database server at 127.0.0.1:1"
 * ```
 */
export function databaseError(error: unknown): DatabaseError | undefined {
  const seen = new Set<unknown>()
  for (let e: unknown = error; e !== null && typeof e === 'object' && !seen.has(e); e = (e as ErrorLike).cause) {
    seen.add(e)
    const found = describe(e as ErrorLike)
    if (found !== undefined) return new DatabaseError(found.text, { databaseCode: found.code, unreachable: found.unreachable }, { cause: error })
  }
  return undefined
}

interface Found {
  text: string
  code: string | undefined
  unreachable: boolean
}

function describe(e: ErrorLike): Found | undefined {
  const prismaCode = typeof e.code === 'string' && /^P\d{4}$/.test(e.code) ? e.code : typeof e.errorCode === 'string' ? e.errorCode : undefined
  const adapter = e.meta?.driverAdapterError?.cause
  if (adapter !== undefined) return fromAdapter(adapter, prismaCode)
  const message = typeof e.message === 'string' ? e.message : ''
  const name = typeof e.name === 'string' ? e.name : ''
  // Only what came through Prisma (which stamps its version on the driver's own errors too): a
  // refused connection to a key provider is not a database error.
  if (!name.startsWith('PrismaClient') && typeof e.clientVersion !== 'string') return undefined
  if (name.startsWith('PrismaClient')) {
    const reason = prismaReason(message)
    if (prismaCode?.startsWith('P1') === true) return unreachable(reason, prismaCode)
    if (name === 'PrismaClientValidationError') return { text: `Prisma refused a query: ${reason}`, code: undefined, unreachable: false }
    return refused(reason, prismaCode)
  }
  // better-sqlite3 throws this TypeError itself when the file's directory is missing.
  if (message.startsWith('Cannot open database')) return unreachable(oneLine(message), undefined)
  const network = typeof e.code === 'string' ? NETWORK_CODES.exec(e.code) : null
  if (network !== null) return unreachable(oneLine(message), network[1])
  return undefined
}

function fromAdapter(cause: AdapterCause, prismaCode: string | undefined): Found {
  const known = cause.kind !== undefined ? CONNECTION_KINDS[cause.kind] : undefined
  if (known !== undefined) return unreachable(known.text(cause), known.code)
  const driverCode = String(cause.originalCode ?? cause.code ?? '')
  const reason = oneLine(String(cause.originalMessage ?? cause.message ?? 'unknown database error'))
  const detail = typeof cause.cause === 'string' ? cause.cause : undefined
  const network = NETWORK_CODES.exec(`${driverCode} ${detail ?? ''} ${reason}`)
  if (driverCode === POOL_TIMEOUT || network !== null) return unreachable(`${detail !== undefined ? `${oneLine(detail)} (${reason})` : reason}`, network?.[1] ?? (driverCode || undefined))
  return refused(reason, prismaCode ?? (driverCode || undefined))
}

const unreachable = (reason: string, code: string | undefined): Found => ({ text: `cannot reach the database${code !== undefined ? ` (${code})` : ''}: ${reason}`, code, unreachable: true })
const refused = (reason: string, code: string | undefined): Found => ({ text: `database error${code !== undefined ? ` (${code})` : ''}: ${reason}`, code, unreachable: false })

/**
 * The reason in a Prisma error message: what follows the "Invalid `…` invocation" header and the
 * code frame, with "Raw query failed. Code: `N/A`. Message: `…`" reduced to its message.
 */
export function prismaReason(message: string): string {
  const lines = message.split('\n')
  const header = lines.findIndex((l) => /^Invalid `.*` invocation/.test(l.trim()))
  let rest = lines
  if (header !== -1) {
    rest = lines.slice(header + 1)
    // The frame: the file line, then numbered source lines, the failing one marked with →.
    const lastFrame = rest.reduce((last, l, i) => (/^\s*(→\s*)?\d+\s/.test(l) || /^\S+:\d+:\d+$/.test(l.trim()) ? i : last), -1)
    rest = rest.slice(lastFrame + 1)
  }
  const text = oneLine(rest.join('\n'))
  const raw = /^(?:Raw query failed|Database error)\. Code: `[^`]*`\. Message: `(.*)`$/.exec(text)
  return raw !== null ? raw[1]!.trim() : text
}

/** The first paragraph of `text` on one line: trimmed, with line breaks and runs of spaces collapsed. */
export function oneLine(text: string): string {
  const paragraphs = text.split(/\n\s*\n/).map((p) => p.replace(/\s+/g, ' ').trim())
  return paragraphs.find((p) => p !== '') ?? ''
}
