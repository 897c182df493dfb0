// `rowcrypt status`: rows per model and key version, with key ages and the maxKeyAgeDays policy,
// read-only. Options and help: table.ts.
import { cacheKey } from '../crypto/cache-key'
import { rotationStatus, type KeyAgeViolation, type RotationStatus } from '../rotation/status'
import { EXIT } from './failure'
import type { JobIO } from './io'
import { refreshGauge, rows, schemaOption, setup } from './job'
import { formatCount } from './progress'
import { runCli } from './run'
import type { CommandContext } from './spec'
import type { StatusValues } from './table'

/** Runs `rowcrypt status` with `argv` (the arguments after `status`); resolves to the exit code. */
export function statusCommand(argv: readonly string[], io: JobIO): Promise<number> {
  return runCli(['status', ...argv], io)
}

/** The handler of `rowcrypt status`. */
export async function runStatus(v: StatusValues, { io }: CommandContext): Promise<number> {
  const s = await setup(io, v)
  try {
    const maxKeyAgeDays = v['max-key-age-days'] ?? s.maxKeyAgeDays
    const status = await rotationStatus({
      prisma: s.prisma,
      ...(v.model !== undefined ? { model: v.model } : {}),
      byTenant: v['by-tenant'],
      ...(maxKeyAgeDays !== undefined ? { maxKeyAgeDays } : {}),
      ...schemaOption(s),
    })
    await refreshGauge(s, status)
    io.out(v.json ? `${JSON.stringify(status)}\n` : renderStatus(status))
    return (status.exceeded?.length ?? 0) > 0 ? EXIT.keyAge : EXIT.ok
  } finally {
    await s.loaded.dispose()
  }
}

/** The human-readable table of `rowcrypt status`. */
export function renderStatus(status: RotationStatus): string {
  const versionAge = new Map(status.keyVersions.map((k) => [k.keyVersion, k]))
  const tenantAge = new Map((status.tenantKeys ?? []).map((k) => [cacheKey(k.tenantId, k.keyVersion), k]))
  const withAges = status.keyVersions.some((k) => k.createdAt !== null)
  const withTenantAges = tenantAge.size > 0
  const table: string[][] = [['MODEL', 'TENANT', 'KEY VERSION', 'ROWS', 'CREATED', 'AGE', 'TENANT KEY AGE']]
  const byTenant = status.models.some((m) => m.tenants !== undefined)
  const add = (model: string, tenant: string | undefined, counts: { versions: Readonly<Record<string, number>>; plaintextRows: number }) => {
    for (const [v, n] of Object.entries(counts.versions)) {
      const k = versionAge.get(v)
      const t = tenant === undefined ? undefined : tenantAge.get(cacheKey(tenant, v))
      table.push([model, tenant ?? '', v === status.activeKeyVersion ? `${v} (active)` : v, formatCount(n), day(k?.createdAt), days(k?.ageDays), days(t?.ageDays)])
    }
    if (counts.plaintextRows > 0) table.push([model, tenant ?? '', '(plaintext)', formatCount(counts.plaintextRows), '', '', ''])
  }
  for (const m of status.models) {
    if (m.tenants !== undefined) for (const t of m.tenants) add(m.model, t.tenantId === '' ? "''" : t.tenantId, t)
    else add(m.model, undefined, m)
  }
  const cols = [0, ...(byTenant ? [1] : []), 2, 3, ...(withAges ? [4, 5] : []), ...(withTenantAges ? [6] : [])]
  const widths = cols.map((c) => Math.max(...table.map((r) => r[c]!.length)))
  const line = (r: string[]) => `${cols.map((c, i) => (c === 3 ? r[c]!.padStart(widths[i]!) : r[c]!.padEnd(widths[i]!))).join('  ')}`.trimEnd() + '\n'
  let out = `Active key version: ${status.activeKeyVersion}\n\n`
  out += table.length === 1 ? '(no rows)\n' : table.map(line).join('')
  out += '\n'
  for (const m of status.models) {
    out += `${m.model}: ${rows(m.total, formatCount)}, ${formatCount(m.notActive)} not on ${status.activeKeyVersion}, ${formatCount(m.plaintextRows)} plaintext (no wrapped key)\n`
  }
  for (const k of status.keyVersions) if (k.error !== undefined) out += `Creation time of key version ${k.keyVersion} unknown: the key provider failed (${k.error}).\n`
  if (status.maxKeyAgeDays !== undefined) out += renderPolicy(status.maxKeyAgeDays, status.exceeded ?? [])
  return out
}

function renderPolicy(max: number, exceeded: readonly KeyAgeViolation[]): string {
  if (exceeded.length === 0) return `\nKey age policy (maxKeyAgeDays ${max}): met.\n`
  let out = `\nKey age policy (maxKeyAgeDays ${max}): exceeded by\n`
  for (const k of exceeded) {
    const what = k.tenantId !== undefined ? `tenant ${k.tenantId}'s key under ${k.keyVersion}` : `key version ${k.keyVersion}`
    out += `  ${what}: ${k.ageDays === null ? 'creation time unknown' : `${days(k.ageDays)} old`}, ${rows(k.rows, formatCount)}\n`
  }
  // The largest whole number of days (or hours) not above the policy: it selects every key above it.
  const limit = max >= 1 ? `${Math.floor(max)}d` : `${Math.max(1, Math.floor(max * 24))}h`
  out += `Move their rows: rowcrypt rotate --older-than ${limit} (when the active version is listed, add a new key version and make it active first).\n`
  return out
}

const day = (d: Date | null | undefined): string => (d === undefined ? '' : d === null ? 'unknown' : d.toISOString().slice(0, 10))
const days = (n: number | null | undefined): string => (n == null ? '' : `${formatCount(n)} day${n === 1 ? '' : 's'}`)
