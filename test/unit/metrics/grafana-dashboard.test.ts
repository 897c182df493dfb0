// The Grafana dashboard in examples/ queries exactly the metrics rowcryptMetrics() registers: a
// renamed metric breaks this test, not a production dashboard.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as promClient from 'prom-client'
import { rowcryptMetrics } from '../../../src'

interface Panel {
  type: string
  title: string
  targets?: Array<{ expr: string }>
}

const dashboard = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'examples', 'grafana', 'rowcrypt-dashboard.json'), 'utf8')) as { panels: Panel[]; uid: string }

describe('Grafana dashboard', () => {
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr))
  const names = Object.values(rowcryptMetrics({ client: promClient, registry: new promClient.Registry() }).names)

  it('uses only registered metric names (histograms through _bucket)', () => {
    const used = new Set(exprs.flatMap((e) => e.match(/row_encryption_[a-z_]+/g) ?? []).map((n) => n.replace(/_bucket$/, '')))
    for (const n of used) expect(names).toContain(n)
  })

  it('shows every metric rowcrypt registers', () => {
    const text = exprs.join('\n')
    for (const n of names) expect(text).toContain(n)
  })

  it('has the panels operators need', () => {
    const titles = dashboard.panels.filter((p) => p.type !== 'row').map((p) => p.title)
    expect(titles).toEqual(expect.arrayContaining(['Operation rate', 'Error ratio', 'Operation latency percentiles', 'KMS requests', 'KMS latency', 'Key cache hit ratio', 'Rows per key version']))
    expect(exprs.every((e) => e.split('(').length === e.split(')').length)).toBe(true)
  })
})
