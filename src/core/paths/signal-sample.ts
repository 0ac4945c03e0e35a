import { signalProblems } from '../run/signal.js';
import type { TaskSpec } from '../sequence/types.js';
import type { Program } from '../step.js';

type Schema = Readonly<Record<string, unknown>>;

const isObj = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The smallest value a JSON Schema plausibly accepts: its example, default or const, else one built from its type. */
function sampleOf(schema: unknown, depth = 0): unknown {
  if (!isObj(schema) || depth > 8) return {};
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
  if ('default' in schema) return schema.default;
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  for (const k of ['oneOf', 'anyOf', 'allOf'] as const) {
    const list = schema[k];
    if (Array.isArray(list) && list.length > 0) return sampleOf(list[0], depth + 1);
  }
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string': {
      const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
      if (schema.format === 'date-time') return '2026-01-01T00:00:00Z';
      if (schema.format === 'email') return 'someone@example.com';
      return 'x'.repeat(Math.max(1, min));
    }
    case 'integer':
    case 'number':
      return typeof schema.minimum === 'number' ? Math.ceil(schema.minimum) : 1;
    case 'boolean':
      return true;
    case 'null':
      return null;
    case 'array': {
      const min = typeof schema.minItems === 'number' ? schema.minItems : 0;
      return Array.from({ length: min }, () => sampleOf(schema.items, depth + 1));
    }
    default: {
      const properties = isObj(schema.properties) ? schema.properties : {};
      const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
      return Object.fromEntries(required.map((k) => [k, sampleOf(properties[k], depth + 1)]));
    }
  }
}

/**
 * The data `lockstep test` signals a signal wait with: the first of its schema's `examples` (or its default), else
 * a value built from the schema's types and required fields. No schema: no data.
 *
 * @returns the data, or the problems the schema finds with the best guess (give the schema an `examples` entry).
 */
export function signalSample(program: Program, spec: TaskSpec): { readonly data: unknown } | { readonly problem: string } {
  const wait = spec.action.kind === 'wait' ? spec.action.wait : undefined;
  if (wait?.for !== 'signal' || !wait.schema) return { data: undefined };
  const data = sampleOf(wait.schema);
  const problems = signalProblems(program, { taskId: spec.id, data });
  if (problems.length === 0) return { data };
  const why = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
  return {
    problem: `no signal for ${spec.id} matches its schema (tried ${JSON.stringify(data)}: ${why}); give the schema an "examples" entry`,
  };
}
