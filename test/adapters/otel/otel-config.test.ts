import { describe, expect, it } from 'vitest';
import { tracingChoice } from '../../../src/adapters/otel/otel-config.js';

const ENDPOINT = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };

describe('tracingChoice: the OTEL_* variables', () => {
  it('is off without an endpoint, and on with either endpoint variable or OTEL_TRACES_EXPORTER=otlp', () => {
    expect(tracingChoice({})).toEqual({ on: false });
    expect(tracingChoice({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' })).toEqual({ on: false });
    expect(tracingChoice(ENDPOINT)).toEqual({ on: true, protocol: 'http/protobuf' });
    expect(tracingChoice({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })).toEqual({
      on: true,
      protocol: 'http/protobuf',
    });
    expect(tracingChoice({ OTEL_TRACES_EXPORTER: 'otlp' })).toEqual({ on: true, protocol: 'http/protobuf' });
  });

  it('takes the traces protocol over the general one', () => {
    expect(tracingChoice({ ...ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toEqual({ on: true, protocol: 'http/json' });
    expect(tracingChoice({ ...ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' })).toEqual({
      on: true,
      protocol: 'http/json',
    });
    expect(tracingChoice({ ...ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' })).toEqual({
      on: false,
      warning:
        'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc: lockstep exports traces with "http/protobuf" or "http/json" only; runs are not traced',
    });
  });

  it('is off with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none, and warns of an exporter it lacks', () => {
    expect(tracingChoice({ ...ENDPOINT, OTEL_SDK_DISABLED: 'TRUE' })).toEqual({ on: false });
    expect(tracingChoice({ ...ENDPOINT, OTEL_SDK_DISABLED: 'false' })).toEqual({ on: true, protocol: 'http/protobuf' });
    expect(tracingChoice({ ...ENDPOINT, OTEL_TRACES_EXPORTER: 'none' })).toEqual({ on: false });
    expect(tracingChoice({ ...ENDPOINT, OTEL_TRACES_EXPORTER: 'zipkin' })).toEqual({
      on: false,
      warning: 'OTEL_TRACES_EXPORTER=zipkin: lockstep exports traces over OTLP only ("otlp" or "none"); runs are not traced',
    });
    expect(tracingChoice({ ...ENDPOINT, OTEL_TRACES_EXPORTER: 'console,otlp' })).toEqual({ on: true, protocol: 'http/protobuf' });
  });
});
