import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BAD_FILES, deep, json } from './bad-input.js';
import type { ServeHarness } from './serve-harness.js';
import { serveHarness, TOKEN, until } from './serve-harness.js';

type Json = Record<string, any>;
const auth = { authorization: `Bearer ${TOKEN}` };

let h: ServeHarness;
beforeAll(async () => {
  h = await serveHarness({ files: BAD_FILES });
});
afterAll(() => h.close());

const post = (url: string, payload: unknown) =>
  h.app.inject({ method: 'POST', url, headers: { ...auth, 'content-type': 'application/json' }, payload: json(payload) });
const get = async (url: string) => {
  const res = await h.app.inject({ method: 'GET', url });
  return { status: res.statusCode, body: res.json() as Json };
};

describe('serve with bad files in --machines', () => {
  it('serves the good sequences and lists every bad file with its problems', async () => {
    const { body } = await get('/api/sequences');
    expect(body.sequences.map((s: Json) => s.name)).toEqual(['gated', 'remote']);
    const invalid = Object.fromEntries(
      (body.invalid as Array<{ source: string; problems: Json[] }>).map((f) => [
        f.source.split('/').pop(),
        f.problems.map((p) => `${p.path}: ${p.message}`),
      ]),
    );
    expect(Object.keys(invalid).sort()).toEqual(['alias.yaml', 'binary.yaml', 'bomb.yaml', 'broken.yaml', 'deep.yaml']);
    expect(invalid['alias.yaml']).toEqual(['line 2, column 8: alias *nope has no anchor &nope before it']);
    expect(invalid['bomb.yaml']).toEqual(['(root): aliases expand to more than 100 copies of their anchors (an alias bomb)']);
    expect(invalid['deep.yaml']).toEqual(['line 2, column 72: nesting deeper than 64 levels (lists and objects inside each other)']);
    expect(invalid['binary.yaml']![0]).toMatch(/^\(file\): not UTF-8 text/);
    expect(h.errors.join('\n')).toContain('skipping');
  });
});

describe('inputs the API refuses up front', () => {
  it.each([
    [
      'a 20,000-deep input',
      deep(20_000),
      'invalid request body: input: at input[0][0][0][0][0][0][0][0]...: nesting deeper than 64 levels',
    ],
    ['a 65-deep input', deep(65), 'nesting deeper than 64 levels'],
    ['a 1.1 MB input', { blob: 'x'.repeat(1_100_000) }, `input: ${1_100_000 + 11} bytes as JSON, more than the 1 MiB an input may have`],
  ])('POST /api/runs with %s: 400 with the reason, and no run', async (_what, input, says) => {
    const before = (await get('/api/runs?limit=1000')).body.runs.length;
    const res = await post('/api/runs', { sequence: 'remote', input });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('INVALID_REQUEST');
    expect(res.json().error.message).toContain(says);
    expect((await get('/api/runs?limit=1000')).body.runs.length).toBe(before);
  });

  it('POST /api/runs/:id/rerun with a too-deep input: 400', async () => {
    const started = (await post('/api/runs', { sequence: 'remote' })).json() as Json;
    await post(`/api/runs/${started.runId}/cancel`, {});
    await until(
      async () => ((await get(`/api/runs/${started.runId}`)).body.run.status === 'cancelled' ? true : undefined),
      'the run to cancel',
    );
    const res = await post(`/api/runs/${started.runId}/rerun`, { input: deep(100) });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toContain('nesting deeper than 64 levels');
  });

  it('POST /api/ingest with a too-deep result: 400, and the run goes on', async () => {
    const started = (await post('/api/runs', { sequence: 'remote' })).json() as Json;
    await until(
      async () => ((await get(`/api/runs/${started.runId}`)).body.state?.node === 'main.bill.running' ? true : undefined),
      'bill to be dispatched',
    );
    const envelope = (result: unknown) => ({
      v: 1,
      id: randomUUID(),
      runId: started.runId,
      taskId: 'bill',
      attempt: 1,
      time: new Date().toISOString(),
      type: 'task.succeeded',
      payload: { result },
    });
    const res = await post('/api/ingest', envelope(deep(5_000)));
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toContain('payload.result[0][0][0][0][0][0][0][0]...: nesting deeper than 64 levels');
    expect((await post('/api/ingest', envelope({ ok: 1 }))).statusCode).toBe(202);
    const done = await until(async () => {
      const { body } = await get(`/api/runs/${started.runId}`);
      return body.run.status === 'running' ? undefined : body;
    }, 'the run to end');
    expect(done.run.status).toBe('succeeded');
  });

  it('every run the API acknowledges (201 or 202) is found by GET, inputs at the limits included', async () => {
    const inputs: unknown[] = [null, 'text', 0, deep(64), { blob: 'x'.repeat(1_000_000) }, Array.from({ length: 1000 }, (_, i) => ({ i }))];
    const acknowledged: string[] = [];
    for (const input of inputs) {
      const res = await post('/api/runs', { sequence: 'remote', input });
      expect([201, 202], json(input).slice(0, 50)).toContain(res.statusCode);
      acknowledged.push((res.json() as Json).runId);
    }
    for (const runId of acknowledged) {
      const view = await until(async () => {
        const r = await get(`/api/runs/${runId}`);
        return r.status === 200 ? r.body : undefined;
      }, `run ${runId}`);
      expect(view.run.runId).toBe(runId);
      await post(`/api/runs/${runId}/cancel`, {});
    }
  });
});
