// A whole Berth in one test process: its own data dir and SQLite, a worker on its own task queue
// against the shared real Temporal server, and the API served on a real port for VM callbacks.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { pino, type Logger } from 'pino';
import { inject } from 'vitest';
import { createActivities, type Activities } from '../../activities/index.js';
import { createApp } from '../../api/app.js';
import { createApiMetrics } from '../../api/metrics.js';
import { ensureDefaultAdmin } from '../../db/bootstrap.js';
import { migrate, openDatabase, type Db } from '../../db/connect.js';
import { DEFAULT_TENANT_ID } from '../../db/tenants.js';
import { LocalProvider } from '../../providers/local/local-provider.js';
import { ProviderRegistry, type RegistryOptions } from '../../providers/registry.js';
import { registrationKey, loadKeyring } from '../../security/key-files.js';
import { freePort } from '../../temporal/dev-server.js';
import { createWorker } from '../../worker/create-worker.js';
import type { Phase } from '../../workflows/phases.js';
import { ContractObserver, TRACE_HEADER } from '../contract/contract.js';
import type { TestDatabase } from './databases.js';

export const ADMIN_TOKEN = 'berth_test_admin_token_0123456789';

export interface StackOptions {
  registrationTtlMs?: number;
  /** false: no worker in this process (a test runs its own, e.g. as a child process). */
  worker?: boolean;
  /** The database to run on (see databases.ts); default: SQLite in the stack's data dir. */
  database?: () => Promise<TestDatabase>;
  /** Cloud API URLs (emulators) and client settings for the provider registry. */
  registry?: Pick<RegistryOptions, 'apiUrls' | 'http' | 'pollIntervalMs'>;
  /** Where the API's and the activities' log lines go (default: nowhere). */
  logger?: Logger;
  /** How often node agents heartbeat (default 1s, so pool tests run fast). */
  heartbeatIntervalMs?: number;
  /** History length after which pool reconcilers continue as new. */
  poolMaxHistoryEvents?: number;
  /** How long the API waits for a job to take a registration (and so how long a claim holds). */
  deliveryTimeoutMs?: number;
  /** Replaces some activities, e.g. to make one fail. */
  activities?: (real: Activities) => Partial<Activities>;
  /**
   * false: do not check answers against the OpenAPI document. By default every answer the stack's
   * API serves (to `request`, to VMs' callbacks and agents, to any client) is checked; `request`
   * fails at once on its own answer, and `stop()` fails on any other.
   */
  contract?: boolean;
}

export interface Response<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export async function startStack(options: StackOptions = {}) {
  const database = await options.database?.();
  const dataDir = database?.env.BERTH_DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'berth-stack-'));
  const address = inject('temporalAddress');
  const taskQueue = `test-${path.basename(dataDir)}`;
  const db = database?.db ?? openDatabase({ dataDir });
  await migrate(db);
  await ensureDefaultAdmin(db, dataDir, ADMIN_TOKEN);
  // The API's metrics count the registry's provider calls, as in api/main.ts (and here the worker's too).
  const metrics = createApiMetrics(db);
  const providers = new ProviderRegistry({
    dataDir,
    db,
    keyring: loadKeyring({ dataDir }),
    ...options.registry,
    http: { ...options.registry?.http, observer: metrics.providers.providerCall },
    catalogueObserver: metrics.providers.catalogue,
  });
  const local = new LocalProvider({ dataDir });
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const logger = options.logger ?? pino({ level: 'silent' });

  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const registrationTtlMs = options.registrationTtlMs ?? 60_000;
  const app = createApp({
    db,
    temporal: client,
    providers,
    taskQueue,
    registrationTtlMs,
    logger,
    eventPollMs: 50,
    metrics,
    ...(options.deliveryTimeoutMs !== undefined && { deliveryTimeoutMs: options.deliveryTimeoutMs }),
    ...(options.poolMaxHistoryEvents !== undefined && { poolMaxHistoryEvents: options.poolMaxHistoryEvents }),
  });
  const contract = options.contract === false ? undefined : new ContractObserver();
  const fetchAnswer: typeof app.fetch = contract ? async (req, env) => contract.observe(req, await app.fetch(req, env)) : app.fetch;
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: fetchAnswer, port, hostname: '127.0.0.1' }, () => resolve(s));
  });
  let traces = 0;

  let stopWorker = async () => {};
  if (options.worker !== false) {
    const real = createActivities({
      db,
      providers,
      publicUrl,
      registrationKey: registrationKey(dataDir),
      registrationTtlMs,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1_000,
    });
    const workerConnection = await NativeConnection.connect({ address });
    const worker = await createWorker({
      connection: workerConnection,
      namespace: 'default',
      taskQueue,
      activities: { ...real, ...options.activities?.(real) },
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
    const running = worker.run();
    stopWorker = async () => {
      worker.shutdown();
      await running;
      await workerConnection.close();
    };
  }

  async function request<T = any>(method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response<T>> {
    const trace = String(++traces);
    const res = await fetch(`${publicUrl}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...headers,
        [TRACE_HEADER]: trace,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    const problems = contract?.take(trace) ?? [];
    if (problems.length > 0) throw new Error(`The answer to ${method} ${route} breaks the API contract (the OpenAPI document):\n- ${problems.join('\n- ')}`);
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  }

  /** Polls the job until it reaches one of the phases; fails with the job's last state otherwise. */
  async function waitForPhase(jobId: string, phases: Phase[], timeoutMs = 30_000, token = ADMIN_TOKEN) {
    const deadline = Date.now() + timeoutMs;
    let job: any;
    while (Date.now() < deadline) {
      job = (await request('GET', `/cp/api/v1/cluster/jobs/${jobId}`, undefined, { authorization: `Bearer ${token}` })).body;
      if (phases.includes(job.phase)) return job;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`job ${jobId} did not reach ${phases.join('|')} in ${timeoutMs}ms: ${JSON.stringify(job)}`);
  }

  async function createNode(body: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<string> {
    const res = await request('POST', '/cp/api/v1/cluster/nodes', { provider: 'local', region: 'local', plan: 'local-1', ...body }, headers);
    if (res.status !== 202) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.job_id;
  }

  return {
    dataDir,
    db: db as Db,
    client,
    app,
    providers,
    local,
    taskQueue,
    publicUrl,
    address,
    tenantId: DEFAULT_TENANT_ID,
    registrationKey: registrationKey(dataDir),
    request,
    waitForPhase,
    createNode,
    /** What the contract check has seen: answers checked, and the problems found. */
    contract,
    /** The API's Prometheus series (`metrics.registry`), as `GET /metrics` serves them. */
    metrics,
    async stop() {
      await stopWorker();
      for (const vm of await local.all()) await local.delete(vm.id);
      server.close();
      await connection.close();
      if (database) await database.drop();
      else await db.destroy();
      fs.rmSync(dataDir, { recursive: true, force: true });
      const problems = contract?.take() ?? [];
      if (problems.length > 0) {
        throw new Error(`Answers of this stack's API broke the contract (the OpenAPI document):\n- ${[...new Set(problems)].slice(0, 20).join('\n- ')}`);
      }
    },
  };
}

export type Stack = Awaited<ReturnType<typeof startStack>>;

/** Every string in a workflow's history, payloads decoded, one per line: to search it for secrets. */
export async function historyText(client: Client, workflowId: string): Promise<string> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const lines: string[] = [];
  // Payload bodies and metadata are base64 in the fetched history.
  JSON.stringify(history, (key, value) => {
    if (typeof value === 'string') lines.push(key === 'data' || key === 'encoding' ? Buffer.from(value, 'base64').toString('utf8') : value);
    return value;
  });
  return lines.join('\n');
}
