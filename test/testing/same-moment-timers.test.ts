import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadSequenceFile } from '../../src/adapters/fs/load-sequence.js';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import { loadSequenceText } from '../../src/core/sequence/validate.js';
import { testSequence } from '../../src/testing/test-sequence.js';

// The run timeout (20 s) comes due at the very moment the stop grace of a#1 (timed out at 5 s) runs out. In the
// path model the two are steps of their own, and a#1 may still report between them.
const sameMoment = loadSequenceText(`
name: same-moment
version: 1
timeout: 20s
tasks:
  - { id: a, run: echo a, timeout: 5s, retry: { maxAttempts: 2, backoff: { initial: 1s } } }
finally:
  - { id: f, run: echo f, timeout: 5s }
`);

const at = (entries: readonly RunEntry[], type: RunEntry['type'], task?: string) =>
  entries.filter((e) => e.type === type && (task === undefined || ('task' in e && e.task === task))).map((e) => e.at);

describe('timers due at the same moment, one step each', () => {
  it('every path through the run timeout and a stop grace due with it holds', async () => {
    // a#1 times out, its retry comes due, the run times out; then a#1 ends (E), succeeds anyway (D) or is given up (G),
    // and f runs: ok, fail, or a timeout and its stopped attempt's three endings.
    const tied = ['E', 'D', 'G'].flatMap((end) => ['S', 'F', 'TE', 'TD', 'TG'].map((rest) => `TRX${end}${rest}`));
    const report = await testSequence(sameMoment, { paths: tied });
    expect(report.runs).toHaveLength(15);
    expect(report.failed.map((r) => `${r.path.id}: ${r.violations.map((v) => v.message).join('; ')}`)).toEqual([]);
  });

  it('after the run timeout, a finally task that times out is stopped and given its grace', async () => {
    const report = await testSequence(sameMoment, { paths: ['TRXGTG'] });
    const [run] = report.runs;
    expect(run!.violations).toEqual([]);
    const entries = run!.entries;
    expect(at(entries, 'run.timed-out')).toEqual([20_000]);
    // a#1 is given up at the same moment, in a step of its own; then f runs, times out and gets its own grace.
    expect(
      entries.filter((e) => e.type === 'task.stopped').map((e) => `${'task' in e ? e.task : ''} ${'how' in e ? e.how : ''} @${e.at}`),
    ).toEqual(['a grace-expired @20000', 'f grace-expired @40000']);
    expect(at(entries, 'task.started', 'f')).toEqual([20_000]);
    expect(at(entries, 'run.failed')).toEqual([40_000]);
  });

  it('the path of the sequence with every rule at once where this showed passes', async () => {
    const { sequence } = loadSequenceFile(fileURLToPath(new URL('../fixtures/paths/everything.yaml', import.meta.url)));
    const report = await testSequence(sequence, { paths: ['TGTRGTRXGTGFRS', 'TGTRGTRXDFS', 'TGTRGTRXESS'] });
    expect(report.runs).toHaveLength(3);
    expect(report.failed.map((r) => `${r.path.id}: ${r.violations.map((v) => v.message).join('; ')}`)).toEqual([]);
  });
});
