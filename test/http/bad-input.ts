// Inputs that the serve tests feed the API and `--machines`: JSON nested deeper than a value serialises, and bad files.
/** JSON nested `n` lists deep, as a value serialises only up to a few thousand levels. */
export class Deep {
  constructor(readonly n: number) {}
}
export const deep = (n: number) => new Deep(n);
/** JSON text of a value that may hold a {@link Deep} (in place of a JSON value). */
export const json = (value: unknown): string => {
  if (value instanceof Deep) return `${'['.repeat(value.n)}${']'.repeat(value.n)}`;
  if (Array.isArray(value)) return `[${value.map(json).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${json(v)}`)
      .join(',')}}`;
  return JSON.stringify(value);
};

/** Files that must not stop the server: each is skipped and listed with its problems. */
export const BAD_FILES: Record<string, string | Buffer> = {
  'alias.yaml': 'name: alias\ntasks: *nope\n',
  'bomb.yaml': [
    'name: bomb',
    'tasks: [{ id: a, run: x }]',
    'a: &a [x, x, x, x, x, x, x, x, x]',
    'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
    'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
    'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
  ].join('\n'),
  'deep.yaml': `name: deep\ntasks: ${'['.repeat(3000)}${']'.repeat(3000)}\n`,
  'binary.yaml': Buffer.from([0xff, 0xfe, 0x00, 0x01]),
};
