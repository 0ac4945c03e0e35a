import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServeHarness } from './serve-harness.js';
import { serveHarness, TOKEN, until } from './serve-harness.js';

let h: ServeHarness;
let base: string;
beforeAll(async () => {
  h = await serveHarness();
  base = await h.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(() => h.close());

type Json = Record<string, any>;
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const post = async (path: string, body: unknown) => {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Json };
};
const view = async (runId: string) => (await (await fetch(`${base}/api/runs/${runId}`)).json()) as Json;

/** Reads server-sent events from a real HTTP response until `done` says so. */
async function readEvents(path: string, done: (events: Array<{ event: string; data: Json }>) => boolean, timeoutMs = 10_000) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const res = await fetch(`${base}${path}`, { signal: controller.signal });
  const events: Array<{ event: string; data: Json }> = [];
  const opened = { status: res.status, type: res.headers.get('content-type'), events };
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    while (!done(events)) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += value;
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) as Json });
      }
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return opened;
}

const ingest = (runId: string, taskId: string, attempt: number, type: 'task.succeeded' | 'task.failed', payload: Json) => ({
  v: 1,
  id: randomUUID(),
  runId,
  taskId,
  attempt,
  time: new Date().toISOString(),
  type,
  payload,
});

describe('POST /api/ingest: a remote service reports a task', () => {
  it('completes a queue task, and the run goes on', async () => {
    const { body } = await post('/api/runs', { sequence: 'remote' });
    const runId = body.runId as string;
    await until(async () => ((await view(runId)).state?.node === 'main.bill.running' ? true : undefined), 'bill to be dispatched');
    const res = await post('/api/ingest', ingest(runId, 'bill', 1, 'task.succeeded', { result: { invoice: 'inv-7' } }));
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ accepted: true, runId, taskId: 'bill', attempt: 1 });
    const done = await until(async () => {
      const v = await view(runId);
      return v.run.status === 'running' ? undefined : v;
    }, 'the run to end');
    expect(done.run.status).toBe('succeeded');
    expect(done.history.find((e: Json) => e.type === 'task.succeeded' && e.task === 'bill')).toMatchObject({
      result: { invoice: 'inv-7' },
    });
    expect(done.history.map((e: Json) => e.type)).not.toContain('event.ignored');

    const late = await post('/api/ingest', ingest(runId, 'bill', 1, 'task.succeeded', {}));
    expect(late.status).toBe(409);
    expect(late.body.error).toEqual({
      code: 'RUN_ENDED',
      message: `run "${runId}" already ended (succeeded); the task.succeeded report of task "bill" would be ignored`,
    });
  });

  it('fails a queue task with the reported error', async () => {
    const runId = (await post('/api/runs', { sequence: 'remote' })).body.runId as string;
    await until(async () => ((await view(runId)).state?.node === 'main.bill.running' ? true : undefined), 'bill to be dispatched');
    const res = await post(
      '/api/ingest',
      ingest(runId, 'bill', 1, 'task.failed', { error: { message: 'card declined', retriable: false } }),
    );
    expect(res.status).toBe(202);
    const done = await until(async () => {
      const v = await view(runId);
      return v.run.status === 'running' ? undefined : v;
    }, 'the run to end');
    expect(done.run).toMatchObject({ status: 'failed', reason: 'task bill failed: card declined' });
  });

  it('rejects envelopes that are not task completions, or malformed ones, with the paths at fault', async () => {
    const other = await post('/api/ingest', { ...ingest('r', 'bill', 1, 'task.succeeded', {}), type: 'run.start' });
    expect(other.status).toBe(400);
    expect(other.body.error.message).toBe('invalid envelope: type: expected "task.succeeded" or "task.failed", got "run.start"');
    const missing = await post('/api/ingest', { type: 'task.failed', runId: 'r', taskId: 'bill', attempt: 0, payload: {} });
    expect(missing.status).toBe(400);
    const paths = (missing.body.error.problems as Array<{ path: string }>).map((p) => p.path).sort();
    expect(paths).toEqual(['attempt', 'id', 'payload.error', 'time', 'v']);
    const notObject = await post('/api/ingest', 'done');
    expect(notObject.status).toBe(400);
    expect(notObject.body.error.message).toBe('invalid envelope: type: expected "task.succeeded" or "task.failed", got nothing');
  });

  it('answers 404 for a report about an unknown run', async () => {
    const res = await post('/api/ingest', ingest('no-such-run', 'bill', 1, 'task.succeeded', {}));
    expect(res.status).toBe(404);
    expect(res.body.error).toEqual({ code: 'UNKNOWN_RUN', message: 'unknown run "no-such-run"' });
  });
});

describe('server-sent events', () => {
  it("streams one run: a snapshot, then each entry with the run's state, to the end", async () => {
    const runId = (await post('/api/runs', { sequence: 'gated' })).body.runId as string;
    const stream = readEvents(`/api/runs/${runId}/events`, (events) => events.some((e) => e.data.entry?.type === 'run.succeeded'));
    await until(async () => ((await view(runId)).state?.node === 'main.prepare.running' ? true : undefined), 'prepare');
    for (const gate of ['prepare', 'build', 'publish']) h.open(gate);
    const { status, type, events } = await stream;
    expect(status).toBe(200);
    expect(type).toBe('text/event-stream; charset=utf-8');
    expect(events[0]!.event).toBe('snapshot');
    expect(events[0]!.data.run.runId).toBe(runId);
    const snapshotLength = (events[0]!.data.history as unknown[]).length;
    const entries = events.slice(1).map((e) => e.data);
    expect(entries.every((e) => e.runId === runId)).toBe(true);
    // Sequence numbers continue the snapshot's history without gaps or repeats.
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => snapshotLength + i));
    const nodes = entries.filter((e) => e.entry.type === 'task.started').map((e) => e.state.node);
    expect(nodes).toEqual(expect.arrayContaining(['main.build.running', 'main.publish.running', 'finalizing.cleanup.running']));
    expect(entries.at(-1)).toMatchObject({ entry: { type: 'run.succeeded' }, state: { node: 'succeeded', kind: 'succeeded' } });
    expect(entries.every((e) => !('event' in e.entry))).toBe(true);
  });

  it('streams the entries of every run', async () => {
    const stream = readEvents('/api/events', (events) => events.filter((e) => e.data.entry?.type === 'run.started').length >= 2);
    await new Promise((r) => setTimeout(r, 100));
    const a = (await post('/api/runs', { sequence: 'remote' })).body.runId as string;
    const b = (await post('/api/runs', { sequence: 'gated' })).body.runId as string;
    const { events } = await stream;
    const started = events.filter((e) => e.data.entry.type === 'run.started').map((e) => e.data.runId);
    expect(started).toEqual([a, b]);
    expect(events.find((e) => e.data.runId === a && e.data.entry.type === 'run.started')!.data).toMatchObject({
      seq: 0,
      state: { node: 'main.bill.running' },
    });
    for (const id of [a, b]) await post(`/api/runs/${id}/cancel`, {});
  });
});
