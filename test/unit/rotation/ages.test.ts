// The key age limit of `rotate --older-than` / `rotateKeys({ olderThan })`, and whole ages.
import { ageDays, ageSeconds, clock, DAY_MS, parseAge } from '../../../src/rotation/ages'

describe('parseAge', () => {
  it.each([
    ['90d', 90 * DAY_MS],
    ['1d', DAY_MS],
    ['12h', 12 * 3_600_000],
    ['1h', 3_600_000],
    ['365d', 365 * DAY_MS],
    [60_000, 60_000],
  ])('reads %p as %d ms', (input, ms) => {
    expect(parseAge(input)).toBe(ms)
  })

  it.each(['0d', '90', 'd', '90D', '90 d', ' 90d', '90d ', '1.5d', '-1d', '3w', '90m', '07d', '1234567d', '', 0, -5, 1.5, Number.NaN, null, undefined])('refuses %p', (input) => {
    expect(parseAge(input)).toBeUndefined()
  })
})

describe('ages', () => {
  const created = new Date('2026-01-01T00:00:00Z')
  it('counts whole days and seconds, never below zero', () => {
    expect(ageDays(created, new Date('2026-04-11T23:59:59Z'))).toBe(100)
    expect(ageDays(created, new Date('2026-04-12T00:00:00Z'))).toBe(101)
    expect(ageSeconds(created, new Date('2026-01-01T00:01:01.900Z'))).toBe(61)
    expect(ageDays(created, new Date('2025-12-31T00:00:00Z'))).toBe(0)
    expect(ageSeconds(created, new Date('2025-12-31T00:00:00Z'))).toBe(0)
  })

  it('reads the injected clock, and refuses one that gives no valid Date', () => {
    expect(clock(() => created, 'f')).toBe(created)
    expect(Math.abs(clock(undefined, 'f').getTime() - Date.now())).toBeLessThan(5_000)
    expect(() => clock(() => new Date(Number.NaN), 'f')).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
    expect(() => clock(() => 'today', 'f')).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
    expect(() => clock(5, 'f')).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
  })
})
