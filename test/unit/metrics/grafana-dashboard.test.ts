// The Grafana dashboard and the alert rules in examples/ query exactly the metrics rowcryptMetrics()
// registers: a renamed metric breaks this test, not a production dashboard.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as promClient from 'prom-client'
import { rowcryptMetrics } from '../../../src'

interface Panel {
  type: string
  title: string
  targets?: Array<{ expr: string }>
}

const examples = join(__dirname, '..', '..', '..', 'examples', 'grafana')
const dashboard = JSON.parse(readFileSync(join(examples, 'rowcrypt-dashboard.json'), 'utf8')) as { panels: Panel[]; uid: string }
const alerts = readFileSync(join(examples, 'rowcrypt-alerts.yaml'), 'utf8')

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
    expect(titles).toEqual(
      expect.arrayContaining(['Operation rate', 'Error ratio', 'Operation latency percentiles', 'KMS requests', 'KMS latency', 'Key cache hit ratio', 'Rows per key version', 'Key age']),
    )
    expect(exprs.every((e) => e.split('(').length === e.split(')').length)).toBe(true)
  })

  it('alert rules: the key age above 90 days for an hour, on registered metric names only', () => {
    const used = new Set(alerts.match(/row_encryption_[a-z_]+/g) ?? [])
    expect([...used].sort()).toEqual([rowcryptMetrics({ client: promClient, registry: new promClient.Registry() }).names.keyAge])
    const rule = /- alert: RowcryptKeyOlderThan90Days\n\s+expr: (.+)\n\s+for: (\S+)/.exec(alerts)
    expect(rule?.slice(1)).toEqual(['max by (model) (row_encryption_key_age_seconds) > 90 * 86400', '1h'])
    expect(alerts).toMatch(/^groups:\n {2}- name: rowcrypt-keys\n {4}rules:\n/m)
  })
})
