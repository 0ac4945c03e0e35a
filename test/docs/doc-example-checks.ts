// How each shell example of the docs is checked (test/docs/doc-examples.ts finds them). Every example the docs
// show is listed here, except the CLI references, which are checked automatically: test/docs/doc-examples.test.ts
// fails for an example that is not listed and for an entry that no longer matches an example, so nothing a
// reader may paste goes unchecked.
import type { DocExample } from './doc-examples.js';

/** How one example is checked. */
export type Check =
  /**
   * Run with `sh -c` as written (or as `as` says, for the reason `because`), with `lockstep` and `npx lockstep` the
   * checkout's built bin; cwd is the checkout (`root`) or a fresh directory holding a copy of `machines/` (`copy`,
   * for commands that write a store), after `before` has run there. The exit code must be `exit` (0), and a
   * transcript's output must be what the doc shows. Run by doc-examples.e2e.test.ts.
   */
  | {
      readonly check: 'run';
      readonly exit?: number;
      readonly cwd?: 'root' | 'copy';
      readonly before?: readonly string[];
      readonly as?: string;
      readonly because?: string;
    }
  /** A server: started in a copy with `--port 0` added (a fixed port would collide), probed once ready, stopped. */
  | { readonly check: 'serve' }
  /** Run by doc-examples.kafka.test.ts against the integration tests' broker, in the doc's order. */
  | { readonly check: 'kafka' }
  /** Part of a shell task's script: run as the `run:` of a task by doc-examples.e2e.test.ts (`name` says which). */
  | { readonly check: 'task'; readonly name: string }
  /** A CLI reference (a synopsis, a command's name): the command and every option it names exist (`--help`). */
  | { readonly check: 'reference' }
  /** Not run, for the reason given; an `npm run <script>` in it must still name a script of package.json. */
  | { readonly check: 'skip'; readonly why: string };

const run = (options: Omit<Extract<Check, { check: 'run' }>, 'check'> = {}): Check => ({ check: 'run', ...options });
const skip = (why: string): Check => ({ check: 'skip', why });
const SUITE = skip('the test suite itself, this test among it');
const FAULTS = skip('the fault suite: real brokers and processes through faults for minutes; CI runs its short profile after npm test');
const BENCH = skip('a benchmark: minutes of load on a quiet machine, printing figures rather than passing or failing');
/** The steps before the store's check-history example: run there, in order, as its `before`. */
const STORE_CHECK_STEP = skip('run in order as the `before` of `lockstep check-history --store /tmp/lockstep-check/`, below');
const FULL_DISK = skip(
  'needs a store on a full disk: test/cli/store-faults.e2e.test.ts mounts a small tmpfs, fills it, and checks this message and exit 3',
);

/** The check of each listed example, by its command as written. */
export const CHECKS: Readonly<Record<string, Check>> = {
  // README.md: two commands
  'npm ci && npx lockstep run machines/hello.yaml': run({
    cwd: 'copy',
    as: 'npx lockstep run machines/hello.yaml',
    because: '`npm ci` is left out: the test runs in an installed checkout',
  }),
  'npm ci && npm test': SUITE,
  'npm test': SUITE,
  'npm run test:unit': SUITE,
  'npm run test:faults': FAULTS,
  'LOCKSTEP_FAULTS_PROFILE=long npm run test:faults': FAULTS,
  '.ci/with-node 24': skip('downloads and runs another Node.js build (what CI does)'),
  '.ci/with-node 24 npm ci && .ci/with-node 24 npm test': skip(
    'downloads another Node.js build and runs the whole suite on it (what CI does)',
  ),
  // README.md: a sequence, shell tasks, running
  'npx lockstep validate test/fixtures/invalid/': run({ exit: 2 }),
  'setsid mydaemon >daemon.log 2>&1 </dev/null &': { check: 'task', name: 'daemon' },
  'while [ "$(ps -o pgid= -p $! | tr -d \' \')" = "$(ps -o pgid= -p $$ | tr -d \' \')" ]; do sleep 0.05; done': {
    check: 'task',
    name: 'daemon',
  },
  'lockstep run machines/hello.yaml --json | head -1': run({ cwd: 'copy' }),
  'lockstep runs --status interrupted': run({ cwd: 'copy', before: ['lockstep run machines/hello.yaml'] }),
  // README.md: waits
  'lockstep run machines/approval.yaml': skip(
    'waits for a signal from a second terminal: run in the background by the check of the `lockstep signal` example below',
  ),
  'lockstep signal "$(lockstep runs --status waiting --limit 1 | awk \'NR == 2 { print $1 }\')" approve --data \'{"approver":"ana"}\'': run(
    {
      cwd: 'copy',
      as: [
        'lockstep run machines/approval.yaml > run.log 2>&1 &',
        "until lockstep runs --status waiting 2>/dev/null | grep -q 'waiting for approve'; do sleep 0.2; done;",
        'lockstep signal "$(lockstep runs --status waiting --limit 1 | awk \'NR == 2 { print $1 }\')" approve --data \'{"approver":"ana"}\' &&',
        'wait $! &&',
        'grep -q \'approved by {"approver":"ana"}\' run.log',
      ].join(' '),
      because: 'the doc runs it in a second terminal, beside the run: here the run goes in the background, and must succeed with the data',
    },
  ),
  // README.md: graph, serve, test
  'npx lockstep graph machines/compensation.yaml': run(),
  'npx lockstep graph machines/compensation.yaml -f dot': run(),
  'npx lockstep graph machines/compensation.yaml --view machine': run(),
  'LOCKSTEP_TOKEN=secret npx lockstep serve --sequences machines': { check: 'serve' },
  'npx lockstep test machines/': run(),
  'npx lockstep test machines/retry-backoff.yaml --max-paths 1000 --seed 42': run(),
  'npx lockstep test machines/compensation.yaml --path SSCESSS': run(),
  'npx lockstep test machines/continue-on-failure.yaml': run(),
  'npm run lint:deps': SUITE,
  // README.md: Kafka mode
  'npm run kafka:up': skip("starts the development broker on a fixed port; the test uses the integration tests' broker instead"),
  'export KAFKA_BROKERS=127.0.0.1:19092': { check: 'kafka' },
  'npx lockstep topics create --partitions 6 --sequences machines': { check: 'kafka' },
  'npx lockstep orchestrator --sequences machines &': { check: 'kafka' },
  'npx lockstep worker --queue default --sequences machines &': { check: 'kafka' },
  'npx lockstep start hello --wait': { check: 'kafka' },
  'npm run schemas': skip('rewrites schemas/; test/core/protocol checks that the committed schemas are what it generates'),
  // README.md: benchmarks
  'npm run build && npm run bench:embedded': BENCH,
  'npm run build && npm run bench:durable': BENCH,
  'npm run build && npm run bench:kafka': BENCH,
  'npm run build && npm run bench:client': BENCH,
  'npm run build && npm run bench:size': BENCH,
  'npm run build && npm run bench:scale': BENCH,
  'npm run build && npm run bench:restore': BENCH,
  'npm run build && KAFKA_BROKERS=127.0.0.1:19092 npm run bench:peers -- --rounds 3': BENCH,
  // docs/capacity.md
  'npm run build && npm run bench:scale -- --orchestrators 1 --partitions 1 --rounds 1': BENCH,
  // docs/data-between-tasks.md
  'order_id=$(jq -r \'."create-order".id\' "$LOCKSTEP_RESULTS_FILE")': { check: 'task', name: 'jq' },
  'jq \'{ reserved: true, order: $o }\' --arg o "$order_id" -n > "$LOCKSTEP_RESULT_FILE"': { check: 'task', name: 'jq' },
  // docs/history-checker.md
  'rm -rf /tmp/lockstep-check': STORE_CHECK_STEP,
  'lockstep run machines/hello.yaml --store /tmp/lockstep-check/ > /dev/null': STORE_CHECK_STEP,
  'lockstep run machines/continue-on-failure.yaml --store /tmp/lockstep-check/ > /dev/null': STORE_CHECK_STEP,
  'lockstep check-history --store /tmp/lockstep-check/': run({
    before: [
      'rm -rf /tmp/lockstep-check',
      'lockstep run machines/hello.yaml --store /tmp/lockstep-check/ > /dev/null',
      'lockstep run machines/continue-on-failure.yaml --store /tmp/lockstep-check/ > /dev/null',
    ],
  }),
  'npx lockstep check-history --brokers "$KAFKA_BROKERS" --dispatches': { check: 'kafka' },
  // docs/kafka-record-limits.md
  'kafka-configs.sh --alter --entity-type topics --entity-name lockstep.runs --add-config max.message.bytes=4194304': skip(
    "Kafka's own admin tool, not lockstep's: it changes a shared topic's limit; test/kafka/record-limits.kafka.test.ts sets max.message.bytes on its own topics through the admin API",
  ),
  // docs/logs.md
  'lockstep run machines/retry-backoff.yaml --quiet > /dev/null': run({ cwd: 'copy' }),
  'lockstep logs "$(lockstep runs --limit 1 | awk \'NR == 2 { print $1 }\')"': run({
    cwd: 'copy',
    before: ['lockstep run machines/retry-backoff.yaml --quiet > /dev/null'],
  }),
  // docs/serve.md
  'LOCKSTEP_TOKEN=$(openssl rand -hex 16) lockstep serve': { check: 'serve' },
  'lockstep serve --brokers 127.0.0.1:19092 --prefix lockstep': { check: 'kafka' },
  'curl -X POST http://127.0.0.1:7070/api/ingest -H "authorization: Bearer $LOCKSTEP_TOKEN" -H \'content-type: application/json\' -d \'{"v":1,"id":"<uuid>","runId":"<run>","taskId":"bill","attempt":1,"time":"2026-01-01T00:00:00Z","type":"task.succeeded","payload":{"result":{"invoice":"inv-7"}}}\'':
    { check: 'task', name: 'ingest' },
  // docs/store-faults.md
  'lockstep run deploy.yaml': FULL_DISK,
  'echo $?': FULL_DISK,
  // docs/traces.md
  'OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 lockstep run machines/compensation.yaml --traceparent 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01':
    run({ cwd: 'copy', exit: 1 }),
  // docs/testing-sequences.md
  'lockstep test machines/compensation.yaml': run(),
  'lockstep test machines/': run(),
  'lockstep test machines/continue-on-failure.yaml': run(),
  'lockstep test machines/retry-backoff.yaml --max-paths 1000 --seed 42': run(),
  'npm run bench:paths': BENCH,
  'npm run bench:size': BENCH,
};

/** A `lockstep …` or `npx lockstep …` command, after any `NAME=value` assignments. */
const LOCKSTEP = /^(?:[A-Z_]+=\S+ )*(?:npx )?lockstep\b/;

/**
 * A reference, not a command to paste: an inline mention of a lockstep command, or a synopsis line
 * (`<placeholder>`, `[--option]`). These are checked against `--help` without being listed.
 */
export function isReference(example: DocExample): boolean {
  if (!LOCKSTEP.test(example.command)) return false;
  return example.kind === 'inline' || /<[\w|-]+>|\[--?\w/.test(example.command);
}

/** The check of an example: its entry, else the reference check; `undefined` for an example that is not listed. */
export function checkOf(example: DocExample): Check | undefined {
  return CHECKS[example.command] ?? (isReference(example) ? { check: 'reference' } : undefined);
}

/** The subcommand words and options a lockstep reference names: `lockstep topics create --partitions N`. */
export function referenceParts(command: string): { subcommand: string[]; options: string[] } {
  const words = command.replace(LOCKSTEP, '').trim().split(/\s+/).filter(Boolean);
  const subcommand: string[] = [];
  for (const w of words) {
    if (!/^[a-z][a-z-]*$/.test(w)) break;
    subcommand.push(w);
    if (w !== 'topics') break;
  }
  const options = [...command.matchAll(/(?<![\w-])(--?[a-z][\w-]*)/g)].map((m) => m[1]!);
  return { subcommand, options };
}
