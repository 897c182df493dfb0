import { defineConfig } from 'prisma/config'

// Read by the prisma CLI (generate, migrate). Prisma 7 takes the database URL from here.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'file:./dev.db' },
})
