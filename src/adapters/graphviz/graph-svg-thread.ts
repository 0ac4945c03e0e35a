import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { DotOptions } from '../../core/graph/dot.js';
import { toDot } from '../../core/graph/dot.js';
import type { MachineGraph } from '../../core/graph/model.js';
import type { TaskDotOptions } from '../../core/graph/task-dot.js';
import { taskGraphToDot } from '../../core/graph/task-dot.js';
import type { TaskGraph } from '../../core/graph/task-graph.js';
import { checkSvgSize, checkTaskSvgSize, layoutDot } from './graph-svg.js';

/** Bounds of one layout off the event loop. */
export interface SvgThreadOptions {
  /** The worker is terminated after this long. @default 60000 */
  readonly timeoutMs?: number;
  /** Heap of the worker's JavaScript (Graphviz's WebAssembly memory comes on top). @default 256 */
  readonly maxHeapMb?: number;
}

const WORKER = new URL('./graph-svg-worker.js', import.meta.url);
let queue: Promise<unknown> = Promise.resolve();

function layoutInWorker(dot: string, timeoutMs: number, maxHeapMb: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const worker = new Worker(WORKER, { resourceLimits: { maxOldGenerationSizeMb: maxHeapMb } });
    let settled = false;
    const settle = (error: Error | undefined, svg?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      if (error) reject(error);
      else resolve(svg!);
    };
    const timer = setTimeout(() => settle(new Error(`Graphviz did not lay out the graph within ${timeoutMs} ms: stopped`)), timeoutMs);
    worker.once('message', (m: { svg?: string; error?: string }) => settle(m.error === undefined ? undefined : new Error(m.error), m.svg));
    worker.once('error', (error) => settle(new Error(`Graphviz's layout failed: ${error.message}`, { cause: error })));
    worker.once('exit', (code) => settle(new Error(`Graphviz's layout stopped (worker exit ${code})`)));
    worker.postMessage(dot);
  });
}

/**
 * Renders a machine graph as SVG like `renderGraphSvg`, but in a worker thread with a fresh Graphviz each
 * time, bounded in time and heap: a long layout never stalls the caller's event loop, and one that fails or
 * runs out of memory leaves nothing broken behind. Layouts run one at a time. From TypeScript sources (no
 * built worker file next to this one) it lays out in-process.
 *
 * @throws LockstepError (`INVALID_USAGE`) for a graph too large for SVG; Error when the layout fails or times out.
 */
export function renderGraphSvgOffThread(graph: MachineGraph, options: DotOptions & SvgThreadOptions = {}): Promise<string> {
  checkSvgSize(graph, options.title);
  return layoutOffThread(toDot(graph, options), options);
}

/**
 * Renders a task view as SVG like `renderTaskGraphSvg`, off the event loop as {@link renderGraphSvgOffThread} does.
 *
 * @throws LockstepError (`INVALID_USAGE`) for a graph too large for SVG; Error when the layout fails or times out.
 */
export function renderTaskGraphSvgOffThread(graph: TaskGraph, options: TaskDotOptions & SvgThreadOptions = {}): Promise<string> {
  checkTaskSvgSize(graph);
  return layoutOffThread(taskGraphToDot(graph, options), options);
}

function layoutOffThread(dot: string, options: SvgThreadOptions): Promise<string> {
  const inWorker = existsSync(fileURLToPath(WORKER));
  const run = () => (inWorker ? layoutInWorker(dot, options.timeoutMs ?? 60_000, options.maxHeapMb ?? 256) : layoutDot(dot, 'svg'));
  const result = queue.then(run, run);
  queue = result.catch(() => {});
  return result;
}
