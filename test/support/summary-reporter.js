// Ends every run with the plain line CI reads: `N passed, N failed` (`, N skipped` only outside
// CI). In CI a skipped or focused test fails the run: every test must run there.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const passed = results.numPassedTests
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites
    const skipped = results.numPendingTests + results.numTodoTests
    const inCi = process.env.CI === 'true' || process.env.CI === '1'
    if (inCi && skipped > 0) {
      process.stdout.write(`\n${skipped} tests were skipped; CI runs every test\n`)
      this._error = new Error('skipped tests in CI')
    }
    // In CI a skipped test counts as failed; elsewhere it is reported on its own.
    const line = inCi ? `${passed} passed, ${failed + skipped} failed` : `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`
    process.stdout.write(`\n${line}\n`)
  }
  getLastError() {
    return this._error
  }
}
module.exports = SummaryReporter
