import { spawn } from 'node:child_process';
import { TaskFailure } from '../core/errors.js';

const TAIL_BYTES = 4_096;

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
   * the group can be recorded while it runs. The group is gone once {@link runShellTask}'s promise settles.
   */
  readonly onStart?: (group: { readonly pgid: number }) => void;
  /** Called with each line of output, for live display. */
  readonly onOutput?: (stream: 'stdout' | 'stderr', line: string) => void;
}

export interface ShellTaskResult {
  /** The last stdout line that parses as JSON, if any. */
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

function lastJsonLine(stdout: string): unknown {
  const lines = stdout.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (line === '' || !/^[[{"\d-]|^(true|false|null)$/.test(line)) continue;
    try {
      return JSON.parse(line);
    } catch {
      // not JSON: keep looking
    }
  }
  return undefined;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

/**
 * Runs a shell command in its own process group. Data reaches it only through environment variables, never
 * through the command string. Cancellation sends SIGTERM to the whole group, then SIGKILL after a grace period.
 *
 * Background processes (`cmd &`) are part of the attempt. One that keeps the task's stdout or stderr open keeps
 * the attempt running until it exits; once the shell has exited and the output is closed, whatever is left of
 * the group gets SIGKILL, whether the task succeeded or failed. Work meant to outlive the task must leave the
 * group (`setsid cmd >log 2>&1 &`); lockstep then no longer tracks or stops it.
 *
 * @throws TaskFailure on a non-zero exit, a signal or cancellation, with the tail of the output.
 */
export function runShellTask(request: ShellTaskRequest): Promise<ShellTaskResult> {
  return new Promise((resolve, reject) => {
    if (request.signal.aborted) {
      reject(new TaskFailure(`cancelled before start: ${String(request.signal.reason ?? 'aborted')}`, { type: 'Cancelled' }));
      return;
    }
    const child = spawn('/bin/sh', ['-c', request.run], {
      cwd: request.cwd,
      env: { ...process.env, ...request.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const stdoutTail = new Tail();
    const combined = new Tail();
    let stdoutAll = '';
    let killTimer: NodeJS.Timeout | undefined;
    let cancelled = false;
    const onAbort = () => {
      cancelled = true;
      if (child.pid === undefined) return;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), request.killGraceMs ?? DEFAULT_KILL_GRACE_MS);
      killTimer.unref();
    };
    request.signal.addEventListener('abort', onAbort, { once: true });
    if (child.pid !== undefined) request.onStart?.({ pgid: child.pid });
    const lines = (stream: 'stdout' | 'stderr') => {
      let pending = '';
      return (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        combined.push(text);
        if (stream === 'stdout') {
          stdoutTail.push(text);
          stdoutAll = (stdoutAll + text).slice(-65_536);
        }
        if (!request.onOutput) return;
        pending += text;
        const parts = pending.split('\n');
        pending = parts.pop() ?? '';
        for (const line of parts) request.onOutput(stream, line);
      };
    };
    child.stdout.on('data', lines('stdout'));
    child.stderr.on('data', lines('stderr'));
    child.on('error', (error) => {
      request.signal.removeEventListener('abort', onAbort);
      reject(new TaskFailure(`could not start the command: ${error.message}`, { retriable: false, type: 'SpawnError' }));
    });
    child.on('close', (code, signal) => {
      request.signal.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      // Background processes the task started (`cmd &`) belong to its group and end with it, whatever the
      // outcome: a task that succeeds never leaves a process behind (see runShellTask).
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      const output = combined.text;
      if (cancelled) {
        reject(withOutput(new TaskFailure(`cancelled: ${String(request.signal.reason ?? 'aborted')}`, { type: 'Cancelled' }), output));
      } else if (code === 0) {
        resolve({ result: lastJsonLine(stdoutAll), output });
      } else {
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        reject(withOutput(new TaskFailure(`command ${how}`, { type: 'ExitCode', details: { code, signal } }), output));
      }
    });
  });
}

/** A task failure that carries the tail of the task's output. */
export interface FailureWithOutput extends TaskFailure {
  output?: string;
}

function withOutput(error: TaskFailure, output: string): TaskFailure {
  (error as FailureWithOutput).output = output;
  return error;
}

/** Environment variable name for a task's result: `LOCKSTEP_RESULT_CREATE_ORDER` for `create-order`. */
export function resultVariable(taskId: string): string {
  return `LOCKSTEP_RESULT_${taskId.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** The variables a shell task gets: run data, never interpolated into the command. */
export function shellEnvironment(data: {
  runId: string; taskId: string; attempt: number; idempotencyKey: string; phase: string; input: unknown; results: Readonly<Record<string, unknown>>;
}, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  const env: Record<string, string> = {
    ...extra,
    LOCKSTEP_RUN_ID: data.runId,
    LOCKSTEP_TASK_ID: data.taskId,
    LOCKSTEP_ATTEMPT: String(data.attempt),
    LOCKSTEP_IDEMPOTENCY_KEY: data.idempotencyKey,
    LOCKSTEP_PHASE: data.phase,
    LOCKSTEP_INPUT: JSON.stringify(data.input ?? null),
    LOCKSTEP_RESULTS: JSON.stringify(data.results),
  };
  for (const [taskId, value] of Object.entries(data.results)) {
    env[resultVariable(taskId)] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return env;
}
