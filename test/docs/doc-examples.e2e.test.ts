// Runs the shell examples of README.md and docs/ as written, with the built CLI (test/docs/doc-example-checks.ts
// says how each is checked; the Kafka ones are in doc-examples.kafka.test.ts). A transcript's output must be the
// one printed, durations, UUIDs and timestamps aside (test/docs/doc-output.ts).
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, ROOT } from '../support/cli.js';
import { type Check, checkOf, referenceParts } from './doc-example-checks.js';
import { allDefinitions, allExamples, type DocExample } from './doc-examples.js';
import { outputDiff } from './doc-output.js';
import { copyDir, helpTexts, SERVE_READY, sh, shimDir, startBackground, withFreePort } from './doc-shell.js';

const examples = allExamples(ROOT);
const shims = shimDir();
const dirs: string[] = [shims];
const fresh = () => {
  const dir = copyDir();
  dirs.push(dir);
  return dir;
};
beforeAll(() => {
  expect(existsSync(join(ROOT, 'dist/cli/main.js')), 'the built CLI: npm run build first').toBe(true);
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * The examples of one kind of check, grouped by command: a command shown in several places runs once, and
 * `npx lockstep …` is `lockstep …` (both are the built bin here).
 */
function byCommand<K extends Check['check']>(kind: K): Map<string, { check: Extract<Check, { check: K }>; shown: DocExample[] }> {
  const out = new Map<string, { check: Extract<Check, { check: K }>; shown: DocExample[] }>();
  for (const e of examples) {
    const check = checkOf(e);
    if (check?.check !== kind) continue;
    const command = e.command.replace(/^npx lockstep /, 'lockstep ');
    const entry = out.get(command) ?? { check: check as Extract<Check, { check: K }>, shown: [] };
    entry.shown.push(e);
    out.set(command, entry);
  }
  return out;
}

const where = (shown: readonly DocExample[]) => shown.map((e) => `${e.file}:${e.line}`).join(', ');

describe.concurrent('doc examples, run as written', () => {
  for (const [command, { check, shown }] of byCommand('run')) {
    it(`${command} (${where(shown)})`, async () => {
      const cwd = check.cwd === 'copy' ? fresh() : ROOT;
      for (const before of check.before ?? []) expect((await sh(before, { cwd, shims })).code, before).toBe(0);
      // As written in its first place (`npx lockstep` or `lockstep`), unless the check says otherwise and why.
      const r = await sh(check.as ?? shown[0]!.command, { cwd, shims, timeoutMs: 110_000 });
      expect(r.code, `exit code of \`${command}\`; stdout:\n${r.stdout}\nstderr:\n${r.stderr}`).toBe(check.exit ?? 0);
      for (const e of shown) {
        if (e.output) expect(outputDiff(e.output, r.stdout + r.stderr), `the output ${e.file}:${e.line} shows`).toBeUndefined();
      }
    }, 120_000);
  }
});

describe.concurrent('doc references to CLI commands and options', () => {
  const references = byCommand('reference');
  const bySubcommand = new Map<string, { options: Set<string>; shown: DocExample[] }>();
  for (const [command, { shown }] of references) {
    const { subcommand, options } = referenceParts(command);
    const key = subcommand.join(' ');
    const entry = bySubcommand.get(key) ?? { options: new Set<string>(), shown: [] };
    for (const o of options) entry.options.add(o);
    entry.shown.push(...shown);
    bySubcommand.set(key, entry);
  }
  it('name at least the commands of the README', () => {
    expect([...bySubcommand.keys()]).toEqual(expect.arrayContaining(['run', 'runs', 'show', 'resume', 'rerun', 'test', 'validate']));
  });
  let helps: Promise<Map<string, string | undefined>> | undefined;
  for (const [subcommand, { options, shown }] of bySubcommand) {
    it(`lockstep ${subcommand} ${[...options].join(' ')} (${where(shown)})`, async () => {
      expect(subcommand, `a reference without a command: ${where(shown)}`).not.toBe('');
      helps ??= helpTexts([...bySubcommand.keys()]);
      const help = (await helps).get(subcommand);
      expect(help, `lockstep has no command "${subcommand}"`).toMatch(new RegExp(`^Usage: lockstep ${subcommand} `, 'm'));
      for (const option of options)
        expect(help, `lockstep ${subcommand} has no ${option}`).toMatch(new RegExp(`(^|[\\s,])${option}\\b`, 'm'));
    });
  }
});

describe.concurrent('doc examples that start a server', () => {
  for (const [command, { shown }] of byCommand('serve')) {
    it(`${command} (${where(shown)}): serves the API and the page, and stops on SIGTERM`, async () => {
      const server = await startBackground(withFreePort(command), SERVE_READY, { cwd: fresh(), shims });
      try {
        const base = server.ready[1]!;
        const health = await fetch(`${base}/api/health`);
        expect(health.status).toBe(200);
        // Every served example sets LOCKSTEP_TOKEN, so mutating requests are allowed.
        const sequences = readdirSync(join(ROOT, 'machines')).filter((f) => f.endsWith('.yaml')).length;
        expect(await health.json()).toEqual({ ok: true, mode: 'embedded', sequences, auth: true });
        const page = await fetch(`${base}/`);
        expect(page.status).toBe(200);
        expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      } finally {
        expect(await server.stop()).toMatchObject({ forced: false });
      }
      expect(server.output()).toContain('lockstep serve: shutting down');
    }, 90_000);
  }
});

/** The lines of the `task` examples called `name`, in the doc's order: one shell script. */
function taskScript(name: string): { script: string; shown: DocExample[] } {
  const shown = examples.filter((e) => {
    const check = checkOf(e);
    return check?.check === 'task' && check.name === name;
  });
  expect(shown.length, `no doc example is the task "${name}"`).toBeGreaterThan(0);
  return { script: shown.map((e) => e.command).join('\n'), shown };
}

/** A sequence file of shell tasks in `dir`; each task's `run:` is a block scalar, so a script goes in as written. */
function sequenceFile(dir: string, name: string, tasks: ReadonlyArray<{ id: string; run?: string; queue?: string }>): string {
  const yaml = [`name: ${name}`, 'version: 1', 'tasks:'];
  for (const t of tasks) {
    yaml.push(`  - id: ${t.id}`);
    if (t.queue) yaml.push(`    queue: ${t.queue}`);
    if (t.run) yaml.push('    run: |', ...t.run.split('\n').map((l) => `      ${l}`));
  }
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `${yaml.join('\n')}\n`);
  return file;
}

describe.concurrent('doc examples that are part of a task', () => {
  it('daemon: a process moved out of the task\'s group outlives the task, which ends (README "Shell tasks")', async () => {
    const { script, shown } = taskScript('daemon');
    const dir = fresh();
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    // `mydaemon` stands for the reader's daemon: it records its pid and stays up.
    writeFileSync(join(bin, 'mydaemon'), `#!/bin/sh\necho $$ > "${dir}/daemon.pid"\nexec sleep 60\n`);
    chmodSync(join(bin, 'mydaemon'), 0o755);
    sequenceFile(dir, 'daemon', [{ id: 'start-daemon', run: script }]);
    const r = await sh('lockstep run daemon.yaml --json', {
      cwd: dir,
      shims,
      env: { PATH: `${bin}:${process.env.PATH}` },
      timeoutMs: 80_000,
    });
    expect(r.code, `${where(shown)}\n${r.stdout}${r.stderr}`).toBe(0);
    expect(jsonLines(r.stdout).at(-1)).toMatchObject({ type: 'run.succeeded' });
    // It may get to write its pid only after the task has ended: the task waits only until it has left the group.
    const pidFile = join(dir, 'daemon.pid');
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
    const pid = Number(readFileSync(pidFile, 'utf8'));
    // The task's group was killed when it ended; the daemon, in a session of its own, was not.
    expect(() => process.kill(pid, 0)).not.toThrow();
    process.kill(pid, 'SIGKILL');
  }, 90_000);

  it('jq: a task reads a result from LOCKSTEP_RESULTS_FILE and writes its own to LOCKSTEP_RESULT_FILE (docs/data-between-tasks.md)', async () => {
    const { script, shown } = taskScript('jq');
    const dir = fresh();
    sequenceFile(dir, 'jq', [
      { id: 'create-order', run: `echo '{"id":"o-42"}'` },
      { id: 'reserve', run: script },
    ]);
    const r = await sh('lockstep run jq.yaml --json', { cwd: dir, shims, timeoutMs: 80_000 });
    expect(r.code, `${where(shown)}\n${r.stdout}${r.stderr}`).toBe(0);
    const done = jsonLines(r.stdout).find((l) => l.type === 'task.succeeded' && l.task === 'reserve');
    expect(done?.result).toEqual({ reserved: true, order: 'o-42' });
  }, 90_000);

  it("ingest: a remote task's service reports its outcome with curl (docs/serve.md)", async () => {
    const { script, shown } = taskScript('ingest');
    const dir = fresh();
    const machines = join(dir, 'billing');
    mkdirSync(machines);
    sequenceFile(machines, 'billing', [{ id: 'bill', queue: 'billing' }]);
    const token = randomUUID();
    const server = await startBackground(withFreePort(`lockstep serve --machines billing`), SERVE_READY, {
      cwd: dir,
      shims,
      env: { LOCKSTEP_TOKEN: token },
    });
    try {
      const base = server.ready[1]!;
      const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const started = await fetch(`${base}/api/runs`, { method: 'POST', headers: auth, body: JSON.stringify({ sequence: 'billing' }) });
      expect(started.status).toBe(201);
      const { runId } = (await started.json()) as { runId: string };
      // The example as written, but for what it leaves to the reader: the envelope's id, the run, the address.
      const command = script.replaceAll('<uuid>', randomUUID()).replaceAll('<run>', runId).replaceAll('http://127.0.0.1:7070', base);
      const curl = await sh(`${command} --fail-with-body --silent --show-error`, { cwd: dir, shims, env: { LOCKSTEP_TOKEN: token } });
      expect(curl.code, `${where(shown)}\n${curl.stdout}${curl.stderr}`).toBe(0);
      let view: { run: { status: string }; history: Array<{ type: string; task?: string; result?: unknown }> } | undefined;
      for (let i = 0; i < 100 && view?.run.status !== 'succeeded'; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100));
        view = (await (await fetch(`${base}/api/runs/${runId}`)).json()) as typeof view;
      }
      expect(view?.run.status).toBe('succeeded');
      expect(view?.history.find((e) => e.type === 'task.succeeded' && e.task === 'bill')?.result).toEqual({ invoice: 'inv-7' });
    } finally {
      expect(await server.stop()).toMatchObject({ forced: false });
    }
  }, 90_000);
});

it('the sequence definitions the docs show (```yaml) are valid; a fragment is, with a name', async () => {
  const definitions = allDefinitions(ROOT);
  expect(definitions.length).toBeGreaterThanOrEqual(3);
  const dir = fresh();
  const files = definitions.map((d, i) => {
    const file = `def-${i}.yaml`;
    writeFileSync(join(dir, file), /^name:/m.test(d.text) ? d.text : `name: fragment\n${d.text}`);
    return `${file} (${d.file}:${d.line})`;
  });
  const r = await sh('lockstep validate def-*.yaml', { cwd: dir, shims });
  expect(r.code, `${files.join(', ')}\n${r.stdout}${r.stderr}`).toBe(0);
  expect(r.stdout.trim().split('\n')).toHaveLength(definitions.length);
}, 90_000);
