// `rowcrypt tenant shred`: arguments, confirmation, errors and output, on a stub key provider.
// The real AwsKmsKeyProvider and databases are exercised in test/integration/cli.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KmsUnavailableError } from '../../../src'
import { main } from '../../../src/cli/main'
import { tenantCommand, type CommandIO } from '../../../src/cli/tenant'

let cwd: string
beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'rowcrypt-tenant-cli-'))
  writeFileSync(join(cwd, 'rowcrypt.config.ts'), '// loaded through importModule in these tests\n')
})
afterAll(() => rmSync(cwd, { recursive: true, force: true }))

function harness(options: { interactive?: boolean; answer?: string; provider?: unknown } = {}) {
  const out: string[] = []
  const err: string[] = []
  const shredCalls: Array<[string, unknown]> = []
  const disconnects: number[] = []
  const provider =
    'provider' in options
      ? options.provider
      : {
          shredTenant: async (tenantId: string, o: unknown) => {
            shredCalls.push([tenantId, o])
            return {
              tenantId,
              tenantKeysDestroyed: 2,
              kmsKeys: [{ keyVersion: 'v1', keyArn: 'arn:aws:kms:us-east-1:111122223333:key/own', action: 'scheduled-deletion', deletionDate: new Date('2026-12-29T00:00:00.000Z') }],
            }
          },
        }
  const io: CommandIO = {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    cwd,
    interactive: options.interactive ?? false,
    prompt: async () => options.answer ?? '',
    importModule: async () => ({ default: { keyProvider: provider, prisma: { $disconnect: async () => void disconnects.push(1) } } }),
  }
  return { io, out: () => out.join(''), err: () => err.join(''), shredCalls, disconnects }
}

describe('rowcrypt tenant shred', () => {
  it('shreds with --yes, passes the KMS key options, prints what was destroyed and disconnects', async () => {
    const h = harness()
    expect(await tenantCommand(['shred', '--tenant', 'acme', '--yes', '--kms-keys', 'disable', '--pending-window-days', '7'], h.io)).toBe(0)
    expect(h.shredCalls).toEqual([['acme', { kmsKeys: 'disable', pendingWindowInDays: 7 }]])
    expect(h.out()).toContain('Shredded tenant acme: 2 tenant keys destroyed.')
    expect(h.out()).toContain('KMS key arn:aws:kms:us-east-1:111122223333:key/own (version v1): scheduled-deletion (deletion on 2026-12-29T00:00:00.000Z)')
    expect(h.err()).toBe('')
    expect(h.disconnects).toEqual([1])
  })

  it('asks a person to type the tenant id, and does nothing unless it matches', async () => {
    const wrong = harness({ interactive: true, answer: 'acm' })
    expect(await tenantCommand(['shred', '--tenant', 'acme'], wrong.io)).toBe(1)
    expect(wrong.shredCalls).toEqual([])
    expect(wrong.err()).toContain('not confirmed')
    const right = harness({ interactive: true, answer: 'acme\n' })
    expect(await tenantCommand(['shred', '--tenant', 'acme'], right.io)).toBe(0)
    expect(right.shredCalls).toHaveLength(1)
  })

  it('refuses without --yes when nobody can confirm, as a usage error', async () => {
    const h = harness({ interactive: false })
    expect(await tenantCommand(['shred', '--tenant', 'acme'], h.io)).toBe(2)
    expect(h.shredCalls).toEqual([])
    expect(h.err()).toBe("rowcrypt tenant shred: refusing to shred without --yes when no one can confirm (stdin is not a terminal)\nRun 'rowcrypt tenant shred --help' for usage.\n")
  })

  it.each([
    [['shred']],
    [['shred', '--tenant', '']],
    [['shred', '--tenant', 'a', '--yes', '--bogus']],
    [['shred', '--tenant', 'a', '--yes', '--kms-keys', 'burn']],
    [['shred', '--tenant', 'a', '--yes', '--pending-window-days', '3']],
    [['shred', '--tenant', 'a', '--yes', 'extra']],
    [['rename']],
    [[]],
  ])('usage error %j exits 2 with one line and the pointer to the help, and shreds nothing', async (argv) => {
    const h = harness()
    expect(await tenantCommand(argv, h.io)).toBe(2)
    expect(h.shredCalls).toEqual([])
    expect(h.err()).toMatch(/^rowcrypt tenant( shred)?: [^\n]+\nRun 'rowcrypt tenant( shred)? --help' for usage\.\n$/)
    expect(h.out()).toBe('')
  })

  it('--help after shred or tenant, and help tenant shred, print the help', async () => {
    const h = harness()
    expect(await tenantCommand(['shred', '--help'], h.io)).toBe(0)
    expect(h.out()).toMatch(/^Usage: rowcrypt tenant shred --tenant <id> \[options\]\n/)
    const group = harness()
    expect(await tenantCommand(['--help'], group.io)).toBe(0)
    expect(group.out()).toMatch(/^Usage: rowcrypt tenant <subcommand>/)
    expect(group.out()).toMatch(/\n {2}shred +Crypto-shred/)
    let viaHelp = ''
    expect(await main(['help', 'tenant', 'shred'], (s) => (viaHelp += s))).toBe(0)
    expect(viaHelp).toBe(h.out())
    expect(h.shredCalls).toEqual([])
  })

  it('--json prints the result as one JSON document', async () => {
    const h = harness()
    expect(await tenantCommand(['shred', '--tenant', 'acme', '--yes', '--json'], h.io)).toBe(0)
    expect(JSON.parse(h.out())).toEqual({
      event: 'done',
      tenantId: 'acme',
      tenantKeysDestroyed: 2,
      kmsKeys: [{ keyVersion: 'v1', keyArn: 'arn:aws:kms:us-east-1:111122223333:key/own', action: 'scheduled-deletion', deletionDate: '2026-12-29T00:00:00.000Z' }],
    })
    expect(h.out().trim().split('\n')).toHaveLength(1)
  })

  it('a provider that cannot shred is a configuration error (exit 2); a failing one exits 1; each one line with the code', async () => {
    const local = harness({ provider: { generateDataKey: async () => undefined } })
    expect(await tenantCommand(['shred', '--tenant', 'acme', '--yes'], local.io)).toBe(2)
    expect(local.err()).toMatch(/^rowcrypt tenant shred: the key provider in .* cannot shred tenants \(AwsKmsKeyProvider and LocalKeyProvider with a tenantKeyStore can\) \(ERR_ROWCRYPT_CONFIG\)\n$/)
    expect(local.disconnects).toEqual([1])
    const down = harness({ provider: { shredTenant: async () => Promise.reject(new KmsUnavailableError('KMS DescribeKey failed')) } })
    expect(await tenantCommand(['shred', '--tenant', 'acme', '--yes'], down.io)).toBe(1)
    expect(down.err()).toBe('rowcrypt tenant shred: KMS DescribeKey failed (ERR_ROWCRYPT_KMS_UNAVAILABLE)\n')
    const downJson = harness({ provider: { shredTenant: async () => Promise.reject(new KmsUnavailableError('KMS DescribeKey failed')) } })
    expect(await tenantCommand(['shred', '--tenant', 'acme', '--yes', '--json'], downJson.io)).toBe(1)
    expect(JSON.parse(downJson.out())).toEqual({ event: 'error', command: 'tenant shred', code: 'ERR_ROWCRYPT_KMS_UNAVAILABLE', message: 'KMS DescribeKey failed', exitCode: 1 })
    expect(downJson.err()).toBe('')
    const none = harness({ provider: null })
    expect(await tenantCommand(['shred', '--tenant', 'acme', '--yes'], none.io)).toBe(2)
    expect(none.err()).toContain('exports no keyProvider')
  })

  it('is reachable from main and listed in its usage', async () => {
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true)
    try {
      expect(await main(['tenant'], () => undefined)).toBe(2)
    } finally {
      stderr.mockRestore()
    }
    let usage = ''
    await main(['help'], (s) => (usage += s))
    expect(usage).toContain('tenant shred')
    expect(usage).toContain('kms-dev-server')
  })
})
