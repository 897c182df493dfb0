// rowcrypt.config.ts: what `npx rowcrypt` commands work with.
import { defineConfig } from 'rowcrypt/config'
import { keyProvider, prisma } from './src/db.js'

export default defineConfig({ prisma, keyProvider })
