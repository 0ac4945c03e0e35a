// The committed schemas/*.json must be what `npm run schemas` generates from the zod schemas today.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { wireJsonSchemas } from '../../../src/core/protocol/json-schema.js';

const dir = join(import.meta.dirname, '..', '..', '..', 'schemas');

describe('schemas/*.json', () => {
  const generated = wireJsonSchemas();

  it('has one file per wire message, and no other', () => {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort();
    expect(files).toEqual(
      Object.keys(generated)
        .map((n) => `${n}.json`)
        .sort(),
    );
  });

  it.each(Object.keys(generated))('%s.json is up to date (run `npm run schemas` after changing a zod schema)', (name) => {
    expect(readFileSync(join(dir, `${name}.json`), 'utf8')).toBe(`${JSON.stringify(generated[name], null, 2)}\n`);
  });

  it('describes the envelope as a union keyed by type', () => {
    const envelope = generated.envelope as { oneOf?: Array<{ properties: { type: { const: string } } }>; anyOf?: unknown[] };
    const variants = envelope.oneOf ?? (envelope.anyOf as typeof envelope.oneOf);
    expect(variants?.map((v) => v.properties.type.const).sort()).toEqual([
      'run.cancel',
      'run.start',
      'task.cancel',
      'task.dispatch',
      'task.failed',
      'task.signal',
      'task.succeeded',
      'timer.fired',
    ]);
  });
});
