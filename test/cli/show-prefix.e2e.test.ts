// `lockstep show <prefix>`: a unique prefix of a run id shows the run, an ambiguous one lists the runs it matches,
// and one that matches nothing is an unknown run, on a store written by real runs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteRunStore } from '../../src/adapters/sqlite/sqlite-run-store.js';
import { record, started } from '../contract/run-store.contract.js';
import { lockstep } from '../support/cli.js';

let dir: string;
let store: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lockstep-show-prefix-'));
  store = join(dir, 'lockstep.db');
  const db = SqliteRunStore.open(store);
  const at = Date.parse('2026-12-01T10:00:00Z');
  for (const [i, runId] of ['3f2a0001-aaaa', '3f2b0002-bbbb', '7c000003-cccc'].entries()) {
    await db.create(record({ runId, createdAt: at + i * 1000, updatedAt: at + i * 1000 }), [started(runId, at + i * 1000)]);
  }
  await db.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('lockstep show <prefix>', () => {
  it('shows the one run a unique prefix names', async () => {
    const r = await lockstep(['show', '7c', '--json', '--store', store]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).run.runId).toBe('7c000003-cccc');
  });

  it('refuses an ambiguous prefix, listing the runs it matches', async () => {
    const r = await lockstep(['show', '3f2', '--store', store]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`run id prefix "3f2" is ambiguous in ${store}: it matches 2 runs`);
    expect(r.stderr).toContain('3f2b0002-bbbb  orders  2026-12-01T10:00:01.000Z');
    expect(r.stderr).toContain('3f2a0001-aaaa  orders  2026-12-01T10:00:00.000Z');
  });

  it('says a prefix that matches nothing is an unknown run', async () => {
    const r = await lockstep(['show', '9', '--store', store]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`unknown run 9 in ${store} (list runs with \`lockstep runs\`)`);
  });
});
