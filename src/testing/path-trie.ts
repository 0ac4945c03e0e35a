import { sha256Hex } from '../core/hash.js';
import type { ModelPath, PathStep } from '../core/paths/path-graph.js';
import type { Sequence } from '../core/sequence/types.js';
import { definitionText } from '../modes/embedded/index.js';
import type { PathRun } from './path-runner.js';
import { judgePath } from './path-runner.js';
import type { Checkpoint, RunPathOptions } from './path-session.js';
import { PathSession } from './path-session.js';

/** A node of the trie of paths: the paths through it share the steps up to here. */
interface TrieNode {
  readonly depth: number;
  /** The step into this node (none at the root). */
  readonly step: PathStep | undefined;
  readonly children: Map<string, TrieNode>;
  /** Indexes (in the plan) of the paths that end here. */
  readonly ends: number[];
}

function trieOf(paths: readonly ModelPath[]): TrieNode {
  const root: TrieNode = { depth: 0, step: undefined, children: new Map(), ends: [] };
  paths.forEach((path, index) => {
    let node = root;
    for (const step of path.steps) {
      let next = node.children.get(step.token);
      if (!next) {
        next = { depth: node.depth + 1, step, children: new Map(), ends: [] };
        node.children.set(step.token, next);
      }
      node = next;
    }
    node.ends.push(index);
  });
  return root;
}

/** Every path index in a subtree, without recursion (paths can be thousands of steps long). */
function pathsUnder(node: TrieNode): number[] {
  const out: number[] = [];
  const stack = [node];
  for (let n = stack.pop(); n; n = stack.pop()) {
    out.push(...n.ends);
    stack.push(...n.children.values());
  }
  return out;
}

/** Options of {@link runPaths}. */
export interface RunPathsOptions extends RunPathOptions {
  /** Branches run at once, each on its own runtime. @default 8 */
  readonly concurrency?: number;
  /** Called as each path's run is judged. */
  readonly onRun?: (run: PathRun) => void;
}

/**
 * Runs many paths through the real runtime, sharing the execution of common prefixes. The machine is pure and
 * time simulated, so a run can branch: the paths are arranged as a trie, a run goes down one branch and, where
 * paths part, a checkpoint of the run (the orchestrator's copy of it, the attempts executing, the simulated
 * time) lets a fresh runtime take each other branch on from there. Each path is judged as if run alone.
 * Results keep the order of `paths`. Iterative, so that long paths cannot overflow the stack.
 */
export async function runPaths(sequence: Sequence, paths: readonly ModelPath[], options: RunPathsOptions = {}): Promise<PathRun[]> {
  const runs = new Array<PathRun>(paths.length);
  const text = definitionText(sequence);
  const definition = { text, hash: sha256Hex(text) };
  const pending: Array<{ node: TrieNode; from: Checkpoint | undefined }> = [{ node: trieOf(paths), from: undefined }];
  const waiting: Array<() => void> = [];
  const wake = () => {
    for (const w of waiting.splice(0)) w();
  };
  let active = 0;

  const judge = (session: PathSession, at: TrieNode) =>
    session.close().then((seen) => {
      for (const i of pathsUnder(at)) {
        runs[i] = judgePath(sequence, paths[i]!, seen);
        options.onRun?.(runs[i]);
      }
    });

  // Goes down from `node` to a leaf, leaving a checkpoint for every other branch on the way.
  const descend = async (start: TrieNode, from: Checkpoint | undefined) => {
    const session = await PathSession.open(sequence, options, from, definition);
    let node = start;
    try {
      if (node.step) await session.step(node.depth - 1, node.step);
      for (;;) {
        if (session.over || node.children.size === 0) break;
        const [first, ...others] = node.children.values();
        if (others.length > 0) {
          const checkpoint = await session.checkpoint();
          for (const other of others.reverse()) pending.push({ node: other, from: checkpoint });
          wake();
        }
        node = first!;
        await session.step(node.depth - 1, node.step!);
      }
    } catch (error) {
      await session.close().catch(() => {});
      throw error;
    }
    await judge(session, node);
  };

  let failure: unknown;
  const worker = async () => {
    for (;;) {
      if (failure !== undefined) return;
      const next = pending.pop();
      if (next) {
        active++;
        try {
          await descend(next.node, next.from);
        } catch (error) {
          failure ??= error;
        } finally {
          active--;
          wake();
        }
        continue;
      }
      if (active === 0) return;
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, worker));
  if (failure !== undefined) throw failure;
  return runs;
}
