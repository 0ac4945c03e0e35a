import { describe, expect, it } from 'vitest';
import { parseEnvelope } from '../../../src/core/protocol/envelope.js';
import { isReservedKey, parsePartitionOffset, partitionOffsetKey } from '../../../src/core/protocol/partition-offset.js';

const record = {
  v: 1,
  type: 'partition.offset',
  group: 'g',
  topic: 'lockstep.events',
  partition: 3,
  offset: '42',
  time: '2026-11-29T00:00:00.000Z',
};

describe('partition.offset records', () => {
  it('are keyed in the reserved namespace, one key per group and partition', () => {
    expect(partitionOffsetKey('lockstep-orchestrators', 3)).toBe('__lockstep.offset.lockstep-orchestrators.3');
    expect(isReservedKey(partitionOffsetKey('g', 0))).toBe(true);
    expect(isReservedKey('a1b2c3')).toBe(false);
    expect(isReservedKey(null)).toBe(false);
  });

  it('parse when well-formed, and say why not otherwise', () => {
    expect(parsePartitionOffset(JSON.stringify(record))).toEqual({ success: true, record });
    expect(parsePartitionOffset('{')).toMatchObject({ success: false, reason: expect.stringContaining('not JSON') });
    const bad = parsePartitionOffset(JSON.stringify({ ...record, offset: '-1' }));
    expect(bad).toMatchObject({ success: false, reason: expect.stringContaining('expected a non-negative integer as a string') });
  });

  it('cannot be confused with a run: envelopes with a reserved run id are malformed', () => {
    const start = { v: 1, id: 'm1', runId: partitionOffsetKey('g', 0), time: 't', type: 'run.start', payload: { sequence: 's' } };
    const parsed = parseEnvelope(JSON.stringify(start));
    expect(parsed).toMatchObject({ success: false, reason: expect.stringContaining('run ids starting with "__lockstep." are reserved') });
    expect(parseEnvelope(JSON.stringify({ ...start, runId: 'r1' })).success).toBe(true);
  });
});
