// The pure half of `npm run bench:instructions`: callgrind dump files in, per-row counts and
// ratios out.
import { instructionRatio, parseDump, renderInstructions, sampleLabel, tabulate, type InstructionSample } from '../../../bench/instruction-report'

// The head of a dump as callgrind 3.19 writes it after `callgrind_control --dump=<label>`.
const dump = (label: string, totals: number) =>
  [
    '# callgrind format',
    'version: 1',
    'creator: callgrind-3.19.0',
    'pid: 4242',
    'cmd:  node --expose-gc bench/instructions.ts --child',
    'part: 2',
    '',
    'desc: I1 cache: ',
    `desc: Trigger: dump ${label}`,
    '',
    'positions: line',
    'events: Ir',
    'summary: 0',
    `totals: ${totals}`,
    '',
    'fl=(1) ???',
    'fn=(1) 0x0000000000a1b2c3',
    '0 12',
  ].join('\n')

const sample = (workload: string, variant: string, rep: number, instructions: number, rows = 100): InstructionSample => ({ workload, variant, rep, rows, instructions })

describe('sampleLabel and parseDump', () => {
  it('round-trips a sample through its dump label', () => {
    const s = sample('findUnique', 'rowcrypt-kms', 2, 123_456_789, 200)
    expect(parseDump(dump(sampleLabel(s), s.instructions))).toEqual(s)
  })

  it('reads the totals line, not the summary line', () => {
    expect(parseDump(dump(sampleLabel(sample('update', 'bound', 0, 1)), 987_654))?.instructions).toBe(987_654)
  })

  it('ignores the dump written at the end of the program', () => {
    expect(parseDump(dump('', 5).replace('desc: Trigger: dump ', 'desc: Trigger: Program termination'))).toBeUndefined()
  })

  it('refuses a sample dump without totals', () => {
    const text = dump(sampleLabel(sample('update', 'bound', 0, 1)), 1).replace(/^totals:.*$/m, '')
    expect(() => parseDump(text)).toThrow(/no totals/)
  })

  it('refuses label parts it could not read back', () => {
    expect(() => sampleLabel(sample('find many', 'bound', 0, 1))).toThrow(/label part/)
    expect(() => sampleLabel(sample('findMany', 'bound:x', 0, 1))).toThrow(/label part/)
    expect(() => sampleLabel(sample('findMany', 'bound', 0, 1, 0))).toThrow(/rows/)
    expect(() => sampleLabel(sample('findMany', 'bound', 1.5, 1))).toThrow(/rep/)
  })
})

describe('tabulate, instructionRatio and renderInstructions', () => {
  const samples = [
    sample('findUnique', 'plain', 0, 100_000_000),
    sample('findUnique', 'plain', 1, 104_000_000),
    sample('findUnique', 'plain', 2, 102_000_000),
    sample('findUnique', 'bound', 0, 150_000_000),
    sample('findUnique', 'bound', 1, 150_000_000),
    sample('findUnique', 'bound', 2, 156_000_000),
    sample('findUnique', 'rowcrypt', 0, 165_000_000),
    sample('findUnique', 'rowcrypt', 1, 163_500_000),
    sample('findUnique', 'rowcrypt', 2, 170_000_000),
    sample('findMany', 'plain', 0, 50_000_000, 200),
    sample('findMany', 'rowcrypt', 0, 150_000_000, 200),
  ]

  it('takes the median per row over repetitions, with the smallest and largest', () => {
    const t = tabulate(samples)
    expect(t.get('findUnique')!.get('rowcrypt')).toEqual({ perRow: 1_650_000, min: 1_635_000, max: 1_700_000, samples: 3 })
    expect(t.get('findMany')!.get('plain')).toEqual({ perRow: 250_000, min: 250_000, max: 250_000, samples: 1 })
  })

  it('divides by the rows of each sample', () => {
    const t = tabulate([sample('findMany', 'plain', 0, 1000, 10), sample('findMany', 'plain', 1, 3000, 20)])
    expect(t.get('findMany')!.get('plain')!.perRow).toBe(125)
  })

  it('gives ratios of per-row medians, undefined where a variant did not run', () => {
    const t = tabulate(samples)
    expect(instructionRatio(t, 'findUnique', 'rowcrypt', 'bound')).toBeCloseTo(1.65 / 1.5, 12)
    expect(instructionRatio(t, 'findMany', 'rowcrypt', 'bound')).toBeUndefined()
    expect(instructionRatio(t, 'create', 'rowcrypt', 'plain')).toBeUndefined()
  })

  it('renders counts, ratios to plain, the target ratios that apply and the largest spread', () => {
    const text = renderInstructions(tabulate(samples))
    expect(text).toContain('| workload | plain | bound | rowcrypt |')
    expect(text).toContain('| findUnique | 1.02 M | 1.50 M (1.47×) | 1.65 M (1.62×) |')
    expect(text).toContain('| findMany | 250.0 k |  | 750.0 k (3.00×) |')
    expect(text).toContain('| rowcrypt / bound | 1.100× |  |')
    // No KMS or pfe variant ran: their rows are left out.
    expect(text).not.toContain('AWS KMS')
    expect(text).not.toContain('prisma-field-encryption')
    // bound on findUnique: (1.56 M - 1.50 M) / 1.50 M = 4%, the widest cell.
    expect(text).toContain('max − min over the median): 4.00%')
  })
})
