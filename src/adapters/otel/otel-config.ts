/** The OTLP protocols lockstep exports traces with. */
export type OtlpProtocol = 'http/json' | 'http/protobuf';

/** Whether runs are traced, as the standard `OTEL_*` variables say: the protocol, or why not. */
export type TracingChoice =
  | { readonly on: true; readonly protocol: OtlpProtocol }
  | { readonly on: false /** Set when tracing was asked for but cannot be done as asked. */; readonly warning?: string };

const value = (env: Readonly<Record<string, string | undefined>>, name: string) => env[name]?.trim() || undefined;

/**
 * Reads the OpenTelemetry SDK variables that decide whether lockstep traces runs: on with an OTLP endpoint
 * (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or `OTEL_TRACES_EXPORTER=otlp`; off with
 * `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. The protocol is `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`,
 * else `OTEL_EXPORTER_OTLP_PROTOCOL`, else `http/protobuf` (the specification's default). Reading it is all it
 * costs when off: nothing is loaded.
 */
export function tracingChoice(env: Readonly<Record<string, string | undefined>>): TracingChoice {
  if (value(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return { on: false };
  const exporters = value(env, 'OTEL_TRACES_EXPORTER')
    ?.split(',')
    .map((e) => e.trim().toLowerCase())
    .filter((e) => e !== '');
  if (exporters?.includes('none')) return { on: false };
  const endpoint = value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (exporters && exporters.length > 0 && !exporters.includes('otlp')) {
    return {
      on: false,
      warning: `OTEL_TRACES_EXPORTER=${exporters.join(',')}: lockstep exports traces over OTLP only ("otlp" or "none"); runs are not traced`,
    };
  }
  if (endpoint === undefined && !exporters?.includes('otlp')) return { on: false };
  const protocolVariable = value(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL')
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = value(env, protocolVariable) ?? 'http/protobuf';
  if (protocol !== 'http/json' && protocol !== 'http/protobuf') {
    return {
      on: false,
      warning: `${protocolVariable}=${protocol}: lockstep exports traces with "http/protobuf" or "http/json" only; runs are not traced`,
    };
  }
  return { on: true, protocol };
}
