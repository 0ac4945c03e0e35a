import type { Ora } from 'ora';
import ora from 'ora';
import type { FinalEntry, RunEntry } from '../../core/protocol/run-entry.js';
import { formatDuration } from '../../core/sequence/duration.js';
import { stopWords } from './entry-words.js';

const PHASE_LABEL = { main: '', compensate: ' (compensation)', finally: ' (finally)' } as const;

/** Prints a run for people: a line per task start and end, a spinner on a TTY, a summary at the end. */
export class HumanReporter {
  readonly #write: (line: string) => void;
  readonly #spinner: Ora | undefined;
  readonly #tasks: Array<{ task: string; attempts: number; outcome: string; durationMs: number }> = [];
  #current = '';

  constructor(write: (line: string) => void, options: { tty: boolean; stream?: NodeJS.WriteStream }) {
    this.#write = write;
    this.#spinner = options.tty ? ora({ stream: options.stream ?? process.stdout, discardStdin: false }) : undefined;
  }

  #line(text: string): void {
    if (this.#spinner?.isSpinning) {
      this.#spinner.clear();
      this.#write(text);
      this.#spinner.render();
    } else this.#write(text);
  }

  output(task: string, stream: 'stdout' | 'stderr', line: string): void {
    this.#line(`    ${task} ${stream === 'stderr' ? '!' : '|'} ${line}`);
  }

  entry(e: RunEntry): void {
    switch (e.type) {
      case 'run.started':
        this.#line(
          `▶ run ${e.runId} of ${e.sequence} v${e.version}${e.rerunOf ? ` (rerun of ${e.rerunOf}, reusing ${e.reused?.join(', ') || 'nothing'})` : ''}`,
        );
        break;
      case 'task.started':
        this.#current = `${e.task}${PHASE_LABEL[e.phase]} attempt ${e.attempt}`;
        this.#line(`  → ${e.task}${PHASE_LABEL[e.phase]} started (attempt ${e.attempt})`);
        this.#spinner?.start(`running ${this.#current}`);
        break;
      case 'task.succeeded':
        this.#spinner?.stop();
        this.#record(e.task, e.attempt, 'succeeded', e.durationMs);
        this.#line(`  ✔ ${e.task}${PHASE_LABEL[e.phase]} succeeded in ${formatDuration(e.durationMs)} (attempt ${e.attempt})`);
        break;
      case 'task.failed': {
        this.#spinner?.stop();
        this.#record(e.task, e.attempt, e.willRetry ? 'retrying' : 'failed', e.durationMs);
        const retry = e.willRetry ? `; retrying in ${formatDuration(e.retryInMs ?? 0)}` : '';
        this.#line(
          `  ✖ ${e.task}${PHASE_LABEL[e.phase]} failed in ${formatDuration(e.durationMs)} (attempt ${e.attempt}): ${e.error.message}${retry}`,
        );
        if (e.error.output && !e.willRetry) {
          for (const l of e.error.output.trimEnd().split('\n').slice(-10)) this.#line(`      ${l}`);
        }
        if (e.willRetry) this.#spinner?.start(`waiting to retry ${e.task}`);
        break;
      }
      case 'task.interrupted':
        this.#line(`  ↻ ${e.task} attempt ${e.attempt} was interrupted; it runs again`);
        break;
      case 'task.stopped':
        this.#line(`  ■ ${e.task}${PHASE_LABEL[e.phase]} attempt ${e.attempt} ${stopWords(e)} after ${formatDuration(e.durationMs)}`);
        break;
      case 'run.cancelling':
        this.#spinner?.stop();
        this.#line(`■ cancelling: ${e.reason} (compensations and finally tasks still run)`);
        break;
      case 'run.timed-out':
        this.#spinner?.stop();
        this.#line('■ the run timed out (compensations and finally tasks still run)');
        break;
      case 'run.succeeded':
      case 'run.failed':
      case 'run.cancelled':
        this.#spinner?.stop();
        this.#summary(e);
        break;
      default:
        break;
    }
  }

  #record(task: string, attempt: number, outcome: string, durationMs: number): void {
    const row = this.#tasks.find((t) => t.task === task);
    if (row) Object.assign(row, { attempts: attempt, outcome, durationMs: row.durationMs + durationMs });
    else this.#tasks.push({ task, attempts: attempt, outcome, durationMs });
  }

  #summary(e: FinalEntry): void {
    const mark = e.outcome === 'succeeded' ? '✔' : '✖';
    this.#write('');
    this.#write(`${mark} run ${e.outcome} in ${formatDuration(e.durationMs)}${e.reason ? `: ${e.reason}` : ''}`);
    const width = Math.max(4, ...this.#tasks.map((t) => t.task.length));
    for (const t of this.#tasks) {
      this.#write(`  ${t.task.padEnd(width)}  ${t.outcome.padEnd(9)}  attempts ${t.attempts}  ${formatDuration(t.durationMs)}`);
    }
    if (e.outcome === 'succeeded' && e.failedTasks.length > 0) {
      this.#write(`  note: ${e.failedTasks.join(', ')} failed under onFailure: continue`);
    }
  }
}
