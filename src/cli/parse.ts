// The command line against the command table: which command it names, and its options as typed
// values. Every problem is a UsageError with a one-line message.
import { UsageError } from './errors'
import { isGroup, type Entry, type IntegerOption, type NumberOption, type OptionSpec, type OptionsSpec } from './spec'

/** Where the command line leads in the table. */
export interface Resolution {
  /** The command names found, e.g. `['tenant', 'shred']`; empty for `rowcrypt` itself. */
  readonly path: readonly string[]
  /** The deepest entry found; undefined for `rowcrypt` itself. */
  readonly entry: Entry | undefined
  /** The arguments after the command names. */
  readonly rest: readonly string[]
  /** What is wrong with the command names (unknown command, missing subcommand), if anything. */
  readonly problem: string | undefined
}

/** Follows the command names at the start of `argv` through `table`. */
export function resolveCommand(table: readonly Entry[], argv: readonly string[]): Resolution {
  const [first, ...afterFirst] = argv
  if (first === undefined || first.startsWith('-')) return { path: [], entry: undefined, rest: argv, problem: undefined }
  const entry = table.find((e) => e.name === first)
  if (entry === undefined)
    return {
      path: [],
      entry: undefined,
      rest: afterFirst,
      problem: `unknown command '${first}'${didYouMean(
        first,
        table.map((e) => e.name),
        "'",
      )}`,
    }
  if (!isGroup(entry)) return { path: [first], entry, rest: afterFirst, problem: undefined }
  const names = entry.subcommands.map((s) => s.name)
  const [second, ...afterSecond] = afterFirst
  if (second === undefined || second.startsWith('-')) return { path: [first], entry, rest: afterFirst, problem: `missing subcommand (${names.join(', ')})` }
  const sub = entry.subcommands.find((s) => s.name === second)
  if (sub === undefined) return { path: [first], entry, rest: afterSecond, problem: `unknown subcommand '${second}' (expected ${names.join(', ')})` }
  return { path: [first, second], entry: sub, rest: afterSecond, problem: undefined }
}

/** The arguments before `--`: the only ones that can be options. */
export function optionPart(argv: readonly string[]): readonly string[] {
  const end = argv.indexOf('--')
  return end === -1 ? argv : argv.slice(0, end)
}

/**
 * Parses `args` (the arguments after the command names) against `options`: `--name value`,
 * `--name=value`, flags without a value, repeatable lists. No positional arguments.
 */
export function parseOptions(options: OptionsSpec, args: readonly string[]): Record<string, unknown> {
  const given = new Map<string, string[]>()
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--') {
      if (i + 1 < args.length) throw new UsageError(`unexpected argument '${args[i + 1]}'`)
      break
    }
    if (!arg.startsWith('--')) throw new UsageError(strayArgument(arg))
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq === -1 ? undefined : eq)
    const spec = Object.hasOwn(options, name) ? options[name]! : undefined
    if (spec === undefined) throw new UsageError(`unknown option '--${name}'${suggestOption(name, options)}`)
    let raw: string
    if (spec.kind === 'flag') {
      if (eq !== -1) throw new UsageError(`option '--${name}' takes no value`)
      raw = ''
    } else if (eq !== -1) {
      raw = arg.slice(eq + 1)
    } else {
      const next = args[i + 1]
      if (next === undefined || next.startsWith('--')) throw new UsageError(`option '--${name}' needs a value (${spec.value})`)
      raw = next
      i++
    }
    const values = given.get(name) ?? []
    if (values.length > 0 && spec.kind !== 'list') throw new UsageError(`option '--${name}' is given more than once`)
    given.set(name, [...values, raw])
  }
  const parsed: Record<string, unknown> = {}
  for (const [name, spec] of Object.entries(options)) {
    const raw = given.get(name)
    if (raw === undefined && spec.kind === 'text' && spec.required === true) throw new UsageError(`missing option '--${name} ${spec.value}'`)
    for (const other of spec.conflicts ?? []) {
      if (raw !== undefined && given.has(other)) throw new UsageError(`options '--${name}' and '--${other}' cannot be used together`)
    }
    parsed[name] = convert(name, spec, raw)
  }
  return parsed
}

function convert(name: string, spec: OptionSpec, raw: string[] | undefined): unknown {
  if (spec.kind === 'flag') return raw !== undefined
  if (spec.kind === 'list') {
    const items = (raw ?? []).flatMap((v) => v.split(',')).map((v) => v.trim())
    if (items.some((v) => v === '')) throw new UsageError(`option '--${name}' needs ${spec.value} values, comma-separated or repeated`)
    return items
  }
  if (raw === undefined) return undefined
  const text = raw[0]!
  if (text === '') throw new UsageError(`option '--${name}' needs a value (${spec.value})`)
  if (spec.kind === 'text') {
    if (spec.choices !== undefined && !spec.choices.includes(text)) throw new UsageError(`option '--${name}' must be one of ${spec.choices.join(', ')} (got '${text}')`)
    return text
  }
  const n = Number(text)
  if (spec.kind === 'integer') {
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < spec.min || (spec.max !== undefined && n > spec.max))
      throw new UsageError(`option '--${name}' must be ${rangeText(spec)} (got '${text}')`)
    return n
  }
  if (text.trim() === '' || !Number.isFinite(n) || (spec.above !== undefined && n <= spec.above) || (spec.min !== undefined && n < spec.min))
    throw new UsageError(`option '--${name}' must be ${rangeText(spec)} (got '${text}')`)
  return n
}

/** What is wrong with an argument no command or option takes: `unknown option '-x'`, `unexpected argument 'x'`. */
export function strayArgument(arg: string): string {
  return arg.startsWith('-') && arg !== '-' ? `unknown option '${arg}'` : `unexpected argument '${arg}'`
}

/** `a positive integer`, `an integer from 7 to 30`, `a number above 0`. */
export function rangeText(spec: IntegerOption | NumberOption): string {
  if (spec.kind === 'integer') {
    if (spec.max !== undefined) return `an integer from ${spec.min} to ${spec.max}`
    return spec.min === 1 ? 'a positive integer' : `an integer of at least ${spec.min}`
  }
  if (spec.above === 0) return 'a positive number'
  return spec.above !== undefined ? `a number above ${spec.above}` : `a number of at least ${spec.min ?? 0}`
}

function suggestOption(name: string, options: OptionsSpec): string {
  const hinted = Object.entries(options).find(([, spec]) => spec.suggestFor?.includes(name))
  if (hinted !== undefined) return ` (did you mean '--${hinted[0]}'?)`
  return didYouMean(name, Object.keys(options), "'--")
}

/** ` (did you mean 'rotate'?)` for a near miss (edit distance at most 2), else ''. */
function didYouMean(word: string, candidates: readonly string[], quote: string): string {
  let best: { name: string; d: number } | undefined
  for (const name of candidates) {
    const d = distance(word.toLowerCase(), name)
    if (d <= Math.min(2, Math.floor(name.length / 3)) && (best === undefined || d < best.d)) best = { name, d }
  }
  return best === undefined ? '' : ` (did you mean ${quote}${best.name}'?)`
}

// Levenshtein distance.
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = row
  }
  return prev[b.length]!
}
