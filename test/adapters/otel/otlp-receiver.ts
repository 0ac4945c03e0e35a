import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One span as the tests look at it, from OTLP JSON or protobuf. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly attributes: Record<string, string | number | boolean | string[]>;
  readonly events: ReadonlyArray<{ name: string; attributes: Record<string, string | number | boolean | string[]> }>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  readonly status: number;
  readonly resource: Record<string, string | number | boolean | string[]>;
}

/** An export request the receiver took. */
export interface ExportRequest {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** A plain OTLP/HTTP receiver on loopback: it keeps every request and answers 200 with an empty response. */
export async function startReceiver(): Promise<{ url: string; requests: ExportRequest[]; close(): Promise<void> }> {
  const requests: ExportRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      const json = req.headers['content-type']?.includes('json');
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : '');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

type Value = string | number | boolean | string[];

interface JsonAnyValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
  doubleValue?: number;
  arrayValue?: { values?: JsonAnyValue[] };
}

const jsonValue = (v: JsonAnyValue): Value =>
  v.arrayValue
    ? (v.arrayValue.values ?? []).map((x) => String(jsonValue(x)))
    : (v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue ?? '')));
const jsonAttributes = (list: Array<{ key: string; value: JsonAnyValue }> = []) =>
  Object.fromEntries(list.map((a) => [a.key, jsonValue(a.value)]));

interface JsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Array<{ key: string; value: JsonAnyValue }>;
  events: Array<{ name: string; attributes: Array<{ key: string; value: JsonAnyValue }> }>;
  status: { code?: number };
}

/** The spans of OTLP/JSON export requests. */
export function jsonSpans(bodies: readonly Buffer[]): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const body of bodies) {
    const request = JSON.parse(body.toString('utf8')) as {
      resourceSpans: Array<{
        resource: { attributes: Array<{ key: string; value: JsonAnyValue }> };
        scopeSpans: Array<{ spans: JsonSpan[] }>;
      }>;
    };
    for (const rs of request.resourceSpans) {
      const resource = jsonAttributes(rs.resource.attributes);
      for (const ss of rs.scopeSpans) {
        for (const s of ss.spans) {
          spans.push({
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId ?? '',
            name: s.name,
            attributes: jsonAttributes(s.attributes),
            events: s.events.map((e) => ({ name: e.name, attributes: jsonAttributes(e.attributes) })),
            status: s.status.code ?? 0,
            resource,
          });
        }
      }
    }
  }
  return spans;
}

/** The fields of one protobuf message: field number -> values (varints as bigint, length-delimited as bytes). */
function fields(buf: Buffer): Map<number, Array<bigint | Buffer>> {
  const out = new Map<number, Array<bigint | Buffer>>();
  let i = 0;
  const varint = () => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[i++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const tag = Number(varint());
    const field = tag >>> 3;
    const wire = tag & 7;
    let value: bigint | Buffer;
    if (wire === 0) value = varint();
    else if (wire === 1) {
      value = buf.readBigUInt64LE(i);
      i += 8;
    } else if (wire === 2) {
      const length = Number(varint());
      value = buf.subarray(i, i + length);
      i += length;
    } else if (wire === 5) {
      value = BigInt(buf.readUInt32LE(i));
      i += 4;
    } else throw new Error(`unexpected wire type ${wire}`);
    out.set(field, [...(out.get(field) ?? []), value]);
  }
  return out;
}

const bytes = (f: Map<number, Array<bigint | Buffer>>, n: number) => (f.get(n) ?? []) as Buffer[];
const text = (f: Map<number, Array<bigint | Buffer>>, n: number) => bytes(f, n)[0]?.toString('utf8') ?? '';

/** AnyValue: 1 string, 2 bool, 3 int, 4 double, 5 array. */
function protoValue(b: Buffer): Value {
  const f = fields(b);
  if (f.has(1)) return text(f, 1);
  if (f.has(2)) return (f.get(2)![0] as bigint) === 1n;
  if (f.has(3)) return Number(f.get(3)![0] as bigint);
  if (f.has(4)) return (f.get(4)![0] as bigint) === 0n ? 0 : Number.NaN;
  if (f.has(5)) return bytes(f, 5).flatMap((arr) => bytes(fields(arr), 1).map((v) => String(protoValue(v))));
  return '';
}

const protoAttributes = (list: Buffer[]) =>
  Object.fromEntries(
    list.map((kv) => {
      const f = fields(kv);
      return [text(f, 1), protoValue(bytes(f, 2)[0] ?? Buffer.alloc(0))];
    }),
  );

/**
 * The spans of OTLP protobuf export requests, read with a small wire-format decoder (ExportTraceServiceRequest:
 * 1 resource_spans; ResourceSpans: 1 resource, 2 scope_spans; ScopeSpans: 2 spans; Span: 1 trace_id, 2 span_id,
 * 4 parent_span_id, 5 name, 9 attributes, 11 events, 15 status).
 */
export function protobufSpans(bodies: readonly Buffer[]): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const body of bodies) {
    for (const rs of bytes(fields(body), 1)) {
      const rsf = fields(rs);
      const resource = protoAttributes(bytes(fields(bytes(rsf, 1)[0] ?? Buffer.alloc(0)), 1));
      for (const ss of bytes(rsf, 2)) {
        for (const span of bytes(fields(ss), 2)) {
          const f = fields(span);
          const status = fields(bytes(f, 15)[0] ?? Buffer.alloc(0));
          spans.push({
            traceId: bytes(f, 1)[0]!.toString('hex'),
            spanId: bytes(f, 2)[0]!.toString('hex'),
            parentSpanId: bytes(f, 4)[0]?.toString('hex') ?? '',
            name: text(f, 5),
            attributes: protoAttributes(bytes(f, 9)),
            events: bytes(f, 11).map((e) => {
              const ef = fields(e);
              return { name: text(ef, 2), attributes: protoAttributes(bytes(ef, 3)) };
            }),
            status: Number((status.get(3)?.[0] as bigint | undefined) ?? 0n),
            resource,
          });
        }
      }
    }
  }
  return spans;
}
