// The unit project must stay free of brokers, browsers, the built CLI and long property suites: a test file that uses one of them
// carries the tag in its name (vitest.config.ts) and so runs in the integration project instead.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { INTEGRATION_TAGS } from '../../vitest.config.js';

type Tag = (typeof INTEGRATION_TAGS)[number];

/** What in a test file's text shows that it needs what a tag stands for. */
const NEEDS: Record<Tag, RegExp> = {
  kafka: /inject\(\s*'kafkaBrokers'\s*\)|\bstartBroker\b|process\.env\.KAFKA_BROKERS/,
  browser: /from 'playwright-core'|\/usr\/bin\/chromium|from '\.\/browser-harness\.js'/,
  e2e: /\b(lockstep|spawnCli|spawnServe|startService)\(|\bBIN\b|bin\/lockstep|\bdist\//,
  property: /\bfc\.assert\(/,
};

const ROOT_DIR = fileURLToPath(new URL('../..', import.meta.url));
const TEST_DIR = join(ROOT_DIR, 'test');
/** This file names the patterns it looks for. */
const SELF = relative(TEST_DIR, fileURLToPath(import.meta.url));
const testFiles = (readdirSync(TEST_DIR, { recursive: true }) as string[])
  .filter((f) => f.endsWith('.test.ts') && !f.endsWith('.faults.test.ts')) // the fault suite: vitest.faults.config.ts
  .sort();
const tagOf = (file: string): Tag | undefined => INTEGRATION_TAGS.find((tag) => file.endsWith(`.${tag}.test.ts`));

describe('test projects', () => {
  it('finds the test files', () => {
    expect(testFiles.length).toBeGreaterThan(50);
  });

  it('every untagged (unit) test file stays off brokers, browsers and the built CLI', () => {
    const misplaced: string[] = [];
    for (const file of testFiles.filter((f) => tagOf(f) === undefined && f !== SELF)) {
      const text = readFileSync(join(TEST_DIR, file), 'utf8');
      // The first tag that applies (see vitest.config.ts).
      for (const tag of INTEGRATION_TAGS) {
        const match = NEEDS[tag].exec(text);
        if (!match) continue;
        misplaced.push(`${relative(ROOT_DIR, join(TEST_DIR, file))} uses ${match[0]}: rename it to *.${tag}.test.ts`);
        break;
      }
    }
    expect(misplaced).toEqual([]);
  });

  it('every tagged (integration) test file uses what its tag stands for', () => {
    const needless = testFiles.filter((f) => {
      const tag = tagOf(f);
      return tag !== undefined && !NEEDS[tag].test(readFileSync(join(TEST_DIR, f), 'utf8'));
    });
    expect(needless).toEqual([]);
  });
});
