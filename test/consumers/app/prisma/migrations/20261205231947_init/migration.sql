-- CreateTable
CREATE TABLE "User" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "ssn" TEXT,
    "prefs" JSONB,
    "avatar" BLOB,
    "wrappedDek" BLOB,
    "keyVersion" TEXT,
    "tenantId" TEXT NOT NULL DEFAULT '',
    CHECK ("tenantId" <> '' AND "wrappedDek" IS NOT NULL)
);

-- CreateTable
CREATE TABLE "Customer" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "email" TEXT NOT NULL,
    "emailIndex" TEXT,
    "ssn" TEXT,
    "ssnIdx" TEXT,
    "wrappedDek" BLOB,
    "keyVersion" TEXT,
    "tenantId" TEXT NOT NULL DEFAULT ''
);

-- CreateIndex
CREATE INDEX "User_tenantId_idx" ON "User"("tenantId");

-- CreateIndex
CREATE INDEX "Customer_tenantId_ssnIdx_idx" ON "Customer"("tenantId", "ssnIdx");

-- CreateIndex
CREATE UNIQUE INDEX "Customer_tenantId_emailIndex_key" ON "Customer"("tenantId", "emailIndex");
