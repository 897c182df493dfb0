// src/main.ts
import { withTenant } from 'rowcrypt'
import { prisma } from './db.js'

async function main(): Promise<void> {
  // Inside withTenant, every query on User belongs to tenant 'acme'. Outside, it fails.
  const { id } = await withTenant('acme', () =>
    prisma.user.create({
      data: { name: 'Ada', email: 'ada@acme.test', ssn: '123-45-6789', prefs: { theme: 'dark' }, avatar: new Uint8Array([1, 2, 3]) },
    }),
  )

  // Decrypted, without rowcrypt's columns (wrappedDek, keyVersion, tenantId)...
  const ada = await withTenant('acme', () => prisma.user.findUniqueOrThrow({ where: { id } }))
  console.log(ada.email, ada.ssn, ada.prefs, ada.avatar)
  console.log(Object.keys(ada))

  // ...unless the call asks for one.
  const owned = await withTenant('acme', () => prisma.user.findUniqueOrThrow({ where: { id }, omit: { tenantId: false } }))
  console.log(owned.tenantId)

  // Another tenant does not find the row.
  console.log(await withTenant('globex', () => prisma.user.findUnique({ where: { id } })))
}

main()
  .catch((e: unknown) => {
    console.error(e)
    process.exitCode = 1
  })
  .finally(() => prisma.$disconnect())
