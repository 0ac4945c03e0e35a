import { randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from './schema.js';

// Lets a read-only store with no -shm file be opened as `file:…?immutable=1` (see openReadOnly). better-sqlite3
// reads SQLITE_USE_URI once, when it loads SQLite (on its first database), so it is set just for that, and not
// left for the processes of shell tasks to inherit. Store paths are absolute, so none is taken for a URI.
if (process.env.SQLITE_USE_URI === undefined) {
  process.env.SQLITE_USE_URI = '1';
  try {
    new Database(':memory:').close();
  } finally {
    delete process.env.SQLITE_USE_URI;
  }
}

const MAGIC = 'SQLite format 3\u0000';
const HEADER_BYTES = 100;
/** How long a statement waits for another process's write lock before failing with STORE_UNAVAILABLE. */
export const BUSY_TIMEOUT_MS = 10_000;

/** Options of {@link openStoreDatabase}. */
export interface OpenStoreOptions {
  /** Create the store when the file does not exist. When false, a missing file is a `STORE_MISSING` error. @default true */
  readonly create?: boolean;
  /**
   * Opens the store for reading only (`runs`, `show`): works on a read-only file, directory or file system, and
   * never writes to the file. A store that still needs a migration cannot be read this way. @default false
   */
  readonly readOnly?: boolean;
}

/** Errors of the file system (while creating a store) by the code they map to. */
const ERRNO_CODES: Readonly<Record<string, ErrorCode>> = {
  ENOSPC: ErrorCode.storeFull,
  EDQUOT: ErrorCode.storeFull,
  EFBIG: ErrorCode.storeFull,
  EROFS: ErrorCode.storeReadOnly,
  EACCES: ErrorCode.storeReadOnly,
  EPERM: ErrorCode.storeReadOnly,
  EIO: ErrorCode.storeIo,
};

/**
 * Turns an error thrown by SQLite (or the file system) into lockstep's taxonomy; other errors pass through. The
 * message names the store's path, what was being done and the cause with its code, e.g.
 * `run store /x/lockstep.db: committing run history failed: database or disk is full (SQLITE_FULL)`.
 *
 * Only a busy store is `retriable` (another process holds the write lock: trying again may succeed). A full,
 * read-only or failing disk stays so until someone acts, so retrying it is pointless.
 */
export function storeError(error: unknown, path: string, doing: string): unknown {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return error;
  const message = (error as Error).message;
  const failed = (lockstepCode: ErrorCode, options: { retriable?: boolean } = {}) =>
    new LockstepError(lockstepCode, `run store ${path}: ${doing} failed: ${message} (${code})`, { ...options, cause: error });
  if (!code.startsWith('SQLITE_')) {
    const mapped = ERRNO_CODES[code];
    return mapped ? failed(mapped) : error;
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new LockstepError(ErrorCode.storeCorrupt, `run store ${path} is corrupt (${doing}: ${message})`, { cause: error });
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new LockstepError(
      ErrorCode.storeUnavailable,
      `run store ${path} stayed busy for ${BUSY_TIMEOUT_MS}ms (${doing}): another process holds its write lock`,
      { retriable: true, cause: error },
    );
  }
  if (code.startsWith('SQLITE_CONSTRAINT')) return error;
  if (code === 'SQLITE_FULL') return failed(ErrorCode.storeFull);
  if (code.startsWith('SQLITE_READONLY')) return failed(ErrorCode.storeReadOnly);
  if (code.startsWith('SQLITE_IOERR')) return failed(ErrorCode.storeIo);
  return failed(ErrorCode.storeUnavailable);
}

const corrupt = (path: string, why: string) =>
  new LockstepError(
    ErrorCode.storeCorrupt,
    `run store ${path} is not usable: ${why}. The file was left as it is; move it aside to start a new store`,
  );

function readHeader(path: string, size: number): Buffer {
  const header = Buffer.alloc(Math.min(HEADER_BYTES, size));
  const fd = openSync(path, 'r');
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  return header;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/**
 * Checks the file's header against its size: catches a truncated or foreign file before SQLite opens it.
 * While a non-empty WAL file exists, the database file may legitimately lag its header (an interrupted
 * checkpoint), so the size check is left to `quick_check`, which reads through the WAL. The file is read without
 * a lock: another process may checkpoint it meanwhile (write a larger header, then grow the file), so a size that
 * does not match is looked at again before the file is called truncated.
 */
function checkHeader(path: string): void {
  for (let attempt = 1; ; attempt++) {
    const problem = headerProblem(path);
    if (!problem) return;
    if (!problem.size || attempt >= SIZE_CHECKS) throw corrupt(path, problem.why);
    sleepSync(SIZE_RECHECK_MS);
  }
}

/** Size checks before a store whose size does not match its header is called truncated, and the pause between them. */
const SIZE_CHECKS = 10;
const SIZE_RECHECK_MS = 150;

const sleepSync = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/** What is wrong with the file's header, if anything; `size` when only its size does not match. */
function headerProblem(path: string): { why: string; size?: true } | undefined {
  const stat = statSync(path);
  if (stat.isDirectory()) return { why: 'it is a directory, not a file' };
  if (stat.size === 0) return { why: 'the file is empty (0 bytes), so it was truncated or never was a store' };
  const header = readHeader(path, stat.size);
  if (header.length < HEADER_BYTES || header.toString('latin1', 0, 16) !== MAGIC) {
    return { why: `it is not an SQLite database (bad header${stat.size < HEADER_BYTES ? `, only ${stat.size} bytes` : ''})` };
  }
  const rawPageSize = header.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65_536 : rawPageSize;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) return { why: `its header has an invalid page size (${rawPageSize})` };
  const pages = header.readUInt32BE(28);
  const sizeValid = header.readUInt32BE(24) === header.readUInt32BE(92);
  if (!sizeValid || fileSize(`${path}-wal`) > 0) return undefined;
  if (stat.size < pages * pageSize) {
    return { why: `the file is truncated: its header says ${pages * pageSize} bytes (${pages} pages), it has ${stat.size}`, size: true };
  }
  if (stat.size % pageSize !== 0)
    return { why: `the file is truncated: ${stat.size} bytes is not a whole number of ${pageSize}-byte pages`, size: true };
  return undefined;
}

/**
 * Verifies an existing store without writing to it: header, `application_id`, schema version and
 * `PRAGMA quick_check`, on a read-only connection. When the file is rejected, the side files SQLite created for
 * that read (`-wal`, `-shm`) are removed again.
 *
 * @throws LockstepError `STORE_CORRUPT` or `STORE_TOO_NEW`; the file is left unmodified.
 */
export function verifyStoreFile(path: string): { version: number } {
  checkHeader(path);
  const hadWal = existsSync(`${path}-wal`);
  const hadShm = existsSync(`${path}-shm`);
  let db: Database.Database | undefined;
  let verified = false;
  try {
    db = openReadOnly(path);
    const applicationId = db.pragma('application_id', { simple: true }) as number;
    const version = db.pragma('user_version', { simple: true }) as number;
    if (applicationId !== APPLICATION_ID) {
      const empty = (db.prepare('SELECT count(*) AS n FROM sqlite_schema').get() as { n: number }).n === 0;
      throw corrupt(
        path,
        empty
          ? 'it is an empty SQLite database, not a lockstep store'
          : `it is an SQLite database of another application (application_id ${applicationId})`,
      );
    }
    if (version > SCHEMA_VERSION) {
      throw new LockstepError(
        ErrorCode.storeTooNew,
        `run store ${path} has schema version ${version}, newer than this lockstep supports (${SCHEMA_VERSION}): upgrade lockstep to read it. The file was left as it is`,
      );
    }
    const problems = (db.pragma('quick_check(5)') as Array<{ quick_check: string }>).map((r) => r.quick_check);
    if (problems.length !== 1 || problems[0] !== 'ok') throw corrupt(path, `PRAGMA quick_check found: ${problems.join('; ')}`);
    verified = true;
    return { version };
  } catch (error) {
    if (error instanceof LockstepError) throw error;
    const mapped = storeError(error, path, 'checking the file');
    if (mapped instanceof LockstepError && mapped.code === ErrorCode.storeCorrupt) throw corrupt(path, (error as Error).message);
    throw mapped;
  } finally {
    db?.close();
    // Reading a WAL database creates its -wal and -shm side files. A usable store keeps them (other connections
    // may share them by now); a rejected file is left exactly as it was found.
    if (!verified) {
      if (!hadWal) rmSync(`${path}-wal`, { force: true });
      if (!hadShm) rmSync(`${path}-shm`, { force: true });
    }
  }
}

/** Applies the migrations a store lacks, in one IMMEDIATE transaction; another process doing the same waits. */
function migrate(db: Database.Database, path: string): void {
  db.transaction(() => {
    const applicationId = db.pragma('application_id', { simple: true }) as number;
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > SCHEMA_VERSION) {
      throw new LockstepError(
        ErrorCode.storeTooNew,
        `run store ${path} has schema version ${current}, newer than this lockstep supports (${SCHEMA_VERSION}): upgrade lockstep to read it`,
      );
    }
    if (applicationId !== APPLICATION_ID && current !== 0)
      throw corrupt(path, `it is an SQLite database of another application (application_id ${applicationId})`);
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }
    if (applicationId !== APPLICATION_ID) db.pragma(`application_id = ${APPLICATION_ID}`);
  }).immediate();
}

/**
 * Creates a store atomically: it is built under a temporary name, then linked into place, so a crash never
 * leaves a half-made store at `path`, and two processes creating it at once end up sharing one.
 */
function createStoreFile(path: string): void {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.creating`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    accessSync(dirname(path), constants.W_OK);
    const db = new Database(temp, { timeout: BUSY_TIMEOUT_MS });
    try {
      db.pragma('journal_mode = WAL');
      migrate(db, path);
    } finally {
      db.close();
    }
    try {
      linkSync(temp, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  } catch (error) {
    throw storeError(error, path, 'creating the store');
  } finally {
    for (const suffix of ['', '-wal', '-shm']) {
      try {
        unlinkSync(temp + suffix);
      } catch {
        // already gone
      }
    }
  }
}

/**
 * Opens an existing store without ever writing to it. A WAL database normally needs its `-shm` file; where that
 * cannot be created (a read-only directory or file system) and no write-ahead log holds history, the file is
 * opened as immutable, which is exact since nothing can change it.
 */
function openReadOnly(path: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    db.prepare('SELECT count(*) FROM sqlite_schema').get(); // SQLite opens the WAL's side files on the first read
    return db;
  } catch (error) {
    db?.close();
    if ((error as { code?: unknown }).code !== 'SQLITE_CANTOPEN' || fileSize(`${path}-wal`) > 0 || !canRead(path)) throw error;
    return new Database(`file:${encodeURI(path).replace(/[?#]/g, encodeURIComponent)}?immutable=1`, {
      readonly: true,
      fileMustExist: true,
      timeout: BUSY_TIMEOUT_MS,
    });
  }
}

function canRead(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Refuses a store that cannot be written, before anything is recorded, with the reason (a read-only file system,
 * an immutable file, no permission). The directory matters while SQLite still has to create its side files.
 */
function checkWritable(path: string): void {
  const targets = [path, ...(existsSync(`${path}-wal`) && existsSync(`${path}-shm`) ? [] : [dirname(path)])];
  for (const target of targets) {
    try {
      accessSync(target, constants.W_OK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'EACCES';
      const why =
        code === 'EROFS'
          ? 'read-only file system'
          : code === 'EPERM'
            ? 'operation not permitted (an immutable file or directory?)'
            : (error as Error).message;
      throw new LockstepError(
        ErrorCode.storeReadOnly,
        `run store ${path} cannot be written: ${target === path ? 'the file' : `its directory ${target}`} is read-only (${code}: ${why}); \`lockstep runs\` and \`lockstep show\` can still read it`,
        { cause: error },
      );
    }
  }
}

/**
 * Opens a store: verifies the file first (read-only), then, for reading and writing, opens it in WAL mode with
 * `synchronous = FULL` and applies any missing migrations. A file that fails verification is never written.
 *
 * @throws LockstepError `STORE_MISSING`, `STORE_CORRUPT`, `STORE_TOO_NEW`, `STORE_READ_ONLY`, `STORE_FULL`, `STORE_IO` or `STORE_UNAVAILABLE`.
 */
export function openStoreDatabase(path: string, options: OpenStoreOptions = {}): Database.Database {
  if (!existsSync(path)) {
    if (options.create === false || options.readOnly) throw new LockstepError(ErrorCode.storeMissing, `no run store at ${path}`);
    // A WAL file without its database holds history that belongs to a store that is gone: never start over it.
    if (fileSize(`${path}-wal`) > 0) throw corrupt(path, `the database file is missing but its write-ahead log ${path}-wal is there`);
    createStoreFile(path);
  }
  const { version } = verifyStoreFile(path);
  if (options.readOnly && version === SCHEMA_VERSION) {
    try {
      return openReadOnly(path);
    } catch (error) {
      throw storeError(error, path, 'opening the store read-only');
    }
  }
  try {
    checkWritable(path);
  } catch (error) {
    // Reading needs the current schema: an older store is upgraded first, which a read-only one cannot be.
    if (options.readOnly && error instanceof LockstepError) {
      throw new LockstepError(
        ErrorCode.storeReadOnly,
        `run store ${path} has schema version ${version}, older than this lockstep's ${SCHEMA_VERSION}, and cannot be written to upgrade it: make it writable once (or copy it somewhere writable) and run \`lockstep runs\` on it`,
        { cause: error },
      );
    }
    throw error;
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    if (version < SCHEMA_VERSION) migrate(db, path);
    return db;
  } catch (error) {
    db?.close();
    throw storeError(error, path, 'opening the store');
  }
}
