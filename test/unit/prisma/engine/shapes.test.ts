// The objects a call makes and drops (its scope, each row's key, node:crypto's cipher and HMAC objects)
// must not take the optimized code of the read and write paths with them at a full collection: V8
// collects a hidden class once nothing has it, and discards the code that depended on it. Run in a
// child process with V8's natives, so that optimization is forced and its status can be read.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

describe('optimized code across full collections', () => {
  it('survives collections with none of a call’s row keys, scopes, ciphers or HMACs alive', () => {
    const script = join(__dirname, '..', '..', '..', 'fixtures', 'optimized-after-collection.ts')
    const run = spawnSync(process.execPath, ['--expose-gc', '--allow-natives-syntax', '-r', 'ts-node/register/transpile-only', script], {
      cwd: join(__dirname, '..', '..', '..', '..'),
      encoding: 'utf8',
      timeout: 120_000,
    })
    expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({ status: 0, stderr: '' })
    expect(run.stdout.trim().split('\n')).toEqual([
      'RowKey.decryptInto optimized',
      'RowKey.encryptValue optimized',
      'RowKey.dispose optimized',
      'Scope.require optimized',
      'blindIndexHex optimized',
      'control deoptimized',
    ])
  }, 120_000)
})
