import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServeHarness } from './serve-harness.js';
import { serveHarness } from './serve-harness.js';

let h: ServeHarness;
beforeAll(async () => {
  h = await serveHarness();
});
afterAll(() => h.close());

describe('GET /api/health and the page', () => {
  it('reports the mode, the sequence count and whether mutating requests are allowed', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ok: true, mode: 'embedded', sequences: 2, auth: true });
  });

  it('serves the page and its assets from this origin only', async () => {
    const page = await h.app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.body).toContain('<script type="module" src="/ui/app.js">');
    expect(page.body).not.toMatch(/https?:\/\//);
    for (const name of ['app.js', 'actions.js', 'api.js', 'attempts.js', 'dom.js', 'graph.js', 'run-data.js', 'runs.js', 'timeline.js']) {
      const js = await h.app.inject({ method: 'GET', url: `/ui/${name}` });
      expect(js.statusCode, name).toBe(200);
      expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
      expect(js.body, name).not.toMatch(/https?:\/\//);
    }
    for (const name of ['style.css', 'runs.css', 'run.css']) {
      const css = await h.app.inject({ method: 'GET', url: `/ui/${name}` });
      expect(css.statusCode, name).toBe(200);
      expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    }
  });

  it('answers an unknown endpoint with 404 and says which', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/nope?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { code: 'INVALID_REQUEST', message: 'no endpoint GET /api/nope' } });
  });
});

describe('GET /api/sequences', () => {
  it('lists the valid sequences with their tasks and graph links, and skips invalid files', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/sequences' });
    expect(res.statusCode).toBe(200);
    const { sequences } = res.json() as { sequences: Array<Record<string, unknown>> };
    expect(sequences.map((s) => s.name)).toEqual(['gated', 'remote']);
    expect(sequences[0]).toMatchObject({
      name: 'gated',
      version: '1',
      description: 'Three tasks that each wait for a gate file.',
      tasks: [
        { id: 'prepare', kind: 'shell', maxAttempts: 1, onFailure: 'stop', compensate: 'prepare.compensate' },
        { id: 'build', kind: 'shell' },
        { id: 'publish', kind: 'shell' },
      ],
      finally: [{ id: 'cleanup', kind: 'shell' }],
      links: {
        graphSvg: '/api/sequences/gated/graph.svg',
        graphJson: '/api/sequences/gated/graph.json',
        stately: '/api/sequences/gated/stately.json',
      },
    });
    expect(sequences[1]).toMatchObject({ name: 'remote', tasks: [{ id: 'bill', kind: 'queue', queue: 'billing' }, { id: 'notify' }] });
    expect(h.errors.join('\n')).toMatch(/skipping .*broken\.yaml: invalid/);
  });

  it('shows one sequence with its definition text', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/sequences/remote' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ name: 'remote', definition: expect.stringContaining('queue: billing') });
  });

  it('answers 404 for an unknown sequence, naming the served ones', async () => {
    for (const url of [
      '/api/sequences/nope',
      '/api/sequences/nope/graph.svg',
      '/api/sequences/nope/graph.json',
      '/api/sequences/nope/stately.json',
    ]) {
      const res = await h.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json()).toEqual({ error: { code: 'UNKNOWN_SEQUENCE', message: 'unknown sequence "nope" (served: "gated", "remote")' } });
    }
  });

  it('draws the machine view as SVG whose groups carry state-path ids', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/sequences/gated/graph.svg?view=machine' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('image/svg+xml; charset=utf-8');
    for (const id of [
      'main.prepare.running',
      'main.build.running',
      'main.publish.running',
      'compensating.prepare.running',
      'finalizing.cleanup.running',
      'succeeded',
      'failed',
      'cancelled',
    ]) {
      expect(res.body).toContain(`id="${id}"`);
    }
  });

  it('draws the task view by default: one group per task, with task ids, and no machine states', async () => {
    for (const url of ['/api/sequences/gated/graph.svg', '/api/sequences/gated/graph.svg?view=tasks']) {
      const res = await h.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toBe('image/svg+xml; charset=utf-8');
      const ids = [...res.body.matchAll(/<g id="([^"]+)" class="node[^"]*"/g)].map((m) => m[1]);
      expect(ids.sort(), url).toEqual([
        'end:cancelled',
        'end:failed',
        'end:succeeded',
        'start',
        'task:build',
        'task:cleanup',
        'task:prepare',
        'task:prepare.compensate',
        'task:publish',
      ]);
      expect(res.body).not.toContain('running');
    }
  });

  it('refuses an unknown view with 400, naming the views there are', async () => {
    for (const url of [
      '/api/sequences/gated/graph.svg?view=states',
      '/api/sequences/gated/graph.json?view=states',
      '/api/sequences/gated/graph.svg?view=',
    ]) {
      const res = await h.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(400);
      const got = url.endsWith('=') ? '""' : '"states"';
      expect(res.json(), url).toEqual({
        error: { code: 'INVALID_REQUEST', message: `invalid query: view: expected "tasks" or "machine", got ${got}` },
      });
    }
  });

  it('gives the task graph model as JSON by default', async () => {
    const graph = (await h.app.inject({ method: 'GET', url: '/api/sequences/gated/graph.json' })).json() as {
      nodes: Array<{ id: string; kind: string }>;
      edges: Array<{ source: string; target: string; label?: string }>;
    };
    expect(graph.nodes.filter((n) => n.kind !== 'start' && n.kind !== 'end').map((n) => n.id)).toEqual([
      'task:prepare',
      'task:build',
      'task:publish',
      'task:prepare.compensate',
      'task:cleanup',
    ]);
    expect(graph.edges).toContainEqual(
      expect.objectContaining({ source: 'task:publish', target: 'task:prepare.compensate', label: 'failed' }),
    );
  });

  it('gives the machine graph model and the Stately config as JSON', async () => {
    const graph = (await h.app.inject({ method: 'GET', url: '/api/sequences/gated/graph.json?view=machine' })).json() as {
      nodes: Array<{ id: string }>;
      edges: unknown[];
    };
    expect(graph.nodes.map((n) => n.id)).toEqual(
      expect.arrayContaining(['main.prepare.running', 'main.build', 'finalizing.cleanup.running']),
    );
    expect(graph.edges.length).toBeGreaterThan(5);
    const stately = (await h.app.inject({ method: 'GET', url: '/api/sequences/gated/stately.json' })).json() as {
      id: string;
      initial: string;
      states: Record<string, unknown>;
    };
    expect(stately).toMatchObject({ id: 'run', initial: 'main' });
    expect(Object.keys(stately.states)).toEqual(expect.arrayContaining(['main', 'compensating', 'finalizing', 'succeeded']));
  });
});
