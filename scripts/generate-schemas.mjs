#!/usr/bin/env node
// npm run schemas: writes the JSON Schema of every wire message (generated from the zod schemas in
// src/core/protocol) into schemas/*.json. Needs a build (the npm script builds first).
// test/core/protocol/json-schema-files.test.ts fails when the committed files are out of date.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wireJsonSchemas } from '../dist/core/protocol/json-schema.js';

const dir = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'schemas');
mkdirSync(dir, { recursive: true });
for (const file of readdirSync(dir)) if (file.endsWith('.json')) rmSync(join(dir, file));
for (const [name, schema] of Object.entries(wireJsonSchemas())) {
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(schema, null, 2)}\n`);
  process.stdout.write(`schemas/${name}.json\n`);
}
