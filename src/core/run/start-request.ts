import type { Reuse } from './live-run.js';

/** What a client asks for when it starts a run. */
export interface StartRequest {
  readonly sequence: string;
  /** @default the latest version known */
  readonly version?: string;
  readonly input?: unknown;
  /** @default a random UUID */
  readonly runId?: string;
  /** The run this one reruns. */
  readonly rerunOf?: string;
  /** Results of the earlier run that stand in for its first tasks. */
  readonly reuse?: Reuse;
  /** A W3C `traceparent`: the run's trace becomes a child of that span. Checked: see `acceptTraceparent`. */
  readonly traceparent?: string;
}
