// The pure half of `npm run bench:instructions` (bench/instructions.ts): reading callgrind's dump
// files and turning their instruction counts into per-call figures and the targets' ratios.

/** One timed sample: the instructions counted while one variant ran one repetition of a workload. */
export interface InstructionSample {
  workload: string
  variant: string
  rep: number
  /** Rows the repetition touched (the calls of a per-row workload, the rows of a findMany). */
  rows: number
  /** Instructions executed by every thread of the bench process while the sample ran. */
  instructions: number
}

/** The label a sample's dump carries (`callgrind_control --dump=<label>`): no spaces, parsed back by {@link parseDump}. */
export function sampleLabel(s: Omit<InstructionSample, 'instructions'>): string {
  for (const part of [s.workload, s.variant]) if (!/^[A-Za-z0-9-]+$/.test(part)) throw new Error(`not a label part: ${JSON.stringify(part)}`)
  if (!Number.isInteger(s.rep) || s.rep < 0 || !Number.isInteger(s.rows) || s.rows < 1) throw new Error('rep and rows must be whole numbers, rows at least 1')
  return `sample:${s.workload}:${s.variant}:${s.rep}:${s.rows}`
}

/**
 * The sample in one callgrind dump file's text, or undefined for a dump that is not a sample (the
 * one written at the program's end). A sample's dump names its label in its `desc: Trigger:` line and
 * its instruction count in `totals:` (the first column, in a dump of several events; its `summary:`
 * line is not the count of the dump).
 */
export function parseDump(text: string): InstructionSample | undefined {
  const trigger = /^desc: Trigger: [^\n]*?sample:([A-Za-z0-9-]+):([A-Za-z0-9-]+):(\d+):(\d+)\s*$/m.exec(text)
  if (trigger === null) return undefined
  const totals = /^totals:\s*(\d+)/m.exec(text)
  if (totals === null) throw new Error(`callgrind dump of ${trigger[0]} has no totals line`)
  return { workload: trigger[1]!, variant: trigger[2]!, rep: Number(trigger[3]), rows: Number(trigger[4]), instructions: Number(totals[1]) }
}

const median = (a: readonly number[]): number => {
  const s = [...a].sort((x, y) => x - y)
  const m = s.length >> 1
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** Per workload and variant: instructions per row, median over repetitions, with the smallest and largest. */
export interface InstructionCell {
  perRow: number
  min: number
  max: number
  samples: number
}

export type InstructionTable = Map<string, Map<string, InstructionCell>>

/** Groups samples by workload and variant (in the order they first appear) and takes medians per row. */
export function tabulate(samples: readonly InstructionSample[]): InstructionTable {
  const grouped = new Map<string, Map<string, number[]>>()
  for (const s of samples) {
    let byVariant = grouped.get(s.workload)
    if (byVariant === undefined) grouped.set(s.workload, (byVariant = new Map()))
    const list = byVariant.get(s.variant) ?? []
    list.push(s.instructions / s.rows)
    byVariant.set(s.variant, list)
  }
  const out: InstructionTable = new Map()
  for (const [w, byVariant] of grouped) {
    const cells = new Map<string, InstructionCell>()
    for (const [v, perRow] of byVariant) cells.set(v, { perRow: median(perRow), min: Math.min(...perRow), max: Math.max(...perRow), samples: perRow.length })
    out.set(w, cells)
  }
  return out
}

/** The ratio of `a`'s instructions per row to `b`'s on workload `w`, when both ran it. */
export function instructionRatio(table: InstructionTable, w: string, a: string, b: string): number | undefined {
  const x = table.get(w)?.get(a)
  const y = table.get(w)?.get(b)
  return x === undefined || y === undefined ? undefined : x.perRow / y.perRow
}

/** The ratios the bench's targets are stated in, as far as the variants that ran allow. */
export const RATIO_ROWS: ReadonlyArray<{ what: string; a: string; b: string }> = [
  { what: 'rowcrypt / bound', a: 'rowcrypt', b: 'bound' },
  { what: 'rowcrypt / prisma-field-encryption', a: 'rowcrypt', b: 'pfe' },
  { what: 'AWS KMS warm / local keys', a: 'rowcrypt-kms', b: 'rowcrypt' },
  { what: 'rowcrypt-core / bound', a: 'rowcrypt-core', b: 'bound' },
  { what: 'rowcrypt / rowcrypt-core', a: 'rowcrypt', b: 'rowcrypt-core' },
  { what: 'A/A control: bound-twin / bound', a: 'bound-twin', b: 'bound' },
]

const fmtCount = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(1)} k`)

/** The console (and Markdown) report: instructions per row per variant, then the ratios. */
export function renderInstructions(table: InstructionTable): string {
  const workloads = [...table.keys()]
  const variants = [...new Set(workloads.flatMap((w) => [...table.get(w)!.keys()]))]
  const lines: string[] = []
  lines.push(`| workload | ${variants.join(' | ')} |`, `|---|${variants.map(() => '---:').join('|')}|`)
  for (const w of workloads) {
    const cells = variants.map((v) => {
      const c = table.get(w)!.get(v)
      if (c === undefined) return ''
      const plain = v === 'plain' ? undefined : instructionRatio(table, w, v, 'plain')
      return `${fmtCount(c.perRow)}${plain === undefined ? '' : ` (${plain.toFixed(2)}×)`}`
    })
    lines.push(`| ${w} | ${cells.join(' | ')} |`)
  }
  const rows = RATIO_ROWS.map((r) => ({ ...r, values: workloads.map((w) => instructionRatio(table, w, r.a, r.b)) })).filter((r) => r.values.some((x) => x !== undefined))
  if (rows.length > 0) {
    lines.push('', `| ratio of instructions per row | ${workloads.join(' | ')} |`, `|---|${workloads.map(() => '---:').join('|')}|`)
    for (const r of rows) lines.push(`| ${r.what} | ${r.values.map((x) => (x === undefined ? '' : `${x.toFixed(3)}×`)).join(' | ')} |`)
  }
  const spread = workloads.flatMap((w) => [...table.get(w)!.values()].map((c) => (c.max - c.min) / c.perRow))
  lines.push('', `Largest spread of one cell's repetitions (max − min over the median): ${(100 * Math.max(0, ...spread)).toFixed(2)}%.`)
  return lines.join('\n')
}
