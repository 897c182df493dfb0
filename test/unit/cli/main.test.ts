// The command table as users meet it: --help and --version, `help <command>`, usage errors (one
// line and a pointer to the help, exit 2), --json failure events, and keygen. In-process through
// runCli and main; the built binary is exercised in test/integration/cli-binary.test.ts.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { main } from '../../../src/cli/main'
import { runCli } from '../../../src/cli/run'
import { isGroup, type CommandSpec } from '../../../src/cli/spec'
import { TABLE } from '../../../src/cli/table'
import type { JobIO } from '../../../src/cli/io'

const version = (JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version

async function run(argv: string[]) {
  const out: string[] = []
  const err: string[] = []
  const loaded: string[] = []
  const io: JobIO = { out: (s) => out.push(s), err: (s) => err.push(s), cwd: __dirname, interactive: false, prompt: async () => '', importModule: async (p) => (loaded.push(p), {}) }
  const code = await runCli(argv, io)
  return { code, out: out.join(''), err: err.join(''), loaded }
}

/** Every leaf command as users type it: `['rotate']`, `['tenant', 'shred']`. */
const commands: Array<[string[], CommandSpec]> = TABLE.flatMap((e) => (isGroup(e) ? e.subcommands.map((s): [string[], CommandSpec] => [[e.name, s.name], s]) : [[[e.name], e]]))
const groups = TABLE.filter(isGroup).map((g) => g.name)
const acceptsJson = commands.filter(([, spec]) => 'json' in spec.options)

describe('rowcrypt --version and --help', () => {
  it.each([['--version'], ['-v']])('%s prints the version of package.json and exits 0', async (flag) => {
    const r = await run([flag])
    expect(r).toMatchObject({ code: 0, out: `${version}\n`, err: '' })
  })

  it.each([[[]], [['--help']], [['-h']], [['help']], [['help', '--help']]])('%j prints the command list and exits 0', async (argv) => {
    const r = await run(argv)
    expect(r.code).toBe(0)
    expect(r.err).toBe('')
    expect(r.out).toMatch(/^Usage: rowcrypt <command> \[options\]\n/)
    for (const [path, spec] of commands) expect(r.out).toMatch(new RegExp(`\\n  ${path.join(' ')} +${spec.summary.slice(0, 20).replace(/[()]/g, '\\$&')}`))
    expect(r.out).toContain('-v, --version')
  })

  it.each(commands.map(([path]) => [path.join(' '), path]))('%s: --help or -h anywhere in argv, and help <command>, print its help and exit 0', async (_name, path) => {
    const spec = commands.find(([p]) => p.join() === path.join())![1]
    const expected = (await run(['help', ...path])).out
    expect(expected).toMatch(new RegExp(`^Usage: rowcrypt ${path.join(' ')} `))
    for (const option of Object.keys(spec.options)) expect(expected).toContain(`--${option}`)
    expect(expected).toContain('-h, --help')
    expect(expected).toMatch(/\nExit codes:\n {2}0 /)
    for (const argv of [
      [...path, '--help'],
      [...path, '-h'],
      [...path, '--bogus', '--help'],
      [...path, '--config', '-h'],
      [...path, '--json', '--help'],
      ['--help', ...path],
      [path[0]!, '-h', ...path.slice(1)],
    ]) {
      const r = await run(argv)
      expect({ argv, code: r.code, out: r.out, err: r.err }).toEqual({ argv, code: 0, out: expected, err: '' })
      expect(r.loaded).toEqual([])
    }
  })

  it.each(groups.map((g) => [g]))('%s --help lists its subcommands and exits 0', async (group) => {
    const r = await run([group, '--help'])
    expect(r.code).toBe(0)
    expect(r.out).toMatch(new RegExp(`^Usage: rowcrypt ${group} <subcommand>`))
    expect(r.out).toMatch(/\nSubcommands:\n {2}\S+ +\S/)
  })

  it('status --help speaks of status only: its own output, exit codes and --json', async () => {
    const r = await run(['status', '--help'])
    expect(r.out).toContain('one JSON document')
    expect(r.out).not.toMatch(/JSON lines|rows failed|130|progress/)
  })
})

describe('usage errors: one line, a pointer to the help, exit 2', () => {
  it.each([
    [['rotates'], 'rowcrypt', "unknown command 'rotates' (did you mean 'rotate'?)"],
    [['KEYGEN'], 'rowcrypt', "unknown command 'KEYGEN' (did you mean 'keygen'?)"],
    [['--bogus'], 'rowcrypt', "unknown option '--bogus'"],
    [['tenant'], 'rowcrypt tenant', 'missing subcommand (shred)'],
    [['tenant', 'rename'], 'rowcrypt tenant', "unknown subcommand 'rename' (expected shred)"],
    [['tenant', 'shred'], 'rowcrypt tenant shred', "missing option '--tenant <id>'"],
    [['tenant', 'shred', '--tenant', 'a', '--kms-keys', 'burn'], 'rowcrypt tenant shred', "option '--kms-keys' must be one of schedule-deletion, disable, keep (got 'burn')"],
    [['tenant', 'shred', '--tenant', 'a', '--pending-window-days', '3'], 'rowcrypt tenant shred', "option '--pending-window-days' must be an integer from 7 to 30 (got '3')"],
    [['tenant', 'shred', '--tenant', 'a', 'extra'], 'rowcrypt tenant shred', "unexpected argument 'extra'"],
    [['tenant', 'shred', '--tenant', 'a'], 'rowcrypt tenant shred', 'refusing to shred without --yes when no one can confirm (stdin is not a terminal)'],
    [['rls', 'sql', '--schema', 'x'], 'rowcrypt rls sql', "unknown option '--schema' (did you mean '--db-schema'?)"],
    [['rotate', '--schema', 'x'], 'rowcrypt rotate', "unknown option '--schema' (did you mean '--db-schema'?)"],
    [['rotate', '--batch-size', '0'], 'rowcrypt rotate', "option '--batch-size' must be a positive integer (got '0')"],
    [['rotate', '--max-kms-rps', 'fast'], 'rowcrypt rotate', "option '--max-kms-rps' must be a positive number (got 'fast')"],
    [['rotate', '--model'], 'rowcrypt rotate', "option '--model' needs a value (<name>)"],
    [['rotate', '--model', '--dry-run'], 'rowcrypt rotate', "option '--model' needs a value (<name>)"],
    [['rotate', '--model='], 'rowcrypt rotate', "option '--model' needs a value (<name>)"],
    [['rotate', '--model', 'A', '--model', 'B'], 'rowcrypt rotate', "option '--model' is given more than once"],
    [['rotate', '--dry-run=yes'], 'rowcrypt rotate', "option '--dry-run' takes no value"],
    [['rotate', '--rekey', '--reindex'], 'rowcrypt rotate', "options '--rekey' and '--reindex' cannot be used together"],
    [['rotate', '--reindex', '--from', 'v1'], 'rowcrypt rotate', "options '--reindex' and '--from' cannot be used together"],
    [['rotate', '--from', 'v1,,v2'], 'rowcrypt rotate', "option '--from' needs <version> values, comma-separated or repeated"],
    [['rotate', '--from', 'v2', '--to', 'v2'], 'rowcrypt rotate', '--from must not include the --to version'],
    [['rotate', '--dryrun'], 'rowcrypt rotate', "unknown option '--dryrun' (did you mean '--dry-run'?)"],
    [['rotate', '-x'], 'rowcrypt rotate', "unknown option '-x'"],
    [['rotate', '--', 'x'], 'rowcrypt rotate', "unexpected argument 'x'"],
    [['verify', '--sample', 'abc'], 'rowcrypt verify', "option '--sample' must be a positive integer (got 'abc')"],
    [['status', '--version'], 'rowcrypt status', "unknown option '--version'"],
    [['encrypt-existing'], 'rowcrypt encrypt-existing', "missing option '--model <Model>'"],
    [['keygen', 'v2'], 'rowcrypt keygen', "unexpected argument 'v2'"],
    [['kms-dev-server', '--port', '70000'], 'rowcrypt kms-dev-server', "option '--port' must be an integer from 0 to 65535 (got '70000')"],
    [['kms-dev-server', '--latency', '-5'], 'rowcrypt kms-dev-server', "option '--latency' must be a number of at least 0 (got '-5')"],
    [['kms-dev-server', '--memory', '--file', 'k.json'], 'rowcrypt kms-dev-server', "options '--memory' and '--file' cannot be used together"],
    [['help', 'nope'], 'rowcrypt help', "unknown command 'nope'"],
  ])('%j', async (argv, name, message) => {
    const r = await run(argv)
    expect(r.code).toBe(2)
    expect(r.out).toBe('')
    expect(r.err).toBe(`${name}: ${message}\nRun '${name} --help' for usage.\n`)
    expect(r.loaded).toEqual([])
  })

  it.each(commands.map(([path]) => [path.join(' '), path]))('%s: an unknown option is a usage error naming the command', async (_name, path) => {
    const r = await run([...path, '--no-such-option'])
    expect(r.code).toBe(2)
    expect(r.err.split('\n')).toEqual([`rowcrypt ${path.join(' ')}: unknown option '--no-such-option'`, `Run 'rowcrypt ${path.join(' ')} --help' for usage.`, ''])
  })

  it('no command takes --schema for a database schema; --db-schema is the one name', () => {
    for (const [, spec] of commands) {
      expect(Object.keys(spec.options)).not.toContain('schema')
      if ('db-schema' in spec.options) expect(spec.options['db-schema']!.suggestFor).toContain('schema')
    }
    expect(
      commands
        .filter(([, spec]) => 'db-schema' in spec.options)
        .map(([p]) => p.join(' '))
        .sort(),
    ).toEqual(['rls sql', 'rotate', 'status', 'verify'])
  })
})

describe('--json: a failure is one JSON event on stdout, with the same exit code', () => {
  it.each(acceptsJson.map(([path]) => [path.join(' '), path]))('%s: a usage error', async (_name, path) => {
    const r = await run([...path, '--json', '--bogus'])
    expect(r.code).toBe(2)
    expect(r.err).toBe('')
    expect(r.out.endsWith('\n')).toBe(true)
    expect(r.out.trim().split('\n')).toHaveLength(1)
    expect(JSON.parse(r.out)).toEqual({ event: 'error', command: path.join(' '), code: 'ERR_ROWCRYPT_USAGE', message: "unknown option '--bogus'", exitCode: 2 })
  })

  it('an unknown command and a missing config file', async () => {
    const unknown = await run(['rotates', '--json'])
    expect(unknown.code).toBe(2)
    expect(JSON.parse(unknown.out)).toEqual({ event: 'error', code: 'ERR_ROWCRYPT_USAGE', message: "unknown command 'rotates' (did you mean 'rotate'?)", exitCode: 2 })
    const missing = await run(['status', '--json', '--config', 'missing.config.ts'])
    expect(missing.code).toBe(2)
    expect(missing.err).toBe('')
    expect(JSON.parse(missing.out)).toMatchObject({ event: 'error', command: 'status', code: 'ERR_ROWCRYPT_CONFIG', exitCode: 2 })
    expect(JSON.parse(missing.out).message).toContain('missing.config.ts does not exist')
  })

  it('which commands accept --json', () => {
    expect(acceptsJson.map(([p]) => p.join(' ')).sort()).toEqual(['encrypt-existing', 'kms-dev-server', 'rotate', 'status', 'tenant shred', 'verify'])
  })
})

describe('main and keygen', () => {
  function viaMain(argv: string[]) {
    const out: string[] = []
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true)
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true)
    return main(argv, (s) => out.push(s))
      .then((code) => ({ code, out: out.join(''), err: stderr.mock.calls.map((c) => String(c[0])).join(''), stdoutCalls: stdout.mock.calls.length }))
      .finally(() => {
        stderr.mockRestore()
        stdout.mockRestore()
      })
  }

  it('keygen prints one base64 32-byte key and nothing else, and exits 0', async () => {
    const r = await viaMain(['keygen'])
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^[A-Za-z0-9+/]{43}=\n$/)
    const key = Buffer.from(r.out.trim(), 'base64')
    expect(key).toHaveLength(32)
    expect(key.toString('base64')).toBe(r.out.trim())
    expect(r.err).toBe('')
    expect(r.stdoutCalls).toBe(0)
  })

  it('keygen prints a different key each time', async () => {
    const keys = new Set<string>()
    for (let i = 0; i < 5; i++) keys.add((await viaMain(['keygen'])).out)
    expect(keys.size).toBe(5)
  })

  it('main writes usage errors to stderr and nothing to stdout', async () => {
    const r = await viaMain(['rotate', '--bogus'])
    expect(r.code).toBe(2)
    expect(r.out).toBe('')
    expect(r.err).toBe("rowcrypt rotate: unknown option '--bogus'\nRun 'rowcrypt rotate --help' for usage.\n")
  })
})
