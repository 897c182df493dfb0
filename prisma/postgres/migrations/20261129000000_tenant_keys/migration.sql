-- CreateTable
CREATE TABLE "RowcryptTenantKey" (
    "tenantId" TEXT NOT NULL,
    "keyVersion" TEXT NOT NULL,
    "kmsKeyId" TEXT NOT NULL,
    "wrappedKey" BYTEA,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "shreddedAt" TIMESTAMP(3),

    CONSTRAINT "RowcryptTenantKey_pkey" PRIMARY KEY ("tenantId","keyVersion")
);
