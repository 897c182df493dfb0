-- CreateTable
CREATE TABLE "Customer" (
    "id" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "emailIndex" TEXT,
    "phone" TEXT,
    "phoneIndex" TEXT,
    "ssn" TEXT,
    "ssnIdx" TEXT,
    "plan" TEXT NOT NULL DEFAULT 'free',
    "wrappedDek" BYTEA,
    "keyVersion" TEXT,
    "tenantId" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "Customer_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Invoice" (
    "id" TEXT NOT NULL,
    "reference" TEXT NOT NULL,
    "referenceIndex" TEXT,
    "amount" INTEGER NOT NULL,
    "customerId" TEXT NOT NULL,
    "wrappedDek" BYTEA,
    "keyVersion" TEXT,
    "tenantId" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "Invoice_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Customer_tenantId_emailIndex_key" ON "Customer"("tenantId", "emailIndex");

-- CreateIndex
CREATE INDEX "Customer_tenantId_phoneIndex_idx" ON "Customer"("tenantId", "phoneIndex");

-- CreateIndex
CREATE INDEX "Customer_tenantId_ssnIdx_idx" ON "Customer"("tenantId", "ssnIdx");

-- CreateIndex
CREATE INDEX "Invoice_tenantId_referenceIndex_idx" ON "Invoice"("tenantId", "referenceIndex");

-- AddForeignKey
ALTER TABLE "Invoice" ADD CONSTRAINT "Invoice_customerId_fkey" FOREIGN KEY ("customerId") REFERENCES "Customer"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
