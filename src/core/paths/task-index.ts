import type { Sequence, TaskSpec } from '../sequence/types.js';

/** Where a task id belongs in a sequence, and its spec. */
export interface TaskIndex {
  readonly main: ReadonlyMap<string, { readonly spec: TaskSpec; readonly index: number }>;
  readonly compensations: ReadonlyMap<string, { readonly spec: TaskSpec; readonly of: string }>;
  readonly finally: ReadonlyMap<string, { readonly spec: TaskSpec; readonly index: number }>;
  spec(taskId: string): TaskSpec | undefined;
}

const indexes = new WeakMap<Sequence, TaskIndex>();

/** Indexes a sequence's tasks by id. A validated sequence never changes: each is indexed once. */
export function indexTasks(sequence: Sequence): TaskIndex {
  let index = indexes.get(sequence);
  if (!index) {
    index = buildIndex(sequence);
    indexes.set(sequence, index);
  }
  return index;
}

function buildIndex(sequence: Sequence): TaskIndex {
  const main = new Map(sequence.tasks.map((spec, index) => [spec.id, { spec, index }]));
  const compensations = new Map(
    sequence.tasks.flatMap((t) => (t.compensate ? [[t.compensate.id, { spec: t.compensate, of: t.id }] as const] : [])),
  );
  const fin = new Map(sequence.finally.map((spec, index) => [spec.id, { spec, index }]));
  return {
    main,
    compensations,
    finally: fin,
    spec: (id) => main.get(id)?.spec ?? compensations.get(id)?.spec ?? fin.get(id)?.spec,
  };
}
