#!/usr/bin/env node
// The rowcrypt generator for the bench schema, run from TypeScript source through ts-node so the
// bench does not depend on `npm run build` (dist/). Same code as `rowcrypt-generator`.
require('ts-node').register({ transpileOnly: true, compilerOptions: { module: 'commonjs' } })
require('../../src/prisma/generator').runGenerator()
