// Copies the web page of `lockstep serve` (src/http/ui: plain HTML, CSS and JS) next to the compiled server
// in dist/http/ui, where src/http/ui-assets.ts reads it at startup.
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const from = fileURLToPath(new URL('../src/http/ui/', import.meta.url));
const to = fileURLToPath(new URL('../dist/http/ui/', import.meta.url));
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });
