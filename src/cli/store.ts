import { statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { SqliteRunStore } from '../adapters/sqlite/sqlite-run-store.js';
import { ErrorCode, LockstepError } from '../core/errors.js';
import type { RunStore, StoredRun } from '../ports/run-store.js';
import type { CliContext } from './context.js';

/** The database file inside a store directory. */
export const STORE_FILE = 'lockstep.db';

/**
 * Where runs are recorded: `--store`, else `LOCKSTEP_STORE`, else `.lockstep/` in the working directory.
 * A directory (existing, or written with a trailing `/`) holds `lockstep.db`; any other path is the database file.
 */
export function storePath(cli: CliContext, option: string | undefined): string {
  const given = option ?? (cli.env.LOCKSTEP_STORE || undefined);
  if (given === undefined) return join(cli.cwd, '.lockstep', STORE_FILE);
  const path = resolve(cli.cwd, given);
  if (given.endsWith('/') || given.endsWith(sep) || isDirectory(path)) return join(path, STORE_FILE);
  return path;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Opens the run store. Commands that start runs create it when missing; commands that read runs
 * (`mustExist`) fail with `STORE_MISSING` instead. Commands that only read (`readOnly`) work on a read-only store.
 *
 * @throws LockstepError `STORE_MISSING`, `STORE_CORRUPT`, `STORE_TOO_NEW`, `STORE_READ_ONLY`, `STORE_FULL`, `STORE_IO` or `STORE_UNAVAILABLE` (exit code 3).
 */
export async function openStore(
  cli: CliContext,
  option: string | undefined,
  options: { mustExist?: boolean; readOnly?: boolean } = {},
): Promise<SqliteRunStore> {
  const path = storePath(cli, option);
  try {
    return SqliteRunStore.open(path, { create: !options.mustExist, ...(options.readOnly ? { readOnly: true } : {}) });
  } catch (error) {
    if (error instanceof LockstepError && error.code === ErrorCode.storeMissing) {
      throw new LockstepError(
        ErrorCode.storeMissing,
        `no run store at ${path}: no run was recorded there (pass --store or set LOCKSTEP_STORE to use another store)`,
      );
    }
    throw error;
  }
}

/**
 * A recorded run and its history, for the commands that take a run id.
 *
 * @throws LockstepError `UNKNOWN_RUN` (exit code 2) naming the store, when the store has no such run.
 */
export async function storedRun(store: RunStore & { readonly path: string }, runId: string): Promise<StoredRun> {
  const stored = await store.get(runId);
  if (!stored) throw new LockstepError(ErrorCode.unknownRun, `unknown run ${runId} in ${store.path} (list runs with \`lockstep runs\`)`);
  return stored;
}
