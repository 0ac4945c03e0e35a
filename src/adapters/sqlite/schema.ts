/**
 * The SQLite store's schema, as numbered migrations. `PRAGMA user_version` holds the version a store is at;
 * `PRAGMA application_id` marks the file as a lockstep store. Migrations only ever add: history is never
 * rewritten by one.
 */

/** `LKST` in ASCII: marks an SQLite file as a lockstep run store. */
export const APPLICATION_ID = 0x4c4b5354;

/** One step of the schema: the SQL that takes a store from `version - 1` to `version`. */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'runs, their append-only history, and run locks',
    sql: `
      CREATE TABLE runs (
        run_id          TEXT PRIMARY KEY,
        sequence        TEXT NOT NULL,
        version         TEXT NOT NULL,
        definition      TEXT NOT NULL,
        definition_hash TEXT NOT NULL,
        source          TEXT,
        input           TEXT NOT NULL,
        status          TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        current_task    TEXT,
        reason          TEXT,
        rerun_of        TEXT,
        entry_count     INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX runs_by_created ON runs (created_at);
      CREATE INDEX runs_by_status ON runs (status, created_at);

      CREATE TABLE entries (
        run_id TEXT NOT NULL,
        seq    INTEGER NOT NULL,
        at     INTEGER NOT NULL,
        type   TEXT NOT NULL,
        body   TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
      ) WITHOUT ROWID;

      -- History is append-only: no statement may rewrite or remove it.
      CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
        BEGIN SELECT RAISE(ABORT, 'lockstep run history is append-only'); END;
      CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
        BEGIN SELECT RAISE(ABORT, 'lockstep run history is append-only'); END;
      CREATE TRIGGER runs_no_delete BEFORE DELETE ON runs
        BEGIN SELECT RAISE(ABORT, 'lockstep runs are never deleted'); END;

      -- Who drives a run: one row per locked run, with the process that holds it.
      CREATE TABLE run_locks (
        run_id      TEXT PRIMARY KEY,
        owner       TEXT NOT NULL,
        pid         INTEGER NOT NULL,
        pid_start   TEXT,
        host        TEXT NOT NULL,
        acquired_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    description: 'key history by an integer run id in a rowid table: several times cheaper appends',
    sql: `
      CREATE TABLE runs_v2 (
        id              INTEGER PRIMARY KEY,
        run_id          TEXT NOT NULL UNIQUE,
        sequence        TEXT NOT NULL,
        version         TEXT NOT NULL,
        definition      TEXT NOT NULL,
        definition_hash TEXT NOT NULL,
        source          TEXT,
        input           TEXT NOT NULL,
        status          TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        current_task    TEXT,
        reason          TEXT,
        rerun_of        TEXT,
        entry_count     INTEGER NOT NULL DEFAULT 0
      );
      INSERT INTO runs_v2 (run_id, sequence, version, definition, definition_hash, source, input, status, created_at, updated_at,
          current_task, reason, rerun_of, entry_count)
        SELECT run_id, sequence, version, definition, definition_hash, source, input, status, created_at, updated_at,
          current_task, reason, rerun_of, entry_count
        FROM runs ORDER BY rowid;

      CREATE TABLE entries_v2 (
        run  INTEGER NOT NULL,
        seq  INTEGER NOT NULL,
        at   INTEGER NOT NULL,
        type TEXT NOT NULL,
        body TEXT NOT NULL
      );
      INSERT INTO entries_v2 (run, seq, at, type, body)
        SELECT r.id, e.seq, e.at, e.type, e.body FROM entries e JOIN runs_v2 r ON r.run_id = e.run_id ORDER BY r.id, e.seq;

      DROP TRIGGER entries_no_update;
      DROP TRIGGER entries_no_delete;
      DROP TRIGGER runs_no_delete;
      DROP TABLE entries;
      DROP TABLE runs;
      ALTER TABLE runs_v2 RENAME TO runs;
      ALTER TABLE entries_v2 RENAME TO entries;

      CREATE INDEX runs_by_created ON runs (created_at);
      CREATE INDEX runs_by_status ON runs (status, created_at);
      CREATE UNIQUE INDEX entries_by_run ON entries (run, seq);

      CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
        BEGIN SELECT RAISE(ABORT, 'lockstep run history is append-only'); END;
      CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
        BEGIN SELECT RAISE(ABORT, 'lockstep run history is append-only'); END;
      CREATE TRIGGER runs_no_delete BEFORE DELETE ON runs
        BEGIN SELECT RAISE(ABORT, 'lockstep runs are never deleted'); END;
    `,
  },
  {
    version: 3,
    description: 'keep definitions (shared by runs) and inputs out of the runs rows that every append updates',
    sql: `
      CREATE TABLE definitions (
        id   INTEGER PRIMARY KEY,
        hash TEXT NOT NULL,
        text TEXT NOT NULL
      );
      CREATE INDEX definitions_by_hash ON definitions (hash);
      INSERT INTO definitions (hash, text) SELECT DISTINCT definition_hash, definition FROM runs;

      CREATE TABLE run_inputs (
        run   INTEGER PRIMARY KEY,
        input TEXT NOT NULL
      );
      INSERT INTO run_inputs (run, input) SELECT id, input FROM runs;

      CREATE TABLE runs_v3 (
        id              INTEGER PRIMARY KEY,
        run_id          TEXT NOT NULL UNIQUE,
        sequence        TEXT NOT NULL,
        version         TEXT NOT NULL,
        definition_id   INTEGER NOT NULL,
        definition_hash TEXT NOT NULL,
        source          TEXT,
        status          TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        current_task    TEXT,
        reason          TEXT,
        rerun_of        TEXT,
        entry_count     INTEGER NOT NULL DEFAULT 0
      );
      INSERT INTO runs_v3 (id, run_id, sequence, version, definition_id, definition_hash, source, status, created_at, updated_at,
          current_task, reason, rerun_of, entry_count)
        SELECT r.id, r.run_id, r.sequence, r.version,
          (SELECT d.id FROM definitions d WHERE d.hash = r.definition_hash AND d.text = r.definition),
          r.definition_hash, r.source, r.status, r.created_at, r.updated_at, r.current_task, r.reason, r.rerun_of, r.entry_count
        FROM runs r ORDER BY r.id;

      DROP TRIGGER runs_no_delete;
      DROP TABLE runs;
      ALTER TABLE runs_v3 RENAME TO runs;
      CREATE INDEX runs_by_created ON runs (created_at);
      CREATE INDEX runs_by_status ON runs (status, created_at);
      CREATE TRIGGER runs_no_delete BEFORE DELETE ON runs
        BEGIN SELECT RAISE(ABORT, 'lockstep runs are never deleted'); END;
      CREATE TRIGGER definitions_no_change BEFORE UPDATE ON definitions
        BEGIN SELECT RAISE(ABORT, 'lockstep run definitions are never changed'); END;

      -- A run as the store hands it out.
      CREATE VIEW run_records AS
        SELECT r.*, d.text AS definition, i.input AS input
        FROM runs r JOIN definitions d ON d.id = r.definition_id JOIN run_inputs i ON i.run = r.id;
    `,
  },
  {
    version: 4,
    description: 'the process group of each shell attempt while it runs, so resume can stop one a crash left behind',
    sql: `
      CREATE TABLE attempt_processes (
        run        INTEGER NOT NULL,
        task       TEXT NOT NULL,
        attempt    INTEGER NOT NULL,
        pgid       INTEGER NOT NULL,
        start_time TEXT,
        boot_id    TEXT,
        host       TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        PRIMARY KEY (run, task, attempt)
      );
    `,
  },
  {
    version: 5,
    description: "the run's state value after each history entry, as the orchestrator reported it (null for older entries)",
    sql: `
      ALTER TABLE entries ADD COLUMN state TEXT;
    `,
  },
  {
    version: 6,
    description: "each attempt's log: its stdout, stderr and handler lines, up to the attempt's log cap",
    sql: `
      -- One row per attempt that logged, in the order the attempts started (id).
      CREATE TABLE attempt_logs (
        id        INTEGER PRIMARY KEY,
        run       INTEGER NOT NULL,
        task      TEXT NOT NULL,
        attempt   INTEGER NOT NULL,
        phase     TEXT NOT NULL,
        bytes     INTEGER NOT NULL DEFAULT 0,
        truncated INTEGER NOT NULL DEFAULT 0,
        UNIQUE (run, task, attempt)
      );
      -- Lines in the order they were written (rowid).
      CREATE TABLE log_lines (
        log    INTEGER NOT NULL,
        at     INTEGER NOT NULL,
        stream TEXT NOT NULL,
        text   TEXT NOT NULL
      );
      CREATE INDEX log_lines_by_log ON log_lines (log);
    `,
  },
  {
    version: 7,
    description: 'indexes for listing runs newest first by sequence, status and time, a page at a time',
    sql: `
      CREATE INDEX runs_by_created_id ON runs (created_at, run_id);
      CREATE INDEX runs_by_sequence ON runs (sequence, created_at, run_id);
      CREATE INDEX runs_by_status_id ON runs (status, created_at, run_id);
      -- The new indexes lead with the same columns: the old ones would only cost writes.
      DROP INDEX runs_by_created;
      DROP INDEX runs_by_status;
    `,
  },
  {
    version: 8,
    description: "signals for runs' wait tasks, kept until the process that drives the run has applied them",
    sql: `
      -- AUTOINCREMENT: an id is never given twice, so removing an applied signal never removes a later one.
      CREATE TABLE signals (
        id   INTEGER PRIMARY KEY AUTOINCREMENT,
        run  INTEGER NOT NULL,
        at   INTEGER NOT NULL,
        body TEXT NOT NULL
      );
      CREATE INDEX signals_by_run ON signals (run, id);
    `,
  },
];

/** The schema version this build of lockstep writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
