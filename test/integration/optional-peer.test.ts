// @aws-sdk/client-kms is an optional peer dependency: the built package must load without it, and
// only constructing an AwsKmsKeyProvider asks for it (with a ConfigError that says how to fix it).
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

const root = join(__dirname, '..', '..')

it('rowcrypt loads without @aws-sdk/client-kms; AwsKmsKeyProvider then fails with ERR_ROWCRYPT_CONFIG', () => {
  const script = `
    const Module = require('module')
    const resolve = Module._resolveFilename
    Module._resolveFilename = function (request, ...rest) {
      if (request === '@aws-sdk/client-kms' || request.startsWith('@aws-sdk/client-kms/')) {
        throw Object.assign(new Error("Cannot find module '" + request + "'"), { code: 'MODULE_NOT_FOUND' })
      }
      return resolve.call(this, request, ...rest)
    }
    const rc = require('rowcrypt')
    const dev = require('rowcrypt/kms-dev-server')
    const out = { exports: ['AwsKmsKeyProvider', 'PrismaTenantKeyStore', 'InMemoryTenantKeyStore', 'KeyCache', 'KmsUnavailableError'].every((n) => typeof rc[n] === 'function') && typeof dev.KmsDevServer === 'function' }
    try {
      new rc.AwsKmsKeyProvider({ client: { send() {} }, keys: { v1: 'alias/x' }, activeVersion: 'v1', tenantKeyStore: new rc.InMemoryTenantKeyStore() })
    } catch (e) {
      out.code = e.code
      out.mentions = e.message.includes('npm install @aws-sdk/client-kms')
    }
    process.stdout.write(JSON.stringify(out))
  `
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' }))
  expect(out).toEqual({ exports: true, code: 'ERR_ROWCRYPT_CONFIG', mentions: true })
})
