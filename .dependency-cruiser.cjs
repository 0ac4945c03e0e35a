/**
 * lockstep's architecture, checked in `npm test`. Dependencies point one way:
 *   core <- ports <- adapters, runtime <- modes (embedded, kafka) <- testing, cli
 *   core, ports, runtime <- http <- cli
 * `modes` and `cli` are the composition roots: the only places that construct adapters. The HTTP API works over a
 * mode's run service (the RunService port); `lockstep serve` hands it the one of the mode it runs in.
 */
module.exports = {
  forbidden: [
    {
      name: 'core-is-pure',
      comment: 'src/core is pure: no I/O, no clock, no other layer, no node built-ins (but a hash, in core/hash.ts).',
      severity: 'error',
      from: { path: '^src/core/', pathNot: '^src/core/hash\\.ts$' },
      to: { pathNot: ['^src/core/', 'node_modules/(zod|xstate|@xstate/graph|yaml)/'] },
    },
    {
      name: 'core-hash-only-crypto',
      severity: 'error',
      from: { path: '^src/core/hash\\.ts$' },
      to: { pathNot: ['^crypto$', '^node:crypto$'] },
    },
    {
      name: 'ports-only-core',
      severity: 'error',
      from: { path: '^src/ports/' },
      to: { pathNot: ['^src/(core|ports)/'] },
    },
    {
      name: 'adapters-implement-ports',
      comment: 'Adapters implement ports over core; they never reach into runtime or anything above it.',
      severity: 'error',
      from: { path: '^src/adapters/' },
      to: { path: '^src/(runtime|modes|http|testing|cli)/' },
    },
    {
      name: 'runtime-never-constructs-adapters',
      comment: 'The runtime works through ports: it imports no adapter and nothing above it.',
      severity: 'error',
      from: { path: '^src/runtime/' },
      to: { path: '^src/(adapters|modes|http|testing|cli)/' },
    },
    {
      name: 'modes-stand-alone',
      comment: 'Each mode is a composition root of its own: embedded never loads Kafka, Kafka never loads the embedded runtime.',
      severity: 'error',
      from: { path: '^src/modes/embedded/' },
      to: { path: '^src/(modes/kafka|http|testing|cli)/' },
    },
    {
      name: 'kafka-mode-stands-alone',
      severity: 'error',
      from: { path: '^src/modes/kafka/' },
      to: { path: '^src/(modes/embedded|http|testing|cli)/' },
    },
    {
      name: 'http-runs-over-the-port',
      comment: 'The HTTP API works over the RunService port and imports no mode: only core, ports, runtime, and the fs and graphviz adapters (reading a definition file and laying out a graph are functions, not adapters to build).',
      severity: 'error',
      from: { path: '^src/http/' },
      to: { path: '^src/', pathNot: '^src/(http|core|ports|runtime|adapters/(fs|graphviz))/' },
    },
    {
      name: 'testing-builds-on-modes',
      comment: 'The testing tools run over a mode: they construct no adapter and never import the command line.',
      severity: 'error',
      from: { path: '^src/testing/' },
      to: { path: '^src/(cli|adapters/(kafka|sqlite|memory|process))/' },
    },
    {
      name: 'testing-uses-a-modes-entry',
      comment: 'The testing tools use a mode through its index, never its internals.',
      severity: 'error',
      from: { path: '^src/testing/' },
      to: { path: '^src/modes/', pathNot: '^src/modes/[^/]+/index\\.ts$' },
    },
    {
      name: 'testing-and-http-apart',
      severity: 'error',
      from: { path: '^src/testing/' },
      to: { path: '^src/http/' },
    },
    {
      name: 'only-kafka-adapter-imports-kafkajs',
      severity: 'error',
      from: { pathNot: '^src/adapters/kafka/' },
      to: { path: 'node_modules/kafkajs/' },
    },
    {
      name: 'only-sqlite-adapter-imports-better-sqlite3',
      severity: 'error',
      from: { pathNot: '^src/adapters/sqlite/' },
      to: { path: 'node_modules/better-sqlite3/' },
    },
    {
      name: 'only-graphviz-adapter-imports-graphviz',
      severity: 'error',
      from: { pathNot: '^src/adapters/graphviz/' },
      to: { path: 'node_modules/@hpcc-js/' },
    },
    {
      name: 'only-otel-adapter-imports-opentelemetry',
      comment: 'OpenTelemetry is an optional dependency: only the otel adapter names it, and imports it only when tracing is on.',
      severity: 'error',
      from: { pathNot: '^src/adapters/otel/' },
      to: { path: 'node_modules/@opentelemetry/' },
    },
    {
      name: 'only-prometheus-adapter-imports-prom-client',
      severity: 'error',
      from: { pathNot: '^src/adapters/prometheus/' },
      to: { path: 'node_modules/prom-client/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
