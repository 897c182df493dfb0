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
      checkedAt: new Date(0),
      keyVersions: [
        { keyVersion: 'v1', createdAt: null, ageSeconds: null, ageDays: null, rows: 2 },
        { keyVersion: 'v2', createdAt: null, ageSeconds: null, ageDays: null, rows: 2 },
      ],
    })
    expect(text).toBe(
      'Active key version: v2\n\nMODEL  KEY VERSION  ROWS\nUser   v1              2\nUser   v2 (active)     2\nUser   (plaintext)     1\n\nUser: 5 rows, 2 not on v2, 1 plaintext (no wrapped key)\n',
    )
  })

  it('renders key creation dates and ages beside the row counts, tenant key ages, and the key age policy', () => {
    const checkedAt = new Date('2026-07-01T00:00:00Z')
    const at = (iso: string) => new Date(iso)
    const text = renderStatus({
      activeKeyVersion: 'v3',
      models: [
        {
          model: 'User',
          total: 6,
          notActive: 4,
          plaintextRows: 0,
          versions: { v1: 3, v2: 1, v3: 2 },
          tenants: [
            { tenantId: 'a', total: 4, notActive: 2, plaintextRows: 0, versions: { v1: 2, v3: 2 } },
            { tenantId: 'b', total: 2, notActive: 2, plaintextRows: 0, versions: { v1: 1, v2: 1 } },
          ],
        },
      ],
      checkedAt,
      keyVersions: [
        { keyVersion: 'v1', createdAt: at('2025-12-13T00:00:00Z'), ageSeconds: 200 * 86400, ageDays: 200, rows: 3 },
        { keyVersion: 'v2', createdAt: null, ageSeconds: null, ageDays: null, rows: 1 },
        { keyVersion: 'v3', createdAt: at('2026-06-30T00:00:00Z'), ageSeconds: 86400, ageDays: 1, rows: 2 },
      ],
      tenantKeys: [{ tenantId: 'a', keyVersion: 'v1', createdAt: at('2026-01-01T00:00:00Z'), ageSeconds: 181 * 86400, ageDays: 181, rows: 2 }],
      maxKeyAgeDays: 90,
      exceeded: [
        { keyVersion: 'v1', createdAt: at('2025-12-13T00:00:00Z'), ageDays: 200, rows: 3 },
        { keyVersion: 'v2', createdAt: null, ageDays: null, rows: 1 },
        { keyVersion: 'v1', tenantId: 'a', createdAt: at('2026-01-01T00:00:00Z'), ageDays: 181, rows: 2 },
      ],
    })
    expect(text).toBe(
      [
        'Active key version: v3',
        '',
        'MODEL  TENANT  KEY VERSION  ROWS  CREATED     AGE       TENANT KEY AGE',
        'User   a       v1              2  2025-12-13  200 days  181 days',
        'User   a       v3 (active)     2  2026-06-30  1 day',
        'User   b       v1              1  2025-12-13  200 days',
        'User   b       v2              1  unknown',
        '',
        'User: 6 rows, 4 not on v3, 0 plaintext (no wrapped key)',
        '',
        'Key age policy (maxKeyAgeDays 90): exceeded by',
        '  key version v1: 200 days old, 3 rows',
        '  key version v2: creation time unknown, 1 row',
        "  tenant a's key under v1: 181 days old, 2 rows",
        'Move their rows: rowcrypt rotate --older-than 90d (when the active version is listed, add a new key version and make it active first).',
        '',
      ].join('\n'),
    )
    const met = renderStatus({ activeKeyVersion: 'v3', models: [], checkedAt, keyVersions: [], maxKeyAgeDays: 0.5, exceeded: [] })
    expect(met).toContain('Key age policy (maxKeyAgeDays 0.5): met.\n')
    const failed = renderStatus({
      activeKeyVersion: 'v3',
      models: [],
      checkedAt,
      keyVersions: [{ keyVersion: 'v3', createdAt: null, ageSeconds: null, ageDays: null, rows: 0, error: 'ERR_ROWCRYPT_KMS_ACCESS_DENIED' }],
    })
    expect(failed).toContain('Creation time of key version v3 unknown: the key provider failed (ERR_ROWCRYPT_KMS_ACCESS_DENIED).\n')
  })
})
