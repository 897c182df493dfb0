-- CreateTable
CREATE TABLE "Customer" (
    "id" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "ssn" TEXT NOT NULL,
    "notes" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "wrappedDek" BYTEA,
    "keyVersion" TEXT,
    "tenantId" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "Customer_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Customer_tenantId_idx" ON "Customer"("tenantId");
