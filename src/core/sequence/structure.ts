import type { Problem } from './problems.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkBody(body: Obj, path: string, problems: Problem[]): void {
  const kinds = (['run', 'handler', 'queue'] as const).filter((k) => body[k] !== undefined);
  if (kinds.length === 0) {
    problems.push({ path, message: 'expected exactly one of "run", "handler" or "queue", got none' });
  } else if (kinds.length > 1) {
    problems.push({ path, message: `expected exactly one of "run", "handler" or "queue", got ${kinds.map((k) => `"${k}"`).join(' and ')}` });
  }
  if (body.run === undefined && (body.env !== undefined || body.cwd !== undefined)) {
    problems.push({ path, message: '"env" and "cwd" apply only to shell tasks ("run")' });
  }
}

/**
 * Checks that span fields: one action per task, unique ids, finally-task limits.
 * Runs on the raw input, so these problems are reported together with the schema's.
 */
export function structuralProblems(raw: unknown): Problem[] {
  const problems: Problem[] = [];
  if (!isObj(raw)) return problems;
  const seen = new Map<string, string>();
  for (const list of ['tasks', 'finally'] as const) {
    const tasks = raw[list];
    if (!Array.isArray(tasks)) continue;
    tasks.forEach((task: unknown, index) => {
      const path = `${list}[${index}]`;
      if (!isObj(task)) return;
      checkBody(task, path, problems);
      if (isObj(task.compensate)) checkBody(task.compensate, `${path}.compensate`, problems);
      if (typeof task.id === 'string') {
        const first = seen.get(task.id);
        if (first !== undefined) problems.push({ path: `${path}.id`, message: `duplicate id "${task.id}", already used by ${first}` });
        else seen.set(task.id, path);
      }
      if (list === 'finally' && task.compensate !== undefined) {
        problems.push({ path: `${path}.compensate`, message: 'finally tasks cannot have a compensation' });
      }
      if (list === 'finally' && task.onFailure !== undefined) {
        problems.push({ path: `${path}.onFailure`, message: 'finally tasks always continue; onFailure is not allowed here' });
      }
    });
  }
  return problems;
}
