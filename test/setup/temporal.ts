// Starts one real Temporal dev server (in memory, headless) for the run, registers Berth's search
// attributes and bundles the workflows once, so each test file's worker starts fast.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { connectTemporal } from '../../temporal/connect.js';
import { startDevServer, type DevServer } from '../../temporal/dev-server.js';
import { ensureSearchAttributes } from '../../temporal/search-attributes.js';
import { WORKFLOWS_PATH } from '../../worker/create-worker.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
  }
}

let server: DevServer | undefined;
let tmp: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  const binary = process.env.BERTH_TEMPORAL_CLI;
  if (!binary) throw new Error('BERTH_TEMPORAL_CLI is not set: run the tests with `npm test`, which builds the Temporal CLI');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-test-'));
  server = await startDevServer({ binary, logFile: path.join(tmp, 'temporal.log') });
  const connection = await connectTemporal(server.address);
  await ensureSearchAttributes(connection, 'default');
  await connection.close();

  const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  const bundlePath = path.join(tmp, 'workflow-bundle.js');
  fs.writeFileSync(bundlePath, bundle.code);
  project.provide('temporalAddress', server.address);
  project.provide('workflowBundlePath', bundlePath);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
}

const noop = () => {};
const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error };
