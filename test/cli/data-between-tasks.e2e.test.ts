// Data between tasks through the real CLI: results and inputs of any size reach shell tasks through files, the
// environment never makes a spawn fail with E2BIG, and the declared limits fail an attempt, naming the limit.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jsonLines, lockstep } from '../support/cli.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-data-between-tasks-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

type Line = Record<string, unknown>;

/** Writes `yaml` as a sequence file in a new temp dir and runs it with `--json`, in that dir. */
async function run(yaml: string, args: string[] = [], timeoutMs = 60_000, env: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(join(scratch, 'data-'));
  writeFileSync(join(dir, 'seq.yaml'), yaml);
  const r = await lockstep(['run', 'seq.yaml', '--json', '--store', join(dir, 'store.db'), ...args], { cwd: dir, timeoutMs, env });
  return { ...r, dir, lines: jsonLines(r.stdout) };
}

const of = (lines: Line[], type: string, task?: string) => lines.filter((l) => l.type === type && (task === undefined || l.task === task));

// A JSON line of `n` x's wrapped in {"s": ...}, streamed by the shell: no argument, no variable holds it.
const printBig = (n: number) => `printf '{"s":"'; head -c ${n} /dev/zero | tr '\\0' x; printf '"}\\n'`;

describe('lockstep run: data between tasks', () => {
  it('a 200 KB shell result reaches the next task through LOCKSTEP_RESULTS_FILE; its variable is absent', async () => {
    const r = await run(`name: big-result
tasks:
  - id: produce
    run: ${JSON.stringify(printBig(200_000))}
  - id: consume
    run: |
      if [ -n "\${LOCKSTEP_RESULT_PRODUCE+set}" ] || [ -n "\${LOCKSTEP_RESULTS+set}" ]; then echo '{"env":"present"}'; exit 0; fi
      test -f "$LOCKSTEP_INPUT_FILE" && test -f "$LOCKSTEP_RESULTS_FILE" || exit 5
      printf '{"bytes":%s,"xs":%s}\\n' "$(wc -c < "$LOCKSTEP_RESULTS_FILE")" "$(tr -cd x < "$LOCKSTEP_RESULTS_FILE" | wc -c)"
`);
    expect(r.code, r.stderr).toBe(0);
    expect((of(r.lines, 'task.succeeded', 'produce')[0]!.result as { s: string }).s).toHaveLength(200_000);
    // {"produce":{"s":"xxx..."}}: 200,000 x's and 20 other bytes.
    expect(of(r.lines, 'task.succeeded', 'consume')[0]?.result).toEqual({ bytes: 200_020, xs: 200_000 });
  });

  it('100 tasks of 20 KB results, then the last task, its compensation and a finally task all run (no E2BIG)', async () => {
    const count = `grep -o '"t[0-9]*":{' "$LOCKSTEP_RESULTS_FILE" | wc -l > "seen-$LOCKSTEP_TASK_ID"`;
    const many = Array.from({ length: 100 }, (_, i) => `  - id: t${i + 1}\n    run: ${JSON.stringify(printBig(20_000))}\n`).join('');
    const r = await run(
      `name: many-results
tasks:
  - id: start
    run: echo '{"started":true}'
    compensate:
      run: ${JSON.stringify(count)}
${many}  - id: last
    run: ${JSON.stringify(`${count}; exit 3`)}
finally:
  - id: cleanup
    run: ${JSON.stringify(count)}
`,
      [],
      120_000,
    );
    expect(r.code, r.stderr).toBe(1);
    expect(of(r.lines, 'task.succeeded')).toHaveLength(1 + 100 + 2); // start, t1..t100, the compensation and cleanup
    expect(of(r.lines, 'task.failed').map((l) => [l.task, (l.error as { message: string }).message])).toEqual([
      ['last', 'command exited with code 3'],
    ]);
    for (const task of ['last', 'start.compensate', 'cleanup'])
      expect(readFileSync(join(r.dir, `seen-${task}`), 'utf8').trim()).toBe('100');
    expect(r.stdout + r.stderr).not.toContain('E2BIG');
    expect(r.lines.at(-1)).toMatchObject({ type: 'run.failed', reason: 'task last failed: command exited with code 3' });
  }, 150_000);

  it('a 140 KB --input reaches every task through LOCKSTEP_INPUT_FILE (a variable of that name lockstep inherited is absent too)', async () => {
    const dir = mkdtempSync(join(scratch, 'data-input-'));
    const input = { blob: 'y'.repeat(140_000) };
    writeFileSync(join(dir, 'input.json'), JSON.stringify(input));
    const task = `[ -z "\${LOCKSTEP_INPUT+set}" ] || exit 7; printf '{"ys":%s}\\n' "$(tr -cd y < "$LOCKSTEP_INPUT_FILE" | wc -c)"`;
    const r = await run(
      `name: big-input
tasks:
  - id: one
    run: ${JSON.stringify(task)}
  - id: two
    run: ${JSON.stringify(task)}
finally:
  - id: three
    run: ${JSON.stringify(task)}
`,
      ['--input', `@${join(dir, 'input.json')}`],
      60_000,
      { LOCKSTEP_INPUT: '"stale"' },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(of(r.lines, 'task.succeeded').map((l) => [l.task, l.result])).toEqual([
      ['one', { ys: 140_000 }],
      ['two', { ys: 140_000 }],
      ['three', { ys: 140_000 }],
    ]);
  });

  it('small values still travel in the environment, next to the files', async () => {
    const r = await run(
      `name: small
tasks:
  - id: a-b
    run: echo '{"n":1}'
  - id: c
    run: printf '{"input":%s,"results":%s,"ab":%s}\\n' "$LOCKSTEP_INPUT" "$LOCKSTEP_RESULTS" "$LOCKSTEP_RESULT_A_B"
`,
      ['--input', '{"k":"v"}'],
    );
    expect(r.code, r.stderr).toBe(0);
    expect(of(r.lines, 'task.succeeded', 'c')[0]?.result).toEqual({ input: { k: 'v' }, results: { 'a-b': { n: 1 } }, ab: { n: 1 } });
  });

  it('a result over limits.resultBytes fails the attempt once, non-retriably, naming task, size and limit', async () => {
    const r = await run(`name: too-big
tasks:
  - id: build
    run: ${JSON.stringify(printBig(1_500_000))}
    retry: { maxAttempts: 3, backoff: { initial: 10ms } }
  - id: after
    run: echo never
`);
    expect(r.code).toBe(1);
    expect(of(r.lines, 'task.started', 'build')).toHaveLength(1);
    expect(of(r.lines, 'task.started', 'after')).toHaveLength(0);
    const failed = of(r.lines, 'task.failed', 'build')[0]!;
    expect(failed).toMatchObject({ willRetry: false, error: { code: 'RESULT_TOO_LARGE', retriable: false } });
    expect((failed.error as { message: string }).message).toBe(
      'task "build": result (its stdout line) is 1,500,008 bytes, over limits.resultBytes 1,048,576',
    );
    expect(r.lines.at(-1)).toMatchObject({ type: 'run.failed' });
  });

  it('a result just over a small limit is measured as JSON and refused with the exact size', async () => {
    const r = await run(`name: small-limit
limits: { resultBytes: 1KiB }
tasks:
  - id: build
    run: ${JSON.stringify(printBig(1_100))}
    retry: { maxAttempts: 2 }
`);
    expect(r.code).toBe(1);
    expect(of(r.lines, 'task.started', 'build')).toHaveLength(1);
    expect(of(r.lines, 'task.failed', 'build')[0]?.error).toMatchObject({
      code: 'RESULT_TOO_LARGE',
      retriable: false,
      message: 'task "build": result is 1,108 bytes, over limits.resultBytes 1,024',
    });
  });

  it('a run whose input and results would pass limits.runBytes fails non-retriably naming the limit', async () => {
    const r = await run(`name: run-limit
limits: { runBytes: 50KiB }
tasks:
  - id: a
    run: ${JSON.stringify(printBig(20_000))}
  - id: b
    run: ${JSON.stringify(printBig(20_000))}
  - id: c
    run: ${JSON.stringify(printBig(20_000))}
    retry: { maxAttempts: 3 }
`);
    expect(r.code).toBe(1);
    expect(of(r.lines, 'task.succeeded').map((l) => l.task)).toEqual(['a', 'b']);
    expect(of(r.lines, 'task.started', 'c')).toHaveLength(1);
    expect(of(r.lines, 'task.failed', 'c')[0]?.error).toMatchObject({
      code: 'RUN_DATA_TOO_LARGE',
      retriable: false,
      // input null (4) + two results of 20,008 + this one
      message: 'task "c": the run\'s data (input and results) would be 60,028 bytes, over limits.runBytes 51,200',
    });
  });

  it('an input alone over limits.runBytes is refused up front with exit 2, and nothing runs', async () => {
    const r = await run(
      `name: input-limit
limits: { runBytes: 1KiB }
tasks:
  - id: a
    run: touch ran
`,
      ['--input', JSON.stringify({ s: 'z'.repeat(2_000) })],
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('input is 2,008 bytes, over limits.runBytes 1,024 of sequence "input-limit" (INVALID_USAGE)');
    expect(r.lines).toEqual([]);
    expect(existsSync(join(r.dir, 'ran'))).toBe(false);
  });

  it('LOCKSTEP_RESULT_FILE takes precedence over the stdout line', async () => {
    const r = await run(`name: result-file
tasks:
  - id: write
    run: |
      echo '{"from":"stdout"}'
      printf '{"from":"file"}' > "$LOCKSTEP_RESULT_FILE"
  - id: stdout-only
    run: echo '{"from":"stdout"}'
  - id: check
    run: printf '{"mode":"%s"}\\n' "$(stat -c %a "$(dirname "$LOCKSTEP_RESULTS_FILE")")-$(stat -c %a "$LOCKSTEP_RESULTS_FILE")"
`);
    expect(r.code, r.stderr).toBe(0);
    expect(of(r.lines, 'task.succeeded').map((l) => [l.task, l.result])).toEqual([
      ['write', { from: 'file' }],
      ['stdout-only', { from: 'stdout' }],
      ['check', { mode: '700-600' }],
    ]);
  });

  it('a result file that is not JSON fails the attempt non-retriably', async () => {
    const r = await run(`name: bad-file
tasks:
  - id: write
    run: echo 'not json' > "$LOCKSTEP_RESULT_FILE"
    retry: { maxAttempts: 3 }
`);
    expect(r.code).toBe(1);
    expect(of(r.lines, 'task.started', 'write')).toHaveLength(1);
    expect(of(r.lines, 'task.failed', 'write')[0]?.error).toMatchObject({ code: 'INVALID_RESULT', retriable: false });
  });

  it('a 2 MB stdout JSON line under a raised limit is the result, not dropped', async () => {
    const r = await run(`name: raised
tasks:
  - id: produce
    run: ${JSON.stringify(`echo starting; ${printBig(2_000_000)}; echo done`)}
    limits: { resultBytes: 3MiB }
  - id: consume
    run: printf '{"xs":%s}\\n' "$(tr -cd x < "$LOCKSTEP_RESULTS_FILE" | wc -c)"
`);
    expect(r.code, r.stderr).toBe(0);
    expect((of(r.lines, 'task.succeeded', 'produce')[0]!.result as { s: string }).s).toHaveLength(2_000_000);
    expect(of(r.lines, 'task.succeeded', 'consume')[0]?.result).toEqual({ xs: 2_000_000 });
  });

  it('needs restricts the results a dispatch carries to the named tasks (the input always travels)', async () => {
    const show = `printf '{"results":%s,"input":%s}\\n' "$(cat "$LOCKSTEP_RESULTS_FILE")" "$(cat "$LOCKSTEP_INPUT_FILE")"`;
    const r = await run(
      `name: needs
tasks:
  - id: a
    run: echo '{"a":1}'
  - id: b
    run: echo '{"b":2}'
    compensate:
      run: ${JSON.stringify(show)}
      needs: [b]
  - id: c
    run: ${JSON.stringify(show)}
    needs: [a]
  - id: d
    run: ${JSON.stringify(`${show}; exit 1`)}
finally:
  - id: e
    run: ${JSON.stringify(show)}
    needs: []
`,
      ['--input', '{"i":0}'],
    );
    expect(r.code).toBe(1);
    const result = (task: string) => of(r.lines, 'task.succeeded', task)[0]?.result;
    expect(result('c')).toEqual({ results: { a: { a: 1 } }, input: { i: 0 } });
    expect(result('b.compensate')).toEqual({ results: { b: { b: 2 } }, input: { i: 0 } });
    expect(result('e')).toEqual({ results: {}, input: { i: 0 } });
  });
});

describe('lockstep validate: limits, needs and result variables', () => {
  const validate = async (yaml: string) => {
    const dir = mkdtempSync(join(scratch, 'data-validate-'));
    writeFileSync(join(dir, 'seq.yaml'), yaml);
    return lockstep(['validate', join(dir, 'seq.yaml')]);
  };

  it('rejects ids whose LOCKSTEP_RESULT_<ID> names collide and names both paths', async () => {
    const r = await validate(`name: collide
tasks:
  - id: a-b
    run: "true"
  - id: Ab
    run: "true"
    compensate: { run: "true" }
  - id: x
    run: "true"
  - id: a_b
    run: "true"
  - id: aB
    run: "true"
  - id: File
    run: "true"
finally:
  - id: Ab-compensate
    run: "true"
`);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('tasks[3].id: "a_b" has the same result variable LOCKSTEP_RESULT_A_B as tasks[0].id "a-b"');
    expect(r.stderr).toContain('tasks[4].id: "aB" has the same result variable LOCKSTEP_RESULT_AB as tasks[1].id "Ab"');
    expect(r.stderr).toContain(
      'finally[0].id: "Ab-compensate" has the same result variable LOCKSTEP_RESULT_AB_COMPENSATE as tasks[1].compensate "Ab.compensate"',
    );
    expect(r.stderr).toContain(
      'tasks[5].id: "File" would have the result variable LOCKSTEP_RESULT_FILE, the path where each shell task writes its own result: choose another id',
    );
  });

  it('checks that needs names earlier tasks, with the path of each', async () => {
    const r = await validate(`name: needs
tasks:
  - id: a
    run: "true"
    needs: [b]
  - id: b
    run: "true"
    needs: [b, nope]
    compensate: { run: "true", needs: [b, c] }
  - id: c
    run: "true"
    needs: [a, 3]
finally:
  - id: f
    run: "true"
    needs: [c, g]
  - id: g
    run: "true"
    needs: [f]
`);
    expect(r.code).toBe(2);
    for (const line of [
      'tasks[0].needs[0]: "b" is not a task before this one',
      'tasks[1].needs[0]: a task cannot need its own result ("b")',
      'tasks[1].needs[1]: "nope" is not a task before this one',
      'tasks[1].compensate.needs[1]: "c" is not this task or a task before it',
      'tasks[2].needs[1]: expected a string, got 3',
      'finally[0].needs[1]: "g" is not a main task or a finally task before this one',
    ])
      expect(r.stderr).toContain(line);
    expect(r.stderr).not.toContain('finally[1].needs');
  });

  it('checks limits: sizes as bytes or with a unit, at sequence and task level', async () => {
    const r = await validate(`name: limits
limits: { resultBytes: 2 MB, runBytes: lots }
tasks:
  - id: a
    run: "true"
    limits: { resultBytes: 0, runBytes: 2GiB, other: 1 }
  - id: b
    run: "true"
    limits: { resultBytes: 512KiB, runBytes: 1048576 }
`);
    expect(r.code).toBe(2);
    const bad = (v: string) => `expected a size from 1 byte to 1GiB (1073741824 bytes) like 1048576, "512KiB" or "1MiB", got ${v}`;
    expect(r.stderr).toContain(`limits.runBytes: ${bad('"lots"')}`);
    expect(r.stderr).toContain(`tasks[0].limits.resultBytes: ${bad('0')}`);
    expect(r.stderr).toContain(`tasks[0].limits.runBytes: ${bad('"2GiB"')}`);
    expect(r.stderr).toContain('tasks[0].limits.other: unknown key');
    expect(r.stderr).not.toContain(
      'limits.resultBytes: expected a size from 1 byte to 1GiB (1073741824 bytes) like 1048576, "512KiB" or "1MiB", got "2 MB"',
    );
    expect(r.stderr).not.toContain('tasks[1]');
  });

  it('refuses env values that cannot be passed: a NUL, or more than 32 KiB', async () => {
    const r = await validate(`name: env
tasks:
  - id: a
    run: "true"
    env: { OK: "fine", NUL: "a\\0b", BIG: "${'e'.repeat(40_000)}" }
`);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('tasks[0].env.NUL: expected a string without NUL characters');
    expect(r.stderr).toContain('tasks[0].env.BIG: expected at most 32768 bytes (32KiB), got 40000: pass bigger data in the input');
    expect(r.stderr).not.toContain('env.OK');
  });

  it('refuses env values that are each fine but over 64 KiB together', async () => {
    const r = await validate(`name: env-total
tasks:
  - id: a
    run: "true"
    env: { A: "${'a'.repeat(30_000)}", B: "${'b'.repeat(30_000)}", C: "${'c'.repeat(30_000)}" }
`);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'tasks[0].env: expected at most 65536 bytes (64KiB) of variables together, got 90009: pass bigger data in the input',
    );
  });

  it('refuses a run: command over 64 KiB, which could not be an argument of sh -c', async () => {
    const r = await validate(`name: long-run
tasks:
  - id: a
    run: "${'echo hi; '.repeat(8_000)}"
  - id: b
    run: "${'echo hi; '.repeat(6_000)}"
`);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('tasks[0].run: expected a command of at most 65536 bytes (64KiB), got 72000: put a longer script in a file');
    expect(r.stderr).not.toContain('tasks[1]');
  });
});
