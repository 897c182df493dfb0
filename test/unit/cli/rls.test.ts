// `rowcrypt rls sql`: prints the policies of the config's schema and models.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { manifest as postgresManifest } from '../../../generated/postgres/rowcrypt'
import { manifest as sqliteManifest } from '../../../generated/sqlite/rowcrypt'
import { rlsPolicySql } from '../../../src'
import type { CommandIO } from '../../../src/cli/io'
import { runCli } from '../../../src/cli/run'

let cwd: string
beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'rowcrypt-rls-cli-'))
  writeFileSync(join(cwd, 'rowcrypt.config.ts'), '// loaded through importModule in these tests\n')
})
afterAll(() => rmSync(cwd, { recursive: true, force: true }))

function harness(config: unknown) {
  const out: string[] = []
  const err: string[] = []
  const loaded: string[] = []
  let disconnects = 0
  const io: CommandIO = {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    cwd,
    interactive: false,
    prompt: async () => '',
    importModule: async (p) => {
      loaded.push(p)
      return { default: { ...(config as object), prisma: { $disconnect: async () => void disconnects++ } } }
    },
  }
  return { io, out: () => out.join(''), err: () => err.join(''), loaded, disconnects: () => disconnects }
}

const rlsCommand = (argv: string[], io: CommandIO) => runCli(['rls', ...argv], io)

const MODELS = { User: { fields: ['email'] }, Document: { fields: ['body'], columns: { tenantId: 'orgId' } } }

describe('rowcrypt rls sql', () => {
  it('prints the policies of the config (schema, models, rls) and disconnects its client', async () => {
    const h = harness({ schema: postgresManifest, models: MODELS, rls: { tenantSetting: 'app.org' }, keyProvider: {} })
    expect(await rlsCommand(['sql'], h.io)).toBe(0)
    expect(h.out()).toBe(rlsPolicySql({ schema: postgresManifest, models: MODELS, rls: { tenantSetting: 'app.org' } }))
    expect(h.out()).toContain(`"orgId" = NULLIF(current_setting('app.org', true), '')`)
    expect(h.loaded).toEqual([join(cwd, 'rowcrypt.config.ts')])
    expect(h.err()).toBe('')
    expect(h.disconnects()).toBe(1)
  })

  it('qualifies tables with --db-schema and reads --config', async () => {
    writeFileSync(join(cwd, 'other.config.js'), '')
    const h = harness({ schema: postgresManifest, models: MODELS })
    expect(await rlsCommand(['sql', '--db-schema', 'tenant_data', '--config', 'other.config.js'], h.io)).toBe(0)
    expect(h.out()).toContain('ALTER TABLE "tenant_data"."User" ENABLE ROW LEVEL SECURITY;')
    expect(h.loaded).toEqual([join(cwd, 'other.config.js')])
  })

  it('fails as a configuration error (exit 2, one line with the code) when the config lacks schema or models, or is not PostgreSQL', async () => {
    const missing = harness({ keyProvider: {} })
    expect(await rlsCommand(['sql'], missing.io)).toBe(2)
    expect(missing.err()).toMatch(/^rowcrypt rls sql: .* must export schema .*\(ERR_ROWCRYPT_CONFIG\)\n$/)
    expect(missing.out()).toBe('')
    expect(missing.disconnects()).toBe(1)
    const sqlite = harness({ schema: sqliteManifest, models: MODELS })
    expect(await rlsCommand(['sql'], sqlite.io)).toBe(2)
    expect(sqlite.err()).toContain('ERR_ROWCRYPT_CONFIG')
  })

  it('refuses a missing or unknown subcommand and unknown options (exit 2), loading no config', async () => {
    for (const [argv, line] of [
      [[], 'rowcrypt rls: missing subcommand (sql)'],
      [['policies'], "rowcrypt rls: unknown subcommand 'policies' (expected sql)"],
      [['sql', '--tenant', 'x'], "rowcrypt rls sql: unknown option '--tenant'"],
      [['sql', '--schema', 'x'], "rowcrypt rls sql: unknown option '--schema' (did you mean '--db-schema'?)"],
    ] as const) {
      const h = harness({})
      expect(await rlsCommand([...argv], h.io)).toBe(2)
      expect(h.err().split('\n')[0]).toBe(line)
      expect(h.out()).toBe('')
      expect(h.loaded).toEqual([])
    }
  })

  it('--help after sql, or after rls, prints help and exits 0', async () => {
    const sql = harness({})
    expect(await rlsCommand(['sql', '--help'], sql.io)).toBe(0)
    expect(sql.out()).toMatch(/^Usage: rowcrypt rls sql \[options\]\n/)
    expect(sql.out()).toContain('--db-schema <name>')
    const group = harness({})
    expect(await rlsCommand(['--help'], group.io)).toBe(0)
    expect(group.out()).toContain('Usage: rowcrypt rls <subcommand>')
    expect(sql.loaded).toEqual([])
  })
})
