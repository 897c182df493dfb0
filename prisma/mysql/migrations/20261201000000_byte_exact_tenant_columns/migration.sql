-- Tenant ids are compared as bytes, in the database too: under the tables' default collation
-- (utf8mb4_unicode_ci) `acme`, `ACME`, `acme ` and `Acmé` are one value. utf8mb4_nopad_bin compares
-- bytes; utf8mb4_bin would not do, it is PAD SPACE (`acme` = `acme `). On MySQL 8 the same
-- collation is utf8mb4_0900_bin. Types, defaults, nullability and indexes are kept.
-- AlterTable
ALTER TABLE `User` MODIFY `tenantId` VARCHAR(191) NOT NULL DEFAULT '' COLLATE utf8mb4_nopad_bin;

-- AlterTable
ALTER TABLE `Post` MODIFY `tenantId` VARCHAR(191) NOT NULL DEFAULT '' COLLATE utf8mb4_nopad_bin;

-- AlterTable
ALTER TABLE `Document` MODIFY `orgId` VARCHAR(191) NOT NULL DEFAULT '' COLLATE utf8mb4_nopad_bin;

-- AlterTable
ALTER TABLE `Customer` MODIFY `tenantId` VARCHAR(191) NOT NULL DEFAULT '' COLLATE utf8mb4_nopad_bin;

-- AlterTable
ALTER TABLE `Invoice` MODIFY `tenantId` VARCHAR(191) NOT NULL DEFAULT '' COLLATE utf8mb4_nopad_bin;

-- AlterTable
ALTER TABLE `RowcryptTenantKey` MODIFY `tenantId` VARCHAR(256) NOT NULL COLLATE utf8mb4_nopad_bin;
