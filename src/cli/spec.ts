// The shapes of the command table (table.ts): commands, groups of subcommands and their options.
// Parsing (parse.ts), help (help.ts) and error reporting (run.ts) are derived from these shapes, so
// a command's options, its help and its usage errors cannot disagree.
import type { JobIO } from './io'

interface OptionBase {
  /** Help text: one sentence, with the default in parentheses where there is one. */
  readonly help: string
  /** Option names users may type for this one (`schema` for `db-schema`): a usage error suggests it. */
  readonly suggestFor?: readonly string[]
  /** Options that cannot be given together with this one. */
  readonly conflicts?: readonly string[]
}

/** `--dry-run`: present or not. */
export interface FlagOption extends OptionBase {
  readonly kind: 'flag'
}

/** `--model <name>`: a non-empty string, optionally one of `choices`. */
export interface TextOption extends OptionBase {
  readonly kind: 'text'
  readonly value: string
  readonly required?: boolean
  readonly choices?: readonly string[]
}

/** `--batch-size <n>`: an integer from `min` to `max`. */
export interface IntegerOption extends OptionBase {
  readonly kind: 'integer'
  readonly value: string
  readonly min: number
  readonly max?: number
}

/** `--max-kms-rps <n>`: a finite number above `above` (or from `min`). */
export interface NumberOption extends OptionBase {
  readonly kind: 'number'
  readonly value: string
  readonly above?: number
  readonly min?: number
}

/** `--from v1,v0` or `--from v1 --from v0`: repeatable, comma-separated, non-empty items. */
export interface ListOption extends OptionBase {
  readonly kind: 'list'
  readonly value: string
}

export type OptionSpec = FlagOption | TextOption | IntegerOption | NumberOption | ListOption
export type OptionsSpec = Readonly<Record<string, OptionSpec>>

/** The parsed value of one option. */
export type ValueOf<O extends OptionSpec> = O extends FlagOption
  ? boolean
  : O extends ListOption
    ? string[]
    : O extends IntegerOption | NumberOption
      ? number | undefined
      : O extends { required: true }
        ? string
        : string | undefined

/** The parsed options of a command, keyed by option name (`values['batch-size']`). */
export type Values<S extends OptionsSpec> = { -readonly [K in keyof S]: ValueOf<S[K]> }

/** An exit code and what it means for this command. */
export type ExitCode = readonly [code: number, meaning: string]

/** What a command's handler gets besides its options. */
export interface CommandContext {
  readonly io: JobIO
  /** `rowcrypt rotate`, `rowcrypt tenant shred`: the command as users type it. */
  readonly name: string
  /** Aborted by SIGINT / SIGTERM (commands with `stop`). */
  readonly signal: AbortSignal | undefined
}

/** One command: what it is called, what it does, what it accepts and how it runs. */
export interface CommandSpec<S extends OptionsSpec = OptionsSpec> {
  readonly name: string
  /** One line for the command list. */
  readonly summary: string
  /** Paragraphs of the help text, between the usage line and the options. */
  readonly description: string
  readonly options: S
  /** A paragraph after the options: what the command prints. */
  readonly output?: string
  readonly exitCodes: readonly ExitCode[]
  /**
   * How SIGINT and SIGTERM stop it: `batch`, after the current batch (a second signal exits at
   * once with 130); `server`, the first one stops it cleanly.
   */
  readonly stop?: 'batch' | 'server'
  /** Runs the command with its parsed options; resolves to the exit code. */
  readonly run: (values: Values<S>, context: CommandContext) => Promise<number>
}

/** A command made of subcommands (`rowcrypt tenant shred`). */
export interface GroupSpec {
  readonly name: string
  readonly summary: string
  readonly description: string
  readonly subcommands: readonly CommandSpec[]
}

export type Entry = CommandSpec | GroupSpec

export const isGroup = (entry: Entry): entry is GroupSpec => 'subcommands' in entry

/** Declares a command; checks `run` against the options and erases them for the table. */
export function command<S extends OptionsSpec>(spec: CommandSpec<S>): CommandSpec {
  return spec as unknown as CommandSpec
}

/** `--name`: a flag. */
export const flag = (help: string, extra: Omit<FlagOption, 'kind' | 'help'> = {}): FlagOption => ({ kind: 'flag', help, ...extra })

/** `--name <value>`: a non-empty string; `{ required: true }` makes it a `string` in the values. */
export function text<const E extends Omit<TextOption, 'kind' | 'help' | 'value'>>(value: string, help: string, extra?: E): TextOption & E {
  return { kind: 'text', value, help, ...(extra as E) }
}

/** `--name <n>`: an integer from `min` (default 1) to `max`. */
export const integer = (value: string, help: string, range: { min?: number; max?: number } = {}): IntegerOption => ({
  kind: 'integer',
  value,
  help,
  min: range.min ?? 1,
  ...(range.max !== undefined ? { max: range.max } : {}),
})

/** `--name <n>`: a finite number above `above` or from `min`. */
export const number = (value: string, help: string, range: { above?: number; min?: number }): NumberOption => ({ kind: 'number', value, help, ...range })

/** `--name <a,b>`: repeatable, comma-separated. */
export const list = (value: string, help: string): ListOption => ({ kind: 'list', value, help })
