-- CreateTable
CREATE TABLE "Patient" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "diagnosis" TEXT NOT NULL,
    "wrappedDek" BLOB,
    "keyVersion" TEXT,
    "tenantId" TEXT NOT NULL DEFAULT ''
);

-- CreateIndex
CREATE INDEX "Patient_tenantId_idx" ON "Patient"("tenantId");
