import { defineConfig } from 'vitest/config';

/**
 * The fault suite (`npm run test:faults`): real processes against real brokers, one scenario per file
 * (`test/faults/*.faults.test.ts`), one after the other (the machine's cores are the scenario's). Each scenario
 * records one row; the faults reporter prints the table. `LOCKSTEP_FAULTS_PROFILE=long` runs the acceptance
 * figures (500 runs per fault); the default `short` profile is what CI runs.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.faults.test.ts'],
    testTimeout: 900_000,
    hookTimeout: 300_000,
    pool: 'forks',
    fileParallelism: false,
    globalSetup: ['./test/support/kafka-global-setup.ts', './test/faults/support/fresh-results.ts'],
    reporters: ['default', './test/faults/support/faults-reporter.ts', './test/support/summary-reporter.ts'],
  },
});
