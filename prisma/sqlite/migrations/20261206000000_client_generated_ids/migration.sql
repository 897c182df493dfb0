-- One tenant-scoped model per kind of id that Prisma generates on the client (cuid, cuid(2), ulid,
-- nanoid, nanoid(10), uuid(7)), for row binding: rowcrypt makes these ids before the insert.

-- CreateTable
CREATE TABLE "IdCuid" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "secret" TEXT NOT NULL,
    "note" TEXT,
    "wrappedDek" BLOB,
    "keyVersion" TEXT,
    "tenantId" TEXT NOT NULL DEFAULT ''
);

-- CreateTable
CREATE TABLE "IdCuid2" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "secret" TEXT NOT NULL,
    "note" TEXT,
    "wrappedDek" BLOB,
    "keyVersion" TEXT,
    "tenantId" TEXT NOT NULL DEFAULT ''
);

-- CreateTable
CREATE TABLE "IdNanoid" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "secret" TEXT NOT NULL,
    "note" TEXT,
    "wrappedDek" BLOB,
    "keyVersion" TEXT,
    "tenantId" TEXT NOT NULL DEFAULT ''
);

-- CreateTable
CREATE TABLE "IdNanoid10" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "secret" TEXT NOT NULL,
    "note" TEXT,
    "wrappedDek" BLOB,
    "keyVersion" TEXT,
    "tenantId" TEXT NOT NULL DEFAULT ''
);

-- CreateTable
CREATE TABLE "IdUlid" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "secret" TEXT NOT NULL,
    "note" TEXT,
    "parentId" TEXT,
    "wrappedDek" BLOB,
    "keyVersion" TEXT,
    "tenantId" TEXT NOT NULL DEFAULT '',
    CONSTRAINT "IdUlid_parentId_fkey" FOREIGN KEY ("parentId") REFERENCES "IdCuid2" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "IdUuid7" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "secret" TEXT NOT NULL,
    "note" TEXT,
    "wrappedDek" BLOB,
    "keyVersion" TEXT,
    "tenantId" TEXT NOT NULL DEFAULT ''
);

-- CreateIndex
CREATE INDEX "IdCuid_tenantId_idx" ON "IdCuid"("tenantId");

-- CreateIndex
CREATE INDEX "IdCuid2_tenantId_idx" ON "IdCuid2"("tenantId");

-- CreateIndex
CREATE INDEX "IdNanoid_tenantId_idx" ON "IdNanoid"("tenantId");

-- CreateIndex
CREATE INDEX "IdNanoid10_tenantId_idx" ON "IdNanoid10"("tenantId");

-- CreateIndex
CREATE INDEX "IdUlid_tenantId_idx" ON "IdUlid"("tenantId");

-- CreateIndex
CREATE INDEX "IdUuid7_tenantId_idx" ON "IdUuid7"("tenantId");
