/** lockstep's architecture, checked in CI: cli/http/embedded/testing -> runtime + adapters -> ports -> core. */
const roots = '^src/(cli|http|embedded|testing|kafka|sdk)/';
module.exports = {
  forbidden: [
    {
      name: 'core-is-pure',
      comment: 'src/core is pure: no I/O, no other layer, no node built-ins.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { pathNot: ['^src/core/', 'node_modules/(zod|xstate|@xstate/graph|yaml)/'] },
    },
    {
      name: 'ports-only-core',
      severity: 'error',
      from: { path: '^src/ports/' },
      to: { pathNot: ['^src/(core|ports)/'] },
    },
    {
      name: 'adapters-below-runtime',
      comment: 'Adapters implement ports; they never reach into runtime or the composition roots.',
      severity: 'error',
      from: { path: '^src/adapters/' },
      to: { path: ['^src/runtime/', roots] },
    },
    {
      name: 'runtime-never-constructs-adapters',
      comment: 'Only composition roots (cli, http, embedded, testing) import adapters.',
      severity: 'error',
      from: { path: '^src/runtime/' },
      to: { path: ['^src/adapters/', roots] },
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
