// Progress output of long CLI jobs: a bar with rate and ETA for a person at a terminal, JSON lines
// for pipes and `--json`. Never prints values or keys: counts, model names, ids and error codes only.

/** What a progress line shows. */
export interface ProgressView {
  readonly label: string
  readonly done: number
  readonly total: number
  readonly rowsPerSecond: number
  readonly etaSeconds: number | undefined
  readonly failed: number
}

/** Renders a terminal progress bar on one line, at most ten times a second. */
export class ProgressBar {
  #last = 0
  #shown = false

  constructor(
    private readonly write: (s: string) => void,
    private readonly width = 24,
  ) {}

  update(view: ProgressView, force = false): void {
    const now = performance.now()
    if (!force && now - this.#last < 100) return
    this.#last = now
    this.#shown = true
    this.write(`\r\x1b[K${renderBar(view, this.width)}`)
  }

  /** Clears the bar's line. */
  clear(): void {
    if (this.#shown) this.write('\r\x1b[K')
    this.#shown = false
  }
}

/** One progress line: `User [#####.....] 52% 5,200/10,000 rows 1,234 rows/s ETA 0:04`. */
export function renderBar(view: ProgressView, width = 24): string {
  const ratio = view.total > 0 ? Math.min(1, view.done / view.total) : 1
  const filled = Math.round(ratio * width)
  const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`
  const failed = view.failed > 0 ? `  ${formatCount(view.failed)} failed` : ''
  return `${view.label} [${bar}] ${String(Math.floor(ratio * 100)).padStart(3)}%  ${formatCount(view.done)}/${formatCount(view.total)} rows  ${formatCount(Math.round(view.rowsPerSecond))} rows/s  ETA ${formatDuration(view.etaSeconds)}${failed}`
}

/** `12,345` */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

/** `1:02:03`, `4:05`, or `--:--` when unknown. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '--:--'
  const s = Math.max(0, Math.ceil(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = String(s % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`
}

/** Emits JSON lines no more often than every `intervalMs` (final events always). */
export class JsonLines {
  #last = -Infinity
  constructor(
    private readonly write: (s: string) => void,
    private readonly intervalMs = 250,
  ) {}

  emit(event: Record<string, unknown>, force = false): void {
    const now = performance.now()
    if (!force && now - this.#last < this.intervalMs) return
    this.#last = now
    this.write(`${JSON.stringify(event, (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 100) / 100 : v))}\n`)
  }
}
