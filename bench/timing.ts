// Timing of the micro-benchmarks (bench:core, bench:wrap): three warm-up calls, then `reps` timed
// calls, each after a full collection when the process runs with --expose-gc.
import { performance } from 'node:perf_hooks'

const gc = (globalThis as { gc?: () => void }).gc

/** Milliseconds per call of `fn`, sorted ascending. */
export async function sortedSamples(fn: () => unknown, reps: number): Promise<number[]> {
  for (let i = 0; i < 3; i++) await fn()
  const s: number[] = []
  for (let i = 0; i < reps; i++) {
    gc?.()
    const t = performance.now()
    await fn()
    s.push(performance.now() - t)
  }
  return s.sort((a, b) => a - b)
}
