// Starts a throwaway PostgreSQL cluster for the dialect suite when the machine has one installed
// (Debian: apt-get install postgresql). Without it the PostgreSQL half of the suite is skipped,
// and the run says so. How it is started is shared with `npm run cluster` (temporal/postgres.ts).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort } from '../../temporal/dev-server.js';
import { findPgBin, startPostgres } from '../../temporal/postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** postgres://… of a superuser on the throwaway cluster, or '' when PostgreSQL is not installed. */
    postgresUrl: string;
  }
}

let stop: (() => void) | undefined;

export async function setup(project: TestProject): Promise<void> {
  if (!findPgBin()) {
    console.warn('berth: PostgreSQL is not installed (apt-get install postgresql): skipping the PostgreSQL dialect tests');
    project.provide('postgresUrl', '');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-pg-'));
  const postgres = await startPostgres({ dir, port: await freePort(), user: 'berth', settings: ['fsync=off'] });
  stop = () => {
    postgres.stop('immediate');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  project.provide('postgresUrl', postgres.url());
}

export async function teardown(): Promise<void> {
  stop?.();
}
