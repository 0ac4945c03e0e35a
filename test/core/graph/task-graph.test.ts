// @vitest-environment jsdom
// Mermaid's parser needs a DOM (it sanitises labels with DOMPurify): jsdom provides one.
import { Graphviz } from '@hpcc-js/wasm-graphviz';
import mermaid from 'mermaid';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderTaskGraphSvg } from '../../../src/adapters/graphviz/graph-svg.js';
import { taskGraphToDot } from '../../../src/core/graph/task-dot.js';
import type { TaskGraph } from '../../../src/core/graph/task-graph.js';
import { buildTaskGraph, taskBadge } from '../../../src/core/graph/task-graph.js';
import { taskGraphToMermaid, taskMermaidId } from '../../../src/core/graph/task-mermaid.js';
import { parseGraphView } from '../../../src/core/graph/views.js';
import { loadSequenceText } from '../../../src/core/sequence/validate.js';

/** A saga: a and c have compensations, b continues on failure, d retries with a timeout; two finally tasks. */
const SAGA = loadSequenceText(
  [
    'name: saga',
    'version: 2',
    'tasks:',
    '  - { id: a, run: "true", compensate: { run: "true" } }',
    '  - { id: b, run: "true", onFailure: continue }',
    '  - { id: c, run: "true", compensate: { run: "true", retry: { maxAttempts: 2 } } }',
    '  - { id: d, run: "true", retry: { maxAttempts: 3 }, timeout: 30s }',
    'finally:',
    '  - { id: cleanup, run: "true" }',
    '  - { id: notify, run: "true" }',
    '',
  ].join('\n'),
);

const edgesOf = (graph: TaskGraph) => graph.edges.map((e) => [e.source, e.target, e.label ?? ''].join(' '));

describe('buildTaskGraph', () => {
  it('has one node per task, compensation and finally task, plus start and the ends', () => {
    const graph = buildTaskGraph(SAGA);
    expect(graph.title).toBe('saga v2');
    expect(graph.nodes.map((n) => `${n.kind} ${n.id} ${n.label}`)).toEqual([
      'start start start',
      'task task:a a',
      'task task:b b',
      'task task:c c',
      'task task:d d',
      // Compensations in the order they run: reverse task order.
      'compensation task:c.compensate c.compensate',
      'compensation task:a.compensate a.compensate',
      'finally task:cleanup cleanup',
      'finally task:notify notify',
      'end end:succeeded succeeded',
      'end end:failed failed',
      'end end:cancelled cancelled',
    ]);
  });

  it('puts retries and timeouts on the node as a badge, never as a loop', () => {
    const graph = buildTaskGraph(SAGA);
    const badge = (id: string) => graph.nodes.find((n) => n.id === id)?.badge;
    expect(badge('task:d')).toBe('up to 3 attempts · timeout 30.0s');
    expect(badge('task:c.compensate')).toBe('up to 2 attempts');
    expect(badge('task:a')).toBeUndefined();
    expect(graph.edges.filter((e) => e.source === e.target)).toEqual([]);
    expect(taskBadge(SAGA.tasks[0]!)).toBeUndefined();
  });

  it('draws the order, the failure paths by policy, the unwinding in reverse and every end', () => {
    expect(edgesOf(buildTaskGraph(SAGA))).toEqual([
      'start task:a ',
      'task:a task:b ',
      // Nothing before a was completed: its failure goes straight to the finally tasks.
      'task:a task:cleanup failed',
      'task:b task:c ',
      'task:b task:c failed (continue)',
      'task:c task:d ',
      // Only completed tasks are compensated: c's failure starts at a's compensation, d's at c's.
      'task:c task:a.compensate failed',
      'task:d task:cleanup ',
      'task:d task:c.compensate failed',
      'task:c.compensate task:a.compensate ',
      'task:a.compensate task:cleanup ',
      'task:cleanup task:notify ',
      'task:notify end:succeeded ',
      'task:notify end:failed if failed',
      'task:notify end:cancelled if cancelled',
    ]);
  });

  it('labels only failure and outcome edges', () => {
    for (const e of buildTaskGraph(SAGA).edges) {
      expect(e.label === undefined, e.id).toBe(e.kind === 'next');
    }
  });

  it('gives every edge a unique id, also when a success and a continue failure join the same tasks', () => {
    const ids = buildTaskGraph(SAGA).edges.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain('task:b->task:c');
    expect(ids).toContain('task:b->task:c:failure');
  });

  it('without compensations or finally tasks: failures end the run failed, and no cancelled end is drawn', () => {
    const plain = loadSequenceText('name: plain\nversion: 1\ntasks:\n  - { id: one, run: "true" }\n  - { id: two, run: "true" }\n');
    const graph = buildTaskGraph(plain);
    expect(edgesOf(graph)).toEqual([
      'start task:one ',
      'task:one task:two ',
      'task:one end:failed failed',
      'task:two end:succeeded ',
      'task:two end:failed failed',
    ]);
    expect(graph.nodes.map((n) => n.id)).toEqual(['start', 'task:one', 'task:two', 'end:succeeded', 'end:failed']);
  });

  it('with compensations but no finally: the last compensation leads to failed and cancelled', () => {
    const saga = loadSequenceText(
      'name: s\nversion: 1\ntasks:\n  - { id: one, run: "true", compensate: { run: "true" } }\n  - { id: two, run: "true" }\n',
    );
    expect(edgesOf(buildTaskGraph(saga))).toEqual([
      'start task:one ',
      'task:one task:two ',
      'task:one end:failed failed',
      'task:two end:succeeded ',
      'task:two task:one.compensate failed',
      'task:one.compensate end:failed ',
      'task:one.compensate end:cancelled if cancelled',
    ]);
  });
});

describe('parseGraphView', () => {
  it('reads tasks and machine, defaults to tasks, and refuses anything else precisely', () => {
    expect(parseGraphView(undefined)).toBe('tasks');
    expect(parseGraphView('machine')).toBe('machine');
    expect(() => parseGraphView('states', 'query: view')).toThrow('invalid query: view: expected "tasks" or "machine", got "states"');
    expect(() => parseGraphView(['tasks', 'machine'])).toThrow('invalid view: expected "tasks" or "machine", got ["tasks","machine"]');
  });
});

let graphviz: Graphviz;
beforeAll(async () => {
  graphviz = await Graphviz.load();
});

describe('taskGraphToDot', () => {
  it('is valid DOT whose nodes and edges carry the task graph ids, badges in a smaller font', () => {
    const graph = buildTaskGraph(SAGA);
    const dot = taskGraphToDot(graph);
    const json = JSON.parse(graphviz.layout(dot, 'json', 'dot')) as {
      objects: Array<{ id: string; nodes?: number[] }>;
      edges: Array<{ id: string }>;
    };
    // Objects with `nodes` are the rank=same subgraphs.
    expect(
      json.objects
        .filter((o) => !o.nodes)
        .map((o) => o.id)
        .sort(),
    ).toEqual(graph.nodes.map((n) => n.id).sort());
    expect(json.edges.map((e) => e.id).sort()).toEqual(graph.edges.map((e) => e.id).sort());
    expect(dot).toContain('label=<d<BR/><FONT POINT-SIZE="10" COLOR="#57606a">up to 3 attempts · timeout 30.0s</FONT>>');
    // Each compensation sits on the rank of the task it undoes.
    expect(dot).toContain('{ rank=same; "task:a"; "task:a.compensate"; }');
  });

  it('labels one failure edge per target: the others into it say the same', () => {
    const many = loadSequenceText(
      [
        'name: many',
        'version: 1',
        'tasks:',
        '  - { id: base, run: "true", compensate: { run: "true" } }',
        ...['x', 'y', 'z'].map((id) => `  - { id: ${id}, run: "true" }`),
        '',
      ].join('\n'),
    );
    const dot = taskGraphToDot(buildTaskGraph(many));
    const intoCompensation = dot.split('\n').filter((l) => l.includes('-> "task:base.compensate"'));
    expect(intoCompensation).toHaveLength(3);
    expect(intoCompensation.filter((l) => l.includes('label="failed"'))).toHaveLength(1);
  });

  it('lays out as SVG with one <g id="task:..."> per task', async () => {
    const svg = await renderTaskGraphSvg(buildTaskGraph(SAGA));
    for (const id of ['task:a', 'task:c.compensate', 'task:notify', 'end:cancelled', 'start'])
      expect(svg).toContain(`<g id="${id}" class="node`);
    expect(svg).not.toMatch(/running|backoff|settling/);
  });
});

describe('taskGraphToMermaid', () => {
  it('parses with Mermaid: one vertex per node, every edge with its label', async () => {
    const graph = buildTaskGraph(SAGA);
    const text = taskGraphToMermaid(graph);
    await mermaid.parse(text);
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
    const db = diagram.db as unknown as {
      getVertices(): Map<string, unknown>;
      getEdges(): Array<{ start: string; end: string; text: string }>;
    };
    expect([...db.getVertices().keys()].sort()).toEqual(graph.nodes.map((n) => taskMermaidId(n.id)).sort());
    expect(db.getEdges().map((e) => `${e.start} ${e.end} ${e.text}`)).toEqual(
      graph.edges.map((e) => `${taskMermaidId(e.source)} ${taskMermaidId(e.target)} ${e.label ?? ''}`),
    );
  });

  it('keeps task ids with - and _ apart, and never uses the reserved word end', () => {
    expect(taskMermaidId('task:a-b')).toBe('t_a_db');
    expect(taskMermaidId('task:a_db')).toBe('t_a__db');
    expect(taskMermaidId('task:a--b.compensate')).toBe('c_a_d_db');
    expect(taskMermaidId('end:failed')).toBe('run_failed');
    expect(taskMermaidId('start')).toBe('start');
  });
});

describe('the task view of waits', () => {
  const WAITS = loadSequenceText(
    [
      'name: waits',
      'tasks:',
      '  - { id: build, run: "true", compensate: { run: "true" } }',
      '  - { id: approve, wait: { signal: true }, timeout: 48h }',
      '  - { id: review, wait: { signal: true }, timeout: 90m, onTimeout: continue, retry: { maxAttempts: 2 } }',
      '  - { id: hold, wait: { signal: true }, timeout: never, onFailure: continue }',
      '  - { id: cool-off, wait: { duration: 2h } }',
      '  - { id: remind, wait: { until: input.remindAt } }',
      '  - { id: launch, wait: { until: "2026-12-24T09:00:00Z" } }',
      '',
    ].join('\n'),
  );

  it('draws each wait as a wait: what it waits for and until when', () => {
    const graph = buildTaskGraph(WAITS);
    const node = (id: string) => graph.nodes.find((n) => n.id === `task:${id}`);
    expect(node('build')?.wait).toBeUndefined();
    expect(node('approve')).toMatchObject({ wait: 'signal', badge: 'waits for a signal · expires after 48h' });
    expect(node('review')).toMatchObject({
      wait: 'signal',
      badge: 'waits for a signal · expires after 1h 30m (then goes on) · asks up to 2 times',
    });
    expect(node('hold')?.badge).toBe('waits for a signal · never expires');
    expect(node('cool-off')).toMatchObject({ wait: 'time', badge: 'waits 2h' });
    expect(node('remind')?.badge).toBe('waits until input.remindAt');
    expect(node('launch')?.badge).toBe('waits until 2026-12-24T09:00:00.000Z');
  });

  it("labels a signal wait's edges: its signal, its rejection and timeout by their policies", () => {
    expect(edgesOf(buildTaskGraph(WAITS))).toEqual([
      'start task:build ',
      'task:build task:approve ',
      'task:build end:failed failed',
      'task:approve task:review signal',
      'task:approve task:build.compensate rejected or timed out',
      'task:review task:hold signal',
      'task:review task:build.compensate rejected',
      'task:review task:hold timed out (continue)',
      'task:hold task:cool-off signal',
      'task:hold task:cool-off rejected (continue)',
      // A delay ends when its time comes: it has no failure.
      'task:cool-off task:remind ',
      'task:remind task:launch ',
      'task:launch end:succeeded ',
      'task:build.compensate end:failed ',
      'task:build.compensate end:cancelled if cancelled',
    ]);
  });

  it('renders a wait as a hexagon in DOT and Mermaid', () => {
    const graph = buildTaskGraph(WAITS);
    expect(taskGraphToDot(graph)).toMatch(/"task:approve" \[id="task:approve", class="task-task", label=<approve<BR\/>.*shape="hexagon"/);
    expect(taskGraphToMermaid(graph)).toContain('  t_approve{{"approve<br/>waits for a signal · expires after 48h"}}');
    expect(taskGraphToMermaid(graph)).toContain('  t_approve -->|"signal"| t_review');
  });
});
