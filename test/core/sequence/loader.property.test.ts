import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { DefinitionError } from '../../../src/core/errors.js';
import { inputProblems } from '../../../src/core/input-limits.js';
import { MAX_NESTING_DEPTH } from '../../../src/core/nesting.js';
import type { Sequence } from '../../../src/core/sequence/types.js';
import { loadSequenceText } from '../../../src/core/sequence/validate.js';

/**
 * The definition loader is total: every text is accepted as a sequence, or rejected with a DefinitionError
 * that lists problems. Nothing else is ever thrown.
 */
function outcome(text: string): Sequence | DefinitionError {
  try {
    return loadSequenceText(text);
  } catch (error) {
    if (!(error instanceof DefinitionError))
      throw new Error(`threw ${String(error)} for ${JSON.stringify(text.slice(0, 200))}`, { cause: error });
    expect(error.problems.length).toBeGreaterThan(0);
    for (const p of error.problems) {
      expect(typeof p.path).toBe('string');
      expect(p.message.length).toBeGreaterThan(0);
      expect(p.message).not.toMatch(/\n\s+at /);
    }
    return error;
  }
}

const isDepthProblem = (o: ReturnType<typeof outcome>) =>
  o instanceof DefinitionError && o.problems.some((p) => p.message.startsWith(`nesting deeper than ${MAX_NESTING_DEPTH}`));

const TOKENS = [
  '- ',
  '-',
  '[',
  ']',
  '{',
  '}',
  ':',
  ': ',
  ' ',
  '  ',
  '\n',
  '\n  ',
  '\n    ',
  '\t',
  ',',
  '? ',
  '#',
  ' #',
  '|',
  '|-',
  '>',
  '---',
  '...',
  '%YAML 1.2',
  '&a ',
  '&b ',
  '*a',
  '*b',
  '*c',
  '!!binary ',
  '!!set ',
  '!!map ',
  '!!str ',
  '!foo ',
  '"',
  "'",
  '\\',
  '""',
  "''",
  '"x\\"',
  'name',
  'tasks',
  'finally',
  'id',
  'run',
  'queue',
  'compensate',
  'retry',
  'maxAttempts',
  'timeout',
  'x',
  'echo',
  '1',
  '0',
  '-1',
  '1e400',
  'null',
  'true',
  '~',
  '<<',
  '\u0000',
  '\r\n',
  '\uFEFF',
  '\u2028',
  '\uD800',
  'é',
];
const yamlish = fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }).map((parts) => parts.join(''));

/** A plausible sequence: what users write, with awkward strings in free-text fields. */
const awkward = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom('[[ -f x ]] && echo "{a}"', 'echo [x', "it's: #1", '|', '- [', '{"a": [[[[', '*a &b !c'),
);
const taskId = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
const task = fc.record(
  {
    id: taskId,
    run: awkward.filter((s) => s.length > 0),
    description: fc.option(awkward, { nil: undefined }),
    retry: fc.option(fc.record({ maxAttempts: fc.integer({ min: 1, max: 5 }) }), { nil: undefined }),
  },
  { requiredKeys: ['id', 'run'] },
);
const plausible = fc.record(
  {
    name: fc.string({ minLength: 1, maxLength: 20 }),
    description: fc.option(awkward, { nil: undefined }),
    tasks: fc.uniqueArray(task, { minLength: 1, maxLength: 5, selector: (t) => t.id }),
  },
  { requiredKeys: ['name', 'tasks'] },
);
const strip = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('loadSequenceText (property)', () => {
  it('never throws anything but a DefinitionError with problems, on any string', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ maxLength: 200 })), (text) => {
        outcome(text);
      }),
      { numRuns: 3_000 },
    );
  });

  it('never throws on YAML-ish texts made of indicators, anchors, aliases, tags and keywords', () => {
    fc.assert(
      fc.property(yamlish, (text) => {
        outcome(text);
      }),
      { numRuns: 3_000 },
    );
  });

  it('never throws on any JSON value rendered as JSON or YAML', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.boolean(), (value, asYaml) => {
        outcome(asYaml ? stringify(value) : JSON.stringify(value, null, 1));
      }),
      { numRuns: 1_500 },
    );
  });

  it('accepts every valid sequence, rendered as YAML (block and flow) or JSON, whatever its strings hold', () => {
    fc.assert(
      fc.property(plausible, fc.constantFrom('block', 'flow', 'json'), (raw, how) => {
        const value = strip(raw);
        const text = how === 'json' ? JSON.stringify(value, null, 2) : stringify(value, how === 'flow' ? { collectionStyle: 'flow' } : {});
        const result = outcome(text);
        if (result instanceof DefinitionError) expect.fail(`rejected ${text}\n${result.message}`);
        expect(result.tasks.map((t) => t.id)).toEqual(value.tasks.map((t) => t.id));
      }),
      { numRuns: 1_500 },
    );
  });

  it('rejects nesting deeper than the limit, in every notation, and accepts it at the limit', () => {
    const forms = {
      flow: (n: number) => `name: x\ntasks:\n  - id: a\n    run: x\nextra: ${'['.repeat(n)}${']'.repeat(n)}`,
      json: (n: number) => `{"name": "x", "extra": ${'{"a": '.repeat(n)}1${'}'.repeat(n)}}`,
      dashes: (n: number) => `name: x\nextra:\n${'- '.repeat(n)}x`,
      block: (n: number) => `name: x\nextra:\n${Array.from({ length: n }, (_, i) => `${' '.repeat(i + 1)}k:`).join('\n')}`,
      unclosed: (n: number) => `name: x\nextra: ${'['.repeat(n)}`,
    };
    fc.assert(
      fc.property(fc.constantFrom(...(Object.keys(forms) as Array<keyof typeof forms>)), fc.integer({ min: 1, max: 4_000 }), (form, n) => {
        // Block indentation grows as n squared: past 1,500 levels the text is over the size limit instead.
        const levels = form === 'block' ? Math.min(n, 1_500) : n;
        const result = outcome(forms[form](levels));
        // The document is a mapping (1) holding `extra` (the n levels). The unclosed form never parses: only the
        // scan before parsing sees its depth, and it counts `key: [` one level low (it errs low, never high).
        if (form === 'unclosed') {
          expect(result).toBeInstanceOf(DefinitionError);
          if (levels > MAX_NESTING_DEPTH) expect(isDepthProblem(result), `${form} ${n}`).toBe(true);
        } else {
          expect(isDepthProblem(result), `${form} ${n}`).toBe(levels + 1 > MAX_NESTING_DEPTH);
        }
      }),
      { numRuns: 800 },
    );
  });

  it('never throws on anchors and aliases in any order, including cycles and bombs', () => {
    const name = fc.constantFrom('a', 'b', 'c');
    const node: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.constantFrom('1', 'x', '"s"'),
        name.map((n) => `*${n}`),
        fc.tuple(name, tie('node')).map(([n, v]) => `&${n} ${v}`),
        fc.array(tie('node'), { maxLength: 9 }).map((items) => `[${items.join(', ')}]`),
        fc
          .array(fc.tuple(fc.constantFrom('k', 'l', 'm'), tie('node')), { maxLength: 4 })
          .map((pairs) => `{${pairs.map(([k, v]) => `${k}: ${v}`).join(', ')}}`),
      ),
    })).node;
    fc.assert(
      fc.property(fc.array(node, { minLength: 1, maxLength: 6 }), (values) => {
        outcome(`name: x\ntasks:\n  - id: a\n    run: x\n${values.map((v, i) => `v${i}: ${v}`).join('\n')}\n`);
      }),
      { numRuns: 1_500 },
    );
  });
});

describe('inputProblems (property)', () => {
  it('accepts JSON within the limits and rejects deeper values, never throwing', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 3_000 }), (value, wrap) => {
        let v: unknown = value;
        for (let i = 0; i < wrap; i++) v = [v];
        const problems = inputProblems(v);
        if (wrap > MAX_NESTING_DEPTH) expect(problems.map((p) => p.message).join()).toContain('nesting deeper than');
        if (wrap === 0) expect(problems).toEqual([]);
      }),
      { numRuns: 1_000 },
    );
  });
});
