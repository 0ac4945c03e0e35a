// The README's example of sequences made in code in Kafka mode, exactly as written there: it typechecks as
// TypeScript against the built package, and runs against the real broker.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../support/cli.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-readme-code-sequences-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const brokers = inject('kafkaBrokers');

/** The ```ts block right after the paragraph that starts with `heading`. */
function exampleAfter(heading: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(heading);
  if (at < 0) throw new Error(`README.md has no "${heading}"`);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!block) throw new Error(`README.md has no ts block after "${heading}"`);
  return block[1]!;
}

describe('README: sequences made in code, in Kafka mode', () => {
  const code = exampleAfter('**Sequences made in code** run in Kafka mode too.');
  // A project of its own that depends on lockstep (this checkout, built).
  const dir = mkdtempSync(join(scratch, 'readme-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'lockstep'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  writeFileSync(join(dir, 'example.ts'), code);
  writeFileSync(join(dir, 'example.mjs'), code);

  it('typechecks', () => {
    const tsc = spawnSync(
      process.execPath,
      [
        join(ROOT, 'node_modules/typescript/bin/tsc'),
        '--noEmit',
        '--strict',
        '--target',
        'es2022',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--skipLibCheck',
        '--types',
        'node',
        '--typeRoots',
        join(ROOT, 'node_modules/@types'),
        'example.ts',
      ],
      { cwd: dir, encoding: 'utf8' },
    );
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  }, 120_000);

  it('runs a sequence made in code across an orchestrator and a worker, and prints its results', () => {
    const run = spawnSync(process.execPath, ['example.mjs'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, KAFKA_BROKERS: brokers },
      timeout: 90_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(
      /^succeeded \{"reserve":\{"reserved":\{"cart":42\}\},"charge":\{"charged":true,"key":"[0-9a-f-]{36}:charge:1"\}\}\n$/,
    );
  }, 120_000);
});
