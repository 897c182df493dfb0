// Public API of `rowcrypt/config`: what a `rowcrypt.config.ts` file for the `rowcrypt` CLI imports.
// Kept out of the main entry so that applications do not load the CLI's config loader.
export { defineConfig } from './cli/config'
export type { RowcryptCliConfig } from './cli/config'
