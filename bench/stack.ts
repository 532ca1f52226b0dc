// The stack `npm run bench` measures: a Temporal dev server (on a database file as `npm start` runs
// it, or in memory), the real API as a child process, and in this process the Berth worker, the
// baselines' worker and the emulated cloud. Built by a function so one run can start it twice.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, type Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, type Worker } from '@temporalio/worker';
import type { Activities } from '../activities/index.js';
import { createActivities } from '../activities/index.js';
import { ensureDefaultAdmin } from '../db/bootstrap.js';
import { migrate, openDatabase, type Db } from '../db/connect.js';
import { ProviderRegistry, type CloudName } from '../providers/registry.js';
import { registrationKey, loadKeyring } from '../security/key-files.js';
import { connectTemporal } from '../temporal/connect.js';
import { freePort, startDevServer, stopProcess, type DevServer } from '../temporal/dev-server.js';
import { ensureSearchAttributes } from '../temporal/search-attributes.js';
import { createWorker, WORKFLOWS_PATH } from '../worker/create-worker.js';
import { createBenchActivities } from './bench-activities.js';
import { EmulatorProvider, type CreatedVm } from './emulator.js';
import { goSignal, leanRegisterUpdate } from './workflows.js';

const ROOT = path.resolve(import.meta.dirname, '..');
export const ADMIN = 'berth_bench_admin_token_0123456789';
export const ENGINE_QUEUE = 'bench-engine';

export interface StackOptions {
  binary: string;
  /** 'file': the dev server on a SQLite file in WAL mode, as `npm start` runs it; 'memory': in memory. */
  temporal: 'file' | 'memory';
  /** Berth's database; unset: SQLite in the stack's data dir. */
  databaseUrl?: string | undefined;
  /** Cloud API base URLs (the HTTP emulators), for the API and the worker. */
  cloudApiUrls?: Partial<Record<CloudName, string>>;
  log: (line: string) => void;
}

// Bundled once per run: both stacks load the same code.
let bundles: Promise<{ berth: string; bench: string }> | undefined;
function workflowBundles() {
  const logger = new DefaultLogger('ERROR');
  bundles ??= Promise.all([
    bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger }),
    bundleWorkflowCode({ workflowsPath: path.join(ROOT, 'bench/workflows.ts'), logger }),
  ]).then(([berth, bench]) => ({ berth: berth.code, bench: bench.code }));
  return bundles;
}

export type Stack = Awaited<ReturnType<typeof startStack>>;

export async function startStack(options: StackOptions) {
  const { binary, databaseUrl, log } = options;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `berth-bench-${options.temporal}-`));
  const server: DevServer = await startDevServer({
    binary,
    logFile: path.join(dataDir, 'temporal.log'),
    ...(options.temporal === 'file' && { dbFile: path.join(dataDir, 'temporal.db') }),
  });
  const connection: Connection = await connectTemporal(server.address);
  await ensureSearchAttributes(connection, 'default');
  const client = new Client({ connection });
  const db: Db = openDatabase({ dataDir, databaseUrl });
  await migrate(db);
  await ensureDefaultAdmin(db, dataDir, ADMIN);

  const children: ChildProcess[] = [];
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const api = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'api/main.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      PATH: process.env.PATH,
      BERTH_DATA_DIR: dataDir,
      ...(databaseUrl && { DATABASE_URL: databaseUrl }),
      ...(options.cloudApiUrls?.hetzner && { BERTH_HETZNER_API_URL: options.cloudApiUrls.hetzner }),
      ...(options.cloudApiUrls?.digitalocean && { BERTH_DIGITALOCEAN_API_URL: options.cloudApiUrls.digitalocean }),
      BERTH_PORT: String(apiPort),
      BERTH_ADMIN_TOKEN: ADMIN,
      BERTH_LOG_LEVEL: 'warn',
      BERTH_REGISTRATION_TTL: '2h',
      TEMPORAL_ADDRESS: server.address,
    },
  });
  children.push(api);

  // When each job was ready (its register call answered), and the VMs held back from calling.
  const waiters = new Map<string, { resolve: () => void; promise: Promise<void> }>();
  const registerLatency: number[] = [];
  const counters = { retriedRegistrations: 0 };
  const holding = { on: false, vms: [] as CreatedVm[] };

  function readiness(jobId: string) {
    let entry = waiters.get(jobId);
    if (!entry) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      entry = { resolve, promise };
      waiters.set(jobId, entry);
    }
    return entry;
  }

  /** Like the VM's bootstrap: a 5xx (the job is still busy, e.g. in a burst) is retried after a pause. */
  async function register(vm: CreatedVm): Promise<void> {
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(`${apiUrl}/cp/api/v1/cluster/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: vm.token }),
      });
      const body = await res.text();
      if (res.ok) break;
      if (res.status < 500 || attempt >= 10) throw new Error(`register answered ${res.status}: ${body}`);
      counters.retriedRegistrations++;
      await sleep(1_000);
    }
    registerLatency.push(performance.now() - started);
    readiness(vm.jobId).resolve();
  }

  const emulator = new EmulatorProvider(dataDir, (vm) => {
    if (holding.on) holding.vms.push(vm);
    else void register(vm).catch((err) => log(`registration failed: ${err}`));
  });

  // The baselines' callbacks come from this process, at once, as the emulator's do.
  const baselineCallback = (id: string) => {
    const handle = client.workflow.getHandle(id);
    const sent = id.startsWith('lean-') ? handle.executeUpdate(leanRegisterUpdate) : handle.signal(goSignal);
    void sent.catch((err) => log(`callback to ${id} failed: ${err}`));
  };

  const workerConnection = await NativeConnection.connect({ address: server.address });
  const code = await workflowBundles();
  const worker: Worker = await createWorker({
    connection: workerConnection,
    namespace: 'default',
    taskQueue: 'berth-provision',
    workflowBundle: { code: code.berth },
    activities: createActivities({
      db,
      providers: new ProviderRegistry({
        dataDir,
        db,
        keyring: loadKeyring({ dataDir }),
        replace: [emulator],
        ...(options.cloudApiUrls && { apiUrls: options.cloudApiUrls }),
      }),
      publicUrl: apiUrl,
      registrationKey: registrationKey(dataDir),
    }),
  });
  // The baselines run under Berth's worker settings (createWorker's: cache size, grace time, the
  // SDK's eager activities), so the comparison is of the workflows alone.
  const engineWorker: Worker = await createWorker({
    connection: workerConnection,
    namespace: 'default',
    taskQueue: ENGINE_QUEUE,
    workflowBundle: { code: code.bench },
    activities: createBenchActivities(baselineCallback) as unknown as Activities,
  });
  const running = [worker.run(), engineWorker.run()];
  // An API that does not come up must not leave the dev server and the workers behind.
  await waitHealthy(`${apiUrl}/healthz`).catch(async (err: unknown) => {
    await stop();
    throw err;
  });

  const auth = { authorization: `Bearer ${ADMIN}` };

  async function submit(body: Record<string, unknown> = { provider: 'local', region: 'local', plan: 'local-1' }): Promise<{ jobId: string; at: number }> {
    const at = performance.now();
    const res = await fetch(`${apiUrl}/cp/api/v1/cluster/nodes`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
    const { job_id } = (await res.json()) as { job_id: string };
    return { jobId: job_id, at };
  }

  async function stop(): Promise<void> {
    holding.on = true;
    worker.shutdown();
    engineWorker.shutdown();
    await Promise.allSettled(running);
    await Promise.all(children.map((c) => stopProcess(c, 2_000)));
    await workerConnection.close();
    await connection.close();
    await server.stop();
    await db.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }

  return {
    temporal: options.temporal,
    dataDir,
    apiUrl,
    auth,
    client,
    db,
    api,
    emulator,
    /** The processes whose CPU a burst reports. The worker shares this process with the harness. */
    pids: { dev_server: server.process.pid!, worker_and_harness: process.pid, api: api.pid! },
    registerLatency,
    counters,
    holding,
    readiness,
    /** Sends a held VM's registration callback, as its bootstrap would, and times it. */
    callBack: register,
    submit,
    stop,
  };
}

export async function waitHealthy(url: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer`);
}
