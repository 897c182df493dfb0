// Rotation under load, CI size (issue 5: "rotated v1 → v2 while a writer updates random rows the
// whole time ... the same with SIGKILL at three random moments and a re-run after each", on
// PostgreSQL, MariaDB and SQLite): bench/rotation-stress.ts's scenario at 1,500 rows. The built
// CLI (dist/cli/main.js) rotates in child processes and is killed with SIGKILL three times at
// random moments (seeded) while the application keeps updating and reading random rows; after
// each kill every row decrypts; a re-run completes; then every row is on v2 and holds the
// application's last acknowledged write, and `rowcrypt verify` exits 0. The full-size runs
// (`npm run bench:rotation-stress -- --rows 100000`) and their figures are in docs/rotation.md.
import { runStress } from '../../bench/rotation-stress'

const ROWS = 1500

describe.each(['sqlite', 'postgres', 'mysql'] as const)('rowcrypt rotate under load with three SIGKILLs on %s', (kind) => {
  it(`${ROWS.toLocaleString('en-US')} rows v1 → v2 beside a writer, killed three times and re-run: every row readable after each kill, no lost update, each row once, verify passes`, async () => {
    // 500 key-provider requests per second: each run lasts long enough to be killed part-way.
    const r = await runStress({ db: kind, rows: ROWS, kills: 3, seed: 5, writers: 2, batchSize: 50, maxKmsRps: 500, writer: 'inline', log: () => undefined })
    expect(r.problems).toEqual([])
    expect(r.completedBeforeKill).toBe(0)
    expect(r.kills).toHaveLength(3)
    let onTarget = 0
    for (const k of r.kills) {
      // Killed part-way: some rows moved by this run, some still on v1, all of them readable.
      expect(k).toMatchObject({ unreadable: 0, onOld: ROWS - k.onTarget })
      expect(k.onTarget).toBeGreaterThan(onTarget)
      expect(k.onOld).toBeGreaterThan(0)
      onTarget = k.onTarget
    }
    // The re-run moved exactly the rows left: no row rotated twice.
    expect(r.final).toMatchObject({ exitCode: 0, rotated: ROWS - onTarget, expected: ROWS - onTarget, stderr: '' })
    expect(r.versionsAfter).toEqual({ v2: ROWS })
    expect(r.lostUpdates).toEqual([])
    expect(r.unreadableAfter).toBe(0)
    expect(r.writer.writesDuringRotation).toBeGreaterThan(0)
    expect(r.writer).toMatchObject({ readMismatches: 0, errors: [] })
    expect(r.verify).toEqual({ exitCode: 0, checked: ROWS, failed: 0 })
    expect(r.peakRssMb).toBeGreaterThan(0)
    expect(r.ok).toBe(true)
  })
})
