import { defineConfig } from 'vitest/config';

/**
 * Tags in a test file's name for what it needs beyond Node and `src/`; any of them puts the file in the
 * `integration` project, and every other test file is in `unit`. A file that needs several takes the first
 * that applies: `.kafka` (a broker: the global setup's, or one it starts), `.browser` (Debian's chromium),
 * `.e2e` (the built `lockstep` CLI as a process, so `npm run build` first), `.property` (fast-check suites: thousands
 * of generated cases each, which take most of a minute together). test/support/test-projects.test.ts
 * fails for an untagged file that uses one of them.
 */
export const INTEGRATION_TAGS = ['kafka', 'browser', 'e2e', 'property'] as const;
const INTEGRATION = `test/**/*.{${INTEGRATION_TAGS.join(',')}}.test.ts`;
/** The fault suite has its own config (vitest.faults.config.ts, `npm run test:faults`): neither project runs it. */
export const FAULTS = 'test/faults/**/*.faults.test.ts';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        // In-process tests of src/: no broker, no browser, no build (`npm run test:unit`, well within 90 s).
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [INTEGRATION, FAULTS] },
      },
      {
        extends: true,
        // Only this project boots or reaches a Kafka broker.
        test: { name: 'integration', include: [INTEGRATION], exclude: [FAULTS], globalSetup: ['./test/support/kafka-global-setup.ts'] },
      },
    ],
  },
});
