import type { Problem } from './problems.js';
import { RESULT_FILE_VARIABLE, resultVariable } from './result-variable.js';
import { waitProblems } from './wait.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkBody(body: Obj, path: string, problems: Problem[]): void {
  // A function may name the queue whose workers run it in Kafka mode: then `queue` is not a kind of its own.
  const kinds = (['run', 'handler', 'queue'] as const).filter(
    (k) => body[k] !== undefined && !(k === 'queue' && typeof body.handler === 'function'),
  );
  if (kinds.length === 0) {
    problems.push({ path, message: 'expected exactly one of "run", "handler" or "queue", got none' });
  } else if (kinds.length > 1) {
    problems.push({
      path,
      message: `expected exactly one of "run", "handler" or "queue", got ${kinds.map((k) => `"${k}"`).join(' and ')}`,
    });
  }
  if (body.run === undefined && (body.env !== undefined || body.cwd !== undefined)) {
    problems.push({ path, message: '"env" and "cwd" apply only to shell tasks ("run")' });
  }
}

/**
 * `needs` may name only tasks whose results can exist when the task is dispatched: for a main task the main
 * tasks before it; for its compensation those and the task itself; for a finally task every main task and the
 * finally tasks before it.
 */
function checkNeeds(
  body: Obj,
  path: string,
  allowed: ReadonlySet<string>,
  self: string | undefined,
  where: string,
  problems: Problem[],
): void {
  if (!Array.isArray(body.needs)) return;
  body.needs.forEach((need: unknown, i) => {
    if (typeof need !== 'string') return; // the schema reports it
    const at = `${path}.needs[${i}]`;
    if (need === self) problems.push({ path: at, message: `a task cannot need its own result ("${need}")` });
    else if (!allowed.has(need)) problems.push({ path: at, message: `"${need}" is not ${where}` });
  });
}

function needsProblems(raw: Obj, problems: Problem[]): void {
  const ids = (list: unknown): string[] =>
    Array.isArray(list) ? list.map((t: unknown) => (isObj(t) && typeof t.id === 'string' ? t.id : '')) : [];
  const main = ids(raw.tasks);
  const fin = ids(raw.finally);
  main.forEach((id, i) => {
    const task = (raw.tasks as unknown[])[i];
    if (!isObj(task)) return;
    const before = new Set(main.slice(0, i));
    checkNeeds(task, `tasks[${i}]`, before, id, 'a task before this one', problems);
    if (isObj(task.compensate)) {
      checkNeeds(task.compensate, `tasks[${i}].compensate`, new Set([...before, id]), undefined, 'this task or a task before it', problems);
    }
  });
  fin.forEach((id, i) => {
    const task = (raw.finally as unknown[])[i];
    if (isObj(task))
      checkNeeds(
        task,
        `finally[${i}]`,
        new Set([...main, ...fin.slice(0, i)]),
        id,
        'a main task or a finally task before this one',
        problems,
      );
  });
}

/**
 * Task ids whose `LOCKSTEP_RESULT_<ID>` variables are the same name (`a-b` and `a_b`, `Ab` and `aB`, `a.compensate`
 * and `a-compensate`): one would hide the other's result from shell tasks.
 */
function resultVariableProblems(raw: Obj, problems: Problem[]): void {
  const seen = new Map<string, { path: string; id: string }>();
  const note = (id: unknown, idPath: string) => {
    if (typeof id !== 'string') return;
    const name = resultVariable(id);
    if (name === RESULT_FILE_VARIABLE) {
      problems.push({
        path: idPath,
        message: `"${id}" would have the result variable ${name}, the path where each shell task writes its own result: choose another id`,
      });
      return;
    }
    const first = seen.get(name);
    if (!first) seen.set(name, { path: idPath, id });
    else if (first.id !== id) {
      problems.push({ path: idPath, message: `"${id}" has the same result variable ${name} as ${first.path} "${first.id}"` });
    }
  };
  for (const list of ['tasks', 'finally'] as const) {
    const tasks = raw[list];
    if (!Array.isArray(tasks)) continue;
    tasks.forEach((task: unknown, index) => {
      if (!isObj(task)) return;
      const path = `${list}[${index}]`;
      note(task.id, `${path}.id`);
      if (isObj(task.compensate) && typeof task.id === 'string') note(`${task.id}.compensate`, `${path}.compensate`);
    });
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
      if (task.wait === undefined) checkBody(task, path, problems);
      waitProblems(task, path, problems);
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
  needsProblems(raw, problems);
  resultVariableProblems(raw, problems);
  return problems;
}
