import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The topology test brings up its own Temporal cluster: `npm run test:cluster` (CI runs both).
    exclude: ['test/cluster/**', '**/node_modules/**'],
    // One real Temporal dev server for the whole run (each test file gets its own task queue), and
    // a throwaway PostgreSQL when the machine has one.
    globalSetup: ['test/setup/temporal.ts', 'test/setup/postgres.ts'],
    setupFiles: ['test/setup/quiet-sdk.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
