// `GET /api/runs` filters and pages, and `GET /api/runs/:runId/definition`, over records put in the store directly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { record } from '../contract/run-store.contract.js';
import type { ServeHarness } from './serve-harness.js';
import { serveHarness } from './serve-harness.js';

let h: ServeHarness;
type Json = Record<string, any>;
const get = async (url: string) => {
  const res = await h.app.inject({ method: 'GET', url });
  return { status: res.statusCode, body: res.json() as Json };
};
const ids = async (query: string) => (await get(`/api/runs?${query}`)).body.runs.map((r: Json) => r.runId);

beforeAll(async () => {
  h = await serveHarness();
  const at = Date.parse('2026-12-01T10:00:00Z');
  for (let i = 0; i < 7; i++) {
    await h.store.create(
      record({
        runId: `r${i}-${i % 2 ? 'odd' : 'even'}`,
        sequence: i % 2 ? 'hold' : 'deploy',
        status: i === 3 ? 'failed' : 'succeeded',
        createdAt: at + i * 60_000,
        updatedAt: at + i * 60_000 + 1_500,
      }),
      [],
    );
  }
});
afterAll(() => h.close());

describe('GET /api/runs', () => {
  it('pages with a cursor: each page newest first, `next` until the last', async () => {
    const first = (await get('/api/runs?limit=3')).body;
    expect(first.runs.map((r: Json) => r.runId)).toEqual(['r6-even', 'r5-odd', 'r4-even']);
    expect(first.next).toEqual(expect.any(String));
    const second = (await get(`/api/runs?limit=3&cursor=${first.next}`)).body;
    expect(second.runs.map((r: Json) => r.runId)).toEqual(['r3-odd', 'r2-even', 'r1-odd']);
    const third = (await get(`/api/runs?limit=3&cursor=${second.next}`)).body;
    expect(third.runs.map((r: Json) => r.runId)).toEqual(['r0-even']);
    expect(third).not.toHaveProperty('next');
    expect((await get('/api/runs')).body).not.toHaveProperty('next');
  });

  it('filters by id prefix, sequence, status and start time together with the cursor', async () => {
    expect(await ids('idPrefix=r3')).toEqual(['r3-odd']);
    expect(await ids('sequence=hold')).toEqual(['r5-odd', 'r3-odd', 'r1-odd']);
    expect(await ids('sequence=hold&status=failed')).toEqual(['r3-odd']);
    expect(await ids('since=2026-12-01T10:04:00Z')).toEqual(['r6-even', 'r5-odd', 'r4-even']);
    expect(await ids(`until=${Date.parse('2026-12-01T10:02:00Z')}`)).toEqual(['r1-odd', 'r0-even']);
    const page = (await get('/api/runs?sequence=deploy&limit=1&since=2026-12-01T10:01:00Z')).body;
    expect(page.runs.map((r: Json) => r.runId)).toEqual(['r6-even']);
    expect(await ids(`sequence=deploy&limit=5&since=2026-12-01T10:01:00Z&cursor=${page.next}`)).toEqual(['r4-even', 'r2-even']);
  });

  it('refuses a malformed cursor or time with the parameter named', async () => {
    const bad = await get('/api/runs?cursor=nope');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('cursor: expected the "next" of an earlier answer');
    const time = await get('/api/runs?since=yesterday');
    expect(time.status).toBe(400);
    expect(time.body.error.message).toContain('since: expected ms since the epoch or an ISO 8601 date, got "yesterday"');
  });
});

describe('GET /api/runs/:runId/definition', () => {
  it('answers the exact definition text the run started with', async () => {
    const { status, body } = await get('/api/runs/r2-even/definition');
    expect(status).toBe(200);
    expect(body).toEqual({
      runId: 'r2-even',
      sequence: 'deploy',
      version: '1',
      definition: 'name: orders\ntasks:\n  - id: a\n    run: "true"\n',
      definitionHash: 'ab'.repeat(32),
      source: 'machines/orders.yaml',
    });
    expect((await get('/api/runs/nope/definition')).status).toBe(404);
  });
});
