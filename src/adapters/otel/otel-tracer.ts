import type { HrTime } from '@opentelemetry/api';
import type { ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { RunEntry } from '../../core/protocol/run-entry.js';
import type { SpanDescription, TracedRun } from '../../core/trace/run-spans.js';
import { RunSpans } from '../../core/trace/run-spans.js';
import type { RunTracer } from '../../ports/run-tracer.js';
import type { OtlpProtocol } from './otel-config.js';
import { tracingChoice } from './otel-config.js';

/** The packages tracing loads, in the order they are loaded (the first missing one is named). */
const PACKAGES = {
  core: '@opentelemetry/core',
  resources: '@opentelemetry/resources',
  sdk: '@opentelemetry/sdk-trace',
  'http/json': '@opentelemetry/exporter-trace-otlp-http',
  'http/protobuf': '@opentelemetry/exporter-trace-otlp-proto',
} as const;

/** OTLP enums, as numbers: loading `@opentelemetry/api` for them is not needed. */
const SPAN_KIND_INTERNAL = 0;
const STATUS_UNSET = 0;
const STATUS_ERROR = 2;

async function load<T>(name: string): Promise<T | string> {
  try {
    return (await import(name)) as T;
  } catch (error) {
    return `${name} cannot be loaded (${(error as Error).message.split('\n')[0]})`;
  }
}

/**
 * The tracer the standard `OTEL_*` variables ask for (see `tracingChoice`), or `undefined` when they ask for none.
 * The OpenTelemetry packages are optional dependencies, imported only here and only then: when one is missing,
 * `warn` is told which, once, and runs go on untraced. Spans go to a batch span processor and the OTLP/HTTP
 * exporter of the protocol, which read the endpoint, headers and timeouts from the same variables; the resource
 * is `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` (default `lockstep`).
 */
export async function otelTracerFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  warn: (message: string) => void,
): Promise<RunTracer | undefined> {
  const choice = tracingChoice(env);
  if (!choice.on) {
    if (choice.warning) warn(choice.warning);
    return undefined;
  }
  const core = await load<typeof import('@opentelemetry/core')>(PACKAGES.core);
  const resources = typeof core === 'string' ? core : await load<typeof import('@opentelemetry/resources')>(PACKAGES.resources);
  const sdk = typeof resources === 'string' ? resources : await load<typeof import('@opentelemetry/sdk-trace')>(PACKAGES.sdk);
  const exporter = typeof sdk === 'string' ? sdk : await loadExporter(choice.protocol);
  for (const failed of [core, resources, sdk, exporter]) {
    if (typeof failed === 'string') {
      warn(`tracing is on (OTEL_* variables), but ${failed}: runs go on untraced; install the optional dependencies of lockstep`);
      return undefined;
    }
  }
  const c = core as typeof import('@opentelemetry/core');
  const r = resources as typeof import('@opentelemetry/resources');
  const s = sdk as typeof import('@opentelemetry/sdk-trace');
  const resource = r
    .defaultResource()
    .merge(r.resourceFromAttributes({ 'service.name': 'lockstep' }))
    .merge(r.detectResources({ detectors: [r.resourceAttributesEnvDetector, r.serviceNameEnvDetector] }));
  const processor = new s.BatchSpanProcessor({ exporter: exporter as SpanExporter });
  return new OtelTracer(processor, (span) => readableSpan(span, resource, c.millisToHrTime), warn);
}

async function loadExporter(protocol: OtlpProtocol) {
  const name = PACKAGES[protocol];
  const m = await load<typeof import('@opentelemetry/exporter-trace-otlp-http')>(name);
  return typeof m === 'string' ? m : new m.OTLPTraceExporter();
}

/** A {@link RunTracer} over an OpenTelemetry span processor: spans from {@link RunSpans}, ended as they are made. */
class OtelTracer implements RunTracer {
  readonly #spans = new RunSpans();
  readonly #processor: SpanProcessor;
  readonly #toSpan: (span: SpanDescription) => ReadableSpan;
  readonly #warn: (message: string) => void;

  constructor(processor: SpanProcessor, toSpan: (span: SpanDescription) => ReadableSpan, warn: (message: string) => void) {
    this.#processor = processor;
    this.#toSpan = toSpan;
    this.#warn = warn;
  }

  entry(entry: RunEntry, run: TracedRun): void {
    for (const span of this.#spans.take(entry, run)) this.#processor.onEnd(this.#toSpan(span));
  }

  /** Exports what is buffered (within the exporter's timeout, `OTEL_EXPORTER_OTLP_TIMEOUT`); a failed export is a warning. */
  async close(): Promise<void> {
    try {
      await this.#processor.shutdown();
    } catch (error) {
      this.#warn(`spans could not be exported to the OTLP endpoint: ${(error as Error).message}`);
    }
  }
}

/** The SDK's view of an ended span: ids and times are lockstep's own, derived from the run's history. */
function readableSpan(span: SpanDescription, resource: ReadableSpan['resource'], hr: (ms: number) => HrTime): ReadableSpan {
  const traceFlags = Number.parseInt(span.flags, 16) & 1;
  const context = { traceId: span.traceId, spanId: span.spanId, traceFlags };
  return {
    name: span.name,
    kind: SPAN_KIND_INTERNAL,
    spanContext: () => context,
    ...(span.parentSpanId ? { parentSpanContext: { traceId: span.traceId, spanId: span.parentSpanId, traceFlags } } : {}),
    startTime: hr(span.startMs),
    endTime: hr(span.endMs),
    duration: hr(Math.max(0, span.endMs - span.startMs)),
    status: span.status.code === 'error' ? { code: STATUS_ERROR, message: span.status.message } : { code: STATUS_UNSET },
    attributes: span.attributes as ReadableSpan['attributes'],
    links: [],
    events: span.events.map((e) => ({ name: e.name, time: hr(e.atMs), attributes: e.attributes as ReadableSpan['attributes'] })),
    ended: true,
    resource,
    instrumentationScope: { name: 'lockstep' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

const warned = new Set<string>();

/**
 * The tracer of this process's environment, for the composition roots: each warning is given once per process,
 * as a Node warning (`LOCKSTEP_TRACING`), however many runtimes start.
 */
export function processTracer(): Promise<RunTracer | undefined> {
  return otelTracerFromEnv(process.env, (message) => {
    if (warned.has(message)) return;
    warned.add(message);
    process.emitWarning(message, { code: 'LOCKSTEP_TRACING' });
  });
}
