import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The architecture's one-way flow, enforced: api → workflow → activity → adapter. Each block names the
 * imports a layer may not make; `npm run lint` fails on any of them.
 */
const WORKFLOW_ONLY =
  'Workflow code runs in a deterministic sandbox: it may import only @temporalio/workflow, ' +
  'common/ (pure modules) and the activity contract (type-only).';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.holdfast/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // A promise nobody awaits loses its error (and, in a workflow, its ordering): say `void` when meant.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test()/describe() return promises the runner itself tracks.
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            // Everything but the workflow SDK, common/, sibling workflow files and the activity contract.
            {
              regex: '^(?!@temporalio/workflow$|\\.\\./common/|\\./|\\.\\./activities/contract$)',
              message: WORKFLOW_ONLY,
            },
            // common/ modules that do I/O or read the environment stay out of the sandbox.
            { regex: '^\\.\\./common/(config|logger)$', message: WORKFLOW_ONLY },
            { regex: '^\\.\\./activities/contract$', allowTypeImports: true, message: WORKFLOW_ONLY },
          ],
        },
      ],
    },
  },
  {
    files: ['activities/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)(workflows|api|cli|worker)(/|$)',
              message: 'Activities are called by workflows and call adapters through ports: never the other way.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['adapters/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)(workflows|activities|api|cli|worker)(/|$)',
              message: 'Adapters implement ports: they import common/ and evidence/, never the layers that call them.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['api/**/*.ts', 'cli/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)(adapters|activities|worker)(/|$)',
              message: 'The API and CLI reach adapters only through evidence/ and the ports in common/.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['common/**/*.ts', 'evidence/**/*.ts', 'alerts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)(workflows|activities|api|cli|worker)(/|$)',
              message: 'common/, evidence/ and alerts/ are shared by every layer: they import none of them.',
            },
          ],
        },
      ],
    },
  },
  {
    // Settings are read in one typed place; scripts, benchmarks and tests set up child environments.
    files: ['**/*.ts'],
    ignores: ['common/config.ts', 'scripts/**', 'bench/**', 'test/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Read settings through common/config.ts (loadConfig / loadCliConfig) and pass the slice in.',
        },
      ],
    },
  },
  {
    files: ['bin/**/*.js', 'scripts/**/*.js', 'scripts/**/*.mjs'],
    languageOptions: {
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        console: 'readonly',
        __dirname: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
