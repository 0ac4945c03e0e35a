import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServeHarness } from './serve-harness.js';
import { serveHarness, TOKEN, until } from './serve-harness.js';

let h: ServeHarness;
beforeAll(async () => {
  h = await serveHarness();
});
afterAll(() => h.close());

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
type Json = Record<string, any>;

const start = (traceparent: string) =>
  h.app.inject({
    method: 'POST',
    url: '/api/runs',
    headers: { authorization: `Bearer ${TOKEN}`, traceparent },
    payload: { sequence: 'gated' },
  });

describe('POST /api/runs with a traceparent header', () => {
  it('records it in run.started: the run is a child of that span', async () => {
    const res = await start(TRACEPARENT);
    expect(res.statusCode).toBe(201);
    const { runId } = res.json() as Json;
    const view = await until(async () => {
      const body = (await h.app.inject({ method: 'GET', url: `/api/runs/${runId}` })).json() as Json;
      return body.history?.length > 0 ? body : undefined;
    }, 'the run to be recorded');
    expect(view.history[0]).toMatchObject({ type: 'run.started', traceparent: TRACEPARENT });
    await h.app.inject({ method: 'POST', url: `/api/runs/${runId}/cancel`, headers: { authorization: `Bearer ${TOKEN}` }, payload: {} });
  });

  it('answers 400 naming the header and what is wrong with it, and starts nothing', async () => {
    const res = await start('00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01');
    expect(res.statusCode).toBe(400);
    expect((res.json() as Json).error.message).toBe(
      'header traceparent: the parent id must not be all zeros, got "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"',
    );
  });
});
