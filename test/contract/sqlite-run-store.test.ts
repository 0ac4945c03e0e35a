import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { SqliteRunStore } from '../../src/adapters/sqlite/sqlite-run-store.js';
import { runStoreContract } from './run-store.contract.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-sqlite-run-store-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

runStoreContract('sqlite', async () => SqliteRunStore.open(join(mkdtempSync(join(scratch, 'contract-')), 'lockstep.db')));
