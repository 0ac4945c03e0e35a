// Runs the Kafka examples of README.md and docs/ as written (test/docs/doc-example-checks.ts lists them), against
// the integration tests' broker. Two things are rewritten, and only these: the development broker's address
// (127.0.0.1:19092, which `npm run kafka:up` starts) becomes the tests' broker, and every run uses a topic prefix
// of its own (LOCKSTEP_TOPIC_PREFIX, and `--prefix lockstep` in a command), since other tests share the broker.
import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../support/cli.js';
import { checkOf } from './doc-example-checks.js';
import { allExamples } from './doc-examples.js';
import { outputDiff } from './doc-output.js';
import { type Background, copyDir, SERVE_READY, sh, shimDir, startBackground, withFreePort } from './doc-shell.js';

const brokers = inject('kafkaBrokers');
const DEV_BROKER = '127.0.0.1:19092';
const prefix = `doc-${randomUUID().slice(0, 8)}`;
const rewrite = (command: string) => command.replaceAll(DEV_BROKER, brokers).replaceAll('--prefix lockstep', `--prefix ${prefix}`);

const kafkaExamples = allExamples(ROOT).filter((e) => checkOf(e)?.check === 'kafka');
const shims = shimDir();
const cwd = copyDir();
const started: Background[] = [];
afterAll(async () => {
  await Promise.all(started.map((b) => b.stop()));
  rmSync(shims, { recursive: true, force: true });
  rmSync(cwd, { recursive: true, force: true });
});

describe('doc examples over Kafka, run as written', () => {
  const env: NodeJS.ProcessEnv = { LOCKSTEP_TOPIC_PREFIX: prefix, KAFKA_BROKERS: undefined };
  let runId: string | undefined;

  it('the built CLI is there (npm run build)', () => {
    expect(existsSync(join(ROOT, 'dist/cli/main.js'))).toBe(true);
  });

  // README "Kafka mode": one shell session, command after command.
  for (const e of kafkaExamples.filter((x) => x.file === 'README.md')) {
    it(`${e.command} (${e.file}:${e.line})`, async () => {
      const command = rewrite(e.command);
      const exported = /^export ([A-Z_]+)=(\S+)$/.exec(command);
      if (exported) {
        env[exported[1]!] = exported[2]!;
        expect(env.KAFKA_BROKERS).toBe(brokers);
        return;
      }
      if (command.endsWith(' &')) {
        // A process left running: it must say it is ready, then it serves the commands after it.
        const b = await startBackground(command.slice(0, -2), /"event":"ready"/, { cwd, shims, env, timeoutMs: 90_000 });
        started.push(b);
        return;
      }
      const r = await sh(command, { cwd, shims, env, timeoutMs: 90_000 });
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      const id = /\b[0-9a-f]{8}-[0-9a-f-]{27}\b/.exec(r.stdout);
      if (command.includes(' start ') && id) runId = id[0];
    }, 120_000);
  }

  it('the run `start --wait` printed has succeeded (`lockstep status <runId>`)', async () => {
    expect(runId, 'the run id `start --wait` printed').toBeDefined();
    const r = await sh(`lockstep status ${runId}`, { cwd, shims, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/succeeded/);
  }, 60_000);

  // The other docs' sessions go on from the README's, with its orchestrator and worker still running.
  for (const e of kafkaExamples.filter((x) => x.file !== 'README.md' && !x.command.startsWith('lockstep serve '))) {
    it(`${e.command} (${e.file}:${e.line})`, async () => {
      const r = await sh(rewrite(e.command), { cwd, shims, env, timeoutMs: 90_000 });
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      // The output names topics: the doc's prefix is this test's.
      const output = e.output?.map((line) => line.replaceAll('lockstep.', `${prefix}.`));
      if (output) expect(outputDiff(output, r.stdout + r.stderr), `the output ${e.file}:${e.line} shows`).toBeUndefined();
    }, 120_000);
  }

  for (const e of kafkaExamples.filter((x) => x.file !== 'README.md' && x.command.startsWith('lockstep serve '))) {
    it(`${e.command} (${e.file}:${e.line}): serves the runs of the orchestrators`, async () => {
      const server = await startBackground(withFreePort(rewrite(e.command)), SERVE_READY, { cwd, shims, env, timeoutMs: 90_000 });
      try {
        const base = server.ready[1]!;
        expect(await (await fetch(`${base}/api/health`)).json()).toMatchObject({ ok: true, mode: 'kafka' });
        // The run the README session started, read back from the history and run-state topics.
        let status: string | undefined;
        for (let i = 0; i < 150 && status !== 'succeeded'; i++) {
          if (i > 0) await new Promise((r) => setTimeout(r, 200));
          const res = await fetch(`${base}/api/runs/${runId}`);
          if (res.status === 200) status = ((await res.json()) as { run: { status: string } }).run.status;
        }
        expect(status).toBe('succeeded');
      } finally {
        expect(await server.stop()).toMatchObject({ forced: false });
      }
    }, 120_000);
  }

  it('the orchestrator and the worker the README leaves running stop on SIGTERM', async () => {
    for (const b of started.splice(0)) expect(await b.stop(30_000)).toMatchObject({ forced: false });
  }, 90_000);
});
