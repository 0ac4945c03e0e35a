import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { processStart } from '../../../src/adapters/sqlite/process-liveness.js';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from '../../../src/adapters/sqlite/schema.js';
import { SqliteRunStore } from '../../../src/adapters/sqlite/sqlite-run-store.js';
import { record, started, taskStarted, taskSucceeded } from '../../contract/run-store.contract.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-sqlite-run-store-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const dirs: string[] = [];
const tempStorePath = () => {
  const dir = mkdtempSync(join(scratch, 'sqlite-'));
  dirs.push(dir);
  return join(dir, 'lockstep.db');
};
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
};
const messageOf = (fn: () => unknown): string => {
  try {
    fn();
    return '';
  } catch (error) {
    return (error as Error).message;
  }
};

/** A store with a few runs in it, closed, so its file can be damaged. */
async function populatedStore(): Promise<string> {
  const path = tempStorePath();
  const store = SqliteRunStore.open(path);
  for (let i = 0; i < 200; i++) {
    const r = record({ definition: `name: big\n# ${'padding '.repeat(200)}\n` });
    await store.create(r, [started(r.runId, r.createdAt), taskStarted(r.runId, r.createdAt), taskSucceeded(r.runId, r.createdAt + 1)]);
  }
  await store.close();
  return path;
}

describe('SqliteRunStore: the file', () => {
  afterEach(() => {
    dirs.length = 0;
  });

  it('creates a WAL-mode store at the current schema version, marked as a lockstep store', async () => {
    const path = join(tempStorePath(), '..', 'nested', 'dir', 'lockstep.db');
    const store = SqliteRunStore.open(path);
    await store.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.pragma('application_id', { simple: true })).toBe(APPLICATION_ID);
    db.close();
    expect(readdirSync(join(path, '..')).filter((f) => f.includes('.creating'))).toEqual([]);
  });

  it('migrates a store of schema version 1 explicitly, keeping every run and entry', async () => {
    const path = tempStorePath();
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.exec(MIGRATIONS[0]!.sql);
    db.pragma('user_version = 1');
    db.pragma(`application_id = ${APPLICATION_ID}`);
    const runs = [record(), record({ rerunOf: 'run-0', status: 'failed', currentTask: 'a', reason: 'a broke' })];
    const insertRun =
      db.prepare(`INSERT INTO runs (run_id, sequence, version, definition, definition_hash, source, input, status, created_at,
      updated_at, current_task, reason, rerun_of, entry_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const insertEntry = db.prepare('INSERT INTO entries (run_id, seq, at, type, body) VALUES (?, ?, ?, ?, ?)');
    for (const r of runs) {
      const entries = [started(r.runId, r.createdAt), taskStarted(r.runId, r.createdAt + 1), taskSucceeded(r.runId, r.createdAt + 2)];
      insertRun.run(
        r.runId,
        r.sequence,
        r.version,
        r.definition,
        r.definitionHash,
        r.source ?? null,
        JSON.stringify(r.input),
        r.status,
        r.createdAt,
        r.updatedAt,
        r.currentTask ?? null,
        r.reason ?? null,
        r.rerunOf ?? null,
        entries.length,
      );
      entries.forEach((e, i) => insertEntry.run(r.runId, i, e.at, e.type, JSON.stringify(e)));
    }
    db.close();

    const store = SqliteRunStore.open(path, { create: false });
    for (const r of runs) {
      expect(await store.get(r.runId)).toEqual({
        record: r,
        history: [started(r.runId, r.createdAt), taskStarted(r.runId, r.createdAt + 1), taskSucceeded(r.runId, r.createdAt + 2)],
        states: [undefined, undefined, undefined],
      });
    }
    await store.append(runs[0]!.runId, [taskStarted(runs[0]!.runId, runs[0]!.createdAt + 3, 'b')]);
    expect((await store.get(runs[0]!.runId))!.history).toHaveLength(4);
    expect((await store.list()).map((r) => r.runId)).toEqual([runs[1]!.runId, runs[0]!.runId]);
    await store.close();
    const check = new Database(path, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(() => check.prepare('SELECT run_id FROM entries').all()).toThrow(/no such column/);
    // Both runs had the same definition text: it is kept once.
    expect(check.prepare('SELECT count(*) AS n FROM definitions').get()).toEqual({ n: 1 });
    check.close();
  });

  it('keeps the entries of a version-4 store when it adds the state column', async () => {
    const path = tempStorePath();
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    for (const m of MIGRATIONS.filter((m) => m.version <= 4)) db.exec(m.sql);
    db.pragma('user_version = 4');
    db.pragma(`application_id = ${APPLICATION_ID}`);
    const r = record();
    const definition = Number(
      db.prepare('INSERT INTO definitions (hash, text) VALUES (?, ?)').run(r.definitionHash, r.definition).lastInsertRowid,
    );
    const entries = [started(r.runId, r.createdAt), taskStarted(r.runId, r.createdAt + 1)];
    const id = Number(
      db
        .prepare(`INSERT INTO runs (run_id, sequence, version, definition_id, definition_hash, source, status, created_at, updated_at,
      entry_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(
          r.runId,
          r.sequence,
          r.version,
          definition,
          r.definitionHash,
          r.source ?? null,
          r.status,
          r.createdAt,
          r.updatedAt,
          entries.length,
        ).lastInsertRowid,
    );
    db.prepare('INSERT INTO run_inputs (run, input) VALUES (?, ?)').run(id, JSON.stringify(r.input));
    entries.forEach((e, i) =>
      db.prepare('INSERT INTO entries (run, seq, at, type, body) VALUES (?, ?, ?, ?, ?)').run(id, i, e.at, e.type, JSON.stringify(e)),
    );
    db.close();

    const store = SqliteRunStore.open(path, { create: false });
    expect(await store.get(r.runId)).toEqual({ record: r, history: entries, states: [undefined, undefined] });
    await store.append(r.runId, [taskSucceeded(r.runId, r.createdAt + 2)], undefined, [{ main: 'b' }]);
    expect((await store.get(r.runId))?.states).toEqual([undefined, undefined, { main: 'b' }]);
    await store.close();
    const check = new Database(path, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(check.prepare('SELECT seq, state FROM entries ORDER BY seq').all()).toEqual([
      { seq: 0, state: null },
      { seq: 1, state: null },
      { seq: 2, state: '{"main":"b"}' },
    ]);
    check.close();
  });

  it('keeps runs across close and reopen', async () => {
    const path = tempStorePath();
    const r = record();
    const first = SqliteRunStore.open(path);
    await first.create(r, [started(r.runId, r.createdAt)], ['main.a']);
    await first.append(r.runId, [taskStarted(r.runId, r.createdAt + 1)], { currentTask: 'a' }, [{ main: { a: 'running' } }]);
    await first.close();
    const second = SqliteRunStore.open(path, { create: false });
    expect(await second.get(r.runId)).toEqual({
      record: { ...r, currentTask: 'a', updatedAt: r.createdAt + 1 },
      history: [started(r.runId, r.createdAt), taskStarted(r.runId, r.createdAt + 1)],
      states: ['main.a', { main: { a: 'running' } }],
    });
    await second.close();
  });

  it('groups the writes of one tick into one commit, and each resolves only after it', async () => {
    const store = SqliteRunStore.open(tempStorePath());
    const runs = Array.from({ length: 50 }, () => record());
    const before = store.stats.commits;
    await Promise.all(runs.map((r) => store.create(r, [started(r.runId, r.createdAt)])));
    expect(store.stats.commits).toBe(before + 1);
    await Promise.all(runs.map((r) => store.append(r.runId, [taskStarted(r.runId, r.createdAt + 1)])));
    expect(store.stats.commits).toBe(before + 2);
    expect(store.stats.entries).toBe(100);
    await store.close();
  });

  it('refuses to rewrite or delete history, even through SQL', async () => {
    const path = tempStorePath();
    const store = SqliteRunStore.open(path);
    const r = record();
    await store.create(r, [started(r.runId, r.createdAt)]);
    await store.close();
    const db = new Database(path);
    expect(messageOf(() => db.prepare("UPDATE entries SET body = '{}'").run())).toContain('append-only');
    expect(messageOf(() => db.prepare('DELETE FROM entries').run())).toContain('append-only');
    expect(messageOf(() => db.prepare('DELETE FROM runs').run())).toContain('never deleted');
    db.close();
  });

  it('never overwrites entries another process appended behind its back', async () => {
    const path = tempStorePath();
    const store = SqliteRunStore.open(path);
    const [a, b] = [record(), record()];
    await Promise.all([store.create(a, [started(a.runId, a.createdAt)]), store.create(b, [started(b.runId, b.createdAt)])]);
    const other = SqliteRunStore.open(path);
    await other.append(a.runId, [taskStarted(a.runId, a.createdAt + 1, 'from-elsewhere')]);
    await other.close();
    await Promise.all([
      store.append(a.runId, [taskStarted(a.runId, a.createdAt + 2, 'mine')]),
      store.append(b.runId, [taskStarted(b.runId, b.createdAt + 2, 'mine')]),
    ]);
    const tasks = async (runId: string) => (await store.get(runId))!.history.map((e) => (e.type === 'task.started' ? e.task : e.type));
    expect(await tasks(a.runId)).toEqual(['run.started', 'from-elsewhere', 'mine']);
    expect(await tasks(b.runId)).toEqual(['run.started', 'mine']);
    await store.close();
  });

  it('commits and resolves pending writes on close; refuses writes after it', async () => {
    const store = SqliteRunStore.open(tempStorePath());
    const r = record();
    const created = store.create(r, []);
    await store.close();
    await expect(created).resolves.toBeUndefined();
    await expect(store.append(r.runId, [])).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });
});

describe('SqliteRunStore: bad files fail loudly and stay as they are', () => {
  const unchanged = (path: string, open: () => unknown, code: string, message: RegExp) => {
    const before = sha(path);
    const siblings = readdirSync(join(path, '..')).sort();
    const size = statSync(path).size;
    expect(codeOf(open)).toBe(code);
    expect(messageOf(open)).toMatch(message);
    expect(sha(path)).toBe(before);
    expect(statSync(path).size).toBe(size);
    expect(readdirSync(join(path, '..')).sort()).toEqual(siblings);
  };

  it('a missing store is STORE_MISSING when it must exist, and nothing is created', () => {
    const path = tempStorePath();
    expect(codeOf(() => SqliteRunStore.open(path, { create: false }))).toBe('STORE_MISSING');
    expect(existsSync(path)).toBe(false);
  });

  it('a write-ahead log whose database is gone is STORE_CORRUPT, and no store is created over it', () => {
    const path = tempStorePath();
    writeFileSync(`${path}-wal`, 'frames of a store that was deleted');
    expect(codeOf(() => SqliteRunStore.open(path))).toBe('STORE_CORRUPT');
    expect(existsSync(path)).toBe(false);
    expect(readFileSync(`${path}-wal`, 'utf8')).toBe('frames of a store that was deleted');
  });

  it('a truncated store is STORE_CORRUPT', async () => {
    const path = await populatedStore();
    truncateSync(path, Math.floor(statSync(path).size / 2));
    unchanged(path, () => SqliteRunStore.open(path), 'STORE_CORRUPT', /truncated|malformed/);
  });

  it('a store truncated inside a page is STORE_CORRUPT', async () => {
    const path = await populatedStore();
    truncateSync(path, statSync(path).size - 1000);
    unchanged(path, () => SqliteRunStore.open(path), 'STORE_CORRUPT', /truncated/);
  });

  it('an empty file is STORE_CORRUPT, not a fresh store', () => {
    const path = tempStorePath();
    writeFileSync(path, '');
    unchanged(path, () => SqliteRunStore.open(path), 'STORE_CORRUPT', /empty \(0 bytes\)/);
  });

  it('a file with overwritten pages is STORE_CORRUPT', async () => {
    const path = await populatedStore();
    const bytes = readFileSync(path);
    bytes.fill(0xab, 4096 * 3, 4096 * 5);
    writeFileSync(path, bytes);
    unchanged(path, () => SqliteRunStore.open(path), 'STORE_CORRUPT', /corrupt|malformed|quick_check/);
  });

  it('a file that is not SQLite is STORE_CORRUPT', () => {
    const path = tempStorePath();
    writeFileSync(path, 'these are not the runs you are looking for\n'.repeat(100));
    unchanged(path, () => SqliteRunStore.open(path), 'STORE_CORRUPT', /not an SQLite database/);
  });

  it("another application's SQLite file is STORE_CORRUPT", () => {
    const path = tempStorePath();
    const db = new Database(path);
    db.exec('CREATE TABLE notes (body TEXT)');
    db.close();
    unchanged(path, () => SqliteRunStore.open(path), 'STORE_CORRUPT', /another application/);
  });

  it('a store with a newer schema is STORE_TOO_NEW and is not migrated', async () => {
    const path = tempStorePath();
    await SqliteRunStore.open(path).close();
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    unchanged(
      path,
      () => SqliteRunStore.open(path),
      'STORE_TOO_NEW',
      new RegExp(`schema version ${SCHEMA_VERSION + 1}, newer than this lockstep supports \\(${SCHEMA_VERSION}\\)`),
    );
  });

  it('a copy of a store that a killed process left with its WAL file opens with every committed run', async () => {
    const path = tempStorePath();
    const store = SqliteRunStore.open(path);
    const r = record();
    await store.create(r, [started(r.runId, r.createdAt)]);
    // Copy the database and its WAL while the store is open: what a crash leaves on disk.
    const copy = join(path, '..', 'copy', 'lockstep.db');
    mkdirSync(join(copy, '..'));
    copyFileSync(path, copy);
    copyFileSync(`${path}-wal`, `${copy}-wal`);
    await store.close();
    const reopened = SqliteRunStore.open(copy, { create: false });
    expect((await reopened.get(r.runId))?.history).toHaveLength(1);
    await reopened.close();
  });
});

describe('SqliteRunStore: run locks across processes', () => {
  const live = () => spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });

  async function lockedBy(path: string, runId: string, holder: { pid: number; pidStart: string | null; host?: string }) {
    const db = new Database(path);
    db.prepare('INSERT INTO run_locks (run_id, owner, pid, pid_start, host, acquired_at) VALUES (?, ?, ?, ?, ?, ?)').run(
      runId,
      'other-process',
      holder.pid,
      holder.pidStart,
      holder.host ?? hostname(),
      Date.now(),
    );
    db.close();
  }

  it('refuses a run held by a live process, then takes it over once that process is killed', async () => {
    const path = tempStorePath();
    const store = SqliteRunStore.open(path);
    const child = live();
    await new Promise((resolve) => child.once('spawn', resolve));
    await lockedBy(path, 'run-x', { pid: child.pid!, pidStart: processStart(child.pid!) });
    await expect(store.lock('run-x', 'me')).rejects.toMatchObject({
      code: 'RUN_LOCKED',
      message: expect.stringContaining(`pid ${child.pid}`),
    });
    expect(store.holder('run-x')).toMatchObject({ pid: child.pid, alive: true });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
    expect(store.holder('run-x')?.alive).toBe(false);
    const release = await store.lock('run-x', 'me');
    expect(store.holder('run-x')).toMatchObject({ owner: 'me', pid: process.pid, alive: true });
    release();
    expect(store.holder('run-x')).toBeUndefined();
    await store.close();
  });

  it('takes over a lock whose pid now belongs to another process', async () => {
    const path = tempStorePath();
    const store = SqliteRunStore.open(path);
    await lockedBy(path, 'run-y', { pid: process.pid, pidStart: 'started-long-ago' });
    (await store.lock('run-y', 'me'))();
    await store.close();
  });

  it('never takes over a lock held on another host', async () => {
    const path = tempStorePath();
    const store = SqliteRunStore.open(path);
    await lockedBy(path, 'run-z', { pid: 999_999, pidStart: null, host: 'elsewhere.example' });
    await expect(store.lock('run-z', 'me')).rejects.toMatchObject({
      code: 'RUN_LOCKED',
      message: expect.stringContaining('on elsewhere.example'),
    });
    await store.close();
  });

  it('releases the locks it holds when closed', async () => {
    const path = tempStorePath();
    const store = SqliteRunStore.open(path);
    await store.lock('run-w', 'me');
    await store.close();
    const other = SqliteRunStore.open(path);
    expect(other.holder('run-w')).toBeUndefined();
    await other.close();
  });
});
