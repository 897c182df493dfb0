-- Encrypted JSON and bytes fields in Json and Bytes columns (their ciphertexts as a JSON string
-- and as bytes), so the client types them as what they hold.
-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_User" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "ssn" TEXT,
    "notes" TEXT,
    "prefs" JSONB,
    "avatar" BLOB,
    "wrappedDek" BLOB,
    "keyVersion" TEXT,
    "tenantId" TEXT NOT NULL DEFAULT '',
    "teamId" INTEGER,
    CONSTRAINT "User_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "Team" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_User" ("id", "name", "email", "ssn", "notes", "prefs", "avatar", "wrappedDek", "keyVersion", "tenantId", "teamId")
SELECT "id", "name", "email", "ssn", "notes", CASE WHEN "prefs" IS NULL THEN NULL ELSE json_quote("prefs") END, CAST("avatar" AS BLOB), "wrappedDek", "keyVersion", "tenantId", "teamId" FROM "User";
DROP TABLE "User";
ALTER TABLE "new_User" RENAME TO "User";
CREATE INDEX "User_tenantId_idx" ON "User"("tenantId");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
