// A small JSON Schema check for the page: the keywords a signal's schema usually has (type, required, properties,
// additionalProperties, enum, const, lengths, bounds, pattern, items). It tells the operator early what is wrong;
// the server checks the whole schema and has the last word.

const kindOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

function describe(v) {
  const kind = kindOf(v);
  if (kind === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (kind === 'number' || kind === 'boolean') return String(v);
  if (kind === 'array') return 'a list';
  return kind === 'object' ? 'an object' : kind;
}

function typeMatches(type, v) {
  const kind = kindOf(v);
  if (type === 'integer') return kind === 'number' && Number.isInteger(v);
  return type === kind;
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** Every problem of `value` against `schema`, each `{ path, message }`, with paths like `data.approver`. */
export function schemaProblems(schema, value, path = 'data') {
  const problems = [];
  check(schema, value, path, problems);
  return problems;
}

function check(schema, v, path, problems) {
  if (schema === true || schema === undefined || schema === null) return;
  if (schema === false) return void problems.push({ path, message: 'no value is allowed here' });
  const add = (message) => problems.push({ path, message });
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeMatches(t, v))) {
      add(v === undefined ? 'required' : `expected ${types.join(' or ')}, got ${describe(v)}`);
      return;
    }
  }
  if (v === undefined) return;
  if (schema.const !== undefined && !same(schema.const, v)) add(`expected ${JSON.stringify(schema.const)}, got ${describe(v)}`);
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => same(e, v)))
    add(`expected one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}, got ${describe(v)}`);
  const kind = kindOf(v);
  if (kind === 'string') {
    if (schema.minLength !== undefined && v.length < schema.minLength) add(`expected at least ${schema.minLength} characters`);
    if (schema.maxLength !== undefined && v.length > schema.maxLength) add(`expected at most ${schema.maxLength} characters`);
    if (typeof schema.pattern === 'string') {
      try {
        if (!new RegExp(schema.pattern, 'u').test(v)) add(`expected text matching ${schema.pattern}`);
      } catch {
        // a pattern the browser cannot read: the server checks it
      }
    }
  }
  if (kind === 'number') {
    if (schema.minimum !== undefined && v < schema.minimum) add(`expected a number >= ${schema.minimum}, got ${v}`);
    if (schema.maximum !== undefined && v > schema.maximum) add(`expected a number <= ${schema.maximum}, got ${v}`);
    if (typeof schema.exclusiveMinimum === 'number' && v <= schema.exclusiveMinimum)
      add(`expected a number > ${schema.exclusiveMinimum}, got ${v}`);
    if (typeof schema.exclusiveMaximum === 'number' && v >= schema.exclusiveMaximum)
      add(`expected a number < ${schema.exclusiveMaximum}, got ${v}`);
  }
  if (kind === 'array') {
    if (schema.minItems !== undefined && v.length < schema.minItems) add(`expected at least ${schema.minItems} items`);
    if (schema.maxItems !== undefined && v.length > schema.maxItems) add(`expected at most ${schema.maxItems} items`);
    if (schema.items && typeof schema.items === 'object' && !Array.isArray(schema.items))
      v.forEach((item, i) => check(schema.items, item, `${path}[${i}]`, problems));
  }
  if (kind === 'object') {
    const properties = schema.properties ?? {};
    for (const key of Array.isArray(schema.required) ? schema.required : [])
      if (!Object.hasOwn(v, key)) problems.push({ path: `${path}.${key}`, message: 'required' });
    for (const [key, item] of Object.entries(v)) {
      if (Object.hasOwn(properties, key)) check(properties[key], item, `${path}.${key}`, problems);
      else if (schema.additionalProperties === false) problems.push({ path: `${path}.${key}`, message: 'unknown key' });
      else if (schema.additionalProperties && typeof schema.additionalProperties === 'object')
        check(schema.additionalProperties, item, `${path}.${key}`, problems);
    }
  }
}
