import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { lstat, mkdtemp, readdir, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Where shell attempts keep their private directories. Each process makes one parent directory under the temp
 * directory, named after its owner, `lockstep-attempts-<scope>-<pid>-<start>-XXXXXX` (mode 0700):
 * - `scope`: this boot and pid namespace (a hash of both), where a pid means the same process; `x` without procfs;
 * - `pid`, `start`: the owner's pid and start time (Linux: clock ticks since boot, `/proc/<pid>/stat` field 22, as
 *   recorded for attempt process groups), `x` where it cannot be read.
 *
 * Its attempt directories are `attempt-XXXXXX` inside it, each removed when its attempt ends, and the parent with
 * the last (or on exit). A process that dies without doing so (SIGKILL, the OOM killer) leaves them to the next
 * lockstep process to run a shell task: it first removes every parent whose owner is gone, but for an attempt whose
 * process group still runs (`.group`, written once the attempt's shell has started): an attempt left running
 * without a lifeline keeps its data until it ends.
 */
export const PARENT_PREFIX = 'lockstep-attempts-';

/** The file in an attempt directory naming the process group of its shell, while the attempt runs. */
export const GROUP_FILE = '.group';

const PARENT = /^lockstep-attempts-([0-9a-f]{12}|x)-(\d+)-(\d+|x)-[A-Za-z0-9]{6}$/;

/** The start time of a process (Linux: clock ticks since boot), or null where it cannot be read. */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** This boot and pid namespace, where a pid names one process; null without procfs. */
function pidScope(): string | null {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const namespace = readlinkSync('/proc/self/ns/pid');
    return createHash('sha256').update(`${boot} ${namespace}`).digest('hex').slice(0, 12);
  } catch {
    return null;
  }
}

/** Whether a process exists (one of another user's included). */
function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the owner a parent's name records may still run. Only a parent of this scope can be checked; without
 * procfs, a pid that exists counts as its owner (a reused pid then delays its removal, never hastens it).
 */
function ownerMayRun(name: string, scope: string): boolean {
  const match = PARENT.exec(name);
  if (!match) return true;
  const [, ownerScope, pid, start] = match as unknown as [string, string, string, string];
  if (ownerScope !== scope) return true;
  if (!exists(Number(pid))) return false;
  if (start === 'x') return true;
  const now = processStart(Number(pid));
  // Gone between the two checks, or a later process given the same pid.
  return now === start;
}

/** Whether an attempt's process group, as its `.group` file names it, still has a process. */
function groupRuns(attemptDir: string): boolean {
  let recorded: string;
  try {
    recorded = readFileSync(join(attemptDir, GROUP_FILE), 'utf8');
  } catch {
    return false;
  }
  const pgid = Number(recorded.trim());
  // A group id is its leader's pid, above 1: 0 and -1 would name this process's group and every process. Linux
  // gives no new process the id of a group that still exists, so a live group with this id is the attempt's or a
  // later one's: either way the directory waits for the next sweep, never goes too early.
  return Number.isSafeInteger(pgid) && pgid > 1 && exists(-pgid);
}

/** Whether an operation succeeded; its error is dropped. */
const succeeds = (operation: Promise<unknown>): Promise<boolean> =>
  operation.then(
    () => true,
    () => false,
  );

/**
 * The parents of attempt directories under one temp directory. This process's own is made when an attempt needs
 * it and removed once no attempt of this process has a directory, so an idle process leaves nothing behind.
 */
export class AttemptDirectories {
  readonly #root: string;
  #own: Promise<string> | undefined;
  /** Attempt directories made or being made, and not yet released. */
  #live = 0;
  #swept = false;
  #exitHook = false;
  /** Parents this process made and has not removed yet: removed on exit. */
  readonly #made = new Set<string>();

  constructor(root: string) {
    this.#root = root;
  }

  /**
   * Makes a new attempt directory (0700) in this process's parent; the first one sweeps the parents of owners that
   * are gone. Give it back with {@link release}.
   */
  async make(): Promise<string> {
    this.#live++;
    try {
      const parent = await this.#parent();
      try {
        return await mkdtemp(join(parent, 'attempt-'));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        // The parent was removed under this process (a temp cleaner): make a new one.
        if (this.#own && (await this.#own.catch(() => undefined)) === parent) this.#own = undefined;
        return await mkdtemp(join(await this.#parent(), 'attempt-'));
      }
    } catch (error) {
      this.#live--;
      throw error;
    }
  }

  /** Removes an attempt directory {@link make} gave, and this process's parent once no attempt has one. */
  async release(dir: string): Promise<void> {
    try {
      await rm(dir, { recursive: true, force: true });
    } finally {
      this.#live--;
      if (this.#live === 0 && this.#own) {
        const parent = await this.#own.catch(() => undefined);
        // An attempt that started meanwhile keeps it; one that starts now makes a new one.
        if (parent && this.#live === 0) {
          this.#own = undefined;
          if (await succeeds(rmdir(parent))) this.#made.delete(parent);
        }
      }
    }
  }

  /**
   * Removes the parents of attempt directories whose owner is gone, all but the attempts whose process group
   * still runs; returns the paths removed. Never fails: what cannot be removed now is left for a later sweep.
   */
  async sweep(): Promise<string[]> {
    const scope = pidScope() ?? 'x';
    const removed: string[] = [];
    const names = await readdir(this.#root).catch(() => [] as string[]);
    const uid = process.getuid?.();
    for (const name of names) {
      if (!name.startsWith(PARENT_PREFIX) || ownerMayRun(name, scope)) continue;
      const parent = join(this.#root, name);
      const info = await lstat(parent).catch(() => undefined);
      // Only a real directory of this user: never a link, never someone else's.
      if (!info?.isDirectory() || (uid !== undefined && info.uid !== uid)) continue;
      let kept = 0;
      for (const entry of await readdir(parent).catch(() => [] as string[])) {
        const path = join(parent, entry);
        if (!groupRuns(path) && (await succeeds(rm(path, { recursive: true, force: true })))) removed.push(path);
        else kept++;
      }
      if (kept === 0 && (await succeeds(rmdir(parent)))) removed.push(parent);
    }
    return removed;
  }

  #parent(): Promise<string> {
    if (this.#own) return this.#own;
    const own = (async () => {
      if (!this.#swept) {
        this.#swept = true;
        await this.sweep();
      }
      const start = processStart(process.pid) ?? 'x';
      const parent = await mkdtemp(join(this.#root, `${PARENT_PREFIX}${pidScope() ?? 'x'}-${process.pid}-${start}-`));
      this.#made.add(parent);
      if (!this.#exitHook) {
        this.#exitHook = true;
        process.once('exit', () => {
          for (const made of this.#made) clearOwnOnExit(made);
        });
      }
      return parent;
    })();
    this.#own = own;
    // A failure is not kept: the next attempt tries again.
    own.catch(() => {
      if (this.#own === own) this.#own = undefined;
    });
    return own;
  }
}

/**
 * On exit, removes this process's parent of attempt directories, but for the attempts whose process group still
 * runs (left running without a lifeline, or in a lifeline's kill grace): the next sweep, or the lifeline, removes
 * those once their group is gone.
 */
function clearOwnOnExit(parent: string): void {
  let kept = 0;
  let entries: string[] = [];
  try {
    entries = readdirSync(parent);
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(parent, entry);
    if (groupRuns(path)) kept++;
    else rmSync(path, { recursive: true, force: true });
  }
  if (kept === 0) {
    try {
      rmdirSync(parent);
    } catch {
      // something was added meanwhile: left to a later sweep
    }
  }
}

/** Records the process group of an attempt's shell in its directory, for a sweep to leave a running attempt alone. */
export function recordGroup(attemptDir: string, pgid: number): void {
  try {
    writeFileSync(join(attemptDir, GROUP_FILE), String(pgid), { mode: 0o600 });
  } catch {
    // Without it, a sweep after this process died would remove the directory of an attempt that still runs.
  }
}

let shared: AttemptDirectories | undefined;

/** The attempt directories under the OS temp directory, shared by the whole process. */
export function attemptDirectories(): AttemptDirectories {
  shared ??= new AttemptDirectories(tmpdir());
  return shared;
}
