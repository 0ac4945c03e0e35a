import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.js';

/**
 * Each entry point is imported the way a user imports it, by the package name (a self-reference through
 * package.json `exports`, so the built dist/ is what loads), in a fresh `node` whose module hooks record every
 * module it resolves. The CommonJS modules (kafkajs, better-sqlite3 and what they require) are read from the
 * require cache as well, since ESM hooks do not see `require` on every Node version.
 */

const RECORDER = fileURLToPath(new URL('./record-loads.mjs', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
};
/** lockstep's own dependencies: which of them an entry may load is what these tests pin. */
const OWN = new Set([...Object.keys(PACKAGE.dependencies), ...Object.keys(PACKAGE.peerDependencies)]);
const run = promisify(execFile);
let dir: string;

interface Loaded {
  /** The entry's runtime exports, sorted. */
  readonly exports: string[];
  /** Every package a module was loaded from (the outermost `node_modules` name). */
  readonly packages: Set<string>;
  /** lockstep's own modules, relative to dist/. */
  readonly modules: string[];
  readonly stdout: string;
}

/** The package a path or URL belongs to, if it is under node_modules. */
function packageOf(location: string): string | undefined {
  const at = location.lastIndexOf('node_modules/');
  if (at < 0) return undefined;
  const [scope, name] = location.slice(at + 'node_modules/'.length).split('/');
  return scope?.startsWith('@') ? `${scope}/${name}` : scope;
}

/** Imports `entry` in a new process, then runs `then` (a module body that sees the entry as `m`). */
async function load(entry: string, options: { hide?: string[]; then?: string } = {}): Promise<Loaded> {
  const log = join(dir, `${entry.replace(/\W/g, '-')}-${Math.random().toString(36).slice(2)}.log`);
  const script = [
    "import { createRequire } from 'node:module';",
    `const m = await import(${JSON.stringify(entry)});`,
    options.then ?? '',
    'const cjs = Object.keys(createRequire(import.meta.url).cache);',
    "process.stdout.write('\\n' + JSON.stringify({ exports: Object.keys(m).sort(), cjs }));",
  ].join('\n');
  const { stdout } = await run(process.execPath, ['--import', RECORDER, '--input-type=module', '-e', script], {
    cwd: ROOT,
    env: { ...process.env, LOCKSTEP_LOAD_LOG: log, LOCKSTEP_HIDE_PACKAGES: (options.hide ?? []).join(',') },
    timeout: 30_000,
  });
  const lines = stdout.trimEnd().split('\n');
  const report = JSON.parse(lines.at(-1)!) as { exports: string[]; cjs: string[] };
  const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  const locations = [...urls.map((u) => (u.startsWith('file:') ? fileURLToPath(u) : u)), ...report.cjs];
  const dist = `${join(ROOT, 'dist')}/`;
  return {
    exports: report.exports,
    packages: new Set(locations.map(packageOf).filter((p): p is string => p !== undefined)),
    modules: [...new Set(locations.filter((l) => l.startsWith(dist)).map((l) => l.slice(dist.length)))].sort(),
    stdout: lines.slice(0, -1).join('\n'),
  };
}

/** lockstep's dependencies among the packages an import loaded. */
const ownPackages = (loaded: Loaded) => [...loaded.packages].filter((p) => OWN.has(p)).sort();
/** Packages no entry but the one built for them may load. */
const HEAVY = ['kafkajs', 'better-sqlite3', '@xstate/graph', 'fastify', '@hpcc-js/wasm-graphviz', 'commander', 'ora', 'pino'];

beforeAll(() => {
  for (const file of ['dist/index.js', 'dist/kafka.js', 'dist/sqlite.js', 'dist/testing/index.js']) {
    if (!existsSync(join(ROOT, file))) throw new Error(`${file} is missing: run \`npm run build\` first`);
  }
  dir = mkdtempSync(join(tmpdir(), 'lockstep-entries-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('entry points', () => {
  it("'lockstep' is the builder, validation, the embedded runtime and the errors, and loads no Kafka, SQLite or path graph", async () => {
    const loaded = await load('lockstep');
    expect(loaded.exports).toEqual([
      'DefinitionError',
      'ErrorCode',
      'LockstepError',
      'MessageError',
      'TaskFailure',
      'createEmbeddedRuntime',
      'isFinalEntry',
      'loadSequenceFile',
      'loadSequenceText',
      'sequence',
      'validateSequence',
    ]);
    expect(ownPackages(loaded)).toEqual(['xstate', 'yaml', 'zod']);
    for (const heavy of HEAVY) expect(loaded.packages, heavy).not.toContain(heavy);
    expect(
      loaded.modules.filter((m) => /^(adapters\/(kafka|sqlite|graphviz)|core\/(paths|graph)|modes\/kafka|http|cli|testing)\//.test(m)),
    ).toEqual([]);
  });

  it("'lockstep' alone runs a builder-made sequence on the embedded runtime", async () => {
    const loaded = await load('lockstep', {
      then: [
        "const seq = m.sequence('hello').then('greet', async () => ({ greeting: 'hi' })).build();",
        'const runtime = await m.createEmbeddedRuntime();',
        'runtime.register(seq);',
        "const final = await runtime.run({ sequence: 'hello' });",
        'await runtime.close();',
        'process.stdout.write(final.type);',
      ].join('\n'),
    });
    expect(loaded.stdout).toBe('run.succeeded');
    expect(ownPackages(loaded)).toEqual(['xstate', 'yaml', 'zod']);
  });

  it("'lockstep/kafka' is Kafka mode, and loads no SQLite", async () => {
    const loaded = await load('lockstep/kafka');
    expect(loaded.exports).toEqual([
      'createLockstepClient',
      'createShellWorker',
      'createTopics',
      'createWorker',
      'emitTaskEvent',
      'loadSequences',
      'readHistoryLog',
      'startKafkaOrchestrator',
      'taskEventMessage',
      'topicNames',
    ]);
    expect(ownPackages(loaded)).toEqual(['kafkajs', 'xstate', 'yaml', 'zod']);
    for (const heavy of HEAVY.filter((p) => p !== 'kafkajs')) expect(loaded.packages, heavy).not.toContain(heavy);
    expect(
      loaded.modules.filter((m) => /^(adapters\/(sqlite|memory\/memory-run-store)|modes\/embedded|http|cli|testing)\//.test(m)),
    ).toEqual([]);
  });

  it("'lockstep/sqlite' is the SQLite run store, and loads no Kafka client", async () => {
    const loaded = await load('lockstep/sqlite');
    expect(loaded.exports).toEqual(['SqliteRunStore']);
    expect(ownPackages(loaded)).toEqual(['better-sqlite3']);
    for (const heavy of HEAVY.filter((p) => p !== 'better-sqlite3')) expect(loaded.packages, heavy).not.toContain(heavy);
  });

  it("'lockstep/testing' is model-based testing, and loads no Kafka client and no SQLite", async () => {
    const loaded = await load('lockstep/testing');
    expect(loaded.exports).toEqual(['checkHistory', 'describeSequencePaths', 'testSequence']);
    expect(ownPackages(loaded)).toEqual(['@xstate/graph', 'vitest', 'xstate', 'yaml', 'zod']);
    for (const heavy of HEAVY.filter((p) => p !== '@xstate/graph')) expect(loaded.packages, heavy).not.toContain(heavy);
  });

  it("'lockstep/testing' runs testSequence without vitest, and describeSequencePaths says it needs vitest", async () => {
    const loaded = await load('lockstep/testing', {
      hide: ['vitest'],
      then: [
        "const { sequence } = await import('lockstep');",
        "const report = await m.testSequence(sequence('pair').then('a', async () => {}).then('b', async () => {}).build());",
        'process.stdout.write(`${report.runs.length} paths, ${report.failed.length} failed\\n`);',
        "try { m.describeSequencePaths(sequence('one').then('a', async () => {}).build()); } catch (error) { process.stdout.write(error.message); }",
      ].join('\n'),
    });
    expect(loaded.packages).not.toContain('vitest');
    expect(loaded.stdout).toMatch(/^\d+ paths, 0 failed\ndescribeSequencePaths declares vitest tests, and vitest is not installed/);
  });
});
