// Reads Prometheus text exposition output into comparable lines: `name{a="x",b="y"} value` with
// the labels sorted by name, so tests can assert exact label sets and values.
export interface PromSample {
  name: string
  labels: Record<string, string>
  value: number
}

export function parsePromText(text: string): PromSample[] {
  const out: PromSample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line)
    if (m === null) throw new Error(`unparseable metrics line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
    out.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return out
}

/** The samples of exactly `name` (not its `_bucket`/`_sum`/`_count` siblings), as sorted lines. */
export function series(text: string, name: string): string[] {
  return parsePromText(text)
    .filter((s) => s.name === name)
    .map(format)
    .sort()
}

export function format(s: PromSample): string {
  const labels = Object.keys(s.labels)
    .sort()
    .map((k) => `${k}="${s.labels[k]}"`)
    .join(',')
  return `${s.name}{${labels}} ${s.value}`
}

/** Builds the expected line for `name` with `labels` and `value`, in the same form. */
export function line(name: string, labels: Record<string, string>, value: number): string {
  return format({ name, labels, value })
}
