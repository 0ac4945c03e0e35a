/**
 * lockstep/sqlite: a durable run store in one SQLite file, for the embedded runtime. Runs survive the process:
 * `lockstep resume` (or a new runtime over the same file) takes them on. It loads no Kafka client.
 *
 * @example
 * import { createEmbeddedRuntime } from 'lockstep';
 * import { SqliteRunStore } from 'lockstep/sqlite';
 *
 * const runtime = await createEmbeddedRuntime({ store: SqliteRunStore.open('.lockstep/lockstep.db') });
 * @packageDocumentation
 */

export type { SqliteStoreStats } from './adapters/sqlite/group-commit.js';
export { SqliteRunStore } from './adapters/sqlite/sqlite-run-store.js';
export type { OpenStoreOptions } from './adapters/sqlite/store-file.js';
