/** Embedded mode: runs execute in this process, over the in-memory transport, recorded in a run store. */

export type { EmbeddedOptions, EmbeddedRuntime } from './embedded-runtime.js';
export { createEmbeddedRuntime, definitionText } from './embedded-runtime.js';
export type { EmbeddedRunServiceOptions } from './run-service.js';
export { createEmbeddedRunService } from './run-service.js';
