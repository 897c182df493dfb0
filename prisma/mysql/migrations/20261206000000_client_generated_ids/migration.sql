-- One tenant-scoped model per kind of id that Prisma generates on the client (cuid, cuid(2), ulid,
-- nanoid, nanoid(10), uuid(7)), for row binding: rowcrypt makes these ids before the insert.
-- Tenant columns compare bytes (utf8mb4_nopad_bin), as in 20261201000000_byte_exact_tenant_columns.

-- CreateTable
CREATE TABLE `IdCuid` (
    `id` VARCHAR(191) NOT NULL,
    `secret` LONGTEXT NOT NULL,
    `note` LONGTEXT NULL,
    `wrappedDek` LONGBLOB NULL,
    `keyVersion` VARCHAR(191) NULL,
    `tenantId` VARCHAR(191) NOT NULL DEFAULT '' COLLATE utf8mb4_nopad_bin,

    INDEX `IdCuid_tenantId_idx`(`tenantId`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `IdCuid2` (
    `id` VARCHAR(191) NOT NULL,
    `secret` LONGTEXT NOT NULL,
    `note` LONGTEXT NULL,
    `wrappedDek` LONGBLOB NULL,
    `keyVersion` VARCHAR(191) NULL,
    `tenantId` VARCHAR(191) NOT NULL DEFAULT '' COLLATE utf8mb4_nopad_bin,

    INDEX `IdCuid2_tenantId_idx`(`tenantId`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `IdNanoid` (
    `id` VARCHAR(191) NOT NULL,
    `secret` LONGTEXT NOT NULL,
    `note` LONGTEXT NULL,
    `wrappedDek` LONGBLOB NULL,
    `keyVersion` VARCHAR(191) NULL,
    `tenantId` VARCHAR(191) NOT NULL DEFAULT '' COLLATE utf8mb4_nopad_bin,

    INDEX `IdNanoid_tenantId_idx`(`tenantId`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `IdNanoid10` (
    `id` VARCHAR(191) NOT NULL,
    `secret` LONGTEXT NOT NULL,
    `note` LONGTEXT NULL,
    `wrappedDek` LONGBLOB NULL,
    `keyVersion` VARCHAR(191) NULL,
    `tenantId` VARCHAR(191) NOT NULL DEFAULT '' COLLATE utf8mb4_nopad_bin,

    INDEX `IdNanoid10_tenantId_idx`(`tenantId`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `IdUlid` (
    `id` VARCHAR(191) NOT NULL,
    `secret` LONGTEXT NOT NULL,
    `note` LONGTEXT NULL,
    `parentId` VARCHAR(191) NULL,
    `wrappedDek` LONGBLOB NULL,
    `keyVersion` VARCHAR(191) NULL,
    `tenantId` VARCHAR(191) NOT NULL DEFAULT '' COLLATE utf8mb4_nopad_bin,

    INDEX `IdUlid_tenantId_idx`(`tenantId`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `IdUuid7` (
    `id` VARCHAR(191) NOT NULL,
    `secret` LONGTEXT NOT NULL,
    `note` LONGTEXT NULL,
    `wrappedDek` LONGBLOB NULL,
    `keyVersion` VARCHAR(191) NULL,
    `tenantId` VARCHAR(191) NOT NULL DEFAULT '' COLLATE utf8mb4_nopad_bin,

    INDEX `IdUuid7_tenantId_idx`(`tenantId`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- AddForeignKey
ALTER TABLE `IdUlid` ADD CONSTRAINT `IdUlid_parentId_fkey` FOREIGN KEY (`parentId`) REFERENCES `IdCuid2`(`id`) ON DELETE SET NULL ON UPDATE CASCADE;
