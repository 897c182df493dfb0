// The part of @aws-sdk/client-kms that AwsKmsKeyProvider uses, described by shape. The SDK is an
// optional peer dependency: rowcrypt's declarations must type-check in applications that do not
// install it, so nothing here imports it. A real `KMSClient` and its command classes fit these types.

/** The KMS encryption context: string pairs bound to every wrapped key. */
export type KmsEncryptionContext = Record<string, string>

/** What every SDK response carries; rowcrypt reads the number of attempts for its events. */
export interface KmsResponseMetadata {
  readonly $metadata?: { readonly attempts?: number; readonly httpStatusCode?: number }
}

/** A command object, as the SDK's command classes (`new DecryptCommand(input)`) build them. */
export interface KmsCommandLike {
  readonly input: object
}

/**
 * The `KMSClient` of @aws-sdk/client-kms as far as rowcrypt uses it: `send(command)`. Pass your
 * own `new KMSClient({ ... })`; any object that answers KMS commands the same way fits.
 *
 * @example
 * ```ts
 * import { KMSClient } from '@aws-sdk/client-kms'
 * const client: KmsClientLike = new KMSClient({ region: 'eu-west-1' })
 * ```
 */
export interface KmsClientLike {
  send(command: KmsCommandLike, options?: unknown): Promise<unknown>
}

/** Inputs and outputs of the KMS operations rowcrypt calls (the fields it sets and reads). */
export interface KmsOperations {
  GenerateDataKey: [{ KeyId: string; KeySpec: 'AES_256'; EncryptionContext?: KmsEncryptionContext }, KmsResponseMetadata & { Plaintext?: Uint8Array; CiphertextBlob?: Uint8Array; KeyId?: string }]
  Encrypt: [{ KeyId: string; Plaintext: Uint8Array; EncryptionContext?: KmsEncryptionContext }, KmsResponseMetadata & { CiphertextBlob?: Uint8Array; KeyId?: string }]
  Decrypt: [{ CiphertextBlob: Uint8Array; KeyId?: string; EncryptionContext?: KmsEncryptionContext }, KmsResponseMetadata & { Plaintext?: Uint8Array; KeyId?: string }]
  DescribeKey: [
    { KeyId: string },
    KmsResponseMetadata & { KeyMetadata?: { KeyId?: string; Arn?: string; KeyState?: string; KeyUsage?: string; KeySpec?: string; DeletionDate?: Date; CreationDate?: Date } },
  ]
  DisableKey: [{ KeyId: string }, KmsResponseMetadata]
  ScheduleKeyDeletion: [{ KeyId: string; PendingWindowInDays?: number }, KmsResponseMetadata & { KeyId?: string; DeletionDate?: Date }]
  ReEncrypt: [
    {
      CiphertextBlob: Uint8Array
      SourceKeyId?: string
      SourceEncryptionContext?: KmsEncryptionContext
      DestinationKeyId: string
      DestinationEncryptionContext?: KmsEncryptionContext
    },
    KmsResponseMetadata & { CiphertextBlob?: Uint8Array; KeyId?: string },
  ]
}

/** @internal The name of an operation rowcrypt calls. */
export type KmsOperation = keyof KmsOperations

/** @internal The command classes of @aws-sdk/client-kms that rowcrypt constructs. */
export type KmsCommandClasses = { readonly [K in KmsOperation as `${K}Command`]: new (input: KmsOperations[K][0]) => KmsCommandLike }
