import { fileURLToPath } from 'node:url';
import { Worker, type NativeConnection, type WorkflowBundleOption } from '@temporalio/worker';
import type { Activities } from '../activities/index.js';
import { snakeCaseMetricTags } from './metrics.js';

// workflows/index.ts from the source; dist/workflows/index.js in the compiled build.
export const WORKFLOWS_PATH = fileURLToPath(new URL(`../workflows/index${import.meta.url.endsWith('.js') ? '.js' : '.ts'}`, import.meta.url));

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: Activities;
  /** A pre-built bundle (tests build it once); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkflowBundleOption | undefined;
}

/** The one place a Berth worker is configured, used by `worker/main.ts` and the tests. */
export async function createWorker(options: WorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: options.activities,
    interceptors: { activity: [snakeCaseMetricTags] },
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    shutdownGraceTime: '5s',
    // Jobs wait minutes for their VMs; keeping every one in memory costs more than replaying the
    // few dozen events of one that wakes up. (The SDK's default follows the heap limit: ~2,300 here.)
    maxCachedWorkflows: 1_000,
  });
}
