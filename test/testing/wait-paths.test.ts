import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadSequenceFile } from '../../src/adapters/fs/load-sequence.js';
import { expectOutcome } from '../../src/core/paths/expectation.js';
import { checkRun } from '../../src/core/paths/invariants.js';
import { loadSequenceText } from '../../src/core/sequence/validate.js';
import { checkHistory } from '../../src/testing/history-checker.js';
import { testSequence } from '../../src/testing/test-sequence.js';

const MACHINES = fileURLToPath(new URL('../../machines/', import.meta.url));

const WAITS = `
name: waits
timeout: 30d
tasks:
  - id: prepare
    run: echo prepare
  - id: approve
    wait:
      signal: true
      schema:
        type: object
        properties: { by: { type: string, minLength: 2 }, n: { type: integer, minimum: 3 } }
        required: [by, n]
    timeout: 1h
    onTimeout: continue
    retry: { maxAttempts: 2, backoff: { initial: 1m } }
  - id: cool-off
    wait: { duration: 2h }
  - id: remind
    wait: { until: input.remind.at }
  - id: hold
    wait: { signal: true }
    timeout: never
    onFailure: continue
  - id: fixed
    wait: { until: "1970-01-03T00:00:00Z" }
finally:
  - id: ack
    wait: { signal: true }
    timeout: 5m
`;

describe('lockstep test on a sequence with waits', () => {
  it('enumerates, for each wait, its signal, rejection, timeout and a cancel while it waits, in the words of the wait', async () => {
    const report = await testSequence(loadSequenceFile(join(MACHINES, 'approval.yaml')).sequence);
    expect(report.failed).toEqual([]);
    expect(report.plan.exhaustive).toBe(true);
    expect(report.coverage.transitions.covered).toBe(report.coverage.transitions.total);
    const labels = (id: string) => report.runs.find((r) => r.path.id === id)?.path.steps.map((s) => s.label);
    expect(labels('SSSSS')).toEqual(['build ok', 'approve: signal', 'deploy ok', 'smoke-test ok', 'notify ok']);
    expect(labels('SFS')).toEqual(['build ok', 'approve: rejected', 'notify ok']);
    expect(labels('STS')).toEqual(['build ok', 'approve: timed out', 'notify ok']);
    expect(labels('SCS')).toEqual(['build ok', 'approve: cancelled while waiting', 'notify ok']);
    const run = (id: string) => report.runs.find((r) => r.path.id === id)!;
    // A rejection and a timeout fail the run; deploy never started, so nothing is compensated.
    expect(run('SFS').expected).toMatchObject({ outcome: 'failed', because: 'approve was rejected (onFailure: stop)' });
    expect(run('STS').expected.because).toBe('approve timed out 1 of 1 attempt (onTimeout: fail)');
    // The signal's data (the schema's required field) is approve's result, which deploy gets.
    expect(run('SSSSS').entries.find((e) => e.type === 'task.succeeded' && e.task === 'approve')).toMatchObject({
      result: { approver: 'x' },
    });
    // Duplicate, late and early signals are sent and must change nothing.
    expect(run('SSSSS').injected).toEqual(
      expect.arrayContaining(['a signal for approve before the run reaches it', 'a duplicate signal for approve (step 2)']),
    );
    expect(run('SFS').injected).toContain('a late signal for approve after its rejection (step 2)');
    expect(run('STS').injected).toContain('a late signal for approve after it timed out (step 2)');
    expect(run('SCS').injected).toContain('a late signal for approve after the cancel (step 2)');
    // The report counts each way the wait ended, and the signals it had to ignore.
    expect(report.waits).toEqual([
      {
        taskId: 'approve',
        for: 'signal',
        ended: { signal: 26, rejected: 2, 'timed out': 2, 'cancelled while waiting': 2 },
        ignored: { duplicate: 26, late: 6, early: 40 },
      },
    ]);
    // What the run records while it waits: what for, and until when (48h after the wait began).
    const waiting = run('SSSSS').entries.find((e) => e.type === 'task.waiting');
    const started = run('SSSSS').entries.find((e) => e.type === 'task.started' && e.task === 'approve');
    expect(waiting).toMatchObject({ task: 'approve', for: 'signal', until: started!.at + 48 * 3_600_000 });
  });

  it('passes with every transition covered on delays, waits until an input field or a time, onTimeout: continue and timeout: never', async () => {
    const report = await testSequence(loadSequenceText(WAITS), { maxPaths: 1000 });
    expect(report.failed.map((r) => [r.path.id, r.violations])).toEqual([]);
    expect(report.coverage.transitions.covered).toBe(report.coverage.transitions.total);
    expect(report.coverage.states.covered).toBe(report.coverage.states.total);
    // The history checker finds nothing wrong with these runs either: a wait's timeout stops nothing, and
    // onTimeout: continue goes on.
    const sequence = report.sequence;
    const histories = report.runs.map((r, i) => ({ runId: `${r.path.id}-${i}`, entries: r.entries }));
    const checked = checkHistory(histories, { sequenceOf: () => sequence });
    expect(checked.violations).toEqual([]);
    expect(checked.finished).toBe(report.runs.length);
    const ids = new Set(report.runs.map((r) => r.path.id));
    // approve times out, asks again, times out again, and the run goes on (onTimeout: continue).
    const goesOn = report.runs.find(
      (r) =>
        r.path.steps
          .slice(1, 4)
          .map((s) => s.label)
          .join(' > ') === 'approve: timed out > approve: asks again > approve#2: timed out',
    );
    expect(goesOn?.path.steps[4]?.label).toBe('cool-off: due');
    expect(ids.size).toBe(report.runs.length);
    // remind waits until the input field the path's run was started with.
    const run = report.runs.find((r) => r.passed && r.entries.some((e) => e.type === 'task.waiting' && e.task === 'remind'))!;
    const remind = run.entries.find((e) => e.type === 'task.waiting' && e.task === 'remind');
    expect(remind).toMatchObject({ for: 'time', until: Date.parse('1970-01-01T01:00:00Z') });
  });

  it("signals with the data given, or the schema's example; says so when it cannot build data the schema accepts", async () => {
    const sequence = loadSequenceFile(join(MACHINES, 'approval.yaml')).sequence;
    const given = await testSequence(sequence, { paths: ['SSSSS'], signal: () => ({ approver: 'ana' }) });
    const approved = given.runs[0]!.entries.find((e) => e.type === 'task.succeeded' && e.task === 'approve');
    expect(approved).toMatchObject({ result: { approver: 'ana' } });

    const example = loadSequenceText(
      'name: e\ntasks:\n  - id: a\n    wait: { signal: true, schema: { type: object, examples: [{ ok: yes }] } }\n    timeout: 1h\n',
    );
    const run = (await testSequence(example, { paths: ['S'] })).runs[0]!;
    expect(run.entries.find((e) => e.type === 'task.succeeded')).toMatchObject({ result: { ok: 'yes' } });

    const impossible = loadSequenceText(
      'name: i\ntasks:\n  - id: a\n    wait: { signal: true, schema: { type: string, pattern: "^[0-9]+$" } }\n    timeout: 1h\n',
    );
    const failed = await testSequence(impossible, { paths: ['S'] });
    expect(failed.failed[0]?.violations[0]).toMatchObject({
      invariant: 'follows-path',
      message: expect.stringContaining('no signal for a matches its schema (tried "x": data: '),
    });
    expect(failed.failed[0]?.violations[0]?.message).toContain('give the schema an "examples" entry');
  });

  it('reports a task that starts while a wait still waits', async () => {
    const sequence = loadSequenceFile(join(MACHINES, 'approval.yaml')).sequence;
    const report = await testSequence(sequence, { paths: ['SSSSS'] });
    const entries = report.runs[0]!.entries;
    // The same history, with deploy started before approve's signal came.
    const at = entries.findIndex((e) => e.type === 'task.succeeded' && e.task === 'approve');
    const early = entries.findIndex((e) => e.type === 'task.started' && e.task === 'deploy');
    const moved = [...entries.slice(0, at), entries[early]!, ...entries.slice(at, early), ...entries.slice(early + 1)];
    const path = report.runs[0]!.path;
    const violations = checkRun(sequence, path, expectOutcome(sequence, path.steps), { entries: moved, executions: [] });
    expect(violations).toContainEqual({ invariant: 'waits', message: 'deploy#1 started while approve#1 was still waiting for a signal' });
  });
});
