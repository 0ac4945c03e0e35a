// The environment a shell task gets stays within documented bounds, the files hold everything, and stdout is
// searched for the result line by line, none dropped, with bounded memory.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ENV_BUDGET_BYTES, ENV_VALUE_MAX_BYTES, shellEnvironment, writeAttemptFiles } from '../../src/runtime/shell-data.js';
import { runShellTask } from '../../src/runtime/shell-task.js';
import { StdoutResultFinder } from '../../src/runtime/stdout-result.js';

const base = { runId: 'r', taskId: 't', attempt: 1, idempotencyKey: 'r:t:1', phase: 'main' };
const dataBytes = (env: Record<string, string>) =>
  Object.entries(env)
    .filter(([k]) => k === 'LOCKSTEP_INPUT' || k === 'LOCKSTEP_RESULTS' || k.startsWith('LOCKSTEP_RESULT_'))
    .reduce((sum, [k, v]) => sum + k.length + Buffer.byteLength(v) + 2, 0);

describe('shell task environment', () => {
  it('drops a value above the per-variable size, and one with a NUL, keeping the rest', () => {
    const env = shellEnvironment({
      ...base,
      input: 'i'.repeat(ENV_VALUE_MAX_BYTES),
      results: { small: 1, nul: 'a\0b', big: 'x'.repeat(ENV_VALUE_MAX_BYTES + 1) },
    });
    expect(env.LOCKSTEP_INPUT).toBeUndefined(); // its JSON has two quotes more
    expect(env.LOCKSTEP_RESULT_SMALL).toBe('1');
    expect(env.LOCKSTEP_RESULT_NUL).toBeUndefined();
    expect(env.LOCKSTEP_RESULT_BIG).toBeUndefined();
    expect(env.LOCKSTEP_RESULTS).toBeUndefined();
    expect(env).toMatchObject({ LOCKSTEP_RUN_ID: 'r', LOCKSTEP_TASK_ID: 't', LOCKSTEP_ATTEMPT: '1', LOCKSTEP_PHASE: 'main' });
  });

  it('keeps its data variables within the total budget, the biggest dropped first', () => {
    const results = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`t${i}`, 'v'.repeat(1_000 + i * 200)]));
    const env = shellEnvironment({ ...base, input: { small: true }, results });
    expect(dataBytes(env)).toBeLessThanOrEqual(ENV_BUDGET_BYTES);
    expect(env.LOCKSTEP_INPUT).toBe('{"small":true}');
    const kept = Object.keys(env)
      .filter((k) => /^LOCKSTEP_RESULT_T\d+$/.test(k))
      .map((k) => Number(k.slice('LOCKSTEP_RESULT_T'.length)));
    expect(kept.length).toBeGreaterThan(10);
    // The smallest are kept: a contiguous range from t0.
    expect(kept.sort((a, b) => a - b)).toEqual(Array.from({ length: kept.length }, (_, i) => i));
  });

  it('spawns with 2 MB of results and a 140 KB input without E2BIG; the files hold everything', async () => {
    const results = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`t${i}`, { s: 'x'.repeat(20_000) }]));
    const input = { blob: 'y'.repeat(140_000) };
    const files = await writeAttemptFiles({ input, results });
    try {
      expect(statSync(files.dir).mode & 0o777).toBe(0o700);
      expect(statSync(files.input).mode & 0o777).toBe(0o600);
      expect(statSync(files.results).mode & 0o777).toBe(0o600);
      const env = shellEnvironment({ ...base, input, results }, {}, files);
      const r = await runShellTask({
        run: 'printf \'{"results":%s,"input":%s}\' "$(wc -c < "$LOCKSTEP_RESULTS_FILE")" "$(wc -c < "$LOCKSTEP_INPUT_FILE")"',
        env,
        signal: new AbortController().signal,
      });
      expect(r.result).toEqual({ results: Buffer.byteLength(JSON.stringify(results)), input: Buffer.byteLength(JSON.stringify(input)) });
      expect(JSON.parse(await readFile(files.results, 'utf8'))).toEqual(results);
    } finally {
      await files.remove();
    }
    expect(existsSync(files.dir)).toBe(false);
  });
});

describe('finding the result in stdout', () => {
  const find = (chunks: string[], limit = 1_000) => {
    const finder = new StdoutResultFinder(limit);
    for (const c of chunks) finder.push(c);
    return finder.end();
  };

  it('takes the last line that parses as JSON, across chunk boundaries, a last line without newline included', () => {
    expect(find(['{"a":', '1}\nnot json\n{"b"', ':2}\n{broken\n'])).toEqual({ value: { b: 2 } });
    expect(find(['log\n', '[1,2', ',3]'])).toEqual({ value: [1, 2, 3] });
    expect(find(['nothing here\n'])).toBeUndefined();
  });

  it('reports a JSON-looking line over the limit by its size, unless a later line is the result', () => {
    expect(find(['{"s":"', 'x'.repeat(10_000), '"}\n'])).toEqual({ oversizedBytes: 10_008 });
    expect(find([`{"s":"${'x'.repeat(10_000)}"}\n{"ok":1}\n`])).toEqual({ value: { ok: 1 } });
    // A long line of plain text is not a result.
    expect(find([`{"ok":1}\n${'log '.repeat(5_000)}\n`])).toEqual({ value: { ok: 1 } });
  });

  it('reads a result line as long as the limit allows, whatever the chunking', () => {
    const line = JSON.stringify({ s: 'é'.repeat(100_000) });
    const chunks = line.match(/.{1,777}/g)!;
    expect(find([...chunks, '\n'], 300_000)).toEqual({ value: { s: 'é'.repeat(100_000) } });
  });

  it('agrees with reading the whole output at once, however it is chunked (property)', () => {
    // The whole-output reference: the last line that parses as JSON, as lockstep always defined the result.
    const reference = (text: string) => {
      const lines = text.split('\n');
      for (let i = lines.length - 1; i >= 0; i--) {
        const line = lines[i]!.trim();
        if (line === '' || !/^[[{"\d-]|^(true|false|null)$/.test(line)) continue;
        try {
          return { value: JSON.parse(line) as unknown };
        } catch {
          // keep looking
        }
      }
      return undefined;
    };
    // JSON and near-JSON lines, text, multi-byte characters; cheap to generate, so 10,000 cases take a second or two.
    const line = fc.oneof(
      fc.constantFrom(
        '{"a":1}',
        '[1,"é"]',
        '"s€"',
        '12',
        '-',
        '-3.5e2',
        ' null ',
        'true',
        '{',
        '[1,',
        '"x',
        'text',
        '',
        '  {"b":[true]}  ',
        'x y',
        '😀',
      ),
      fc.integer().map(String),
      fc.string({ maxLength: 6 }).map((t) => t.replace(/\n/g, ' ')),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 6 }), (lines, newline, cuts) => {
        const text = lines.join('\n') + (newline ? '\n' : '');
        const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...at].map((start, i, all) => text.slice(start, all[i + 1] ?? text.length));
        return JSON.stringify(find(chunks, 1_000_000)) === JSON.stringify(reference(text));
      }),
      { numRuns: 10_000 },
    );
  });
});
