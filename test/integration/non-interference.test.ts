// Tenant non-interference, by differential fuzzing (test/fuzz): every call made as tenant A must
// behave the same whether or not tenant B's rows exist. Each database gets a bounded run with a
// fixed seed and one with a random seed (printed, with the call count, so a failure in CI's log can
// be replayed: `npm run fuzz -- --db <db> --seed <seed> --calls <n>`, or ROWCRYPT_FUZZ_SEED=<seed>
// to rerun this file with it); a control run (D2 an exact copy of D1) shows the harness is
// deterministic; and a self-test shows the oracle does fail a client that leaks.
import { randomInt } from 'node:crypto'
import { classes, runFuzz, type FuzzResult } from '../fuzz/run'
import type { FuzzKind } from '../fuzz/migrate'

const KINDS: FuzzKind[] = ['sqlite', 'postgres', 'mysql']
const FIXED_SEED = 20261205
const RANDOM_SEED = process.env.ROWCRYPT_FUZZ_SEED !== undefined ? Number(process.env.ROWCRYPT_FUZZ_SEED) : randomInt(1, 2 ** 31 - 1)
const CALLS = Number(process.env.ROWCRYPT_FUZZ_CALLS ?? 500)
// Shrinking makes a failure readable; bounded so that a leak does not make the suite crawl.
const SHRINK = { shrink: 3, shrinkSeconds: 15 }

jest.setTimeout(180_000)

function report(label: string, r: FuzzResult): string[] {
  const s = r.stats
  console.log(
    `non-interference ${label}: seed ${s.seed}, ${s.calls} calls in ${s.seconds.toFixed(1)} s (${s.callsPerSecond.toFixed(0)}/s), ok on both ${s.bothOk}, same error on both ${s.bothFailed}, channels ${JSON.stringify(s.channels)}, ${r.length} findings`,
  )
  const lines = classes(r).map(({ first: f, count }) => `${f.category} x${count} at --seed ${f.seed} --index ${f.index}: ${f.reason}\n  ${f.call}\n  D1: ${f.d1}\n  D2: ${f.d2}`)
  if (lines.length > 0) console.log(`non-interference ${label} findings:\n${lines.join('\n')}`)
  return lines
}

/** The run did real work: most calls got through to the database and succeeded on both sides. */
function expectMeaningful(r: FuzzResult, calls: number): void {
  expect(r.stats.calls).toBe(calls)
  expect(r.stats.bothOk).toBeGreaterThan(calls * 0.3)
}

describe.each(KINDS)('tenant non-interference on %s', (kind) => {
  test(`fixed seed ${FIXED_SEED}: no findings`, async () => {
    const r = await runFuzz({ kind, seed: FIXED_SEED, calls: CALLS, ...SHRINK })
    const findings = report(`${kind} fixed`, r)
    expectMeaningful(r, CALLS)
    expect(findings).toEqual([])
  })

  test(`random seed ${RANDOM_SEED}: no findings`, async () => {
    const r = await runFuzz({ kind, seed: RANDOM_SEED, calls: CALLS, ...SHRINK })
    const findings = report(`${kind} random`, r)
    expectMeaningful(r, CALLS)
    expect(findings).toEqual([])
  })

  test('control (D2 an exact copy of D1): no findings', async () => {
    const r = await runFuzz({ kind, seed: FIXED_SEED + 1, calls: 150, control: true, shrink: false })
    const findings = report(`${kind} control`, r)
    expectMeaningful(r, 150)
    expect(findings).toEqual([])
  })
})

test('sqlite with Comment and Membership unscoped (more shared rows pointing into scoped ones): no findings', async () => {
  const r = await runFuzz({ kind: 'sqlite', seed: FIXED_SEED + 2, calls: CALLS, scopeOnly: false, ...SHRINK })
  const findings = report('sqlite scope-only models unscoped', r)
  expectMeaningful(r, CALLS)
  expect(findings).toEqual([])
})

describe('self-test: the oracle reports a client that leaks', () => {
  test.each(['plain', 'bypass'] as const)('%s', async (leaky) => {
    // `plain`: the bare PrismaClient, no rowcrypt; `bypass`: rowcrypt inside unsafeBypassTenantScope.
    const r = await runFuzz({ kind: 'sqlite', seed: FIXED_SEED, calls: 80, leaky, shrink: 1, shrinkSeconds: 5 })
    console.log(`non-interference self-test ${leaky}: ${r.length} findings in ${r.stats.calls} calls, e.g. ${r[0]?.category}: ${r[0]?.call}`)
    expect(r.length).toBeGreaterThan(0)
    expect(new Set(r.map((f) => f.category))).toContain('result')
  })
})
