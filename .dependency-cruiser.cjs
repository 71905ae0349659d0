// The import rules `npm run check:imports` enforces (dependency-cruiser), run by `npm test`:
// the four layers import one way, testbed -> orchestrator -> agents -> workloads (the README's layout), and no
// module imports itself back through others. Type-only imports count: a type that points up the layers is a
// dependency that points up.
const layer = (from, forbidden) => ({
  name: `${from}-imports-down-only`,
  comment: `${from}/ may import only the layers below it, never ${forbidden.join('/, ')}/`,
  severity: 'error',
  from: { path: `^${from}/` },
  to: { path: `^(${forbidden.join('|')})/` },
});

module.exports = {
  forbidden: [
    layer('workloads', ['agents', 'orchestrator', 'testbed']),
    layer('agents', ['orchestrator', 'testbed']),
    layer('orchestrator', ['testbed']),
    {
      name: 'no-cycles',
      comment: 'a module must not import itself back through others',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'resolvable',
      comment: 'every relative import names a file that exists',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.mjs', '.js'],
      conditionNames: ['import', 'node', 'default'],
      exportsFields: ['exports'],
    },
  },
};
