import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lockstep, ROOT } from '../support/cli.js';
import { spawnServe } from './serve-process.js';

const dir = mkdtempSync(join(tmpdir(), 'lockstep-serve-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('lockstep serve: options', () => {
  it.each([
    [['--port', '70000'], 'lockstep: --port: expected an integer from 0 to 65535, got "70000" (INVALID_USAGE)'],
    [['--sequences', '/no/such/dir'], 'lockstep: --sequences: /no/such/dir does not exist (INVALID_USAGE)'],
    [['--machines', '/no/such/dir'], 'lockstep: --sequences: /no/such/dir does not exist (INVALID_USAGE)'],
    [
      ['--sequences', 'machines', '--machines', 'other'],
      'lockstep: --sequences machines and --machines other disagree: --machines is the old name of --sequences, give one (INVALID_USAGE)',
    ],
    [
      ['--store', 'x', '--brokers', '127.0.0.1:1'],
      'lockstep: --store and --brokers exclude each other: over Kafka the runs are read from the history and run-state topics (INVALID_USAGE)',
    ],
  ])('%j exits 2 and says why', async (args, message) => {
    const r = await lockstep(['serve', ...args], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(message);
  });

  it('binds 127.0.0.1, warns that mutating requests are off without LOCKSTEP_TOKEN, and stops cleanly on SIGTERM', async () => {
    const serve = await spawnServe(['--sequences', join(ROOT, 'machines')], { cwd: dir, env: { LOCKSTEP_TOKEN: '' } });
    expect(serve.base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = (await (await fetch(`${serve.base}/api/health`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ mode: 'embedded', auth: false });
    expect(health.sequences).toBeGreaterThanOrEqual(5);
    expect(serve.output()).toContain(
      'LOCKSTEP_TOKEN is not set, so starting, cancelling and rerunning runs is refused; set it to a secret to allow them',
    );
    await serve.stop();
    expect(serve.child.exitCode).toBe(0);
    expect(serve.output()).toContain('lockstep serve: shutting down');
  });

  it('takes the sequences from --sequences, or from --machines, its deprecated name, which the help leaves out', async () => {
    const help = await lockstep(['serve', '--help'], { cwd: dir });
    expect(help.stdout).toContain('--sequences <dir>');
    expect(help.stdout).not.toContain('--machines');
    const serve = await spawnServe(['--machines', join(ROOT, 'machines')], { cwd: dir, env: { LOCKSTEP_TOKEN: '' } });
    const health = (await (await fetch(`${serve.base}/api/health`)).json()) as Record<string, unknown>;
    expect(health.sequences).toBeGreaterThanOrEqual(5);
    expect(serve.output()).toContain(`from ${join(ROOT, 'machines')}`);
    await serve.stop();
  });
});
