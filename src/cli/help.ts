// Help texts, rendered from the command table: the usage line, description, options (with the
// implicit -h, --help), output and exit codes of a command; the command list of a group and of
// `rowcrypt` itself.
import { isGroup, type CommandSpec, type Entry, type GroupSpec, type OptionSpec } from './spec'

const WIDTH = 100

/** The help of `entry` (reached by `path`), or of `rowcrypt` itself when `entry` is undefined. */
export function renderHelp(table: readonly Entry[], path: readonly string[], entry: Entry | undefined, intro: string): string {
  if (entry === undefined) return rootHelp(table, intro)
  const name = ['rowcrypt', ...path].join(' ')
  return isGroup(entry) ? groupHelp(name, entry) : commandHelp(name, entry)
}

function rootHelp(table: readonly Entry[], intro: string): string {
  const rows = table.flatMap((e): Array<[string, string]> => (isGroup(e) ? e.subcommands.map((s) => [`${e.name} ${s.name}`, s.summary]) : [[e.name, e.summary]]))
  rows.push(['help [command]', 'Show the help of a command (as does --help after any command)'])
  return (
    [
      'Usage: rowcrypt <command> [options]',
      wrap(intro, ''),
      `Commands:\n${columns(rows)}`,
      `Options:\n${columns([
        ['-h, --help', 'Show this help'],
        ['-v, --version', 'Print the version of rowcrypt'],
      ])}`,
      [
        "Run 'rowcrypt <command> --help' for a command's options.",
        wrap('Exit codes: 0 success, 1 failures found or the command failed, 2 usage or configuration error, 130 stopped by SIGINT or SIGTERM (run again to continue).', ''),
      ].join('\n'),
    ].join('\n\n') + '\n'
  )
}

function groupHelp(name: string, group: GroupSpec): string {
  return (
    [
      `Usage: ${name} <subcommand> [options]`,
      wrap(group.description, ''),
      `Subcommands:\n${columns(group.subcommands.map((s) => [s.name, s.summary]))}`,
      `Run '${name} <subcommand> --help' for its options.`,
    ].join('\n\n') + '\n'
  )
}

function commandHelp(name: string, spec: CommandSpec): string {
  const required = Object.entries(spec.options).filter(([, o]) => o.kind === 'text' && o.required === true)
  const usage = [name, ...required.map(([n, o]) => `--${n} ${(o as { value: string }).value}`), '[options]'].join(' ')
  const options: Array<[string, string]> = Object.entries(spec.options).map(([n, o]) => [optionLabel(n, o), o.help])
  options.push(['-h, --help', 'Show this help'])
  const parts = [`Usage: ${usage}`, ...spec.description.split('\n\n').map((p) => wrap(p, '')), `Options:\n${columns(options)}`]
  if (spec.output !== undefined) parts.push(wrap(`Output: ${spec.output}`, ''))
  parts.push(`Exit codes:\n${spec.exitCodes.map(([code, meaning]) => wrap(meaning, ' '.repeat(7), `  ${String(code).padEnd(5)}`)).join('\n')}`)
  return parts.join('\n\n') + '\n'
}

function optionLabel(name: string, o: OptionSpec): string {
  if (o.kind === 'flag') return `--${name}`
  return `--${name} ${o.value}`
}

/** Two columns: labels padded to the longest, descriptions wrapped under themselves. */
function columns(rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.min(26, Math.max(...rows.map(([label]) => label.length)) + 2)
  return rows
    .map(([label, text]) => {
      const indent = ' '.repeat(width + 2)
      return label.length + 2 > width ? `  ${label}\n${wrap(text, indent)}` : wrap(text, indent, `  ${label.padEnd(width)}`)
    })
    .join('\n')
}

/** Wraps `text` at {@link WIDTH}; the first line starts with `first` (default: `indent`). */
function wrap(text: string, indent: string, first = indent): string {
  const lines: string[] = []
  let line = first
  let empty = true
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (!empty && line.length + 1 + word.length > WIDTH) {
      lines.push(line)
      line = indent + word
    } else {
      line += (empty ? '' : ' ') + word
    }
    empty = false
  }
  lines.push(line)
  return lines.join('\n')
}
