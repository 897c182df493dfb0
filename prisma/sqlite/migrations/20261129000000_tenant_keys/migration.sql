-- CreateTable
CREATE TABLE "RowcryptTenantKey" (
    "tenantId" TEXT NOT NULL,
    "keyVersion" TEXT NOT NULL,
    "kmsKeyId" TEXT NOT NULL,
    "wrappedKey" BLOB,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "shreddedAt" DATETIME,

    PRIMARY KEY ("tenantId", "keyVersion")
);
