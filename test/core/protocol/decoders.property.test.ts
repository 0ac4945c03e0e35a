// Property suite: every wire decoder takes any text. A message is accepted (and then re-encodes to itself), or
// rejected with a reason that names where the problem is; nothing throws.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseEnvelope } from '../../../src/core/protocol/envelope.js';
import { DERIVED_MAX_DEPTH, MAX_RECORD_DEPTH } from '../../../src/core/protocol/parse-record.js';
import { parsePartitionOffset } from '../../../src/core/protocol/partition-offset.js';
import { parseRunState } from '../../../src/core/protocol/run-state.js';
import { mutate, mutationArb, pathsOf, REASON } from '../../support/mutations.js';

const CASES = 10_000;

type Decoded = ({ success: true } & Record<string, unknown>) | { success: false; reason: string };
type Decoder = (raw: string) => Decoded;

const decoders: Record<string, { decode: Decoder; value: (d: Record<string, unknown>) => unknown }> = {
  envelope: { decode: parseEnvelope as Decoder, value: (d) => d.envelope },
  'run.state': { decode: parseRunState as Decoder, value: (d) => d.state },
  'partition.offset': { decode: parsePartitionOffset as Decoder, value: (d) => d.record },
};

/** Decodes without throwing, and checks the result: a value that re-encodes to itself, or a reason with a path. */
function decodeChecked(name: keyof typeof decoders, raw: string, reencode = true): boolean {
  const { decode, value } = decoders[name]!;
  const result = decode(raw);
  if (!result.success) {
    if (!REASON.test(result.reason)) throw new Error(`${name}: a rejection without a reason: ${JSON.stringify(result.reason)}`);
    if (result.reason.length > 2_000) throw new Error(`${name}: a reason of ${result.reason.length} characters`);
    return false;
  }
  if (!reencode) return true;
  const text = JSON.stringify(value(result));
  const again = decode(text);
  if (!again.success) throw new Error(`${name}: accepted, but its re-encoding is not: ${again.reason}`);
  if (JSON.stringify(value(again)) !== text) throw new Error(`${name}: accepted, but its re-encoding decodes to another value: ${text}`);
  return true;
}

// Field values: ids as lockstep writes them (never in the reserved namespace), and JSON of a few levels.
const id = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.startsWith('__lockstep.'));
const json = fc.jsonValue({ maxDepth: 2 });
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const defined = <T extends object>(o: T): T => JSON.parse(JSON.stringify(o)) as T;
const header = { v: fc.constant(1), id, runId: id, time: fc.constant('2026-12-01T00:00:00.000Z'), causationId: optional(id) };
const taskHeader = { ...header, taskId: id, attempt: fc.integer({ min: 1, max: 1_000 }) };
const taskError = fc.record({
  message: fc.string(),
  code: optional(fc.string()),
  retriable: optional(fc.boolean()),
  type: optional(fc.string()),
  output: optional(fc.string()),
});

/** A valid message of each type, as a producer may send it. */
const valid: Record<string, fc.Arbitrary<object>> = {
  'run.start': fc.record({
    ...header,
    type: fc.constant('run.start'),
    payload: fc.record({
      sequence: id,
      version: optional(fc.string()),
      input: optional(json),
      rerunOf: optional(id),
      reuse: optional(
        fc.record({
          succeeded: fc.array(fc.record({ taskId: id, result: optional(json) }), { maxLength: 3 }),
          continued: optional(fc.array(id, { maxLength: 2 })),
        }),
      ),
    }),
  }),
  'run.cancel': fc.record({ ...header, type: fc.constant('run.cancel'), payload: fc.record({ reason: optional(fc.string()) }) }),
  'task.dispatch': fc.record({
    ...taskHeader,
    type: fc.constant('task.dispatch'),
    payload: fc.record({
      sequence: id,
      version: fc.string(),
      phase: fc.constantFrom('main', 'compensate', 'finally'),
      idempotencyKey: fc.string(),
      queue: fc.string(),
      input: json,
      results: fc.dictionary(fc.string(), json, { maxKeys: 2 }),
      timeoutMs: optional(fc.integer({ min: 1 })),
    }),
  }),
  'task.cancel': fc.record({ ...taskHeader, type: fc.constant('task.cancel'), payload: fc.record({ reason: fc.string() }) }),
  'task.succeeded': fc.record({ ...taskHeader, type: fc.constant('task.succeeded'), payload: fc.record({ result: optional(json) }) }),
  'task.failed': fc.record({ ...taskHeader, type: fc.constant('task.failed'), payload: fc.record({ error: taskError }) }),
  'timer.fired': fc.record({
    ...header,
    type: fc.constant('timer.fired'),
    payload: fc.record({ timerId: fc.string({ minLength: 1 }), dueAt: fc.integer() }),
  }),
  'partition.offset': fc.record({
    v: fc.constant(1),
    type: fc.constant('partition.offset'),
    group: fc.string({ minLength: 1 }),
    topic: fc.string({ minLength: 1 }),
    partition: fc.nat(),
    offset: fc.bigInt({ min: 0n, max: 2n ** 63n }).map(String),
    time: fc.string({ minLength: 1 }),
  }),
};

/** What a field may be changed to: the wrong type, an edge of the right one, or any JSON. */
const nearMiss = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(null, 0, -1, 1.5, 2 ** 53, '', ' ', '__lockstep.x', 'run.start', 'x'.repeat(201), true, [], {}, [1], {
      v: 1,
    }),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
const keys = fc.constantFrom('type', 'payload', 'v', 'extra', '__proto__', 'constructor', 'result', 'error');

describe('wire decoders (property)', () => {
  for (const [type, arb] of Object.entries(valid)) {
    const decoder = type === 'partition.offset' ? 'partition.offset' : 'envelope';
    it(`${type}: accepts ${CASES} valid messages; rejects each mutation of them with a reason, or accepts it`, () => {
      let accepted = 0;
      fc.assert(
        fc.property(arb, mutationArb(nearMiss, keys), (message, mutation) => {
          const raw = JSON.stringify(defined(message));
          if (!decodeChecked(decoder, raw, false)) throw new Error(`a valid ${type} was rejected: ${raw}`);
          if (decodeChecked(decoder, mutate(raw, pathsOf(JSON.parse(raw)), mutation))) accepted++;
        }),
        { numRuns: CASES },
      );
      // Mutations hit both sides: some are harmless, most are not.
      expect(accepted).toBeGreaterThan(CASES / 100);
      expect(accepted).toBeLessThan(CASES * 0.9);
    });
  }

  const inputs: Record<string, fc.Arbitrary<string>> = {
    strings: fc.string({ unit: 'binary', maxLength: 64 }),
    'bytes (as UTF-8)': fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('utf8')),
    'JSON values': fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  };
  for (const [kind, arb] of Object.entries(inputs)) {
    it(`every decoder rejects with a reason, or accepts: ${CASES} arbitrary ${kind}`, () => {
      fc.assert(
        fc.property(arb, (raw) => {
          for (const name of Object.keys(decoders)) decodeChecked(name, raw);
        }),
        { numRuns: CASES },
      );
    });
  }

  it('refuses records nested deeper than the limit before parsing them, whatever the brackets are inside', () => {
    const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const prefix = '{"v":1,"id":"m","runId":"r","time":"t","type":"run.start","payload":{"sequence":"s","input":';
    const input = (depth: number) => `${prefix}${nested(depth)}}}`;
    // The envelope and its payload are two levels.
    expect(parseEnvelope(input(MAX_RECORD_DEPTH - 2)).success).toBe(true);
    const deep = parseEnvelope(input(MAX_RECORD_DEPTH - 1));
    expect(deep).toEqual({
      success: false,
      reason: `(root): nested deeper than ${MAX_RECORD_DEPTH} levels (at character ${prefix.length + MAX_RECORD_DEPTH - 2})`,
    });
    // A dispatch carries the results of earlier messages a level deeper: a result as deep as a message may be still travels.
    const result = nested(MAX_RECORD_DEPTH - 2);
    const succeeded = `{"v":1,"id":"m","runId":"r","time":"t","type":"task.succeeded","taskId":"a","attempt":1,"payload":{"result":${result}}}`;
    expect(parseEnvelope(succeeded).success).toBe(true);
    const dispatch = {
      v: 1,
      id: 'm',
      runId: 'r',
      time: 't',
      type: 'task.dispatch',
      taskId: 'b',
      attempt: 1,
      payload: { sequence: 's', version: '1', phase: 'main', idempotencyKey: 'r:b:1', queue: 'q', input: null, results: { a: '@' } },
    };
    expect(parseEnvelope(JSON.stringify(dispatch).replace('"@"', result)).success).toBe(true);
    expect(parseEnvelope(input(100_000))).toMatchObject({ success: false, reason: expect.stringContaining('nested deeper than') });
    // Both kinds of bracket count together: neither alone is over the limit here.
    const half = Math.ceil(MAX_RECORD_DEPTH / 2);
    const mixed = `${'{"a":['.repeat(half)}1${']}'.repeat(half)}`;
    expect(parseEnvelope(`${prefix}${mixed}}}`)).toMatchObject({ success: false, reason: expect.stringContaining('nested deeper than') });
    // Brackets within strings (escaped quotes included) do not count.
    const inString = `{"v":1,"id":"m","runId":"r","time":"t","type":"run.start","payload":{"sequence":"s","input":"\\"${'['.repeat(5_000)}"}}`;
    expect(parseEnvelope(inString).success).toBe(true);
    expect(parseRunState(`{"x":${nested(DERIVED_MAX_DEPTH + 1)}}`)).toMatchObject({
      success: false,
      reason: expect.stringContaining(`nested deeper than ${DERIVED_MAX_DEPTH}`),
    });
  });

  it('refuses numbers that overflow to Infinity, which JSON cannot carry, naming where they are', () => {
    const message =
      '{"v":1,"id":"m","runId":"r","time":"t","type":"task.succeeded","taskId":"a","attempt":1,"payload":{"result":{"xs":[1,-1e999]}}}';
    expect(parseEnvelope(message)).toEqual({
      success: false,
      reason: 'payload.result.xs[1]: a number too large for JSON (it reads as Infinity)',
    });
    expect(parseEnvelope(message.replace('-1e999', '1e300')).success).toBe(true);
    expect(parseEnvelope(message.replace('-1e999', '"1e999"')).success).toBe(true);
  });

  it('names at most five problems, and says how many more there were', () => {
    const parsed = parseEnvelope(
      JSON.stringify({ v: 2, id: 1, runId: 2, time: 3, type: 'task.failed', taskId: 4, attempt: 0, payload: { error: {} } }),
    );
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    expect(parsed.reason).toBe(
      'v: Invalid input: expected 1; id: expected string, got 1; runId: expected string, got 2; time: expected string, got 3; taskId: expected string, got 4; and 2 more problems',
    );
  });

  it('checks what a rerun reuses: a reuse that is not one is rejected, not cast', () => {
    const start = (reuse: unknown) =>
      JSON.stringify({ v: 1, id: 'm', runId: 'r', time: 't', type: 'run.start', payload: { sequence: 's', reuse } });
    expect(parseEnvelope(start({}))).toEqual({ success: false, reason: 'payload.reuse.succeeded: required' });
    expect(parseEnvelope(start({ succeeded: [{ taskId: 1 }] }))).toEqual({
      success: false,
      reason: 'payload.reuse.succeeded[0].taskId: expected string, got 1',
    });
    expect(parseEnvelope(start({ succeeded: [{ taskId: 'a', result: { x: 1 } }], continued: ['b'] })).success).toBe(true);
  });
});
