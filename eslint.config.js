import tseslint from 'typescript-eslint';

// The layering of ../shared/ARCHITECTURE.md, enforced:
//   cli -> orchestrators (demo, benchmarks) -> stages -> foundations -> errors.
// A stage never imports another stage; foundations never import a stage or an orchestrator.
const stages = ['plan', 'migrate', 'sync', 'backfill', 'verify', 'shadow-read', 'preflight', 'init', 'cutover', 'status', 'purge', 'maintain'];
const orchestrators = ['demo', 'benchmarks', 'cli', 'bench', 'gate'];
const foundations = ['config', 'db', 'state', 'steps', 'changelog', 'embedded', 'checks', 'stage'];

const forbid = (folders, why) => ({
  'no-restricted-imports': ['error', { patterns: [{ group: folders.map((f) => `../${f}/*`), message: why }] }],
});

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.tmp/', 'artifacts/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  ...stages.map((stage) => ({
    files: [`src/${stage}/**/*.ts`],
    rules: forbid(
      [...stages.filter((s) => s !== stage), ...orchestrators],
      'a stage never imports another stage or an orchestrator: move the shared piece to a foundation (config, db, state, steps, changelog)',
    ),
  })),
  {
    files: foundations.map((f) => `src/${f}/**/*.ts`),
    rules: forbid([...stages, ...orchestrators], 'foundations never import a stage or an orchestrator'),
  },
);
