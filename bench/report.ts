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

/** What `rls: true` adds per query: rowcrypt-rls against rowcrypt, per workload. */
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
  config: { size: number; repetitions: number; cheapRepeats: number; slices: number; warmup: boolean; variants: string[]; workloads: string[] }
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

/** The console table. */
export function renderTable(r: BenchResults): string {
  const lines: string[] = []
  const head = [
    pad('workload', 36),
    pad('variant', 13),
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
          pad(name, 13),
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
  out.push('Written by `npm run bench` from its last full run (a `--quick` run does not touch this file).')
  out.push('Raw samples: `bench/results/latest.json` (git-ignored). How the bench works and what the profile')
  out.push('showed: [PROFILE.md](PROFILE.md).')
  out.push('')
  out.push(`- Run: ${m.date}, \`${m.command}\`, took ${r.durationSeconds.toFixed(0)} s`)
  out.push(`- Machine: ${m.cpu}, ${m.cores} cores, ${m.memory}; ${m.platform}`)
  out.push(`- Software: Node ${m.node}, PostgreSQL ${m.postgres} (same host, 127.0.0.1), Prisma ${m.prisma} with @prisma/adapter-pg ${m.adapterPg}; rowcrypt at ${m.commit}`)
  out.push(
    `- Method: ${r.config.size} rows of four encrypted fields (email, name, ssn, 1 KB notes) in one PostgreSQL table; every workload runs once per variant as warm-up, then ${r.config.repetitions} rounds. In a round, the per-row workloads (create, findUnique, update) run in ${r.config.slices} slices of rows with the variants alternating slice by slice; findMany and createMany run ${r.config.cheapRepeats}× per round, alternating call by call; a full \`gc()\` before each repetition and a young-generation one before each slice; \`VACUUM ANALYZE\` (untimed) after each round, autovacuum off for the table. Ratio = median of the variant / median of plain Prisma (the issue's measure); paired = median over repetitions of variant / plain in the same repetition (less sensitive to load on the machine).`,
  )
  out.push(
    "- Variants: `plain` (Prisma 7, no extension, the tenant filtered by hand), `noop-ext` (a query extension that only calls `query(args)`, inside `withTenant`), `bound` (the least any per-row-key, per-field AES-256-GCM extension can cost: noop-ext plus only the unavoidable `node:crypto` calls, storing values of rowcrypt's size; `boundTarget` in `bench/workloads.ts`), `bound-row` (the same for one GCM message per row, a format rowcrypt does not use; `boundRowTarget`), `rowcrypt` (LocalKeyProvider), `rowcrypt-rls` (the same with `rls: { pinning: 'adapter' }` on an adapter wrapped with `withRlsPinning`, rowcrypt's policies from `rlsPolicySql` on the table, connected as a role without SUPERUSER or BYPASSRLS), `rowcrypt-rls-tx` (the same with `rls: true`, the tenant set in a transaction around each statement), `rowcrypt-kms` (AwsKmsKeyProvider, hierarchical, against the in-process KMS dev server); built in `bench/variants.ts`.",
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
      "**Cost of RLS** (`rowcrypt-rls`: rowcrypt with `rls: { pinning: 'adapter' }` on an adapter wrapped with `withRlsPinning`, rowcrypt's policies on the table, connected as a role without SUPERUSER or BYPASSRLS; against `rowcrypt` without RLS, same run; median per Prisma call):",
    )
    out.push('')
    out.push(
      ...markdownTable(
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
  out.push(
    `**KMS (AWS hierarchical) variant**: ${r.kms.status}.${r.kms.coldFindManyCalls !== undefined ? ` Cold findMany of ${r.config.size} rows of one tenant: ${r.kms.coldFindManyCalls} KMS call(s) (target ≤ 1).` : ''}`,
  )
  out.push('')
  const kmsVariants = r.config.variants.filter((v) => r.workloads.some((w) => w.variants[v]?.kmsCalls !== undefined))
  if (kmsVariants.length > 0) {
    out.push("KMS requests per repetition (median; creates write into a new tenant each repetition, so they include making that tenant's key; reads and updates use the warm cache):")
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
