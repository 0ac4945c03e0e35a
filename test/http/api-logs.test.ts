import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServeHarness } from './serve-harness.js';
import { serveHarness, TOKEN, until } from './serve-harness.js';

type Json = Record<string, any>;

const LOGGED = [
  'name: logged',
  'version: 1',
  'tasks:',
  '  - id: build',
  '    run: echo "building $LOCKSTEP_ATTEMPT"; sleep 0.05; echo "warn" >&2; [ "$LOCKSTEP_ATTEMPT" = 2 ]',
  '    retry: { maxAttempts: 2, backoff: { initial: 10ms } }',
  'finally:',
  '  - id: cleanup',
  '    run: echo cleaned',
  '',
].join('\n');

let h: ServeHarness;
beforeAll(async () => {
  h = await serveHarness({ files: { 'logged.yaml': LOGGED } });
});
afterAll(() => h.close());

const get = async (url: string) => {
  const res = await h.app.inject({ method: 'GET', url });
  return { status: res.statusCode, body: res.json() as Json };
};

async function finishedRun(): Promise<string> {
  const res = await h.app.inject({
    method: 'POST',
    url: '/api/runs',
    headers: { authorization: `Bearer ${TOKEN}` },
    payload: { sequence: 'logged', input: null },
  });
  const { runId } = res.json() as { runId: string };
  await until(async () => ((await get(`/api/runs/${runId}`)).body.run?.status === 'succeeded' ? true : undefined), 'the run to end');
  return runId;
}

describe('GET /api/runs/:runId/logs', () => {
  it("answers every attempt's lines, in the order the attempts started, narrowed by task and attempt", async () => {
    const runId = await finishedRun();
    const { status, body } = await get(`/api/runs/${runId}/logs`);
    expect(status).toBe(200);
    expect(body.runId).toBe(runId);
    expect(body.attempts.map((a: Json) => [a.task, a.attempt, a.phase, a.bytes, a.truncated])).toEqual([
      ['build', 1, 'main', 10 + 4, false],
      ['build', 2, 'main', 10 + 4, false],
      ['cleanup', 1, 'finally', 7, false],
    ]);
    expect(body.attempts[1].lines).toEqual([
      { at: expect.any(Number), stream: 'stdout', text: 'building 2' },
      { at: expect.any(Number), stream: 'stderr', text: 'warn' },
    ]);
    const second = await get(`/api/runs/${runId}/logs?task=build&attempt=2`);
    expect(second.body.attempts).toEqual([body.attempts[1]]);
    expect((await get(`/api/runs/${runId}/logs?task=nope`)).body).toEqual({ runId, attempts: [] });
  });

  it('answers 404 for an unknown run and 400 for a bad attempt number', async () => {
    const unknown = await get('/api/runs/no-such-run/logs');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: { code: 'UNKNOWN_RUN', message: 'unknown run "no-such-run"' } });
    const bad = await get('/api/runs/no-such-run/logs?attempt=zero');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringContaining('attempt') });
  });
});
