import { describe, expect, it } from 'vitest';
import { topicNames } from '../../src/core/protocol/envelope.js';
import { advance, beginRun } from '../../src/core/run/live-run.js';
import { ProgramRegistry } from '../../src/core/run/registry.js';
import { sequence } from '../../src/core/sequence/builder.js';
import type { StoredMessage } from '../../src/ports/transport.js';
import { latestStates, offsetRecordOf, runStateOf } from '../../src/runtime/journals/kafka/run-state-topic.js';

const noop = () => undefined;
const registry = new ProgramRegistry();
const { program } = registry.register(sequence('s').then('a', noop).then('b', noop).build(), { definition: '', hash: 'h' });
const topics = topicNames('t');

/** The state records of run `runId` after each of its steps, as the run-state topic holds them before compaction. */
function statesOf(runId: string): string[] {
  const { run } = beginRun(program, { runId, at: 1_000 });
  const out = [JSON.stringify(runStateOf(run, { entries: 2 }, 1_000))];
  advance(run, { type: 'TASK_SUCCEEDED', taskId: 'a', attempt: 1, result: { n: 1 } }, 1_010);
  out.push(JSON.stringify(runStateOf(run, { entries: 4 }, 1_010)));
  return out;
}

let offset = 0;
const record = (key: string, value: string | null): StoredMessage => ({ key, value, partition: 0, offset: String(offset++) });

describe('latestStates', () => {
  it('keeps the latest state of each run of an uncompacted partition, and the latest offset record', () => {
    const [r1a, r1b] = statesOf('r1');
    const [r2a, r2b] = statesOf('r2');
    const position = (at: string) => {
      const r = offsetRecordOf(topics, 'g', 0, at, 1_000);
      return record(r.key!, JSON.stringify(r.value));
    };
    const records = [record('r1', r1a!), record('r2', r2a!), position('5'), record('r1', r1b!), record('r2', r2b!), position('9')];
    const key = records[5]!.key!;
    const { states, offsets, malformed } = latestStates(records);
    expect([...states.keys()].sort()).toEqual(['r1', 'r2']);
    expect(states.get('r1')).toMatchObject({ offset: records[3]!.offset, state: { currentTask: 'b', entries: 4 } });
    expect(states.get('r2')?.state.currentTask).toBe('b');
    expect(offsets.get(key)?.offset).toBe('9');
    expect(malformed).toEqual([]);
  });

  it('does not fall back on an earlier state when the latest does not parse, and takes a later good one', () => {
    const [a1] = statesOf('bad-last');
    const [, b2] = statesOf('bad-first');
    const records = [
      record('bad-last', a1!),
      record('bad-last', '{not json'),
      record('bad-first', '{"type":"run.state"}'),
      record('bad-first', b2!),
    ];
    const { states, malformed } = latestStates(records);
    expect([...states.keys()]).toEqual(['bad-first']);
    expect(states.get('bad-first')?.state.entries).toBe(4);
    expect(malformed.map((m) => [m.record.key, m.record.offset])).toEqual([['bad-last', records[1]!.offset]]);
    expect(malformed[0]!.reason).toMatch(/^run\.state record: /);
  });

  it('forgets a run whose latest record is a tombstone, and keeps one started again after it', () => {
    const [x1] = statesOf('gone');
    const [y1, y2] = statesOf('again');
    const { states, malformed } = latestStates([
      record('gone', x1!),
      record('gone', null),
      record('again', y1!),
      record('again', null),
      record('again', y2!),
    ]);
    expect([...states.keys()]).toEqual(['again']);
    expect(malformed).toEqual([]);
  });
});
