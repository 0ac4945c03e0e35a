import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteRunStore } from '../../src/adapters/sqlite/sqlite-run-store.js';
import { runStoreContract } from './run-store.contract.js';

runStoreContract('sqlite', async () => SqliteRunStore.open(join(mkdtempSync(join(tmpdir(), 'lockstep-contract-')), 'lockstep.db')));
