import type { Config } from 'jest'

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Examples import 'rowcrypt' as users do; in tests that is the source (as in tsconfig paths),
  // so examples and tests share one module instance (one tenant context).
  moduleNameMapper: {
    '^rowcrypt$': '<rootDir>/src/index.ts',
    '^rowcrypt/config$': '<rootDir>/src/config.ts',
    '^rowcrypt/kms-dev-server$': '<rootDir>/src/kms-dev-server.ts',
  },
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // Type checking runs once in `npm run typecheck`; ts-jest only transpiles (isolatedModules).
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  testTimeout: 60_000,
  maxWorkers: 2,
  // Each test file's Prisma clients (and their WebAssembly query compilers) are not all reclaimed
  // with the file; a worker past this is replaced before its next file instead of running out of heap.
  workerIdleMemoryLimit: '1GB',
}

export default config
