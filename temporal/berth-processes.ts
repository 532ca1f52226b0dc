// Berth's own processes in the production shape: several APIs (one port each) and several workers
// on one task queue, all on the same database, Temporal server and BERTH_DATA_DIR (its secrets,
// the local VMs and the workflow bundle cache are shared).
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startManaged, waitForHttp, type Managed } from './processes.js';

const ROOT = path.resolve(import.meta.dirname, '..');

export interface BerthApi {
  process: Managed;
  port: number;
  /** http://127.0.0.1:<port>: the API and the BERTH_PUBLIC_URL its workers give their VMs. */
  url: string;
}

export interface BerthProcessesOptions {
  dataDir: string;
  temporalAddress: string;
  databaseUrl: string;
  taskQueue: string;
  apiPorts: number[];
  workers: number;
  logDir: string;
  pidFile?: string;
  /** More variables for every process (BERTH_LOG_LEVEL, BERTH_REGISTRATION_TTL, BERTH_ADMIN_TOKEN...). */
  env?: NodeJS.ProcessEnv;
  temporalUiUrl?: string | undefined;
}

export interface BerthProcesses {
  apis: BerthApi[];
  workers: Managed[];
}

/**
 * Starts the APIs and the workers and waits until every API is healthy and every worker polls.
 * Worker i gives its VMs API i (round robin) as BERTH_PUBLIC_URL, so registrations land on each
 * API; behind a load balancer all workers would name the balancer instead.
 */
export async function startBerthProcesses(options: BerthProcessesOptions): Promise<BerthProcesses> {
  const env = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
    ...process.env,
    ...options.env,
    TEMPORAL_ADDRESS: options.temporalAddress,
    DATABASE_URL: options.databaseUrl,
    BERTH_DATA_DIR: options.dataDir,
    BERTH_TASK_QUEUE: options.taskQueue,
    ...(options.temporalUiUrl && { BERTH_TEMPORAL_UI_URL: options.temporalUiUrl }),
    ...extra,
  });
  const start = (name: string, entry: string, extra: NodeJS.ProcessEnv) =>
    startManaged({
      name,
      command: process.execPath,
      args: ['--import', 'tsx', path.join(ROOT, entry)],
      cwd: ROOT,
      env: env(extra),
      logFile: path.join(options.logDir, `${name.replace(/ /g, '-')}.log`),
      ...(options.pidFile && { pidFile: options.pidFile }),
    });

  const apis: BerthApi[] = [];
  const workers: Managed[] = [];
  try {
    await startAll(options, start, apis, workers);
  } catch (err) {
    // Nothing half-started is left behind.
    await Promise.all([...apis.map((a) => a.process), ...workers].map((p) => p.stop(2_000)));
    throw err;
  }
  return { apis, workers };
}

async function startAll(
  options: BerthProcessesOptions,
  start: (name: string, entry: string, extra: NodeJS.ProcessEnv) => Managed,
  apis: BerthApi[],
  workers: Managed[],
): Promise<void> {
  options.apiPorts.forEach((port, i) => {
    const url = `http://127.0.0.1:${port}`;
    const api = start(`api ${i + 1}`, 'api/main.ts', { BERTH_PORT: String(port), BERTH_HOST: '127.0.0.1', BERTH_PUBLIC_URL: url });
    apis.push({ process: api, port, url });
  });
  // Workers are seen to poll by their "worker started" line, which is logged at info.
  const forceInfo = !['debug', 'trace'].includes(options.env?.BERTH_LOG_LEVEL ?? process.env.BERTH_LOG_LEVEL ?? 'info');
  const workerEnv = (i: number) => ({ BERTH_PUBLIC_URL: apis[i % apis.length]!.url, ...(forceInfo && { BERTH_LOG_LEVEL: 'info' }) });
  // The first worker bundles the workflow code into the shared cache; the others then read it.
  workers.push(start('worker 1', 'worker/main.ts', workerEnv(0)));
  await waitForLog(workers[0]!, 'worker started');
  for (let i = 1; i < options.workers; i++) workers.push(start(`worker ${i + 1}`, 'worker/main.ts', workerEnv(i)));
  await Promise.all([...apis.map((api) => waitForHttp(`${api.url}/healthz`, api.process)), ...workers.slice(1).map((w) => waitForLog(w, 'worker started'))]);
}

/** Waits until the log of the process's current run contains the text. */
export async function waitForLog(managed: Managed, text: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = fs.existsSync(managed.logFile) ? fs.readFileSync(managed.logFile, 'utf8') : '';
    if (log.slice(managed.logOffset).includes(text)) return;
    if (!managed.alive()) throw new Error(`${managed.name} exited during start; see ${managed.logFile}`);
    if (Date.now() > deadline) throw new Error(`${managed.name} did not log "${text}" within ${timeoutMs / 1000}s; see ${managed.logFile}`);
    await sleep(250);
  }
}
