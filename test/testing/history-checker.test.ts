import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadSequenceFile } from '../../src/adapters/fs/load-sequence.js';
import type { Sequence } from '../../src/core/sequence/types.js';
import { loadSequenceText } from '../../src/core/sequence/validate.js';
import type { HistoryCheckOptions, HistoryReport, RunHistory, ViolationKind } from '../../src/testing/history-checker.js';
import { checkHistory } from '../../src/testing/history-checker.js';
import { testSequence } from '../../src/testing/test-sequence.js';
import { CraftedHistory } from '../support/crafted-history.js';
import { plantedBugs } from '../support/faults.js';

const MACHINES = fileURLToPath(new URL('../../machines/', import.meta.url));
const machines = readdirSync(MACHINES).filter((f) => f.endsWith('.yaml'));
const load = (file: string) => loadSequenceFile(join(MACHINES, file)).sequence;

const known =
  (...sequences: Sequence[]) =>
  (name: string, version: string) =>
    sequences.find((s) => s.name === name && s.version === version);

const hello = load('hello.yaml');
const compensation = load('compensation.yaml');
const retry = load('retry-backoff.yaml');
const cleanup = load('cleanup-always.yaml');
const carryOn = load('continue-on-failure.yaml');
const approval = load('approval.yaml');
const all = known(hello, compensation, retry, cleanup, carryOn);

const check = (histories: RunHistory | RunHistory[], options: Partial<HistoryCheckOptions> = {}): HistoryReport =>
  checkHistory(Array.isArray(histories) ? histories : [histories], { sequenceOf: all, ...options });

/** The report's violations as `kind: message`, for exact comparisons. */
const found = (report: HistoryReport) => report.violations.map((v) => `${v.kind}: ${v.message}`);

const helloOk = (runId = 'r1') =>
  new CraftedHistory(runId, 'hello').start('greet').ok('greet').start('count').ok('count').start('goodbye').ok('goodbye');

describe('checkHistory on the histories lockstep produces', () => {
  for (const file of machines) {
    it(`${file}: every path's history, duplicates and late events injected, has no violation`, async () => {
      const sequence = load(file);
      const report = await testSequence(sequence, { maxPaths: 300 });
      expect(report.failed).toHaveLength(0);
      const histories: RunHistory[] = report.runs.map((r, i) => ({ runId: `${r.path.id}-${i}`, entries: r.entries }));
      const checked = checkHistory(histories, { sequenceOf: known(sequence) });
      expect(found(checked)).toEqual([]);
      expect(checked.runs).toBe(report.runs.length);
      expect(checked.finished).toBe(report.runs.length);
      // The same histories without their machine events (as `lockstep run --json` prints them) pass too.
      const bare = histories.map((h) => ({ ...h, entries: h.entries.map((e) => ({ ...e, event: undefined })) }));
      expect(found(checkHistory(bare as unknown as RunHistory[], { sequenceOf: known(sequence) }))).toEqual([]);
    });
  }

  it('a sequence with every rule at once (timeouts, continue, retries, compensations, run timeout, finally) passes', async () => {
    const everything = loadSequenceText(
      [
        'name: everything',
        'version: 1',
        'timeout: 1m',
        'tasks:',
        '  - { id: a, run: echo a, timeout: 5s, onFailure: continue, compensate: { run: echo undo-a, timeout: 5s } }',
        '  - id: b',
        '    run: echo b',
        '    timeout: 5s',
        '    retry: { maxAttempts: 3, backoff: { initial: 1s } }',
        '    compensate: { run: echo undo-b, timeout: 5s, retry: { maxAttempts: 2, backoff: { initial: 20s } } }',
        '  - { id: c, run: echo c, compensate: { run: echo undo-c } }',
        '  - { id: d, run: echo d, timeout: 5s }',
        'finally:',
        '  - { id: f1, run: echo f1, timeout: 5s }',
        '  - { id: f2, run: echo f2, retry: { maxAttempts: 2, backoff: { initial: 1s } } }',
        '',
      ].join('\n'),
    );
    const report = await testSequence(everything, { maxPaths: 400, seed: 7 });
    const histories = report.runs.map((r, i) => ({ runId: `${r.path.id}-${i}`, entries: r.entries }));
    // A run the path runner gave up on (the runtime left the path's timing) is judged as far as it went.
    const abandoned = new Set(report.runs.flatMap((r, i) => (r.abandoned ? [`${r.path.id}-${i}`] : [])));
    const checked = checkHistory(histories, { sequenceOf: known(everything), mayBeWaiting: (h) => abandoned.has(h.runId) });
    expect(found(checked)).toEqual([]);
    expect(checked.finished + checked.waiting).toBe(report.runs.length);
    expect(checked.finished).toBeGreaterThan(390);
  }, 60_000);

  it('an interrupted attempt followed by the next one, and a rerun that reuses earlier results, pass', () => {
    const resumed = new CraftedHistory('r1', 'hello')
      .start('greet')
      .ok('greet')
      .start('count')
      .interrupted('count')
      .start('count', 2)
      .ok('count', 2);
    resumed.start('goodbye').ok('goodbye').end('succeeded');
    const rerun = new CraftedHistory('r2', 'hello', { reused: ['greet', 'count'] }).ok('greet').ok('count').start('goodbye').ok('goodbye');
    rerun.end('succeeded');
    const report = check([resumed.history, rerun.history]);
    expect(found(report)).toEqual([]);
    expect(report).toMatchObject({ runs: 2, finished: 2, waiting: 0, duplicateDispatches: 0 });
  });
});

describe('checkHistory catches each kind of broken promise', () => {
  it('order: a main task skipped', () => {
    const h = new CraftedHistory('r1', 'compensation').start('create-order').ok('create-order').start('charge');
    const report = check(h.history, { mayBeWaiting: () => true });
    expect(found(report)).toEqual([
      "order: charge#1 (main) started at entry 3: the next main task in the sequence's order is reserve-stock",
    ]);
    expect(report.counts.order).toBe(1);
    expect(report.waiting).toBe(1);
  });

  it('order: a task started before its predecessor succeeded (onFailure: stop), but after one that failed under continue', () => {
    const stop = new CraftedHistory('r1', 'hello').start('greet').fail('greet').start('count');
    expect(found(check(stop.history, { mayBeWaiting: () => true }))).toEqual([
      'order: count#1 (main) started at entry 3: the main phase had ended at entry 2 (greet failed)',
    ]);
    const carry = new CraftedHistory('r2', 'continue-on-failure').start('build').ok('build').start('notify').fail('notify');
    carry.start('archive').ok('archive').end('succeeded', ['notify']);
    expect(found(check(carry.history))).toEqual([]);
  });

  it('order: an attempt number that goes backwards, a retry nobody scheduled, a start after the final entry', () => {
    const back = new CraftedHistory('r1', 'retry-backoff').start('fetch').fail('fetch', 1, 'main', true).retryTimer('fetch', 1);
    back.start('fetch', 2).fail('fetch', 2, 'main', true).retryTimer('fetch', 2).start('fetch', 1);
    expect(found(check(back.history, { mayBeWaiting: () => true }))).toEqual([
      'order: fetch#1 (main) started at entry 7: attempt 2 had already started at entry 4; attempts never go back',
    ]);
    const unscheduled = new CraftedHistory('r2', 'retry-backoff').start('fetch').fail('fetch').start('fetch', 2);
    expect(found(check(unscheduled.history, { mayBeWaiting: () => true }))).toEqual([
      'order: fetch#2 (main) started at entry 3: fetch had already failed for good at entry 2',
    ]);
    const late = helloOk().end('succeeded').start('greet', 2);
    expect(found(check(late.history))).toEqual(['order: task.started at entry 8 (greet#2): the run had ended at entry 7']);
  });

  it('overlapping-attempts: a retry started while the timed-out attempt had not ended', () => {
    const h = new CraftedHistory('r1', 'retry-backoff').start('fetch').timeout('fetch', 1, 'main', true).retryTimer('fetch', 1);
    h.start('fetch', 2).ok('fetch', 2).start('store').ok('store').end('succeeded');
    const report = check(h.history);
    expect(found(report)).toEqual([
      'overlapping-attempts: fetch#2 (main) started at entry 4 while fetch#1, stopped but not ended (started at entry 1), was still running',
      'overlapping-attempts: store#1 (main) started at entry 6 while fetch#1, stopped but not ended (started at entry 1), was still running',
      'overlapping-attempts: run.succeeded at entry 8: fetch#1, stopped but not ended (started at entry 1), was still running',
    ]);
    // With the stopped attempt's end recorded first, the same run is fine.
    const fixed = new CraftedHistory('r2', 'retry-backoff').start('fetch').timeout('fetch', 1, 'main', true).stopped('fetch');
    fixed.retryTimer('fetch', 1).start('fetch', 2).ok('fetch', 2).start('store').ok('store').end('succeeded');
    expect(found(check(fixed.history))).toEqual([]);
  });

  it('overlapping-attempts: two attempts in flight at once, and two executions that overlap in time', () => {
    const h = new CraftedHistory('r1', 'hello').start('greet').start('count');
    const report = check(h.history, {
      mayBeWaiting: () => true,
      executions: [
        { runId: 'r1', taskId: 'greet', attempt: 1, startedAt: 100, endedAt: 200 },
        { runId: 'r1', taskId: 'count', attempt: 1, startedAt: 150, endedAt: 250 },
        { runId: 'r2', taskId: 'greet', attempt: 1, startedAt: 100, endedAt: 200 },
        { runId: 'r2', taskId: 'count', attempt: 1, startedAt: 200 },
      ],
    });
    expect(found(report)).toEqual([
      'overlapping-attempts: count#1 (main) started at entry 2 while greet#1 (started at entry 1) had not ended',
      'order: count#1 (main) started at entry 2: its predecessor greet had not succeeded',
      'overlapping-attempts: execution of count#1 began at 150 while greet#1 (100 to 200) was still running',
    ]);
    expect(report.counts['overlapping-attempts']).toBe(2);

    // An attempt whose stop grace ran out may go on running: the run went on without it.
    const grace = new CraftedHistory('r3', 'retry-backoff').start('fetch').timeout('fetch', 1, 'main', true).graceExpired('fetch');
    grace.retryTimer('fetch', 1).start('fetch', 2).ok('fetch', 2).start('store').ok('store').end('succeeded');
    const executions = [
      { runId: 'r3', taskId: 'fetch', attempt: 1, startedAt: 100, endedAt: 40_000 },
      { runId: 'r3', taskId: 'fetch', attempt: 2, startedAt: 26_000, endedAt: 26_100 },
    ];
    expect(found(check(grace.history, { executions }))).toEqual([]);
  });

  it('duplicate-advancement: one completion applied twice; one timer fired twice; ignored duplicates are fine', () => {
    const twice = new CraftedHistory('r1', 'hello').start('greet').ok('greet').ok('greet').start('count').ok('count');
    twice.start('goodbye').ok('goodbye').end('succeeded');
    expect(found(check(twice.history))).toEqual([
      'duplicate-advancement: task.succeeded at entry 3: greet#1 (main) already had its outcome recorded at entry 2',
    ]);
    // Printed without its events (`lockstep run --json`), the same history is caught the same way.
    const bare = { ...twice.history, entries: twice.entries.map((e) => ({ ...e, event: undefined })) } as unknown as RunHistory;
    expect(found(check(bare))).toEqual([
      'duplicate-advancement: task.succeeded at entry 3: greet#1 (main) already had its outcome recorded at entry 2',
    ]);
    const timer = new CraftedHistory('r2', 'retry-backoff').start('fetch').fail('fetch', 1, 'main', true).retryTimer('fetch', 1);
    timer.retryTimer('fetch', 1).start('fetch', 2).ok('fetch', 2).start('store').ok('store').end('succeeded');
    expect(found(check(timer.history))).toEqual([
      'duplicate-advancement: timer.fired at entry 4 applied timer retry:fetch:1, already applied at entry 3',
    ]);
    const ignored = helloOk('r3').ignored({ type: 'TASK_SUCCEEDED', taskId: 'goodbye', attempt: 1 }).end('succeeded');
    expect(found(check(ignored.history))).toEqual([]);
  });

  it('finally: a finally task run twice, and one that never ran', () => {
    const twice = new CraftedHistory('r1', 'cleanup-always').start('lock').ok('lock').start('migrate').fail('migrate');
    twice.start('unlock', 1, 'finally').ok('unlock', 1, 'finally').start('unlock', 2, 'finally').ok('unlock', 2, 'finally');
    twice.start('cleanup-tmp', 1, 'finally').ok('cleanup-tmp', 1, 'finally').end('failed', ['migrate']);
    expect(found(check(twice.history))).toEqual([
      'finally: unlock#2 (finally) started at entry 7: unlock had already succeeded for good at entry 6',
    ]);
    const never = new CraftedHistory('r2', 'cleanup-always').start('lock').ok('lock').start('migrate').fail('migrate');
    never.start('unlock', 1, 'finally').ok('unlock', 1, 'finally').end('failed', ['migrate']);
    expect(found(check(never.history))).toEqual(['finally: run.failed at entry 7: finally task cleanup-tmp never ran']);
  });

  it('compensation: one for a task that never completed, one out of order, one missing', () => {
    const base = (runId: string) =>
      new CraftedHistory(runId, 'compensation')
        .start('create-order')
        .ok('create-order')
        .start('reserve-stock')
        .ok('reserve-stock')
        .start('charge')
        .fail('charge');
    const notCompleted = base('r1').start('charge.compensate', 1, 'compensate');
    expect(found(check(notCompleted.history, { mayBeWaiting: () => true }))).toEqual([
      'compensation: charge.compensate#1 (compensate) started at entry 7: charge never completed (completed: create-order, reserve-stock)',
    ]);
    const forwards = base('r2').start('create-order.compensate', 1, 'compensate').ok('create-order.compensate', 1, 'compensate');
    forwards.start('reserve-stock.compensate', 1, 'compensate').ok('reserve-stock.compensate', 1, 'compensate');
    forwards.start('audit', 1, 'finally').ok('audit', 1, 'finally').end('failed', ['charge']);
    expect(found(check(forwards.history))).toEqual([
      "compensation: create-order.compensate#1 (compensate) started at entry 7: the next compensation due is reserve-stock's (reverse order of completion: reserve-stock, create-order)",
      "compensation: reserve-stock.compensate#1 (compensate) started at entry 9: the next compensation due is create-order's (reverse order of completion: reserve-stock, create-order)",
    ]);
    const missing = base('r3').start('reserve-stock.compensate', 1, 'compensate').ok('reserve-stock.compensate', 1, 'compensate');
    missing.start('audit', 1, 'finally').ok('audit', 1, 'finally').end('failed', ['charge']);
    expect(found(check(missing.history))).toEqual([
      'compensation: audit#1 (finally) started at entry 9: create-order completed, but its compensation create-order.compensate never ran',
    ]);
    const afterSuccess = helloOk('r4').start('greet.compensate', 1, 'compensate');
    expect(check(afterSuccess.history, { mayBeWaiting: () => true }).counts.compensation).toBeGreaterThan(0);
  });

  it('unfinished: a run without a final entry, unless it may be waiting', () => {
    const h = new CraftedHistory('r1', 'hello').start('greet');
    expect(found(check(h.history))).toEqual(['unfinished: run r1 of hello v1 never ended: its last entry, 1, is task.started (greet#1)']);
    const waiting = check(h.history, { mayBeWaiting: (history) => history.entries.at(-1)?.type === 'task.started' });
    expect(waiting).toMatchObject({ runs: 1, finished: 0, waiting: 1, violations: [] });
  });

  it('lost-run: an expected run with no history, or a history without run.started', () => {
    const ok = helloOk('r1').end('succeeded');
    const headless: RunHistory = { runId: 'r3', entries: ok.entries.slice(1).map((e) => ({ ...e, runId: 'r3' })) };
    const report = check([ok.history, headless], { expectedRunIds: ['r1', 'r2', 'r3'] });
    expect(found(report)).toEqual([
      'lost-run: run r3 has 7 entries (first: task.started) but no run.started',
      'lost-run: run r2 was started but has no history',
    ]);
    expect(report.counts).toEqual({
      'lost-run': 2,
      order: 0,
      'overlapping-attempts': 0,
      'duplicate-advancement': 0,
      finally: 0,
      compensation: 0,
      unfinished: 0,
    });
  });

  it('duplicateDispatches: every dispatch beyond the first of one (run, task, attempt, phase)', () => {
    const d = (taskId: string, attempt = 1, phase = 'main') => ({ runId: 'r1', taskId, attempt, phase });
    const report = check(helloOk().end('succeeded').history, {
      dispatches: [d('greet'), d('greet'), d('greet'), d('count'), d('count', 2), d('count', 1, 'compensate')],
    });
    expect(report.duplicateDispatches).toBe(2);
    expect(report.violations).toEqual([]);
  });

  it('a run of an unknown sequence is checked for what needs no definition', () => {
    const h = new CraftedHistory('r1', 'elsewhere').start('a').start('b').ok('b').ok('b').end('succeeded');
    const report = check(h.history);
    expect(report.withoutSequence).toEqual(['r1']);
    expect(found(report)).toEqual([
      'overlapping-attempts: b#1 (main) started at entry 2 while a#1 (started at entry 1) had not ended',
      'duplicate-advancement: task.succeeded at entry 4: b#1 (main) already had its outcome recorded at entry 3',
    ]);
  });
});

describe('checkHistory catches the bugs planted in the runtime', () => {
  const cases: Array<[keyof typeof plantedBugs, Sequence, ViolationKind]> = [
    ['finally skipped on cancel', cleanup, 'finally'],
    ['finally skipped on failure', compensation, 'finally'],
    ['compensation order reversed', compensation, 'compensation'],
    ['retry beyond maxAttempts', hello, 'order'],
    ['duplicate completion applied twice', hello, 'duplicate-advancement'],
    ['task dispatched before its predecessor finished', hello, 'order'],
    ["a retry's timeout lost", retry, 'unfinished'],
    ['next attempt dispatched while the stopped one still runs', retry, 'overlapping-attempts'],
    ['the task after a wait started while it waits', approval, 'overlapping-attempts'],
  ];
  for (const [bug, sequence, kind] of cases) {
    it(`${bug}: every failing path's history has a violation, of kind ${kind} among them`, async () => {
      const report = await testSequence(sequence, { __unsafe_faults: plantedBugs[bug], maxPaths: 200 });
      expect(report.failed.length).toBeGreaterThan(0);
      const histories = report.failed.map((r, i) => ({ runId: `${r.path.id}-${i}`, entries: r.entries }));
      const checked = checkHistory(histories, { sequenceOf: known(sequence) });
      expect(new Set(checked.violations.map((v) => v.runId)).size).toBe(histories.length);
      expect(checked.counts[kind]).toBeGreaterThan(0);
    });
  }
});
