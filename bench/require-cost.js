// What `require('rowcrypt')` costs an application at start-up: the package's own modules and Node.js
// built-ins it loads, and the median time of the require over fresh processes. Needs `npm run build`.
//   node bench/require-cost.js [specifier=rowcrypt] [runs=15]
const { execFileSync } = require('node:child_process')

const spec = process.argv[2] ?? 'rowcrypt'
const runs = Number(process.argv[3] ?? 15)
const probe = `
  const before = new Set(process.moduleLoadList)
  const t = process.hrtime.bigint()
  require(${JSON.stringify(spec)})
  const ms = Number(process.hrtime.bigint() - t) / 1e6
  const files = Object.keys(require.cache)
  process.stdout.write(JSON.stringify({
    ms,
    packageModules: files.filter((f) => !f.includes('/node_modules/')).length,
    dependencyModules: files.filter((f) => f.includes('/node_modules/')).length,
    builtins: process.moduleLoadList.filter((m) => !before.has(m) && m.startsWith('NativeModule')).length,
  }))`
const results = Array.from({ length: runs }, () => JSON.parse(execFileSync(process.execPath, ['-e', probe], { cwd: process.cwd(), encoding: 'utf8' })))
const ms = results.map((r) => r.ms).sort((a, b) => a - b)
const { packageModules, dependencyModules, builtins } = results[0]
console.log(JSON.stringify({ spec, packageModules, dependencyModules, builtins, runs, medianMs: Number(ms[runs >> 1].toFixed(1)), minMs: Number(ms[0].toFixed(1)) }))
