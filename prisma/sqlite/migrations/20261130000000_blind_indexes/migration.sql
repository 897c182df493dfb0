-- CreateTable
CREATE TABLE "Customer" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "email" TEXT NOT NULL,
    "emailIndex" TEXT,
    "phone" TEXT,
    "phoneIndex" TEXT,
    "ssn" TEXT,
    "ssnIdx" TEXT,
    "plan" TEXT NOT NULL DEFAULT 'free',
    "wrappedDek" BLOB,
    "keyVersion" TEXT,
    "tenantId" TEXT NOT NULL DEFAULT ''
);

-- CreateTable
CREATE TABLE "Invoice" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "reference" TEXT NOT NULL,
    "referenceIndex" TEXT,
    "amount" INTEGER NOT NULL,
    "customerId" TEXT NOT NULL,
    "wrappedDek" BLOB,
    "keyVersion" TEXT,
    "tenantId" TEXT NOT NULL DEFAULT '',
    CONSTRAINT "Invoice_customerId_fkey" FOREIGN KEY ("customerId") REFERENCES "Customer" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "Customer_tenantId_emailIndex_key" ON "Customer"("tenantId", "emailIndex");

-- CreateIndex
CREATE INDEX "Customer_tenantId_phoneIndex_idx" ON "Customer"("tenantId", "phoneIndex");

-- CreateIndex
CREATE INDEX "Customer_tenantId_ssnIdx_idx" ON "Customer"("tenantId", "ssnIdx");

-- CreateIndex
CREATE INDEX "Invoice_tenantId_referenceIndex_idx" ON "Invoice"("tenantId", "referenceIndex");
