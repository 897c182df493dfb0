// Public API of `rowcrypt/kms-dev-server`: a local server that speaks the AWS KMS protocol, for
// development and tests. Kept out of the main entry so that applications do not load it.
export { KmsDevServer } from './kms/dev-server'
export type { KmsDevServerOptions, KmsFault, KmsRequestRecord } from './kms/dev-server'
