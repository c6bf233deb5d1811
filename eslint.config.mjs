import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.holdfast/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // The workflow sandbox must stay deterministic: only the workflow SDK, common types and type-only activity imports.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity', 'node:*', 'fs', 'crypto', '@kubernetes/*', '@aws-sdk/*', 'pino', 'fastify'], message: 'Not allowed in workflow code.' },
        ],
      }],
    },
  },
  {
    // Settings are read in one place (common/config.ts) and handed down; scripts, benchmarks and tests aside.
    // collector.ts is listed only while it still holds collectorConfigFromEnv (superseded by config.kubernetes.collector).
    files: ['**/*.ts'],
    ignores: ['common/config.ts', 'scripts/**', 'bench/**', 'test/**', 'adapters/kubernetes/collector.ts'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read settings through common/config.ts (loadConfig / loadCliConfig) and pass the slice in.' }],
    },
  },
  {
    files: ['bin/**/*.js', 'scripts/**/*.js', 'scripts/**/*.mjs'],
    languageOptions: { globals: { require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
