-- CreateTable
CREATE TABLE `Customer` (
    `id` VARCHAR(191) NOT NULL,
    `email` LONGTEXT NOT NULL,
    `emailIndex` VARCHAR(191) NULL,
    `phone` LONGTEXT NULL,
    `phoneIndex` VARCHAR(191) NULL,
    `ssn` LONGTEXT NULL,
    `ssnIdx` VARCHAR(191) NULL,
    `plan` VARCHAR(191) NOT NULL DEFAULT 'free',
    `wrappedDek` LONGBLOB NULL,
    `keyVersion` VARCHAR(191) NULL,
    `tenantId` VARCHAR(191) NOT NULL DEFAULT '',

    UNIQUE INDEX `Customer_tenantId_emailIndex_key`(`tenantId`, `emailIndex`),
    INDEX `Customer_tenantId_phoneIndex_idx`(`tenantId`, `phoneIndex`),
    INDEX `Customer_tenantId_ssnIdx_idx`(`tenantId`, `ssnIdx`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `Invoice` (
    `id` VARCHAR(191) NOT NULL,
    `reference` LONGTEXT NOT NULL,
    `referenceIndex` VARCHAR(191) NULL,
    `amount` INTEGER NOT NULL,
    `customerId` VARCHAR(191) NOT NULL,
    `wrappedDek` LONGBLOB NULL,
    `keyVersion` VARCHAR(191) NULL,
    `tenantId` VARCHAR(191) NOT NULL DEFAULT '',

    INDEX `Invoice_tenantId_referenceIndex_idx`(`tenantId`, `referenceIndex`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- AddForeignKey
ALTER TABLE `Invoice` ADD CONSTRAINT `Invoice_customerId_fkey` FOREIGN KEY (`customerId`) REFERENCES `Customer`(`id`) ON DELETE RESTRICT ON UPDATE CASCADE;
