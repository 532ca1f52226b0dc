// Builds (the first time: minutes, then cached) the Temporal server, its SQL tool and the UI server,
// and gives the run a folder. The test file starts the cluster itself: it kills and restarts its
// processes, so it must own them. Teardown is the safety net after a crashed run: it kills what the
// cluster recorded, powers off the local VMs and stops PostgreSQL.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { powerOffLocalVms } from '../../temporal/cluster.js';
import { killRecorded } from '../../temporal/processes.js';
import { ensureTemporalServer } from '../../temporal/server.js';
import { findPgBin, stopPostgres } from '../../temporal/postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where the cluster of this run lives (removed at the end); '' outside `npm run test:cluster`. */
    clusterDir: string;
    /** The Temporal CLI, for `temporal operator namespace create`. */
    temporalCli: string;
  }
}

let dir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  const cli = process.env.BERTH_TEMPORAL_CLI;
  if (!cli) throw new Error('BERTH_TEMPORAL_CLI is not set: run `npm run test:cluster`, which builds the Temporal CLI');
  if (!findPgBin()) throw new Error('PostgreSQL is not installed (apt-get install postgresql): the topology test needs it');
  ensureTemporalServer();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cluster-'));
  // PostgreSQL runs as the postgres user when the run is root: it must reach its folder in here.
  fs.chmodSync(dir, 0o755);
  project.provide('clusterDir', dir);
  project.provide('temporalCli', cli);
}

export async function teardown(): Promise<void> {
  if (!dir) return;
  killRecorded(path.join(dir, 'pids'));
  await powerOffLocalVms(path.join(dir, 'data'));
  stopPostgres(path.join(dir, 'postgres'), 'immediate');
  if (!process.env.BERTH_KEEP_CLUSTER) fs.rmSync(dir, { recursive: true, force: true });
}
