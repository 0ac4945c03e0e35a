// The store's listing stays fast with many runs: every filter the page and the API send is served by an index
// (SQLite's query plan says which), and a page of 50 out of 20,000 runs is read without scanning them all.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteRunStore } from '../../../src/adapters/sqlite/sqlite-run-store.js';
import { listParams, listSql } from '../../../src/adapters/sqlite/statements.js';
import type { RunFilter } from '../../../src/ports/run-store.js';
import { record } from '../../contract/run-store.contract.js';

const RUNS = 20_000;
let dir: string;
let path: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lockstep-list-plan-'));
  path = join(dir, 'lockstep.db');
  const store = SqliteRunStore.open(path);
  const at = Date.parse('2026-12-01T00:00:00Z');
  const creates: Promise<void>[] = [];
  for (let i = 0; i < RUNS; i++) {
    const runId = `${((i * 2_654_435_761) >>> 0).toString(16).padStart(8, '0')}-${i}`;
    creates.push(
      store.create(record({ runId, sequence: `seq-${i % 20}`, status: i % 7 ? 'succeeded' : 'failed', createdAt: at + i * 1000 }), []),
    );
  }
  await Promise.all(creates);
  await store.close();
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const filters: Record<string, RunFilter> = {
  all: { limit: 51 },
  sequence: { sequence: 'seq-3', limit: 51 },
  status: { status: 'failed', limit: 51 },
  'sequence and status': { sequence: 'seq-3', status: 'failed', limit: 51 },
  'id prefix': { idPrefix: 'ab', limit: 51 },
  'start time': { since: Date.parse('2026-12-01T02:00:00Z'), until: Date.parse('2026-12-01T03:00:00Z'), limit: 51 },
  'next page': { after: { createdAt: Date.parse('2026-12-01T04:00:00Z'), runId: 'ffffffff' }, limit: 51 },
};

describe('listing runs in a large store', () => {
  it.each(Object.entries(filters))('serves the %s filter from an index, never a scan of every run', (_name, filter) => {
    const db = new Database(path, { readonly: true });
    try {
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${listSql(filter)}`).all(listParams(filter)) as Array<{ detail: string }>).map(
        (row) => row.detail,
      );
      const runs = plan.find((d) => / r\b| runs\b/.test(d) && !/definitions|run_inputs/.test(d));
      expect(runs, plan.join('\n')).toMatch(/USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY/);
      expect(plan.join('\n')).not.toMatch(/SCAN r\b(?! USING)|SCAN runs\b(?! USING)/);
    } finally {
      db.close();
    }
  });

  it('pages through the runs of one sequence in order, none twice and none left out', async () => {
    const store = SqliteRunStore.open(path, { create: false, readOnly: true });
    try {
      const seen: string[] = [];
      let after: RunFilter['after'];
      for (;;) {
        const page = await store.list({ sequence: 'seq-3', limit: 200, ...(after ? { after } : {}) });
        seen.push(...page.map((r) => r.runId));
        if (page.length < 200) break;
        const last = page.at(-1)!;
        after = { createdAt: last.createdAt, runId: last.runId };
      }
      expect(seen).toHaveLength(RUNS / 20);
      expect(new Set(seen).size).toBe(seen.length);
    } finally {
      await store.close();
    }
  });
});
