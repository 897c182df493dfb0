// `rowcrypt rls sql`: prints the policies of the config's schema and models.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { manifest as postgresManifest } from '../../../generated/postgres/rowcrypt'
import { manifest as sqliteManifest } from '../../../generated/sqlite/rowcrypt'
import { rlsPolicySql } from '../../../src'
import { rlsCommand } from '../../../src/cli/rls'
import type { CommandIO } from '../../../src/cli/tenant'

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

  it('qualifies tables with --schema and reads --config', async () => {
    writeFileSync(join(cwd, 'other.config.js'), '')
    const h = harness({ schema: postgresManifest, models: MODELS })
    expect(await rlsCommand(['sql', '--schema', 'tenant_data', '--config', 'other.config.js'], h.io)).toBe(0)
    expect(h.out()).toContain('ALTER TABLE "tenant_data"."User" ENABLE ROW LEVEL SECURITY;')
    expect(h.loaded).toEqual([join(cwd, 'other.config.js')])
  })

  it('fails with exit 1 and the error code when the config lacks schema or models, or is not PostgreSQL', async () => {
    const missing = harness({ keyProvider: {} })
    expect(await rlsCommand(['sql'], missing.io)).toBe(1)
    expect(missing.err()).toContain('ERR_ROWCRYPT_CONFIG')
    expect(missing.out()).toBe('')
    const sqlite = harness({ schema: sqliteManifest, models: MODELS })
    expect(await rlsCommand(['sql'], sqlite.io)).toBe(1)
    expect(sqlite.err()).toContain('ERR_ROWCRYPT_CONFIG')
  })

  it('prints usage without a subcommand (exit 2) and refuses unknown ones and options', async () => {
    const h = harness({})
    expect(await rlsCommand([], h.io)).toBe(2)
    expect(h.out()).toContain('rowcrypt rls sql')
    expect(await rlsCommand(['policies'], h.io)).toBe(2)
    expect(await rlsCommand(['sql', '--tenant', 'x'], h.io)).toBe(2)
    expect(h.err()).toContain('unknown subcommand "policies"')
    expect(h.loaded).toEqual([])
  })
})
