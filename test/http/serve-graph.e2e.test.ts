import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.js';
import { writeScaleSequence } from '../support/scale-sequence.js';
import type { ServeProcess } from './serve-process.js';
import { spawnServe } from './serve-process.js';

// `lockstep serve` lays out SVG graphs in a worker thread: a long layout never stalls the server, a refused
// one breaks nothing, and later renders are right.
let dir: string;
let serve: ServeProcess;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lockstep-serve-graph-'));
  copyFileSync(join(ROOT, 'machines/hello.yaml'), join(dir, 'hello.yaml'));
  writeScaleSequence(dir, 55, 'slow'); // 119 states, just under the limit: seconds of Graphviz layout
  writeScaleSequence(dir, 1000, 'huge'); // 2,009 states: refused
  serve = await spawnServe(['--machines', dir], { cwd: dir, env: { LOCKSTEP_TOKEN: '' }, timeoutMs: 60_000 });
}, 90_000);
afterAll(async () => {
  await serve?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Milliseconds a GET takes, and its status. */
async function timed(url: string): Promise<{ ms: number; status: number }> {
  const t0 = performance.now();
  const res = await fetch(url);
  await res.arrayBuffer();
  return { ms: performance.now() - t0, status: res.status };
}

describe('serve renders graphs off the event loop', () => {
  it('answers other requests within 200 ms while a large graph is laid out, refuses a huge one, and renders a small one right after', async () => {
    const t0 = performance.now();
    const slow = fetch(`${serve.base}/api/sequences/slow/graph.svg?view=machine`).then(async (r) => ({
      status: r.status,
      body: await r.text(),
      at: performance.now(),
    }));
    await new Promise((r) => setTimeout(r, 300)); // the layout is under way
    const latencies: number[] = [];
    let laidOut = false;
    void slow.then(() => (laidOut = true));
    for (let i = 0; i < 10 && !laidOut; i++) {
      const health = await timed(`${serve.base}/api/health`);
      const list = await timed(`${serve.base}/api/sequences`);
      expect(health.status).toBe(200);
      expect(list.status).toBe(200);
      latencies.push(health.ms, list.ms);
      await new Promise((r) => setTimeout(r, 100));
    }
    // The layout takes seconds; on an event loop it blocked, every request here waited for all of it. Two
    // cores shared with the layout thread (and other work) add some scheduling noise to single requests.
    const seen = `latencies: ${latencies.map((l) => l.toFixed(0)).join(', ')} ms`;
    expect(latencies.length, seen).toBeGreaterThanOrEqual(4);
    const sorted = [...latencies].sort((a, b) => a - b);
    expect(sorted[Math.floor(sorted.length / 2)], seen).toBeLessThan(200);
    expect(sorted.at(-1), seen).toBeLessThan(1000);

    const huge = await fetch(`${serve.base}/api/sequences/huge/graph.svg?view=machine`);
    expect(huge.status).toBe(400);
    expect(((await huge.json()) as { error: { message: string } }).error.message).toBe(
      'the graph of huge v1 has 2009 states; SVG layout takes at most 120 (Graphviz takes far longer than the graph grows): use --format dot, mermaid or json',
    );
    const hugeTasks = await fetch(`${serve.base}/api/sequences/huge/graph.svg`);
    expect(hugeTasks.status).toBe(400);
    expect(((await hugeTasks.json()) as { error: { message: string } }).error.message).toBe(
      'the task view of huge v1 has 1005 nodes; SVG layout takes at most 400: use --format dot, mermaid or json',
    );

    const done = await slow;
    expect(done.status).toBe(200);
    // No wall-clock floor on the layout itself: a faster machine lays it out sooner. The probes above ran
    // while it was under way (at least two rounds), which is what makes the latencies meaningful.
    expect(done.at - t0, seen).toBeGreaterThan(300);
    expect(done.body).toContain('<svg');
    expect(done.body).toContain('id="main.step&#45;54"');

    const hello = await fetch(`${serve.base}/api/sequences/hello/graph.svg?view=machine`);
    expect(hello.status).toBe(200);
    const svg = await hello.text();
    expect(svg).toMatch(/^<\?xml|^<svg|<svg/);
    expect(svg).toContain('id="main.greet"');
    expect(svg).toContain('</svg>');
    // The task view of the slow one is flat: Graphviz lays it out in a moment.
    const slowTasks = await timed(`${serve.base}/api/sequences/slow/graph.svg`);
    expect(slowTasks.status).toBe(200);
    expect(slowTasks.ms).toBeLessThan(10_000);
  }, 180_000);
});
