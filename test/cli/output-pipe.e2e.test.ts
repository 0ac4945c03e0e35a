import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, jsonLines, lockstep, ROOT } from '../support/cli.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-output-pipe-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('lockstep run: a reader that goes away', () => {
  it('`run --json | head -1`: the run still finishes and is recorded, and the CLI exits by its outcome', async () => {
    const store = mkdtempSync(join(scratch, 'pipe-'));
    // The reader takes one line, then closes the pipe while the run is still going.
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'run', 'machines/hello.yaml', '--json', '--store', store], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout.once('data', () => child.stdout.destroy());
      child.on('error', reject);
      child.on('close', (c) => {
        if (stderr.includes('EPIPE')) reject(new Error(`crashed on EPIPE: ${stderr}`));
        else resolve(c);
      });
    });
    expect(code).toBe(0);
    const runs = await lockstep(['runs', '--store', store, '--json']);
    const listed = jsonLines(runs.stdout);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ sequence: 'hello', status: 'succeeded' });
  });
});
