// `rowcrypt status`: rows per model and key version, read-only. Options and help: table.ts.
import { rotationStatus, type RotationStatus } from '../rotation/status'
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
    const status = await rotationStatus({ prisma: s.prisma, ...(v.model !== undefined ? { model: v.model } : {}), byTenant: v['by-tenant'], ...schemaOption(s) })
    await refreshGauge(s, status)
    io.out(v.json ? `${JSON.stringify(status)}\n` : renderStatus(status))
    return EXIT.ok
  } finally {
    await s.loaded.dispose()
  }
}

/** The human-readable table of `rowcrypt status`. */
export function renderStatus(status: RotationStatus): string {
  const table: string[][] = [['MODEL', 'TENANT', 'KEY VERSION', 'ROWS']]
  const byTenant = status.models.some((m) => m.tenants !== undefined)
  const add = (model: string, tenant: string, counts: { versions: Readonly<Record<string, number>>; plaintextRows: number }) => {
    for (const [v, n] of Object.entries(counts.versions)) table.push([model, tenant, v === status.activeKeyVersion ? `${v} (active)` : v, formatCount(n)])
    if (counts.plaintextRows > 0) table.push([model, tenant, '(plaintext)', formatCount(counts.plaintextRows)])
  }
  for (const m of status.models) {
    if (m.tenants !== undefined) for (const t of m.tenants) add(m.model, t.tenantId === '' ? "''" : t.tenantId, t)
    else add(m.model, '', m)
  }
  const cols = byTenant ? [0, 1, 2, 3] : [0, 2, 3]
  const widths = cols.map((c) => Math.max(...table.map((r) => r[c]!.length)))
  const line = (r: string[]) => `${cols.map((c, i) => (c === 3 ? r[c]!.padStart(widths[i]!) : r[c]!.padEnd(widths[i]!))).join('  ')}\n`
  let out = `Active key version: ${status.activeKeyVersion}\n\n`
  out += table.length === 1 ? '(no rows)\n' : table.map(line).join('')
  out += '\n'
  for (const m of status.models) {
    out += `${m.model}: ${rows(m.total, formatCount)}, ${formatCount(m.notActive)} not on ${status.activeKeyVersion}, ${formatCount(m.plaintextRows)} plaintext (no wrapped key)\n`
  }
  return out
}
