/**
 * The environment variable that carries a task's result to the shell tasks after it:
 * `LOCKSTEP_RESULT_CREATE_ORDER` for `create-order`. Ids that differ only in case or in `-`/`_`/`.` share a
 * name, which `validate` rejects.
 */
export function resultVariable(taskId: string): string {
  return `LOCKSTEP_RESULT_${taskId.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** The variable with a task's own result path; no task's result variable may have its name. */
export const RESULT_FILE_VARIABLE = 'LOCKSTEP_RESULT_FILE';
