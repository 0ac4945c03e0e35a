// @vitest-environment jsdom
// Mermaid's parser needs a DOM (it sanitises labels with DOMPurify): jsdom provides one.
// Runs the built CLI (`npm run build` first, as `npm test` does). test/support/cli.ts cannot be used
// here: it builds its paths with the global URL, which under jsdom is jsdom's.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Graphviz } from '@hpcc-js/wasm-graphviz';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import mermaid from 'mermaid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSequenceFile } from '../../src/adapters/fs/load-sequence.js';
import { compile } from '../../src/core/compile/machine.js';
import { buildGraph } from '../../src/core/graph/build-graph.js';
import { mermaidId } from '../../src/core/graph/mermaid.js';
import { buildTaskGraph } from '../../src/core/graph/task-graph.js';
import { taskMermaidId } from '../../src/core/graph/task-mermaid.js';

const ROOT = join(fileURLToPath(import.meta.url), '../../..');

/** Runs `node bin/lockstep.js ...args` and resolves to its exit code and output. */
function lockstep(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin/lockstep.js'), ...args],
      { cwd: ROOT, timeout: 30_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

const MACHINES = join(ROOT, 'machines');
const files = readdirSync(MACHINES)
  .filter((f) => /\.(ya?ml|json)$/.test(f))
  .sort();

let graphviz: Graphviz;
let scratch: string;
beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/cli/commands/graph.js')))
    throw new Error('dist/cli/commands/graph.js is missing: run `npm run build` first');
  graphviz = await Graphviz.load();
  scratch = mkdtempSync(join(tmpdir(), 'lockstep-graph-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Every `id` of every `<g>` of an SVG document. */
function svgGroupIds(svg: string): Set<string> {
  const ids = new Set<string>();
  const walk = (value: unknown, tag: string): void => {
    if (Array.isArray(value)) {
      for (const v of value) walk(v, tag);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const record = value as Record<string, unknown>;
    if (tag === 'g' && typeof record['id'] === 'string') ids.add(record['id']);
    for (const [key, child] of Object.entries(record)) walk(child, key);
  };
  walk(new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', htmlEntities: true }).parse(svg), '');
  return ids;
}

describe.each(files)('lockstep graph machines/%s --view tasks (the default)', (file) => {
  const path = join(MACHINES, file);
  const graph = buildTaskGraph(loadSequenceFile(path).sequence);
  const ids = graph.nodes.map((n) => n.id);
  const machineIds = buildGraph(compile(loadSequenceFile(path).sequence)).nodes.map((n) => n.id);

  it('--format mermaid (the default) prints a flowchart with one vertex per task and no machine state', async () => {
    const r = await lockstep(['graph', path]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe((await lockstep(['graph', path, '--view', 'tasks', '--format', 'mermaid'])).stdout);
    await mermaid.parse(r.stdout);
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(r.stdout);
    const db = diagram.db as unknown as { getVertices(): Map<string, unknown>; getSubGraphs(): unknown[] };
    expect([...db.getVertices().keys()].sort()).toEqual(ids.map(taskMermaidId).sort());
    expect(db.getSubGraphs()).toEqual([]);
    expect(r.stdout).not.toMatch(/\b(running|settling|draining|check)\b|\(\["backoff"\]\)|redispatch/);
  });

  it('--format dot prints DOT that Graphviz lays out, one node per task', async () => {
    const r = await lockstep(['graph', path, '--format', 'dot']);
    expect(r.code).toBe(0);
    const json = JSON.parse(graphviz.layout(r.stdout, 'json', 'dot')) as { objects: Array<{ id?: string; nodes?: unknown }> };
    expect(
      json.objects
        .filter((o) => !o.nodes)
        .map((o) => o.id)
        .sort(),
    ).toEqual([...ids].sort());
  });

  it('--format json prints the task graph model', async () => {
    const r = await lockstep(['graph', path, '-f', 'json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(graph);
  });

  it('--format svg --output FILE writes SVG with a group per task (task:<id>) and no machine state', async () => {
    const out = join(scratch, `${file}.tasks.svg`);
    const r = await lockstep(['graph', path, '--format', 'svg', '--output', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`wrote svg graph to ${out} (tasks view)`);
    const svg = readFileSync(out, 'utf8');
    expect(XMLValidator.validate(svg)).toBe(true);
    const groups = svgGroupIds(svg);
    for (const id of ids) expect(groups, id).toContain(id);
    for (const id of machineIds) expect(groups, id).not.toContain(id);
  });
});

describe.each(files)('lockstep graph machines/%s --view machine', (file) => {
  const path = join(MACHINES, file);
  const ids = buildGraph(compile(loadSequenceFile(path).sequence)).nodes.map((n) => n.id);

  it('--format mermaid (the default) prints a flowchart Mermaid parses, with every state', async () => {
    const r = await lockstep(['graph', path, '--view', 'machine']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe((await lockstep(['graph', path, '--view', 'machine', '--format', 'mermaid'])).stdout);
    await mermaid.parse(r.stdout);
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(r.stdout);
    const db = diagram.db as unknown as { getVertices(): Map<string, unknown>; getSubGraphs(): Array<{ id: string }> };
    const present = new Set([...db.getVertices().keys(), ...db.getSubGraphs().map((s) => s.id)]);
    for (const id of ids) expect(present, id).toContain(mermaidId(id));
  });

  it('--format dot prints DOT that Graphviz lays out, with every state', async () => {
    const r = await lockstep(['graph', path, '--view', 'machine', '--format', 'dot']);
    expect(r.code).toBe(0);
    const json = JSON.parse(graphviz.layout(r.stdout, 'json', 'dot')) as { objects: Array<{ id?: string }> };
    const present = new Set(json.objects.map((o) => o.id));
    for (const id of ids) expect(present, id).toContain(id);
  });

  it('--format json prints a Stately machine config with every state', async () => {
    const r = await lockstep(['graph', path, '--view', 'machine', '-f', 'json']);
    expect(r.code).toBe(0);
    const config = JSON.parse(r.stdout) as { id: string; states: Record<string, unknown> };
    expect(config.id).toBe('run');
    const paths: string[] = [];
    const walk = (states: Record<string, { states?: Record<string, unknown> }>, prefix: string) => {
      for (const [key, child] of Object.entries(states)) {
        paths.push(`${prefix}${key}`);
        if (child.states) walk(child.states as never, `${prefix}${key}.`);
      }
    };
    walk(config.states as never, '');
    expect(paths).toEqual(ids);
  });

  it('--format svg --output FILE writes well-formed SVG with an id per state', async () => {
    const out = join(scratch, `${file}.svg`);
    const r = await lockstep(['graph', path, '--view', 'machine', '--format', 'svg', '--output', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`wrote svg graph to ${out} (machine view)`);
    const svg = readFileSync(out, 'utf8');
    expect(XMLValidator.validate(svg)).toBe(true);
    const groups = svgGroupIds(svg);
    for (const id of ids) expect(groups, id).toContain(id);
  });
});

describe('lockstep graph errors', () => {
  it('exits 2 on an unknown format and lists the formats', async () => {
    const r = await lockstep(['graph', join(MACHINES, 'hello.yaml'), '--format', 'png']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("argument 'png' is invalid. Allowed choices are mermaid, dot, json, svg.");
  });

  it('exits 2 on an unknown view and lists the views', async () => {
    const r = await lockstep(['graph', join(MACHINES, 'hello.yaml'), '--view', 'states']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("argument 'states' is invalid. Allowed choices are tasks, machine.");
  });

  it('exits 2 on an invalid sequence and names each problem', async () => {
    const r = await lockstep(['graph', join(ROOT, 'test/fixtures/invalid/02-unknown-key.yaml'), '-f', 'dot']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('tasks[0].retires: unknown key');
  });

  it('exits 2 on a missing file', async () => {
    const r = await lockstep(['graph', join(scratch, 'missing.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('file not found');
  });
});
