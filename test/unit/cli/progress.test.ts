import { formatDuration, JsonLines, ProgressBar, renderBar } from '../../../src/cli/progress'
import { renderStatus } from '../../../src/cli/status'

describe('CLI progress output', () => {
  it('renders a bar with percentage, counts, rate and ETA', () => {
    expect(renderBar({ label: 'rotate User', done: 5200, total: 10000, rowsPerSecond: 1234.4, etaSeconds: 3.9, failed: 0 }, 10)).toBe(
      'rotate User [█████░░░░░]  52%  5,200/10,000 rows  1,234 rows/s  ETA 0:04',
    )
    expect(renderBar({ label: 'verify', done: 0, total: 0, rowsPerSecond: 0, etaSeconds: undefined, failed: 2 }, 4)).toBe('verify [████] 100%  0/0 rows  0 rows/s  ETA --:--  2 failed')
  })

  it('formats durations', () => {
    expect(formatDuration(0)).toBe('0:00')
    expect(formatDuration(61)).toBe('1:01')
    expect(formatDuration(3723)).toBe('1:02:03')
    expect(formatDuration(Infinity)).toBe('--:--')
  })

  it('draws the bar at most ten times a second and clears its line', () => {
    const out: string[] = []
    const bar = new ProgressBar((s) => out.push(s))
    const view = { label: 'x', done: 1, total: 2, rowsPerSecond: 1, etaSeconds: 1, failed: 0 }
    bar.update(view)
    bar.update(view)
    bar.update(view, true)
    bar.clear()
    expect(out).toHaveLength(3)
    // eslint-disable-next-line no-control-regex -- the terminal escape is what is checked
    expect(out[0]).toMatch(/^\r\x1b\[K/)
    expect(out[2]).toBe('\r\x1b[K')
  })

  it('throttles JSON lines except forced ones, rounding fractions', () => {
    const out: string[] = []
    const lines = new JsonLines((s) => out.push(s), 10_000)
    lines.emit({ event: 'progress', rate: 1.23456 })
    lines.emit({ event: 'progress' })
    lines.emit({ event: 'done' }, true)
    expect(out).toEqual(['{"event":"progress","rate":1.23}\n', '{"event":"done"}\n'])
  })

  it('renders status as a table with the active version marked', () => {
    const text = renderStatus({
      activeKeyVersion: 'v2',
      models: [{ model: 'User', total: 5, notActive: 2, plaintextRows: 1, versions: { v1: 2, v2: 2 } }],
    })
    expect(text).toBe(
      'Active key version: v2\n\nMODEL  KEY VERSION  ROWS\nUser   v1              2\nUser   v2 (active)     2\nUser   (plaintext)     1\n\nUser: 5 rows, 2 not on v2, 1 plaintext (no wrapped key)\n',
    )
  })
})
