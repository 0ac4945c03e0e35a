import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { sequence } from '../../src/core/sequence/builder.js';
import { describeSequencePaths } from '../../src/testing/index.js';

// A user's own sequence, tested the way the docs show: every path, lockstep's invariants, plus user assertions.
const checkout = sequence('checkout', { timeout: '2m' })
  .then('reserve', async () => ({ reservation: 'r-1' }), { compensate: async () => {} })
  .then('charge', async () => ({ charge: 'c-1' }), {
    timeout: '30s',
    retry: { maxAttempts: 2, backoff: { initial: '10s' } },
    compensate: async () => {},
  })
  .then('email', async () => {}, { onFailure: 'continue' })
  .finally('audit', async () => {})
  .build();

describeSequencePaths(checkout, (_path, run) => {
  // The audit runs exactly once, whatever happened.
  expect(run.started.filter((t) => t.task === 'audit' && t.attempt === 1)).toHaveLength(1);
  // A failed email never fails the order.
  if (run.outcome === 'failed') expect(run.expected.because).not.toMatch(/^email/);
  // A refund happens only after a successful charge.
  if (run.started.some((t) => t.task === 'charge.compensate')) {
    expect(run.entries.some((e) => e.type === 'task.succeeded' && e.task === 'charge')).toBe(true);
  }
  expect(run.outcome).toBe(run.expected.outcome);
});

describeSequencePaths(fileURLToPath(new URL('../../machines/compensation.yaml', import.meta.url)), undefined, {
  maxPaths: 25,
  seed: 'docs',
  title: 'compensation.yaml, sampled',
});
