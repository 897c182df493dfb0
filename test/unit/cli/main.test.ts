import { main } from '../../../src/cli/main'

function run(argv: string[]) {
  const out: string[] = []
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true)
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true)
  try {
    const code = main(argv, (s) => out.push(s))
    return { code, out: out.join(''), err: stderr.mock.calls.map((c) => String(c[0])).join(''), stdoutCalls: stdout.mock.calls.length }
  } finally {
    stderr.mockRestore()
    stdout.mockRestore()
  }
}

describe('rowcrypt CLI', () => {
  it('keygen prints one base64 32-byte key and exits 0', () => {
    const r = run(['keygen'])
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^[A-Za-z0-9+/]{43}=\n$/)
    const key = Buffer.from(r.out.trim(), 'base64')
    expect(key).toHaveLength(32)
    expect(key.toString('base64')).toBe(r.out.trim())
    expect(r.err).toBe('')
    expect(r.stdoutCalls).toBe(0)
  })

  it('keygen prints a different key each time', () => {
    const keys = new Set(Array.from({ length: 5 }, () => run(['keygen']).out))
    expect(keys.size).toBe(5)
  })

  it.each([[[]], [['help']], [['--help']], [['-h']]])('%j prints usage and exits 0', (argv) => {
    const r = run(argv)
    expect(r.code).toBe(0)
    expect(r.out).toContain('keygen')
    expect(r.out).toContain('Usage')
  })

  it.each([[['rotates']], [['keygenx']], [['KEYGEN']], [['--version']]])('unknown command %j exits 2, writes usage to stderr only', (argv) => {
    const r = run(argv)
    expect(r.code).toBe(2)
    expect(r.out).toBe('')
    expect(r.err).toContain('Usage')
    expect(r.err).toContain(argv[0] as string)
  })

  it('keygen --help prints its usage and exits 0; an extra argument exits 2', () => {
    const help = run(['keygen', '--help'])
    expect(help.code).toBe(0)
    expect(help.out).toContain('Usage: rowcrypt keygen')
    const bad = run(['keygen', 'v2'])
    expect(bad.code).toBe(2)
    expect(bad.out).toBe('')
    expect(bad.err).toContain('Usage: rowcrypt keygen')
  })

  it('lists rotate, status and verify and the exit codes', () => {
    const r = run(['help'])
    expect(r.out).toMatch(/\n  rotate +\S/)
    expect(r.out).toMatch(/\n  status +\S/)
    expect(r.out).toMatch(/\n  verify +\S/)
    expect(r.out).toContain('Exit codes: 0 success, 1 failures found')
  })
})
