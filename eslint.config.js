// Lint (`npm run lint`, run by .ci/run before the tests). Formatting is prettier's job
// (eslint-config-prettier turns off the rules that would fight it).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'console/dist/', 'data/', 'bench/results/', 'test/histories/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A promise nobody awaits hides its failure; in workflow code it also hides a missed await.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Workflow code runs in Temporal's sandbox: activities and anything with I/O are reached only
    // through proxyActivities, so they may be imported for their types alone.
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../activities/*', '../db/*', '../providers/*', '../api/*', '../config/*'],
              allowTypeImports: true,
              message: 'workflows import I/O modules for their types only',
            },
            { group: ['node:*'], message: 'workflow code is deterministic: no Node built-ins' },
          ],
        },
      ],
    },
  },
  {
    // The API starts and signals workflows; it never loads the activities (issue 13).
    files: ['api/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            // cloud-init.ts is pure (it builds user-data): the API measures a pool's user-data with it.
            { group: ['**/activities/*', '!**/activities/cloud-init.js'], allowTypeImports: true, message: 'the API never imports the activities' },
          ],
        },
      ],
    },
  },
  {
    // Frozen migrations see the database as it was, not the app's types (kysely's advice: Kysely<any>);
    // tests read JSON answers whose shape the contract test checks.
    files: ['db/migrations/**', 'test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs', 'console/vite.config.ts'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  prettier,
);
