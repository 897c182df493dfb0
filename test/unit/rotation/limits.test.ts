import { mapLimited, RateLimiter } from '../../../src/rotation/limits'

describe('RateLimiter', () => {
  it('holds a rate: 60 tokens at 200/s take about 0.3 s after a burst of a tenth of a second', async () => {
    const limiter = new RateLimiter(200)
    const started = performance.now()
    for (let i = 0; i < 60; i++) await limiter.take()
    const elapsed = performance.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(180)
    expect(elapsed).toBeLessThan(1000)
  })

  it('serves requests larger than its burst (2 tokens at 5/s)', async () => {
    const limiter = new RateLimiter(5)
    const started = performance.now()
    await limiter.take(2)
    await limiter.take(2)
    expect(performance.now() - started).toBeGreaterThanOrEqual(150)
  })
})

describe('mapLimited', () => {
  it('keeps input order and never runs more than the limit at once', async () => {
    let running = 0
    let peak = 0
    const out = await mapLimited([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
      running++
      peak = Math.max(peak, running)
      await new Promise((r) => setTimeout(r, n))
      running--
      return n * 10
    })
    expect(out).toEqual([50, 10, 40, 20, 30, 0, 60])
    expect(peak).toBe(3)
    expect(await mapLimited([], 4, async () => 1)).toEqual([])
  })
})
