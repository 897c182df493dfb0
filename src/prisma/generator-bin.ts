#!/usr/bin/env node
// `provider = "rowcrypt-generator"` in schema.prisma runs this file.
import { runGenerator } from './generator'

runGenerator()
