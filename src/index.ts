// Public API of the main entry, `rowcrypt`: what an application loads. The local KMS server is
// `rowcrypt/kms-dev-server`, the CLI's config helpers `rowcrypt/config`. Everything else under src/
// is private and may change without notice.
export { rowcrypt } from './prisma/extension'
export { defineModels } from './prisma/config'
export type { RowBinding, RowcryptOptions, RowcryptModelConfig, RowcryptModels, RowcryptViewConfig } from './prisma/config'
export type { Manifest, ManifestModel, ManifestField } from './prisma/manifest'
export { withTenant, currentTenant, unsafeBypassTenantScope } from './tenant/context'
export { RowLevelEncryption } from './fields/row'
export { encryptExistingRows } from './rotation/encrypt-existing'
export { rotateKeys } from './rotation/rotate'
export type { RotateKeysOptions, RotationProgress } from './rotation/rotate'
export { rotationStatus } from './rotation/status'
export type { RotationStatus, RotationStatusOptions, KeyVersionCounts, KeyVersionAge, TenantKeyAge, KeyAgeViolation } from './rotation/status'
export { verifyRows } from './rotation/verify'
export type { VerifyRowsOptions, VerifyProgress, VerifyResult } from './rotation/verify'
export { RotationIncompleteError, KeyTooOldError } from './errors'
export type { RowFailure, TooOldKey } from './errors'
export type { EncryptExistingOptions, EncryptExistingResult } from './rotation/encrypt-existing'
export type { RowcryptDescription } from './prisma/extension'
export type { EncryptRowInput, RowContext, RowLevelEncryptionOptions } from './fields/row'
export type { ModelEncryptionConfig, MigratingOptions, FieldDeclaration, SidecarColumns, Normalizer } from './fields/spec'
export type { BlindIndexOptions } from './fields/blind-index'
export { LocalKeyProvider } from './keys/local'
export type { LocalKeyProviderOptions, LocalShredResult, MasterKeyInput } from './keys/local'
export type { KeyProvider, GeneratedDataKey, BindingContext } from './keys/provider'
export type { KeyCreatedAtInput } from './keys/key-ages'
export type { RowcryptObserver, OperationEvent, Outcome, KeyProviderEvent } from './metrics/observer'
export { rowcryptMetrics } from './metrics/prometheus'
export type { RowcryptMetrics, RowcryptMetricsOptions, RowcryptMetricNames, PromClientModule, MetricsRegistry } from './metrics/prometheus'
export { OperationStatsCollector } from './metrics/stats'
export type { OperationStats, OperationStatsFilter, OperationStatsOptions } from './metrics/stats'
export { auditTrail } from './metrics/audit'
export type { AuditEvent, AuditTrailOptions } from './metrics/audit'
export { parseCiphertext, isCiphertext } from './envelope/ciphertext'
export type { ParsedCiphertext, ValueType } from './envelope/ciphertext'
export {
  RowcryptError,
  ConfigError,
  TenantMissingError,
  TenantMismatchError,
  InvalidTenantError,
  UnsupportedQueryError,
  InvalidValueError,
  DecryptionError,
  CiphertextFormatError,
  KeyVersionError,
  KeyProviderError,
  RecordNotFoundError,
  ForeignKeyError,
} from './errors'
export { AwsKmsKeyProvider } from './keys/aws-kms'
export type { AwsKmsKeyProviderOptions, AwsKmsMode, ShredTenantOptions, ShredTenantResult } from './keys/aws-kms'
export type { KmsClientLike, KmsCommandLike, KmsEncryptionContext, KmsOperations, KmsResponseMetadata } from './keys/kms-client'
export { KeyCache, TENANT_KEY_CACHE_DEFAULTS, DATA_KEY_CACHE_DEFAULTS } from './keys/cache'
export type { KeyCacheOptions } from './keys/cache'
export { InMemoryTenantKeyStore } from './keys/tenant-key-store'
export type { TenantKeyStore, TenantKeyRecord } from './keys/tenant-key-store'
export { PrismaTenantKeyStore } from './prisma/tenant-key-store'
export type { PrismaTenantKeyStoreOptions } from './prisma/tenant-key-store'
export { KmsUnavailableError, KmsAccessDeniedError, KmsKeyUnusableError, TenantShreddedError } from './errors'
export { TenantCollationError } from './errors'
export type { UnsafeTenantColumnInfo } from './errors'
export { isCanonicalTenantId } from './prisma/collation'
export { rlsPolicySql } from './prisma/rls'
export type { RlsOptions, RlsPolicySource, RlsPolicySqlOptions } from './prisma/rls'
export { withRlsPinning } from './prisma/rls-pinning'
export type { RlsPinnedAdapterFactory, PinnableAdapterFactory } from './prisma/rls-pinning'
