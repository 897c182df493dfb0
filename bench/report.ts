// Statistics and output of the bench: the console table, latest.json's shape and RESULTS.md.

export interface Summary {
  samplesMs: number[]
  minMs: number
  medianMs: number
  maxMs: number
}

export function summarize(samplesMs: number[]): Summary {
  const s = [...samplesMs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  const median = s.length === 0 ? NaN : s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
  return { samplesMs: samplesMs.map(round2), minMs: round2(s[0] ?? NaN), medianMs: round2(median), maxMs: round2(s[s.length - 1] ?? NaN) }
}

export interface VariantResult extends Summary {
  /** Median CPU time (user + system) of the bench process per repetition, in milliseconds. */
  cpuMedianMs: number
  /** Median per row or per call, in microseconds. */
  perRowUs: number
  /** Median ratio against plain Prisma (absent for plain itself). */
  ratio?: number
  /** Ratio of the fastest samples (min / plain's min). */
  minRatio?: number
  /** Median over repetitions of (this variant's sample / plain's sample of the same repetition). */
  pairedRatio?: number
  /** Median CPU time of this variant / median CPU time of plain Prisma (the process's own work only). */
  cpuRatio?: number
  meetsTarget?: boolean
  /** KMS requests per repetition (KMS variants only): min, median, max. */
  kmsCalls?: { min: number; median: number; max: number }
  /** Peak RSS and heap seen while this variant ran this workload, in MiB. */
  peakRssMiB: number
  peakHeapUsedMiB: number
  /**
   * Workloads that measure memory (findManyLarge): growth of heap used, external memory (Buffers)
   * and RSS over one call, from after a full collection before it to their peak during it (heap sizes
   * before each collection, samples, and one at its end); median (and the largest heap growth) over
   * repetitions, in MiB.
   */
  callMemory?: { heapMiB: number; externalMiB: number; rssMiB: number; heapMaxMiB: number }
}

export interface WorkloadResult {
  name: string
  label: string
  size: number
  /** Prisma calls per repetition (one per row for create, findUnique, update; one for findMany, createMany). */
  callsPerRepetition: number
  target: number
  variants: Record<string, VariantResult>
}

/** What RLS with adapter pinning adds per query: rowcrypt-rls against rowcrypt, per workload. */
export interface RlsCost {
  workload: string
  label: string
  /** Median per call of each, and their difference, in microseconds. */
  rowcryptUs: number
  rlsUs: number
  addedUs: number
  /** rowcrypt-rls median / rowcrypt median. */
  ratio: number
}

/** The cost of RLS per workload, when the run has both rowcrypt and rowcrypt-rls. */
export function rlsCosts(r: BenchResults): RlsCost[] {
  const out: RlsCost[] = []
  for (const w of r.workloads) {
    const a = w.variants.rowcrypt
    const b = w.variants['rowcrypt-rls']
    if (a === undefined || b === undefined) continue
    const perCall = (ms: number) => (ms * 1000) / w.callsPerRepetition
    out.push({
      workload: w.name,
      label: label(w),
      rowcryptUs: round2(perCall(a.medianMs)),
      rlsUs: round2(perCall(b.medianMs)),
      addedUs: round2(perCall(b.medianMs - a.medianMs)),
      ratio: round2(b.medianMs / a.medianMs),
    })
  }
  return out
}

function fmtUs(x: number): string {
  return Math.abs(x) >= 1000 ? `${(x / 1000).toFixed(2)} ms` : `${x.toFixed(0)} µs`
}

export interface FloorResult {
  rows: number
  decrypt: Summary
  decryptWithUnwrap: Summary
  coreDecryptRow: Summary
}

export interface BenchResults {
  meta: Record<string, unknown>
  config: { size: number; repetitions: number; cheapRepeats: number; largeRepeats?: number; slices: number; warmup: boolean; variants: string[]; workloads: string[] }
  workloads: WorkloadResult[]
  floor?: FloorResult
  memory: { maxRssMiB: number; rssAtEndMiB: number; heapUsedAtEndMiB: number }
  kms: { status: string; coldFindManyCalls?: number }
  durationSeconds: number
}

export function round2(x: number): number {
  return Math.round(x * 100) / 100
}

export function mib(bytes: number): number {
  return round2(bytes / 1024 / 1024)
}

function fmtMs(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n)
}

// ---- targets -------------------------------------------------------------------------------------

/** One comparison of two variants on one workload, from the same run. */
export interface Comparison {
  workload: string
  /** Median of `a` / median of `b`. */
  value: number
  /** Median over repetitions of `a`'s sample / `b`'s sample of the same repetition. */
  paired: number
  pass?: boolean
}

/** A line of the targets table: a measure per workload, and its bound. */
export interface TargetCheck {
  what: string
  /** Upper bound of the value; undefined: shown for information. */
  target?: number
  /** `×` for ratios, `calls` for KMS calls. */
  unit: '×' | 'calls'
  cells: Comparison[]
}

/** `a` / `b` on workload `w`, when both ran it. */
export function compare(w: WorkloadResult, a: string, b: string, target?: number): Comparison | undefined {
  const x = w.variants[a]
  const y = w.variants[b]
  if (x === undefined || y === undefined || x.samplesMs.length === 0 || y.samplesMs.length === 0) return undefined
  const value = round2(x.medianMs / y.medianMs)
  const paired = round2(summarize(x.samplesMs.map((s, i) => s / y.samplesMs[i]!)).medianMs)
  return { workload: w.name, value, paired, ...(target !== undefined ? { pass: value <= target } : {}) }
}

/** The targets, each measured per workload in this run (workloads or variants not run are left out). */
export function targetChecks(r: BenchResults): TargetCheck[] {
  const ratio = (what: string, a: string, b: string, target: number | undefined, only?: string): TargetCheck => ({
    what,
    ...(target !== undefined ? { target } : {}),
    unit: '×',
    cells: r.workloads.flatMap((w) => {
      const c = only === undefined || w.name === only ? compare(w, a, b, target) : undefined
      return c === undefined ? [] : [c]
    }),
  })
  const checks = [
    ratio('rowcrypt / bound, every workload (local keys)', 'rowcrypt', 'bound', 1.1),
    ratio('rowcrypt / prisma-field-encryption, every workload', 'rowcrypt', 'pfe', 1.0),
    ratio('AWS KMS hierarchical, warm / local keys, every workload', 'rowcrypt-kms', 'rowcrypt', 1.05),
    ratio('AWS KMS hierarchical, cold / local keys (new provider each repetition)', 'rowcrypt-kms-cold', 'rowcrypt', undefined),
    ratio("cold update / bound's cold update", 'rowcrypt', 'bound', 1.1, 'updateCold'),
    ratio('rowcrypt with rls: true (adapter wrapped with withRlsPinning) / rowcrypt, every workload', 'rowcrypt-rls', 'rowcrypt', 1.25),
    ratio("rowcrypt with rls: { pinning: 'transaction' } (a transaction per statement) / rowcrypt", 'rowcrypt-rls-tx', 'rowcrypt', undefined),
    // What a compare-and-swap condition on updates costs the bound, and rowcrypt against that.
    ratio("updates: bound-cas / bound (the bound with rowcrypt's compare-and-swap condition)", 'bound-cas', 'bound', undefined),
    ratio('updates: rowcrypt / bound-cas', 'rowcrypt', 'bound-cas', undefined),
    // rowcrypt's cryptography alone in a bare hook, and what its query engine adds to that.
    ratio("rowcrypt-core / bound (rowcrypt's cryptography without its query engine)", 'rowcrypt-core', 'bound', undefined),
    ratio('updates: rowcrypt-core / bound-cas', 'rowcrypt-core', 'bound-cas', undefined),
    ratio('rowcrypt / rowcrypt-core (what the query engine adds)', 'rowcrypt', 'rowcrypt-core', undefined),
    // What the harness alone makes of two equal variants in this run: the noise of the cells above.
    ratio('A/A control: bound-twin / bound (two identical instances)', 'bound-twin', 'bound', undefined),
  ]
  // KMS calls of a findMany of the seeded tenant on a new provider: in every repetition of
  // rowcrypt-kms-cold (the largest count of the repetitions), else the one check after the rounds.
  const fm = r.workloads.find((w) => w.name === 'findMany')
  const cold = fm?.variants['rowcrypt-kms-cold']?.kmsCalls
  const calls = cold !== undefined ? cold.max : r.kms.coldFindManyCalls
  if (calls !== undefined) {
    checks.push({
      what: `KMS calls, cold findMany of ${(fm?.size ?? r.config.size).toLocaleString('en-US')} rows of one tenant${cold !== undefined ? ' (most in a repetition)' : ''}`,
      target: 1,
      unit: 'calls',
      cells: [{ workload: 'findMany', value: calls, paired: calls, pass: calls <= 1 }],
    })
  }
  return checks.filter((c) => c.cells.length > 0)
}

function fmtTarget(c: TargetCheck): string {
  return c.unit === 'calls' ? String(c.target) : `${c.target!.toFixed(2)}×`
}

function fmtCell(c: Comparison | undefined, unit: TargetCheck['unit'], markdown: boolean): string {
  if (c === undefined) return markdown ? '' : '—'
  const mark = c.pass === undefined ? '' : c.pass ? ' ✓' : ' ✗'
  if (unit === 'calls') return `${c.value}${mark}`
  const v = markdown && c.pass === false ? `**${c.value.toFixed(2)}×**` : `${c.value.toFixed(2)}×`
  return `${v}${mark} (${c.paired.toFixed(2)})`
}

/** Short workload names for the targets table's columns. */
function shortLabel(w: WorkloadResult): string {
  const n = w.size.toLocaleString('en-US')
  switch (w.name) {
    case 'create':
      return `create ×${n}`
    case 'createMany':
      return `createMany ${n}`
    case 'findMany':
    case 'findManyLarge':
      return `findMany ${n}`
    case 'findUnique':
      return `findUnique ×${n}`
    case 'update':
      return `update ×${n}`
    case 'updateCold':
      return `cold update ×${n}`
    default:
      return label(w)
  }
}

function targetLines(r: BenchResults): string[] {
  const checks = targetChecks(r)
  if (checks.length === 0) return []
  const cells = checks.flatMap((c) => c.cells.filter((x) => x.pass !== undefined))
  const lines = [`targets (median of the variant / median of the other, this run; paired median in parentheses): ${cells.filter((c) => c.pass).length} of ${cells.length} met`]
  const cols = r.workloads.map((w) => ({ w, width: Math.max(shortLabel(w).length, 15) }))
  lines.push(['  ' + pad('what', 72), pad('target', 7), ...cols.map((c) => pad(shortLabel(c.w), c.width, true))].join(' '))
  for (const c of checks) {
    lines.push(
      [
        '  ' + pad(c.what, 72),
        pad(c.target === undefined ? '' : `≤${fmtTarget(c)}`, 7),
        ...cols.map((col) =>
          pad(
            fmtCell(
              c.cells.find((x) => x.workload === col.w.name),
              c.unit,
              false,
            ),
            col.width,
            true,
          ),
        ),
      ].join(' '),
    )
  }
  return lines
}

function targetMarkdown(r: BenchResults): string[] {
  const checks = targetChecks(r)
  if (checks.length === 0) return []
  const cells = checks.flatMap((c) => c.cells.filter((x) => x.pass !== undefined))
  return section(
    `**Targets** (${cells.filter((c) => c.pass).length} of ${cells.length} met): each value is the median of one variant / the median of the other in this run, with the paired median (over repetitions, of the two samples taken side by side) in parentheses; ✓ when the value is within the target. Workloads a variant does not run are left empty.`,
    ['what', 'target', ...r.workloads.map(shortLabel)],
    checks.map((c) => [
      c.what,
      c.target === undefined ? '(information)' : `≤ ${fmtTarget(c)}`,
      ...r.workloads.map((w) =>
        fmtCell(
          c.cells.find((x) => x.workload === w.name),
          c.unit,
          true,
        ),
      ),
    ]),
  )
}

/** Heap and RSS growth of one findManyLarge call per variant (when it ran). */
function largeMemory(r: BenchResults): Array<{ label: string; variant: string; m: NonNullable<VariantResult['callMemory']>; medianMs: number }> {
  return r.workloads.flatMap((w) => Object.entries(w.variants).flatMap(([variant, v]) => (v.callMemory === undefined ? [] : [{ label: label(w), variant, m: v.callMemory, medianMs: v.medianMs }])))
}

// ---- the README's Performance table -------------------------------------------------------------

/** The columns of the README table: variants as ratios to plain Prisma, then two ratios between variants. */
const README_COLUMNS: ReadonlyArray<{ head: string; cell(w: WorkloadResult): string }> = [
  { head: 'Prisma 7 (plain)', cell: (w) => (w.variants.plain === undefined ? '' : `${fmtMs(w.variants.plain.medianMs)} ms`) },
  ...(
    [
      ['bound¹', 'bound'],
      ['rowcrypt', 'rowcrypt'],
      ['prisma-field-encryption', 'pfe'],
      ['rowcrypt + AWS KMS, warm', 'rowcrypt-kms'],
      ['rowcrypt + AWS KMS, cold²', 'rowcrypt-kms-cold'],
      ['rowcrypt, RLS (adapter pinning)', 'rowcrypt-rls'],
    ] as const
  ).map(([head, v]) => ({ head, cell: (w: WorkloadResult) => (w.variants[v]?.ratio === undefined ? '' : `${w.variants[v].ratio.toFixed(2)}×`) })),
  { head: 'rowcrypt / bound', cell: (w) => ratioCell(compare(w, 'rowcrypt', 'bound')) },
  { head: 'rowcrypt / prisma-field-encryption', cell: (w) => ratioCell(compare(w, 'rowcrypt', 'pfe')) },
]

function ratioCell(c: Comparison | undefined): string {
  return c === undefined ? '' : `${c.value.toFixed(2)}×`
}

/** bench/README-table.md: the README's Performance table and its machine line. */
export function renderReadmeTable(r: BenchResults): string {
  const m = r.meta as Record<string, string>
  const date = String(m.date).slice(0, 10)
  const out: string[] = []
  out.push(
    ...markdownTable(
      ['workload', ...README_COLUMNS.map((c) => c.head)],
      r.workloads.map((w) => [readmeLabel(w), ...README_COLUMNS.map((c) => c.cell(w))]),
    ),
  )
  out.push(
    `Time of plain Prisma 7 (median), the others as a ratio to it, all in the same run. ¹ bound: the least any extension with a key per row and AES-256-GCM per field can cost (the cryptography alone, through a query extension). ² a new key provider per repetition: its first call loads the tenant key (one KMS Decrypt). Cold update: a row this client has not read before. AWS KMS: the local KMS server of \`rowcrypt/kms-dev-server\` (no network latency).`,
  )
  out.push('')
  out.push(
    `Measured ${date} on ${m.cpu}, ${m.cores} cores, ${m.memory}; Node ${m.node}, PostgreSQL ${String(m.postgres).split(' ')[0]} (same host), Prisma ${m.prisma} with @prisma/adapter-pg ${m.adapterPg}, prisma-field-encryption ${m.pfe}; median of ${r.config.repetitions} rounds (\`${m.command}\`, bench/RESULTS.md).`,
  )
  out.push('')
  return out.join('\n')
}

/** A workload's label for users. */
function readmeLabel(w: WorkloadResult): string {
  const n = w.size.toLocaleString('en-US')
  switch (w.name) {
    case 'create':
      return `create, one by one (${n})`
    case 'createMany':
      return `createMany of ${n}`
    case 'findMany':
    case 'findManyLarge':
      return `findMany of ${n}`
    case 'findUnique':
      return `findUnique (${n})`
    case 'update':
      return `update of one encrypted field (${n})`
    case 'updateCold':
      return `the same, rows not read before (${n})`
    default:
      return label(w)
  }
}

/** The console table. */
export function renderTable(r: BenchResults): string {
  const lines: string[] = []
  const head = [
    pad('workload', 36),
    pad('variant', 17),
    pad('min ms', 9, true),
    pad('median ms', 10, true),
    pad('max ms', 9, true),
    pad('µs/row', 8, true),
    pad('ratio', 7, true),
    pad('paired', 7, true),
    pad('cpu', 7, true),
    pad('target', 8, true),
    pad('KMS calls', 10, true),
    pad('peak RSS', 9, true),
  ]
  lines.push(head.join(' '))
  lines.push('-'.repeat(head.join(' ').length))
  for (const w of r.workloads) {
    let first = true
    for (const [name, v] of Object.entries(w.variants)) {
      const ratio = v.ratio === undefined ? '' : `${v.ratio.toFixed(2)}×`
      const target = v.ratio === undefined ? '' : `≤${w.target.toFixed(2)} ${v.meetsTarget ? '✓' : '✗'}`
      const kms = v.kmsCalls === undefined ? '' : String(v.kmsCalls.median)
      lines.push(
        [
          pad(first ? label(w) : '', 36),
          pad(name, 17),
          pad(fmtMs(v.minMs), 9, true),
          pad(fmtMs(v.medianMs), 10, true),
          pad(fmtMs(v.maxMs), 9, true),
          pad(v.perRowUs.toFixed(0), 8, true),
          pad(ratio, 7, true),
          pad(v.pairedRatio === undefined ? '' : `${v.pairedRatio.toFixed(2)}×`, 7, true),
          pad(v.cpuRatio === undefined ? '' : `${v.cpuRatio.toFixed(2)}×`, 7, true),
          pad(target, 8, true),
          pad(kms, 10, true),
          pad(`${v.peakRssMiB.toFixed(0)} MiB`, 9, true),
        ].join(' '),
      )
      first = false
    }
  }
  if (r.floor !== undefined) {
    const f = r.floor
    lines.push('')
    lines.push(`floor: raw node:crypto AES-256-GCM decryption of the 4 values of ${f.rows} rows: median ${fmtMs(f.decrypt.medianMs)} ms (min ${fmtMs(f.decrypt.minMs)}, max ${fmtMs(f.decrypt.maxMs)})`)
    lines.push(`       plus one key unwrap per row:                                 median ${fmtMs(f.decryptWithUnwrap.medianMs)} ms`)
    lines.push(`       rowcrypt core decryptRow (no Prisma, no database):           median ${fmtMs(f.coreDecryptRow.medianMs)} ms`)
  }
  const rls = rlsCosts(r)
  if (rls.length > 0) {
    lines.push('')
    lines.push('RLS (rowcrypt-rls against rowcrypt, median per query):')
    for (const c of rls)
      lines.push(
        `  ${pad(c.label, 36)} rowcrypt ${pad(fmtUs(c.rowcryptUs), 9, true)}  rowcrypt-rls ${pad(fmtUs(c.rlsUs), 9, true)}  added ${pad(`${c.addedUs >= 0 ? '+' : ''}${fmtUs(c.addedUs)}`, 10, true)}  (${c.ratio.toFixed(2)}×)`,
      )
  }
  const bounds = boundGaps(r)
  if (bounds.length > 0) {
    lines.push('')
    lines.push('against the bound (least cost of any per-row-key, per-field AES-256-GCM extension):')
    for (const b of bounds)
      lines.push(
        `  ${pad(b.label, 36)} bound ${b.bound.toFixed(2)}× (target ≤ ${b.target.toFixed(2)}×${b.bound > b.target ? ', not reachable' : ''})  rowcrypt ${b.rowcrypt.toFixed(2)}×  rowcrypt/bound ${(b.rowcrypt / b.bound).toFixed(2)}×${b.boundRow !== undefined ? `  bound-row ${b.boundRow.toFixed(2)}×` : ''}`,
      )
  }
  const targets = targetLines(r)
  if (targets.length > 0) lines.push('', ...targets)
  const large = largeMemory(r)
  const memoryLine = (x: (typeof large)[number]) =>
    `  ${pad(x.label, 24)} ${pad(x.variant, 18)} heap +${pad(x.m.heapMiB.toFixed(0), 4, true)} MiB (most +${x.m.heapMaxMiB.toFixed(0)})  Buffers +${pad(x.m.externalMiB.toFixed(0), 3, true)} MiB  RSS +${pad(x.m.rssMiB.toFixed(0), 4, true)} MiB`
  if (large.length > 0) lines.push('', 'peak memory of one call (growth from after a full collection to the peak during the call; median over repetitions):', ...large.map(memoryLine))
  lines.push('')
  lines.push(
    `memory: peak RSS of the process ${r.memory.maxRssMiB.toFixed(0)} MiB (resourceUsage maxRSS); at the end RSS ${r.memory.rssAtEndMiB.toFixed(0)} MiB, heap used ${r.memory.heapUsedAtEndMiB.toFixed(0)} MiB`,
  )
  lines.push(
    `KMS variant: ${r.kms.status}${r.kms.coldFindManyCalls !== undefined ? `; cold findMany of ${r.config.size} rows of one tenant: ${r.kms.coldFindManyCalls} KMS call(s) (target ≤ 1)` : ''}`,
  )
  lines.push(`bench took ${r.durationSeconds.toFixed(0)} s`)
  return lines.join('\n')
}

/** Per workload, the bound's and rowcrypt's median ratios to plain Prisma (when both ran). */
export function boundGaps(r: BenchResults): Array<{ label: string; target: number; bound: number; boundRow?: number; rowcrypt: number }> {
  const out: Array<{ label: string; target: number; bound: number; boundRow?: number; rowcrypt: number }> = []
  for (const w of r.workloads) {
    const bound = w.variants.bound?.ratio
    const boundRow = w.variants['bound-row']?.ratio
    const rowcrypt = w.variants.rowcrypt?.ratio
    if (bound !== undefined && rowcrypt !== undefined) out.push({ label: label(w), target: w.target, bound, ...(boundRow !== undefined ? { boundRow } : {}), rowcrypt })
  }
  return out
}

/** A Markdown table (first column left-aligned, the others right-aligned), then an empty line. */
function markdownTable(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`
  return [
    line(head),
    `|---|${head
      .slice(1)
      .map(() => '---:|')
      .join('')}`,
    ...rows.map(line),
    '',
  ]
}

/** A paragraph, then a Markdown table. */
function section(caption: string, head: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  return [caption, '', ...markdownTable(head, rows)]
}

/** A workload's label with its size (`findMany of 1000`). */
function label(w: WorkloadResult): string {
  return w.label.replace('N', String(w.size))
}

/** The committed summary of the last full run. */
export function renderMarkdown(r: BenchResults): string {
  const m = r.meta as Record<string, string>
  const variants = r.config.variants.filter((v) => v !== 'plain')
  const out: string[] = []
  out.push('# Benchmark results')
  out.push('')
  out.push('Written by `npm run bench` from its last full run (a `--quick` run does not touch this file), with')
  out.push('[README-table.md](README-table.md), the compact table for the README.')
  out.push('Raw samples: `bench/results/latest.json` (git-ignored). How the bench works and what the profile')
  out.push('showed: [PROFILE.md](PROFILE.md).')
  out.push('')
  out.push(`- Run: ${m.date}, \`${m.command}\`, took ${r.durationSeconds.toFixed(0)} s`)
  out.push(`- Machine: ${m.cpu}, ${m.cores} cores, ${m.memory}; ${m.platform}`)
  out.push(
    `- Software: Node ${m.node}, PostgreSQL ${m.postgres} (same host, 127.0.0.1), Prisma ${m.prisma} with @prisma/adapter-pg ${m.adapterPg} (CLI ${m.prismaCli}), prisma-field-encryption ${m.pfe}, @aws-sdk/client-kms ${m.awsSdkKms}; rowcrypt at ${m.commit}`,
  )
  out.push(
    `- Method: ${r.config.size} rows of four encrypted fields (email, name, ssn, 1 KB notes) in one PostgreSQL table; every workload runs once per variant as warm-up, then ${r.config.repetitions} rounds. In a round, the per-row workloads (create, findUnique, update) run in ${r.config.slices} slices of rows with the variants alternating slice by slice; findMany and createMany run ${r.config.cheapRepeats}× per round and the findMany of ten times the rows ${r.config.largeRepeats ?? 1}×, alternating call by call; the order of the variants changes from slice to slice (and call to call) following a Williams design, so that each variant runs in each place, and after each other variant, equally often (\`bench/order.ts\`); a full \`gc()\` before each repetition and a young-generation one before each slice; \`VACUUM ANALYZE\` (untimed) after each round, autovacuum off for the table. Ratio = median of the variant / median of plain Prisma (the issue's measure); paired = median over repetitions of variant / plain in the same repetition (less sensitive to load on the machine).`,
  )
  out.push(
    "- Variants: `plain` (Prisma 7, no extension, the tenant filtered by hand), `noop-ext` (a query extension that only calls `query(args)`, inside `withTenant`), `bound` (the least any per-row-key, per-field AES-256-GCM extension can cost: noop-ext plus only the unavoidable `node:crypto` calls, storing values of rowcrypt's size; `boundTarget` in `bench/workloads.ts`), `bound-twin` (a second, identical instance of the bound: an A/A control, whose ratio to the bound is the run's own noise), `bound-cas` (the bound whose updates also name the row's wrapped key in their where, rowcrypt's compare-and-swap condition, so that an update matches nothing once rotation has re-keyed the row; update workloads only), `bound-row` (the same for one GCM message per row, a format rowcrypt does not use; `boundRowTarget`), `rowcrypt` (LocalKeyProvider), `rowcrypt-core` (rowcrypt's cryptography, `RowLevelEncryption` with its formats and binding, in a bare query hook that updates under the compare-and-swap condition, without rowcrypt's query engine: no walk or check of the call, no retry; findUnique, which only decrypts the row read, and the update workloads; rows written through rowcrypt), `rowcrypt-rls` (the same with `rls: true` on an adapter wrapped with `withRlsPinning`, which makes rowcrypt pin the tenant per connection; rowcrypt's policies from `rlsPolicySql` on the table, connected as a role without SUPERUSER or BYPASSRLS), `rowcrypt-rls-tx` (the same with `rls: { pinning: 'transaction' }` on a plain adapter, the tenant set in a transaction around each statement), `rowcrypt-kms` (AwsKmsKeyProvider, hierarchical, against the in-process KMS dev server, tenant key cached), `rowcrypt-kms-cold` (the same on a new provider and client every repetition: its first call loads the tenant key from the store through KMS Decrypt), `pfe` (prisma-field-encryption 1.6, the `dmmf` option from `@prisma/get-dmmf`, on a client of the same table generated with `prisma-client-js` (`bench/prisma/pfe/schema.prisma`), the same Prisma runtime; one static key, no tenant, no key per row, the tenant filtered by hand as in `plain`); built in `bench/variants.ts`.",
  )
  out.push(
    `- Workloads beside the five of the design: \`cold update\` (the update on a new instance of each variant every repetition, so every row is one it has not read; not for noop-ext and bound-row, which keep nothing between calls; the warm \`update\` follows a findMany of the same rows, so rowcrypt and the bound already know each row's wrapped key; \`rowcrypt-kms\` keeps its provider there, so it is cold in rows and warm in keys, while \`rowcrypt-kms-cold\` is cold in both), and a findMany of a tenant with ten times as many rows (plain, bound, bound-twin, rowcrypt, pfe, rowcrypt-kms only; ${r.config.largeRepeats ?? 1}× per round), with the growth of heap and RSS over the call.`,
  )
  out.push(
    `- Load average of the machine (1/5/15 min) at start ${(m.loadAverageAtStart as unknown as number[]).join(' / ')}, at end ${(m.loadAverageAtEnd as unknown as number[]).join(' / ')} (other work on this 2-core machine widens min–max).`,
  )
  out.push('')
  const cell = (v: VariantResult | undefined) => (v === undefined ? 'n/a' : `${fmtMs(v.medianMs)} ms (${fmtMs(v.minMs)}–${fmtMs(v.maxMs)})`)
  const ratio = (x: VariantResult | undefined) => (x?.ratio === undefined ? 'n/a' : `**${x.ratio.toFixed(2)}×** ${x.meetsTarget ? '✓' : '✗'} (${x.pairedRatio?.toFixed(2)}×)`)
  out.push(
    ...markdownTable(
      ['workload', 'plain median (min–max)', ...variants.map((v) => `${v} median (min–max)`), ...variants.map((v) => `${v} ratio (paired)`), 'target'],
      r.workloads.map((w) => [label(w), cell(w.variants.plain), ...variants.map((v) => cell(w.variants[v])), ...variants.map((v) => ratio(w.variants[v])), `≤ ${w.target.toFixed(2)}×`]),
    ),
  )
  out.push(...targetMarkdown(r))
  const bounds = boundGaps(r)
  if (bounds.length > 0) {
    out.push(
      "**Against the bound**: `bound` is what any extension with a key per row and AES-256-GCM per field must spend here (Prisma with ciphertext-sized values through a query extension, plus the cryptography alone). A target below the bound's ratio cannot be met by such a design on this machine; rowcrypt / bound is what rowcrypt's own work (binding, checks, formats, tenant confinement, compare-and-swap) adds on top.",
    )
    out.push('')
    out.push("`bound-row` is the same bound for a different format, one GCM message per row (not rowcrypt's): what such a format change could give, and what it would cost updates of one field.")
    out.push('')
    out.push(
      ...markdownTable(
        ['workload', 'bound ratio to plain', 'target', 'rowcrypt ratio to plain', 'rowcrypt / bound', 'bound-row ratio to plain'],
        bounds.map((b) => [
          b.label,
          `${b.bound.toFixed(2)}× ${b.bound <= b.target ? '(target reachable)' : '(**above the target**)'}`,
          `≤ ${b.target.toFixed(2)}×`,
          `${b.rowcrypt.toFixed(2)}×`,
          `${(b.rowcrypt / b.bound).toFixed(2)}×`,
          b.boundRow === undefined ? 'n/a' : `${b.boundRow.toFixed(2)}×`,
        ]),
      ),
    )
  }
  if (r.floor !== undefined) {
    const f = r.floor
    const fm = r.workloads.find((w) => w.name === 'findMany')
    out.push(`**Floor** (${f.rows} rows, 4 values each; sampled right after each findMany repetition, so under the same load; median of ${f.decrypt.samplesMs.length}):`)
    out.push('')
    const spread = (x: { medianMs: number; minMs: number; maxMs: number }) => [`${fmtMs(x.medianMs)} ms`, `${fmtMs(x.minMs)}–${fmtMs(x.maxMs)} ms`]
    const rows = [
      ['raw `node:crypto` AES-256-GCM decryption of the 4 values per row', ...spread(f.decrypt)],
      ['the same plus one key unwrap per row (envelope)', ...spread(f.decryptWithUnwrap)],
      ['rowcrypt core `decryptRow` of the stored rows (no Prisma, no database)', ...spread(f.coreDecryptRow)],
    ]
    if (fm?.variants.plain !== undefined && fm.variants.rowcrypt !== undefined) {
      const best = fm.variants.plain.medianMs + f.decryptWithUnwrap.medianMs
      rows.push(['plain findMany + floor with unwrap (the best rowcrypt findMany could do)', `${fmtMs(best)} ms`, `ratio ${(best / fm.variants.plain.medianMs).toFixed(2)}×`])
    }
    out.push(...markdownTable(['what', 'median', 'min–max'], rows))
  }
  if (r.workloads.some((w) => Object.values(w.variants).some((v) => v.cpuRatio !== undefined))) {
    out.push(
      '**CPU time** of the bench process (user + system; Prisma, pg and rowcrypt, not PostgreSQL), median per repetition and ratio to plain Prisma: less sensitive than wall time to other load on the machine.',
    )
    out.push('')
    const cpu = (x: VariantResult | undefined) => (x?.cpuMedianMs === undefined ? 'n/a' : `${fmtMs(x.cpuMedianMs)} ms${x.cpuRatio === undefined ? '' : ` (${x.cpuRatio.toFixed(2)}×)`}`)
    out.push(
      ...markdownTable(
        ['workload', ...r.config.variants],
        r.workloads.map((w) => [label(w), ...r.config.variants.map((v) => cpu(w.variants[v]))]),
      ),
    )
  }
  const rls = rlsCosts(r)
  if (rls.length > 0) {
    out.push(
      ...section(
        "**Cost of RLS** (`rowcrypt-rls`: rowcrypt with `rls: true` on an adapter wrapped with `withRlsPinning`, rowcrypt's policies on the table, connected as a role without SUPERUSER or BYPASSRLS; against `rowcrypt` without RLS, same run; median per Prisma call):",
        ['workload', 'rowcrypt per query', 'rowcrypt-rls per query', 'added by RLS per query', 'rowcrypt-rls / rowcrypt'],
        rls.map((c) => [c.label, fmtUs(c.rowcryptUs), fmtUs(c.rlsUs), `${c.addedUs >= 0 ? '+' : ''}${fmtUs(c.addedUs)}`, `${c.ratio.toFixed(2)}×`]),
      ),
    )
  }
  out.push('**Memory**: peak RSS per workload and variant (sampled every 5 ms; the process is shared, so a later')
  out.push('workload inherits earlier heap growth):')
  out.push('')
  const memory = (x: VariantResult | undefined) => (x ? `${x.peakRssMiB.toFixed(0)} MiB RSS, ${x.peakHeapUsedMiB.toFixed(0)} MiB heap` : 'n/a')
  out.push(
    ...markdownTable(
      ['workload', ...r.config.variants],
      r.workloads.map((w) => [w.name, ...r.config.variants.map((v) => memory(w.variants[v]))]),
    ),
  )
  out.push(`Whole process: peak RSS ${r.memory.maxRssMiB.toFixed(0)} MiB (\`process.resourceUsage().maxRSS\`).`)
  out.push('')
  const large = largeMemory(r)
  if (large.length > 0) {
    out.push(
      ...section(
        '**Peak memory of one call** (the large findMany): growth of heap used, external memory (Buffers) and RSS from just after a full collection before the call to their peak during it: the largest of the heap sizes V8 reports just before each collection in the call (`v8.GCProfiler`: where the heap peaks), of samples every 5 ms, and of one at its end (the rows still held); median over repetitions, the largest heap growth beside it. The process is shared by all workloads, so RSS grows only where the call outgrows what the process already holds: heap growth is the measure to compare.',
        ['workload', 'variant', 'median time', 'peak heap growth (largest)', 'peak Buffers growth', 'peak RSS growth'],
        large.map((x) => [
          x.label,
          x.variant,
          `${fmtMs(x.medianMs)} ms`,
          `${x.m.heapMiB.toFixed(0)} MiB (${x.m.heapMaxMiB.toFixed(0)})`,
          `${x.m.externalMiB.toFixed(0)} MiB`,
          `${x.m.rssMiB.toFixed(0)} MiB`,
        ]),
      ),
    )
  }
  out.push(
    `**KMS (AWS hierarchical) variant**: ${r.kms.status}.${r.kms.coldFindManyCalls !== undefined ? ` Cold findMany of ${r.config.size} rows of one tenant: ${r.kms.coldFindManyCalls} KMS call(s) (target ≤ 1).` : ''}`,
  )
  out.push('')
  const kmsVariants = r.config.variants.filter((v) => r.workloads.some((w) => w.variants[v]?.kmsCalls !== undefined))
  if (kmsVariants.length > 0) {
    out.push(
      "KMS requests per repetition (median; creates write into a new tenant each repetition, so they include making that tenant's key; `rowcrypt-kms` reads and updates use the warm cache, `rowcrypt-kms-cold` loads the tenant key once per repetition):",
    )
    out.push('')
    out.push(
      ...markdownTable(
        ['workload', ...kmsVariants],
        r.workloads.map((w) => [label(w), ...kmsVariants.map((v) => String(w.variants[v]?.kmsCalls?.median ?? 'n/a'))]),
      ),
    )
  }
  out.push('Reproduce: `npm ci && npm run bench` (PostgreSQL at `postgresql://postgres@127.0.0.1:5432/test`, or set')
  out.push('`ROWCRYPT_BENCH_PG_URL`; the `rowcrypt-rls` variant creates the login role `rowcrypt_bench_app` when it is missing, so that')
  out.push('user needs CREATEROLE); `npm run bench -- --quick` for a smoke run; `npm run bench:profile` for CPU profiles.')
  out.push('')
  return out.join('\n')
}
