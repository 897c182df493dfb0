-- CreateTable
CREATE TABLE `RowcryptTenantKey` (
    `tenantId` VARCHAR(256) NOT NULL,
    `keyVersion` VARCHAR(64) NOT NULL,
    `kmsKeyId` VARCHAR(2048) NOT NULL,
    `wrappedKey` BLOB NULL,
    `createdAt` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `shreddedAt` DATETIME(3) NULL,

    PRIMARY KEY (`tenantId`, `keyVersion`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
