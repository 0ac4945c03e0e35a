import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { ErrorCode, LockstepError, TaskFailure } from '../core/errors.js';
import { DEFAULT_RESULT_BYTES, resultTooLargeMessage } from '../core/sequence/limits.js';
import type { StdoutResult } from './stdout-result.js';
import { LINE_SLACK_BYTES, StdoutResultFinder } from './stdout-result.js';

export { resultVariable } from '../core/sequence/result-variable.js';
export { shellEnvironment } from './shell-data.js';

const TAIL_BYTES = 4_096;
/** Characters of a line without a newline yet after which it is handed to `onOutput` as it is. */
const MAX_PENDING_LINE = 65_536;

/** Grace period between SIGTERM and SIGKILL when a shell task's process group is stopped. */
export const DEFAULT_KILL_GRACE_MS = 5_000;

/** What a shell task receives besides its command. */
export interface ShellTaskRequest {
  readonly run: string;
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly signal: AbortSignal;
  /** Grace period between SIGTERM and SIGKILL when the attempt is cancelled. @default {@link DEFAULT_KILL_GRACE_MS} */
  readonly killGraceMs?: number;
  /**
   * Called once the shell has started, with its process group id (the shell's pid: it leads its own group), so
   * the group can be recorded while it runs. The group is gone once {@link runShellTask}'s promise settles. When
   * it returns a promise, the task's command starts only once that has resolved (the group is recorded): should
   * this process die before then, the command never starts (see {@link GATE}).
   */
  readonly onStart?: (group: { readonly pgid: number }) => void | Promise<void>;
  /** Called with each line of output (the last one also without a newline), for live display and the attempt's log. */
  readonly onOutput?: (stream: 'stdout' | 'stderr', line: string) => void;
  /** The task's id, for messages. */
  readonly taskId?: string;
  /** Where the task may write its result as JSON (`LOCKSTEP_RESULT_FILE`); it takes precedence over stdout. */
  readonly resultFile?: string;
  /** The task's `limits.resultBytes`: a longer result fails the attempt, non-retriably. @default 1 MiB */
  readonly resultBytes?: number;
  /**
   * Ties the attempt to this process: should this process die (SIGKILL, the OOM killer, a crash), the attempt's
   * process group gets SIGTERM, then SIGKILL after the kill grace, so that the attempt never outlives the process
   * that runs it (see {@link LIFELINE}). false: the group lives on unsupervised once this process is gone.
   * @default true
   */
  readonly lifeline?: boolean;
  /**
   * The attempt's private directory (its data files): should this process die, the lifeline removes it, and its
   * parent directory once that is empty, after the kill grace, before the group's SIGKILL. Without a lifeline it
   * is left to whoever made it.
   */
  readonly attemptDir?: string;
}

export interface ShellTaskResult {
  /** The result file's JSON, else the last stdout line that parses as JSON, if any. */
  readonly result: unknown;
  readonly output: string;
}

class Tail {
  #text = '';
  push(chunk: string): void {
    this.#text = (this.#text + chunk).slice(-TAIL_BYTES);
  }
  get text(): string {
    return this.#text;
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

/**
 * The shell that starts a task with a lifeline: `$1` is the task's command, `$2` the kill grace in seconds, `$3`
 * the attempt's directory or empty, fd 3 the lifeline, a pipe whose other end only this process holds. It starts a
 * watchdog, then execs the task's own shell (same pid, so the group leader and the exit status are the task's; same
 * environment, fds 0-2 and `$0`; fd 3 closed). The watchdog is forked twice, so it is no child of the task's shell
 * (its `wait` and `jobs` never see it), but it stays in the task's process group; it holds none of the task's
 * output, and ignores SIGTERM so that a cancel's SIGTERM leaves it in place. It blocks reading the lifeline: EOF
 * means this process is gone (nothing is ever written to it), and it then sends the group SIGTERM, removes the
 * attempt's directory after the grace (and its parent, if that is empty now), and sends SIGKILL, itself included.
 * On a normal end this process SIGKILLs the group, the watchdog with it, before it lets go of the lifeline.
 */
const LIFELINE = `( ( trap '' TERM; read -r _ <&3; kill -s TERM 0; sleep "$2"; [ -n "$3" ] && rm -rf "$3" && rmdir "\${3%/*}"; kill -s KILL 0 ) </dev/null >/dev/null 2>&1 & ); exec /bin/sh -c "$1" 3<&-`;

/**
 * What a gated attempt's shell does first: it waits for this process's go-ahead, a line on fd 4, and runs nothing
 * without it (EOF: this process died before its group was recorded, so no one could have found and stopped it).
 */
const GATE = 'read -r _ <&4 || exit 125; exec 4<&-; ';

/** How the command ended, before its result is read. */
interface Ended {
  readonly stdout: StdoutResult;
  readonly output: string;
}

/**
 * Runs a shell command in its own process group. Data reaches it only through environment variables and files,
 * never through the command string. Cancellation sends SIGTERM to the whole group, then SIGKILL after a grace
 * period. The result is the JSON in `resultFile` when the task wrote one, else the last stdout line that parses
 * as JSON.
 *
 * Background processes (`cmd &`) are part of the attempt. One that keeps the task's stdout or stderr open keeps
 * the attempt running until it exits; once the shell has exited and the output is closed, whatever is left of
 * the group gets SIGKILL, whether the task succeeded or failed. Work meant to outlive the task must leave the
 * group (`setsid cmd >log 2>&1 &`) before the task ends (README: Shell tasks); lockstep then no longer tracks or
 * stops it. With a lifeline (the default), the group is stopped should this process die while the task runs.
 *
 * @throws TaskFailure on a non-zero exit, a signal or cancellation, with the tail of the output; a non-retriable
 * LockstepError when the result is over `resultBytes` or the result file is not JSON.
 */
export async function runShellTask(request: ShellTaskRequest): Promise<ShellTaskResult> {
  const resultBytes = request.resultBytes ?? DEFAULT_RESULT_BYTES;
  const ended = await runCommand(request, resultBytes);
  const taskId = request.taskId ?? 'shell';
  const fromFile = request.resultFile ? await readResultFile(request.resultFile, taskId, resultBytes, ended.output) : undefined;
  if (fromFile) return { result: fromFile.value, output: ended.output };
  if (ended.stdout && 'oversizedBytes' in ended.stdout) {
    const message = resultTooLargeMessage(taskId, ended.stdout.oversizedBytes, resultBytes, 'result (its stdout line)');
    throw refused(ErrorCode.resultTooLarge, message, ended.output);
  }
  return { result: ended.stdout?.value, output: ended.output };
}

/** A result lockstep does not take: the same every time, so not retriable. Typed like the orchestrator's refusals. */
function refused(code: ErrorCode, message: string, output: string): LockstepError {
  const type = code === ErrorCode.invalidResult ? 'InvalidResult' : 'LimitExceeded';
  return withOutput(Object.assign(new LockstepError(code, message, { retriable: false }), { type }), output);
}

/** The result file's value; undefined when the task wrote none (no file, or only whitespace). */
async function readResultFile(path: string, taskId: string, resultBytes: number, output: string): Promise<{ value: unknown } | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) return undefined;
  if (info.size > resultBytes + LINE_SLACK_BYTES) {
    throw refused(ErrorCode.resultTooLarge, resultTooLargeMessage(taskId, info.size, resultBytes, 'result (LOCKSTEP_RESULT_FILE)'), output);
  }
  const text = (await readFile(path, 'utf8')).trim();
  if (text === '') return undefined;
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (error) {
    const message = `task "${taskId}": LOCKSTEP_RESULT_FILE is not JSON: ${(error as Error).message}`;
    throw refused(ErrorCode.invalidResult, message, output);
  }
}

/** lockstep's data variables: set per attempt, so never inherited (from a lockstep run inside a task, say). */
const DATA_VARIABLE = /^LOCKSTEP_(INPUT|RESULTS?)(_|$)/;

/** This process's environment without lockstep data variables, so a variable lockstep leaves out is absent. */
function inheritedEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!DATA_VARIABLE.test(name)) env[name] = value;
  return env;
}

function runCommand(request: ShellTaskRequest, resultBytes: number): Promise<Ended> {
  return new Promise((resolve, reject) => {
    if (request.signal.aborted) {
      reject(new TaskFailure(`cancelled before start: ${String(request.signal.reason ?? 'aborted')}`, { type: 'Cancelled' }));
      return;
    }
    const lifeline = request.lifeline ?? true;
    // Without an onStart there is nothing to wait for; with one, it says when (see GATE).
    const gated = request.onStart !== undefined;
    const graceMs = request.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    let child: ChildProcess;
    try {
      const gate = gated ? GATE : '';
      const args = lifeline
        ? ['-c', gate + LIFELINE, '/bin/sh', request.run, String(graceMs / 1000), request.attemptDir ?? '']
        : gated
          ? ['-c', `${gate}exec /bin/sh -c "$1"`, '/bin/sh', request.run]
          : ['-c', request.run];
      child = spawn('/bin/sh', args, {
        cwd: request.cwd,
        env: { ...inheritedEnvironment(), ...request.env },
        stdio: ['ignore', 'pipe', 'pipe', lifeline ? 'pipe' : 'ignore', gated ? 'pipe' : 'ignore'],
        detached: true,
      });
    } catch (error) {
      // E2BIG, a NUL in a variable: the same every time.
      reject(new TaskFailure(`could not start the command: ${(error as Error).message}`, { retriable: false, type: 'SpawnError' }));
      return;
    }
    const stdoutResult = new StdoutResultFinder(resultBytes);
    const combined = new Tail();
    let killTimer: NodeJS.Timeout | undefined;
    let cancelled = false;
    const onAbort = () => {
      cancelled = true;
      if (child.pid === undefined) return;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), graceMs);
      killTimer.unref();
    };
    request.signal.addEventListener('abort', onAbort, { once: true });
    const goAhead = (child.stdio[4] ?? undefined) as Writable | undefined;
    if (child.pid !== undefined) {
      // The go-ahead goes once the group is recorded; a failed record aborts the attempt instead (its caller's
      // signal), which stops the group while it waits.
      void Promise.resolve(request.onStart?.({ pgid: child.pid })).then(
        () => goAhead?.end('go\n'),
        () => goAhead?.destroy(),
      );
    } else goAhead?.destroy();
    goAhead?.on('error', () => {}); // the shell gone before the go-ahead: its exit is what counts
    const lines = (stream: 'stdout' | 'stderr') => {
      let pending = '';
      const data = (text: string) => {
        combined.push(text);
        if (stream === 'stdout') stdoutResult.push(text);
        if (!request.onOutput) return;
        pending += text;
        const parts = pending.split('\n');
        pending = parts.pop() ?? '';
        for (const line of parts) request.onOutput(stream, line);
        // A line without end is handed on in pieces, so it never fills memory.
        if (pending.length >= MAX_PENDING_LINE) {
          request.onOutput(stream, pending);
          pending = '';
        }
      };
      // The last line, when the output does not end with a newline.
      const end = () => {
        if (pending !== '') request.onOutput?.(stream, pending);
        pending = '';
      };
      return { data, end };
    };
    // The lifeline is held until the group is gone; its end alone would stop the group (see LIFELINE).
    const lifelineEnd = child.stdio[3] ?? undefined;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let openOutputs = 2;
    // The shell has exited and its output is closed (the child's 'close' would also wait for the lifeline, which
    // the watchdog holds until the group is killed here).
    const ended = () => {
      if (exit === undefined || openOutputs > 0) return;
      request.signal.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      // Background processes the task started (`cmd &`) belong to its group and end with it, whatever the
      // outcome: a task that succeeds never leaves a process behind (see runShellTask).
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      lifelineEnd?.destroy();
      goAhead?.destroy();
      const output = combined.text;
      const { code, signal } = exit;
      if (cancelled) {
        reject(withOutput(new TaskFailure(`cancelled: ${String(request.signal.reason ?? 'aborted')}`, { type: 'Cancelled' }), output));
      } else if (code === 0) {
        resolve({ stdout: stdoutResult.end(), output });
      } else {
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        reject(withOutput(new TaskFailure(`command ${how}`, { type: 'ExitCode', details: { code, signal } }), output));
      }
    };
    // Decoded as a stream: a character split across chunks stays whole.
    for (const [name, stream] of [
      ['stdout', child.stdout!],
      ['stderr', child.stderr!],
    ] as const) {
      const output = lines(name);
      stream.setEncoding('utf8').on('data', output.data);
      stream.on('close', () => {
        output.end();
        openOutputs--;
        ended();
      });
    }
    child.on('error', (error) => {
      request.signal.removeEventListener('abort', onAbort);
      lifelineEnd?.destroy();
      goAhead?.destroy();
      reject(new TaskFailure(`could not start the command: ${error.message}`, { retriable: false, type: 'SpawnError' }));
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      ended();
    });
  });
}

/** A task failure that carries the tail of the task's output. */
export interface FailureWithOutput extends TaskFailure {
  output?: string;
}

function withOutput<E extends LockstepError>(error: E, output: string): E {
  (error as LockstepError & { output?: string }).output = output;
  return error;
}
