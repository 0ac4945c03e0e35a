// @vitest-environment jsdom
// Mermaid's parser needs a DOM (it sanitises labels with DOMPurify): jsdom provides one.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Graphviz } from '@hpcc-js/wasm-graphviz';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import mermaid from 'mermaid';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AnyStateNode } from 'xstate';
import { createMachine } from 'xstate';
import { loadSequenceFile } from '../../../src/adapters/fs/load-sequence.js';
import { renderGraphSvg } from '../../../src/adapters/graphviz/graph-svg.js';
import { compile } from '../../../src/core/compile/machine.js';
import type { GraphableMachine } from '../../../src/core/graph/build-graph.js';
import { buildGraph } from '../../../src/core/graph/build-graph.js';
import { clusterName, toDot } from '../../../src/core/graph/dot.js';
import { mermaidId, toMermaid } from '../../../src/core/graph/mermaid.js';
import type { MachineGraph } from '../../../src/core/graph/model.js';
import { activeNodeIds, stateNodeId } from '../../../src/core/graph/model.js';
import type { StatelyStateConfig } from '../../../src/core/graph/stately.js';
import { toStatelyConfig, toStatelyJson } from '../../../src/core/graph/stately.js';
import type { Sequence, TaskSpec } from '../../../src/core/sequence/types.js';
import { loadSequenceText } from '../../../src/core/sequence/validate.js';
import { createProgram } from '../../../src/core/step.js';

// Paths, not URLs: under jsdom the global URL is jsdom's, which node:fs does not accept.
const MACHINES = join(fileURLToPath(import.meta.url), '../../../../machines');
const files = readdirSync(MACHINES)
  .filter((f) => /\.(ya?ml|json)$/.test(f))
  .sort();

/** Every state path of a machine, read from XState's own state nodes (independently of buildGraph). */
function statePaths(machine: GraphableMachine): string[][] {
  const out: string[][] = [];
  const walk = (node: AnyStateNode) => {
    for (const child of Object.values(node.states) as AnyStateNode[]) {
      out.push(child.path);
      walk(child);
    }
  };
  walk(machine.root);
  return out;
}

/** Parses Mermaid text with Mermaid's own flowchart parser; returns vertex, subgraph and edge data. */
async function parseMermaid(text: string) {
  await mermaid.parse(text); // throws on a syntax error
  const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
  const db = diagram.db as unknown as {
    getVertices(): Map<string, unknown>;
    getSubGraphs(): Array<{ id: string; nodes: string[] }>;
    getEdges(): Array<{ start: string; end: string; text: string }>;
  };
  return { type: diagram.type, vertices: [...db.getVertices().keys()], subgraphs: db.getSubGraphs(), edges: db.getEdges() };
}

let graphviz: Graphviz;
beforeAll(async () => {
  graphviz = await Graphviz.load();
});

/** Parses DOT with Graphviz itself (layout to its JSON format) and returns the `id` of every node and cluster. */
function parseDot(dot: string): { nodes: string[]; clusters: Map<string, string>; edges: string[] } {
  const json = JSON.parse(graphviz.layout(dot, 'json', 'dot')) as {
    objects?: Array<{ name: string; id?: string; nodes?: number[] }>;
    edges?: Array<{ id?: string }>;
  };
  const objects = json.objects ?? [];
  return {
    nodes: objects.filter((o) => !o.name.startsWith('cluster_')).map((o) => o.id ?? o.name),
    clusters: new Map(objects.filter((o) => o.name.startsWith('cluster_')).map((o) => [o.name, o.id ?? ''])),
    edges: (json.edges ?? []).map((e) => e.id ?? ''),
  };
}

/** Every `id` attribute of every `<g>` in an SVG document, entities decoded by the XML parser. */
function svgGroupIds(svg: string): Map<string, string> {
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', htmlEntities: true }).parse(svg) as unknown;
  const ids = new Map<string, string>();
  const walk = (value: unknown, tag: string): void => {
    if (Array.isArray(value)) {
      for (const v of value) walk(v, tag);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const record = value as Record<string, unknown>;
    if (tag === 'g' && typeof record['id'] === 'string') ids.set(record['id'], String(record['class'] ?? ''));
    for (const [key, child] of Object.entries(record)) walk(child, key);
  };
  walk(doc, '');
  return ids;
}

/** Every state path of a Stately config. */
function configPaths(config: StatelyStateConfig, prefix: string[] = []): string[][] {
  return Object.entries(config.states ?? {}).flatMap(([key, child]) => [[...prefix, key], ...configPaths(child, [...prefix, key])]);
}

const edge = (graph: MachineGraph, source: string, label: string) => graph.edges.filter((e) => e.source === source && e.label === label);

/** The spec of the task a state path belongs to, read from the sequence (independently of the graph). */
function specOf(sequence: Sequence, path: readonly string[]): TaskSpec | undefined {
  const [phase, id] = path;
  if (phase === 'main') return sequence.tasks.find((t) => t.id === id);
  if (phase === 'compensating') return sequence.tasks.find((t) => t.id === id)?.compensate;
  if (phase === 'finalizing') return sequence.finally.find((t) => t.id === id);
  return undefined;
}

/** The atomic states of the main phase, in document order. */
const mainStates = (graph: MachineGraph) => graph.nodes.filter((n) => n.path[0] === 'main' && n.type === 'atomic').map((n) => n.id);

describe.each(files)('graph of machines/%s', (file) => {
  const { sequence } = loadSequenceFile(join(MACHINES, file));
  const machine = compile(sequence);
  const graph = buildGraph(machine);
  const ids = statePaths(machine).map(stateNodeId);

  it('has one node per state, ids derived from the state path', () => {
    expect(graph.nodes.map((n) => n.id)).toEqual(ids);
    for (const node of graph.nodes) expect(node.id).toBe(node.path.join('.'));
    expect(graph.initial).toBe('main');
  });

  it('renders Mermaid that Mermaid parses as a flowchart, with every state', async () => {
    const text = toMermaid(graph, { title: sequence.name });
    const parsed = await parseMermaid(text);
    expect(parsed.type).toBe('flowchart-v2');
    const present = new Set([...parsed.vertices, ...parsed.subgraphs.map((s) => s.id)]);
    for (const id of ids) expect(present, id).toContain(mermaidId(id));
    for (const phase of ['main', 'compensating', 'finalizing']) {
      expect(parsed.subgraphs.some((s) => s.id === phase)).toBe(ids.includes(phase));
    }
    // Every transition is a labelled link (plus the start marker's).
    expect(parsed.edges).toHaveLength(graph.edges.length + 1);
    for (const e of graph.edges) {
      expect(
        parsed.edges.some((p) => p.start === mermaidId(e.source) && p.end === mermaidId(e.target) && p.text === e.label),
        e.id,
      ).toBe(true);
    }
  });

  it('renders DOT that Graphviz parses and lays out, with every state', () => {
    const parsed = parseDot(toDot(graph, { title: sequence.name }));
    for (const node of graph.nodes) {
      if (node.type === 'compound') expect(parsed.clusters.get(clusterName(node.id)), node.id).toBe(node.id);
      else expect(parsed.nodes, node.id).toContain(node.id);
    }
    expect(parsed.edges).toEqual(expect.arrayContaining(graph.edges.map((e) => e.id)));
  });

  it('renders SVG that is well-formed XML, with an id per state and transition', async () => {
    const svg = await renderGraphSvg(graph, { title: sequence.name });
    expect(XMLValidator.validate(svg)).toBe(true);
    const groups = svgGroupIds(svg);
    for (const node of graph.nodes) expect(groups.get(node.id), node.id).toBe(node.type === 'compound' ? 'cluster' : 'node');
    for (const e of graph.edges) expect(groups.get(e.id), e.id).toBe('edge');
  });

  it('exports a Stately config with every state that XState can load back', () => {
    const config = JSON.parse(toStatelyJson(machine)) as StatelyStateConfig & { id: string };
    expect(config).toEqual(toStatelyConfig(machine));
    expect(configPaths(config).map(stateNodeId)).toEqual(ids);
    const reloaded = createMachine(config as never);
    expect(statePaths(reloaded).map(stateNodeId)).toEqual(ids);
    for (const path of statePaths(machine)) {
      const original = machine.root.machine.getStateNodeById(`run.${path.join('.')}`);
      const copy = reloaded.getStateNodeById(`run.${path.join('.')}`);
      const targets = (n: AnyStateNode) =>
        [...n.transitions.values(), n.always ?? []].flat().map((t) => `${t.eventType}->${t.target?.map((x) => x.id)}`);
      expect(targets(copy), path.join('.')).toEqual(targets(original));
    }
  });

  it('labels every transition, with a retry loop exactly for the tasks that retry', () => {
    for (const e of graph.edges) expect(e.label, e.id).not.toMatch(/^[A-Z_]+/);
    const running = graph.nodes.filter((n) => n.path.at(-1) === 'running');
    let retrying = 0;
    for (const node of running) {
      const task = node.parent!;
      const backoff = `${task}.backoff`;
      const spec = specOf(sequence, node.path)!;
      const retries = spec.retry.maxAttempts > 1;
      if (retries) retrying += 1;
      expect(edge(graph, node.id, 'succeeded'), node.id).toHaveLength(1);
      // A wait runs nothing: no attempt of it can be interrupted.
      const waits = spec.action.kind === 'wait';
      expect(edge(graph, node.id, 'interrupted (redispatch)').map((e) => e.target)).toEqual(waits ? [] : [node.id]);
      expect(ids.includes(backoff), backoff).toBe(retries);
      expect(
        edge(graph, node.id, 'failed (retry)').map((e) => e.target),
        node.id,
      ).toEqual(retries ? [backoff] : []);
      expect(
        edge(graph, node.id, 'timed out (retry)').map((e) => e.target),
        node.id,
      ).toEqual(retries && spec.timeoutMs ? [backoff] : []);
      // After a timeout, the retry may come due while the stopped attempt is still ending: it then waits for it.
      const waiting = `${task}.waiting`;
      const gated = spec.timeoutMs !== undefined && ids.includes(waiting);
      expect(
        edge(graph, backoff, 'retry timer').map((e) => e.target),
        backoff,
      ).toEqual(retries ? [gated ? waiting : node.id] : []);
      if (ids.includes(waiting))
        expect(
          edge(graph, waiting, 'stopped attempt ended').map((e) => e.target),
          waiting,
        ).toEqual([node.id]);
      const name = node.path[0] === 'compensating' ? `${node.path[1]}.compensate` : node.path[1];
      expect(graph.nodes.find((n) => n.id === task)?.label).toBe(retries ? `${name} (up to ${spec.retry.maxAttempts} attempts)` : name);
    }
    expect(graph.nodes.filter((n) => n.path.at(-1) === 'backoff')).toHaveLength(retrying);
    expect(
      graph.edges
        .filter((e) => e.kind === 'retry' && e.label !== 'interrupted (redispatch)')
        .every((e) => e.source.endsWith('.backoff') || e.target.endsWith('.backoff')),
    ).toBe(true);
    // A task with only `running` keeps its edges there: none is drawn from the task's cluster.
    const singleState = graph.nodes
      .filter((n) => n.type === 'compound' && graph.nodes.filter((c) => c.parent === n.id).length === 1)
      .map((n) => n.id);
    for (const e of graph.edges) expect(singleState, e.id).not.toContain(e.source);
  });

  it('draws cancel from main, and the run timeout exactly when the sequence has one', () => {
    const flat = buildGraph(machine, { hoist: false });
    const cancels = flat.edges.filter((e) => e.label === 'cancel');
    const runTimeouts = flat.edges.filter((e) => e.label === 'run timeout');
    expect(cancels.map((e) => e.source)).toEqual(mainStates(graph));
    expect(runTimeouts.map((e) => e.source)).toEqual(sequence.timeoutMs !== undefined ? mainStates(graph) : []);
    // Nothing is in flight in `backoff`: leaving it cancels no task.
    // Nor in a wait: leaving it stops nothing.
    const inFlight = (source: string) => source.endsWith('.running') && specOf(sequence, source.split('.'))?.action.kind !== 'wait';
    for (const e of [...cancels, ...runTimeouts]) expect(e.actions.includes('cancelTask'), e.id).toBe(inFlight(e.source));
    // Hoisted, each is drawn once, from `main`, for every state of the main phase; no other edge is hoisted.
    expect(graph.edges.filter((e) => e.hoistedFrom).every((e) => e.kind === 'abort')).toBe(true);
    const aborts = graph.edges.filter((e) => e.kind === 'abort');
    expect(aborts.map((e) => e.label).sort()).toEqual(sequence.timeoutMs !== undefined ? ['cancel', 'run timeout'] : ['cancel']);
    for (const e of aborts) {
      expect(e.source).toBe('main');
      expect(e.hoistedFrom).toEqual(mainStates(graph));
      expect(e.target).toBe(cancels[0]!.target);
    }
  });

  it('lets the node of every state a run passes through be found by its state value', () => {
    const program = createProgram(sequence);
    const { snapshot } = program.start({ runId: 'r1' });
    const active = activeNodeIds(snapshot.value as never);
    expect(active).toEqual(['main', `main.${sequence.tasks[0]!.id}`, `main.${sequence.tasks[0]!.id}.running`]);
    for (const id of active) expect(ids).toContain(id);
  });
});

describe('edge labels', () => {
  const graphOf = (file: string) => buildGraph(compile(loadSequenceFile(join(MACHINES, file)).sequence));

  it('shows a retry loop with attempts left, timeouts included', () => {
    const g = graphOf('retry-backoff.yaml');
    expect(edge(g, 'main.fetch.running', 'failed (retry)')).toMatchObject([
      { target: 'main.fetch.backoff', kind: 'retry', guard: { type: 'canRetry', params: { maxAttempts: 4 } } },
    ]);
    expect(edge(g, 'main.fetch.running', 'timed out (retry)')).toMatchObject([{ target: 'main.fetch.backoff', kind: 'retry' }]);
    expect(edge(g, 'main.fetch.running', 'timed out (stop)')).toMatchObject([{ target: 'draining', kind: 'failure' }]);
    expect(edge(g, 'main.fetch.running', 'failed (stop)')).toMatchObject([{ target: 'draining', kind: 'failure' }]);
    // A timed-out attempt may still be ending when its retry comes due (200 ms, 400 ms, ... < the stop grace).
    expect(edge(g, 'main.fetch.backoff', 'retry timer')).toMatchObject([{ target: 'main.fetch.waiting', kind: 'retry' }]);
    expect(edge(g, 'main.fetch.waiting', 'stopped attempt ended')).toMatchObject([
      { target: 'main.fetch.running', kind: 'progress', guard: { type: 'notStopping' } },
    ]);
    // The run ends only once the attempt a timeout or a cancel stopped has ended.
    expect(edge(g, 'draining', 'stopped attempt ended').map((e) => e.target)).toEqual(['settling']);
    expect(g.nodes.find((n) => n.id === 'main.fetch')?.label).toBe('fetch (up to 4 attempts)');
    // `store` has a single attempt and no timeout: no backoff state, a failure stops the run.
    expect(g.nodes.filter((n) => n.parent === 'main.store').map((n) => n.id)).toEqual(['main.store.running']);
    expect(g.nodes.find((n) => n.id === 'main.store')?.label).toBe('store');
    expect(g.edges.filter((e) => e.source === 'main.store.running').map((e) => e.label)).toEqual([
      'succeeded',
      'failed (stop)',
      'interrupted (redispatch)',
    ]);
    expect(edge(g, 'main.store.running', 'failed (stop)').map((e) => e.target)).toEqual(['draining']);
    // No run timeout: cancel is the only way out of `main` besides the tasks' own edges.
    expect(edge(g, 'main', 'cancel')).toMatchObject([
      { target: 'draining', hoistedFrom: ['main.fetch.waiting', 'main.fetch.running', 'main.fetch.backoff', 'main.store.running'] },
    ]);
    expect(g.edges.filter((e) => e.label === 'run timeout')).toEqual([]);
  });

  it('shows continue edges to the next task', () => {
    const g = graphOf('continue-on-failure.yaml');
    expect(edge(g, 'main.notify.running', 'failed (continue)').map((e) => e.target)).toEqual(['main.archive']);
    expect(edge(g, 'main.build.running', 'failed (stop)').map((e) => e.target)).toEqual(['draining']);
  });

  it('shows the compensation chain in reverse order, with skips', () => {
    const g = graphOf('compensation.yaml');
    expect(g.nodes.filter((n) => n.parent === 'compensating').map((n) => n.taskId)).toEqual(['charge', 'reserve-stock', 'create-order']);
    expect(edge(g, 'main.charge.running', 'failed (stop)').map((e) => e.target)).toEqual(['compensating']);
    // A compensation can follow a cancel whose attempt is still ending: it waits for it first.
    expect(edge(g, 'compensating.charge.check', 'was completed').map((e) => e.target)).toEqual(['compensating.charge.waiting']);
    expect(edge(g, 'compensating.charge.waiting', 'stopped attempt ended').map((e) => e.target)).toEqual(['compensating.charge.running']);
    expect(edge(g, 'compensating.charge.check', 'skip (not completed)').map((e) => e.target)).toEqual(['compensating.reserve-stock']);
    expect(edge(g, 'compensating.charge.running', 'succeeded').map((e) => e.target)).toEqual(['compensating.reserve-stock']);
    expect(edge(g, 'compensating.create-order.running', 'succeeded').map((e) => e.target)).toEqual(['finalizing']);
    expect(edge(g, 'compensating.create-order.check', 'skip (not completed)').map((e) => e.target)).toEqual(['finalizing']);
    expect(g.nodes.find((n) => n.id === 'compensating.charge.check')?.kind).toBe('router');
    expect(g.nodes.find((n) => n.id === 'compensating.charge.running')?.kind).toBe('compensate');
    expect(edge(g, 'main.charge.running', 'failed (stop)')[0]?.enters).toBe('compensating.charge.check');
    // Only the compensation of reserve-stock retries; compensations cannot be cancelled.
    expect(g.nodes.filter((n) => n.path.at(-1) === 'backoff').map((n) => n.id)).toEqual(['compensating.reserve-stock.backoff']);
    expect(g.nodes.find((n) => n.id === 'compensating.reserve-stock')?.label).toBe('reserve-stock.compensate (up to 3 attempts)');
    expect(edge(g, 'compensating.reserve-stock.running', 'failed (retry)').map((e) => e.target)).toEqual([
      'compensating.reserve-stock.backoff',
    ]);
    expect(edge(g, 'compensating.reserve-stock.backoff', 'retry timer').map((e) => e.target)).toEqual([
      'compensating.reserve-stock.running',
    ]);
    expect(edge(g, 'compensating.reserve-stock.running', 'failed (continue)').map((e) => e.target)).toEqual(['compensating.create-order']);
    expect(g.edges.filter((e) => e.source.startsWith('compensating') && e.kind === 'abort')).toEqual([]);
  });

  it('shows the finally tasks after main, and cancel and run timeout once from main', () => {
    const g = graphOf('cleanup-always.yaml');
    expect(edge(g, 'main.report.running', 'succeeded').map((e) => e.target)).toEqual(['finalizing']);
    expect(edge(g, 'main.migrate.running', 'failed (stop)').map((e) => e.target)).toEqual(['finalizing']);
    expect(edge(g, 'finalizing.unlock.running', 'failed (continue)').map((e) => e.target)).toEqual(['finalizing.cleanup-tmp']);
    expect(edge(g, 'finalizing.cleanup-tmp.running', 'succeeded').map((e) => e.target)).toEqual(['settling']);
    expect(g.nodes.filter((n) => n.kind === 'finally' && n.type === 'atomic').map((n) => n.id)).toContain('finalizing.unlock.running');
    const cancel = edge(g, 'main', 'cancel');
    expect(cancel).toHaveLength(1);
    const tasks = ['main.lock.running', 'main.migrate.running', 'main.report.running'];
    const stop = ['cancelTask', 'startTimer', 'markStopping'];
    expect(cancel[0]).toMatchObject({ target: 'finalizing', kind: 'abort', hoistedFrom: tasks, actions: [...stop, 'markCancelled'] });
    expect(edge(g, 'main', 'run timeout')).toMatchObject([
      { target: 'finalizing', kind: 'abort', hoistedFrom: tasks, actions: [...stop, 'markRunTimedOut'] },
    ]);
    // The first finally task waits for the cancelled attempt; the run then ends without waiting again (no finally
    // task has a timeout that could stop one).
    expect(edge(g, 'finalizing.unlock.waiting', 'stopped attempt ended').map((e) => e.target)).toEqual(['finalizing.unlock.running']);
    expect(g.nodes.some((n) => n.id === 'finalizing.cleanup-tmp.waiting' || n.id === 'draining')).toBe(false);
    expect(g.nodes.some((n) => n.path.at(-1) === 'backoff')).toBe(false);
    expect(edge(g, 'settling', 'outcome: succeeded').map((e) => e.target)).toEqual(['succeeded']);
    expect(edge(g, 'settling', 'otherwise').map((e) => e.target)).toEqual(['failed']);
  });

  it('draws no timer edge at all for a sequence without timeouts or retries', () => {
    const machine = compile(loadSequenceFile(join(MACHINES, 'hello.yaml')).sequence);
    const g = buildGraph(machine);
    expect(g.edges.filter((e) => e.label === 'run timeout')).toEqual([]);
    expect(buildGraph(machine, { hoist: false }).edges.filter((e) => e.event === 'TIMER_FIRED')).toEqual([]);
    expect(edge(g, 'main', 'cancel')).toMatchObject([
      { target: 'draining', hoistedFrom: ['main.greet.running', 'main.count.running', 'main.goodbye.running'] },
    ]);
  });

  it('hoists cancel and the run timeout across tasks with and without a backoff state', () => {
    const sequence = loadSequenceText(
      [
        'name: mixed',
        'version: 1',
        'timeout: 1m',
        'tasks:',
        '  - id: a',
        '    run: "true"',
        '    retry: { maxAttempts: 2, backoff: { initial: 1s } }',
        '  - id: b',
        '    run: "true"',
      ].join('\n'),
    );
    const machine = compile(sequence);
    const g = buildGraph(machine);
    const states = ['main.a.running', 'main.a.backoff', 'main.b.running'];
    expect(mainStates(g)).toEqual(states);
    expect(edge(g, 'main', 'cancel')).toMatchObject([{ target: 'draining', hoistedFrom: states }]);
    expect(edge(g, 'main', 'run timeout')).toMatchObject([{ target: 'draining', hoistedFrom: states }]);
    expect(g.edges.filter((e) => e.kind === 'abort')).toHaveLength(2);
    // In backoff the run timer is the other timer that can fire: it comes after the retry timer.
    expect(
      buildGraph(machine, { hoist: false })
        .edges.filter((e) => e.source === 'main.a.backoff')
        .map((e) => [e.label, e.actions]),
    ).toEqual([
      ['retry timer', []],
      ['run timeout', ['markRunTimedOut']],
      ['cancel', ['markCancelled']],
    ]);
    expect(edge(g, 'main.a.backoff', 'retry timer').map((e) => e.target)).toEqual(['main.a.running']);
    expect(g.edges.some((e) => e.source === 'main.b')).toBe(false);
  });

  it('keeps every transition on its own state when hoisting is off', () => {
    const machine = compile(loadSequenceFile(join(MACHINES, 'cleanup-always.yaml')).sequence);
    const flat = buildGraph(machine, { hoist: false });
    const hoisted = buildGraph(machine);
    expect(flat.edges.some((e) => e.hoistedFrom)).toBe(false);
    expect(flat.edges.filter((e) => e.label === 'cancel').map((e) => e.source)).toEqual(edge(hoisted, 'main', 'cancel')[0]?.hoistedFrom);
    const count = (g: MachineGraph) => g.edges.reduce((n, e) => n + (e.hoistedFrom?.length ?? 1), 0);
    expect(count(hoisted)).toBe(flat.edges.length);
  });
});

describe('node ids', () => {
  it('joins the state path with dots', () => {
    expect(stateNodeId(['main', 'build', 'running'])).toBe('main.build.running');
    expect(stateNodeId(['settling'])).toBe('settling');
  });

  it('rejects paths that would not give a unique id', () => {
    expect(() => stateNodeId([])).toThrow('Expected a state path with at least one key, got an empty path');
    expect(() => stateNodeId(['main', 'a.b'])).toThrow(
      'Expected state path keys that are non-empty and contain no ".", got "a.b" at index 1',
    );
  });

  it('lists the active states of a state value, ancestors first', () => {
    expect(activeNodeIds({ compensating: { charge: 'check' } })).toEqual([
      'compensating',
      'compensating.charge',
      'compensating.charge.check',
    ]);
    expect(activeNodeIds('succeeded')).toEqual(['succeeded']);
  });

  it('escapes task ids that Mermaid would read as links, and still parses', async () => {
    const sequence = loadSequenceText(
      [
        'name: odd-ids',
        'version: 1',
        'tasks:',
        '  - id: a--b',
        '    run: "true"',
        '  - id: end-',
        '    run: "true"',
        '    compensate:',
        '      run: "true"',
        '  - id: a_d_db',
        '    run: "true"',
      ].join('\n'),
    );
    const graph = buildGraph(compile(sequence));
    expect(mermaidId('main.a--b.running')).toBe('main._a_d_db.running');
    expect(mermaidId('main.a_d_db.running')).toBe('main.a_d_db.running');
    const parsed = await parseMermaid(toMermaid(graph));
    const present = new Set([...parsed.vertices, ...parsed.subgraphs.map((s) => s.id)]);
    for (const node of graph.nodes) expect(present, node.id).toContain(mermaidId(node.id));
    expect(new Set(graph.nodes.map((n) => mermaidId(n.id))).size).toBe(graph.nodes.length);
    expect(parseDot(toDot(graph)).nodes).toContain('main.a--b.running');
  });
});
