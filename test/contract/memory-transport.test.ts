import { MemoryTransport } from '../../src/adapters/memory/memory-transport.js';
import { transportContract } from './transport.contract.js';

let n = 0;
transportContract('memory', async () => {
  const transport = new MemoryTransport({ redeliveryDelayMs: 10 });
  return { transport, topic: async () => `topic-${++n}`, patienceMs: 2_000, close: () => transport.close() };
});
