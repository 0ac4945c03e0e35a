import { MemoryRunStore } from '../../src/adapters/memory/memory-run-store.js';
import { runStoreContract } from './run-store.contract.js';

runStoreContract('memory', async () => new MemoryRunStore());
