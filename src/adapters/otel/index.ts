export type { OtlpProtocol, TracingChoice } from './otel-config.js';
export { tracingChoice } from './otel-config.js';
export { otelTracerFromEnv, processTracer } from './otel-tracer.js';
