import { Buffer } from 'node:buffer';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ENV_VALUE_MAX_BYTES } from '../core/sequence/limits.js';
import { RESULT_FILE_VARIABLE, resultVariable } from '../core/sequence/result-variable.js';
import type { AttemptDirectories } from './attempt-directories.js';
import { attemptDirectories, recordGroup } from './attempt-directories.js';

export { ENV_VALUE_MAX_BYTES } from '../core/sequence/limits.js';

/**
 * lockstep's data variables (`LOCKSTEP_INPUT`, `LOCKSTEP_RESULTS`, `LOCKSTEP_RESULT_<ID>`) take at most this many
 * bytes together (256 KiB, names included), the biggest values dropped first: the environment and arguments of a
 * process share one limit (a quarter of the stack limit, 2 MiB by default), and the user's own variables need room.
 */
export const ENV_BUDGET_BYTES = 256 * 1024;

/** The run data a shell task receives. */
export interface ShellData {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly idempotencyKey: string;
  readonly phase: string;
  readonly input: unknown;
  readonly results: Readonly<Record<string, unknown>>;
  /** The attempt's W3C `traceparent`, when its dispatch carried one: the task gets it as `TRACEPARENT`. */
  readonly traceparent?: string;
}

/** Where an attempt's data files are: `LOCKSTEP_INPUT_FILE`, `LOCKSTEP_RESULTS_FILE`, `LOCKSTEP_RESULT_FILE`. */
export interface ShellFiles {
  readonly input: string;
  readonly results: string;
  /** Not created: the task may write its result there. */
  readonly result: string;
}

/** An attempt's private directory of data files. */
export interface AttemptFiles extends ShellFiles {
  readonly dir: string;
  /** Records the process group of the attempt's shell, so that no sweep removes the directory while it runs. */
  started(pgid: number): void;
  /** Deletes the directory and everything in it. */
  remove(): Promise<void>;
}

/**
 * Writes an attempt's input and results as JSON files in a new private directory (mode 0700, files 0600), so a
 * task reads data of any size. Remove it once the attempt has ended; should this process die first, a later
 * lockstep process removes it (see {@link AttemptDirectories}).
 */
export async function writeAttemptFiles(
  data: Pick<ShellData, 'input' | 'results'>,
  directories: AttemptDirectories = attemptDirectories(),
): Promise<AttemptFiles> {
  const dir = await directories.make();
  let removed: Promise<void> | undefined;
  const remove = () => (removed ??= directories.release(dir));
  try {
    const files = { input: join(dir, 'input.json'), results: join(dir, 'results.json'), result: join(dir, 'result.json') };
    await writeFile(files.input, JSON.stringify(data.input ?? null), { mode: 0o600, flag: 'wx' });
    await writeFile(files.results, JSON.stringify(data.results), { mode: 0o600, flag: 'wx' });
    return { dir, ...files, started: (pgid) => recordGroup(dir, pgid), remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

/**
 * The variables a shell task gets: run data, never interpolated into the command. A data variable is set only when
 * its value has no NUL and fits {@link ENV_VALUE_MAX_BYTES}, and only while lockstep's data variables fit
 * {@link ENV_BUDGET_BYTES} (the biggest go first); the files, when given, always hold everything.
 */
export function shellEnvironment(
  data: ShellData,
  extra: Readonly<Record<string, string>> = {},
  files?: ShellFiles,
): Record<string, string> {
  const env: Record<string, string> = {
    ...extra,
    LOCKSTEP_RUN_ID: data.runId,
    LOCKSTEP_TASK_ID: data.taskId,
    LOCKSTEP_ATTEMPT: String(data.attempt),
    LOCKSTEP_IDEMPOTENCY_KEY: data.idempotencyKey,
    LOCKSTEP_PHASE: data.phase,
    ...(data.traceparent ? { TRACEPARENT: data.traceparent } : {}),
    ...(files ? { LOCKSTEP_INPUT_FILE: files.input, LOCKSTEP_RESULTS_FILE: files.results, [RESULT_FILE_VARIABLE]: files.result } : {}),
  };
  const values: Array<{ name: string; value: string; bytes: number }> = [];
  const offer = (name: string, value: string) => {
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes <= ENV_VALUE_MAX_BYTES && !value.includes('\0')) values.push({ name, value, bytes: bytes + name.length + 2 });
  };
  offer('LOCKSTEP_INPUT', JSON.stringify(data.input ?? null));
  offer('LOCKSTEP_RESULTS', JSON.stringify(data.results));
  for (const [taskId, value] of Object.entries(data.results)) {
    const name = resultVariable(taskId);
    // `validate` refuses such an id; a result never takes the place of the result file's path.
    if (name !== RESULT_FILE_VARIABLE) offer(name, typeof value === 'string' ? value : (JSON.stringify(value) ?? 'null'));
  }
  let total = values.reduce((sum, v) => sum + v.bytes, 0);
  values.sort((a, b) => a.bytes - b.bytes);
  while (total > ENV_BUDGET_BYTES) total -= values.pop()!.bytes;
  for (const v of values) env[v.name] = v.value;
  return env;
}
