// A generated call as JavaScript source text (what a finding prints), and a shape signature that
// groups findings of one kind whatever their values.
import type { Call, OpCall } from './gen'

/** A value as a JavaScript literal. */
export function literal(v: unknown, masked = false): string {
  if (v === undefined) return 'undefined'
  if (v === null) return 'null'
  if (masked && (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' || v instanceof Date || v instanceof Uint8Array)) return '_'
  if (typeof v === 'string') return JSON.stringify(v)
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (typeof v === 'bigint') return `${v}n`
  if (v instanceof Date) return `new Date(${JSON.stringify(v.toISOString())})`
  if (v instanceof Uint8Array) return `new Uint8Array([${[...v].join(', ')}])`
  if (Array.isArray(v)) return `[${v.map((x) => literal(x, masked)).join(', ')}]`
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined)
    if (entries.length === 0) return '{}'
    return `{ ${entries.map(([k, x]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${literal(x, masked)}`).join(', ')} }`
  }
  return String(v)
}

function opSource(c: OpCall, client: string, masked: boolean): string {
  const delegate = c.model.charAt(0).toLowerCase() + c.model.slice(1)
  let s = `${client}.${delegate}.${c.op}(${literal(c.args, masked)})`
  for (const f of c.fluent ?? []) s += `.${f.rel}(${f.args === undefined ? '' : literal(f.args, masked)})`
  return s
}

/** `withTenant('tenant_a', () => prisma.user.findMany({ ... }))`, as the runner makes it. */
export function renderCall(call: Call, masked = false): string {
  let body: string
  if (call.kind === 'op') body = opSource(call, 'prisma', masked)
  else if (call.kind === 'batch') body = `prisma.$transaction([${call.items.map((i) => opSource(i, 'prisma', masked)).join(', ')}])`
  else body = `prisma.$transaction(async (tx) => [${call.items.map((i) => `await ${opSource(i, 'tx', masked)}`).join(', ')}])`
  return `withTenant('tenant_a', () => ${body})`
}

/** The call with every literal masked: findings with one signature are one class. */
export function signature(call: Call): string {
  return renderCall(call, true)
}
