import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, lockstep } from '../../support/cli.js';
import type { ReceivedSpan } from './otlp-receiver.js';
import { jsonSpans, protobufSpans, startReceiver } from './otlp-receiver.js';

const RECORDER = fileURLToPath(new URL('../../entries/record-loads.mjs', import.meta.url));
const PARENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';
const TRACEPARENT = `00-${PARENT_TRACE}-${PARENT_SPAN}-01`;

const OTEL_VARIABLES = Object.keys(process.env).filter((v) => v.startsWith('OTEL_'));

const scratch = mkdtempSync(join(tmpdir(), 'lockstep-traces-'));
let receiver: Awaited<ReturnType<typeof startReceiver>>;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** A sequence whose first task prints the TRACEPARENT it got, then a retry and a timeout. */
const EVENTS_SEQUENCE = `name: trace-events
version: 1
tasks:
  - id: show
    run: echo "{\\"traceparent\\":\\"$TRACEPARENT\\"}"
  - id: flaky
    run: '[ "$LOCKSTEP_ATTEMPT" -ge 2 ]'
    retry: { maxAttempts: 2, backoff: { initial: 50ms } }
  - id: slow
    run: sleep 5
    timeout: 300ms
`;

/** Runs a sequence file with tracing to the receiver; resolves with the CLI's entries and the spans received. */
async function tracedRun(file: string, protocol: 'http/json' | 'http/protobuf', extra: string[] = []) {
  const from = receiver.requests.length;
  const store = mkdtempSync(join(scratch, 'store-'));
  const r = await lockstep(['run', file, '--json', '--store', store, ...extra], {
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      OTEL_SERVICE_NAME: 'lockstep-under-test',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test',
    },
  });
  const requests = receiver.requests.slice(from);
  const bodies = requests.map((q) => q.body);
  const spans = protocol === 'http/json' ? jsonSpans(bodies) : protobufSpans(bodies);
  return { r, entries: jsonLines(r.stdout), requests, spans };
}

/** The attempts the history started, as `phase task#attempt`. */
const startedAttempts = (entries: Array<Record<string, unknown>>) =>
  entries.filter((e) => e.type === 'task.started').map((e) => `${e.phase} ${e.task}#${e.attempt}`);
const spanAttempts = (spans: readonly ReceivedSpan[]) =>
  spans.map((s) => `${s.attributes['lockstep.phase']} ${s.attributes['lockstep.task']}#${s.attributes['lockstep.attempt']}`);

/** Checks the tree of a traced run of machines/compensation.yaml: one root under TRACEPARENT, a child per attempt. */
function checkCompensationTree(entries: Array<Record<string, unknown>>, spans: readonly ReceivedSpan[]) {
  const runId = entries[0]!.runId;
  const roots = spans.filter((s) => s.parentSpanId === PARENT_SPAN);
  expect(roots).toHaveLength(1);
  const root = roots[0]!;
  expect(root).toMatchObject({
    traceId: PARENT_TRACE,
    name: 'run compensation',
    status: 2,
    attributes: { 'lockstep.run.id': runId, 'lockstep.sequence': 'compensation', 'lockstep.version': '1', 'lockstep.outcome': 'failed' },
    resource: { 'service.name': 'lockstep-under-test', 'deployment.environment': 'test' },
  });
  const children = spans.filter((s) => s !== root);
  expect(children.every((s) => s.parentSpanId === root.spanId && s.traceId === PARENT_TRACE)).toBe(true);
  expect(new Set(children.map((s) => s.spanId)).size).toBe(children.length);
  expect(spanAttempts(children).sort()).toEqual(startedAttempts(entries).sort());
  expect(startedAttempts(entries)).toEqual([
    'main create-order#1',
    'main reserve-stock#1',
    'main charge#1',
    expect.stringMatching(/^compensate .*#1$/),
    expect.stringMatching(/^compensate .*#1$/),
    'finally audit#1',
  ]);
  const charge = children.find((s) => s.attributes['lockstep.task'] === 'charge')!;
  expect(charge).toMatchObject({ name: 'task charge', status: 2, attributes: { 'lockstep.outcome': 'failed', 'lockstep.run.id': runId } });
  for (const s of children.filter((c) => c !== charge))
    expect(s).toMatchObject({ status: 0, attributes: { 'lockstep.outcome': 'succeeded' } });
  expect(children.filter((s) => s.name.startsWith('compensate ')).map((s) => s.name)).toEqual(
    expect.arrayContaining(['compensate reserve-stock', 'compensate create-order']),
  );
  expect(children.find((s) => s.name === 'compensate create-order')?.attributes['lockstep.task']).toBe('create-order.compensate');
  expect(children.filter((s) => s.name === 'finally audit')).toHaveLength(1);
}

describe('traces over OTLP/HTTP', () => {
  it('http/json: machines/compensation.yaml is one root under the traceparent, with a span per attempt', async () => {
    const { r, entries, requests, spans } = await tracedRun('machines/compensation.yaml', 'http/json', ['--traceparent', TRACEPARENT]);
    expect(r.code).toBe(1);
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.every((q) => q.url === '/v1/traces' && q.headers['content-type'] === 'application/json')).toBe(true);
    expect(entries[0]).toMatchObject({ type: 'run.started', traceparent: TRACEPARENT });
    checkCompensationTree(entries, spans);
  });

  it('http/protobuf: the same tree, decoded from the protobuf requests', async () => {
    const { r, entries, requests, spans } = await tracedRun('machines/compensation.yaml', 'http/protobuf', ['--traceparent', TRACEPARENT]);
    expect(r.code).toBe(1);
    expect(requests.every((q) => q.url === '/v1/traces' && q.headers['content-type'] === 'application/x-protobuf')).toBe(true);
    checkCompensationTree(entries, spans);
  });

  it('retries and timeouts are span events, and a shell task gets its own span as TRACEPARENT', async () => {
    const file = join(scratch, 'trace-events.yaml');
    writeFileSync(file, EVENTS_SEQUENCE);
    const { r, entries, spans } = await tracedRun(file, 'http/json');
    expect(r.code).toBe(1);
    const root = spans.find((s) => s.parentSpanId === '')!;
    expect(root).toMatchObject({ name: 'run trace-events', attributes: { 'lockstep.outcome': 'failed' } });
    const show = spans.find((s) => s.attributes['lockstep.task'] === 'show')!;
    const shown = entries.find((e) => e.type === 'task.succeeded' && e.task === 'show')!.result as { traceparent: string };
    expect(shown.traceparent).toBe(`00-${root.traceId}-${show.spanId}-01`);
    const flaky = spans.filter((s) => s.attributes['lockstep.task'] === 'flaky');
    expect(flaky.map((s) => [s.attributes['lockstep.attempt'], s.status])).toEqual([
      [1, 2],
      [2, 0],
    ]);
    const retry = flaky[0]!.events.find((e) => e.name === 'retry scheduled');
    const failed = entries.find((e) => e.type === 'task.failed' && e.task === 'flaky')!;
    expect(retry?.attributes).toEqual({ 'lockstep.retry.delay_ms': failed.retryInMs });
    const slow = spans.find((s) => s.attributes['lockstep.task'] === 'slow')!;
    expect(slow).toMatchObject({ status: 2, attributes: { 'lockstep.error.code': 'TASK_TIMEOUT' } });
    expect(slow.events.map((e) => e.name)).toEqual(['timeout']);
    expect(spans.filter((s) => s.parentSpanId === root.spanId)).toHaveLength(4);
  });

  it('rejects a malformed --traceparent before anything runs, naming what is wrong', async () => {
    const r = await lockstep(['run', 'machines/hello.yaml', '--traceparent', `00-${'0'.repeat(32)}-${PARENT_SPAN}-01`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--traceparent: the trace id must not be all zeros');
  });

  it('lockstep start checks --traceparent before it reaches for a broker', async () => {
    const r = await lockstep(['start', 'hello', '--brokers', '127.0.0.1:1', '--traceparent', '00-abc']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--traceparent: expected "00-<32 hex digits trace id>-<16 hex digits parent id>-<2 hex digits flags>"');
  });
});

/** Runs the CLI with the load recorder: the packages it resolved, and the result. */
async function recordedRun(env: Record<string, string>) {
  const log = join(scratch, `loads-${Math.random().toString(36).slice(2)}.log`);
  writeFileSync(log, '');
  const r = await lockstep(['run', 'machines/hello.yaml', '--store', mkdtempSync(join(scratch, 'store-'))], {
    // Whatever the environment of the tests says of OpenTelemetry, only `env` counts here.
    env: {
      ...Object.fromEntries(OTEL_VARIABLES.map((v) => [v, undefined])),
      NODE_OPTIONS: `--import ${RECORDER}`,
      LOCKSTEP_LOAD_LOG: log,
      ...env,
    },
  });
  const otel = readFileSync(log, 'utf8')
    .split('\n')
    .filter((u) => u.includes('/node_modules/@opentelemetry/'));
  return { r, otel };
}

describe('tracing off costs no import', () => {
  it('loads no @opentelemetry module without an OTLP endpoint, nor with OTEL_TRACES_EXPORTER=none', async () => {
    const off = await recordedRun({});
    expect(off.r.code).toBe(0);
    expect(off.otel).toEqual([]);
    const none = await recordedRun({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_EXPORTER: 'none' });
    expect(none.r.code).toBe(0);
    expect(none.otel).toEqual([]);
    const disabled = await recordedRun({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SDK_DISABLED: 'true' });
    expect(disabled.otel).toEqual([]);
    // The recorder does see them when tracing is on.
    const on = await recordedRun({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    expect(on.otel.length).toBeGreaterThan(0);
  });

  it('with a package missing, one warning names it and the run goes on untraced', async () => {
    const from = receiver.requests.length;
    const { r } = await recordedRun({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, LOCKSTEP_HIDE_PACKAGES: '@opentelemetry/sdk-trace' });
    expect(r.code).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => l.includes('LOCKSTEP_TRACING'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('@opentelemetry/sdk-trace cannot be loaded');
    expect(warnings[0]).toContain('runs go on untraced');
    expect(receiver.requests.length).toBe(from);
  });
});
