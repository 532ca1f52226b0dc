// `npm run bench [-- --quick]`: how fast Berth orchestrates, how many jobs it holds, and how close
// it gets to Temporal's own limit, on the embedded default (dev server, SQLite), in one run.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { sql } from 'kysely';
import { createActivities } from '../activities/index.js';
import { ensureDefaultAdmin } from '../db/bootstrap.js';
import { migrate, openDatabase } from '../db/connect.js';
import { ProviderRegistry } from '../providers/registry.js';
import { registrationKey, loadKeyring } from '../security/key-files.js';
import { connectTemporal } from '../temporal/connect.js';
import { freePort, startDevServer, stopProcess } from '../temporal/dev-server.js';
import { ensureSearchAttributes } from '../temporal/search-attributes.js';
import { createWorker } from '../worker/create-worker.js';
import { createBenchActivities } from './bench-activities.js';
import { writeChart } from './chart.js';
import { EmulatorProvider, type CreatedVm } from './emulator.js';
import { heartbeats, poolScale, type HeartbeatResult, type PoolScaleResult } from './pools.js';
import { percentiles, ratio, type Percentiles } from './stats.js';
import { goSignal, type minimalJob } from './workflows.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const QUICK = process.argv.includes('--quick');
const SIZES = QUICK
  ? { overhead: 20, bursts: [10, 50, 100], held: 200, loadSeconds: 3, pool: 20, heartbeatSeconds: 15 }
  : { overhead: 100, bursts: [10, 100, 1000], held: 5000, loadSeconds: 10, pool: 100, heartbeatSeconds: 60 };
/** Node agents: 1,000 nodes, each heartbeating every 15 s (in both modes; quick sends for 15 s). */
const AGENTS = { nodes: 1000, intervalS: 15 };
const POOL_TIMEOUT_S = 300;
const ADMIN = 'berth_bench_admin_token_0123456789';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const log = (line: string) => console.error(`bench: ${line}`);

// ---- the stack: dev server, the real API as a child process, the worker in this process ----

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-'));
const binary = process.env.BERTH_TEMPORAL_CLI;
if (!binary) throw new Error('BERTH_TEMPORAL_CLI is not set; run `npm run bench`');
const server = await startDevServer({ binary, logFile: path.join(dataDir, 'temporal.log') });
const connection = await connectTemporal(server.address);
await ensureSearchAttributes(connection, 'default');
const client = new Client({ connection });
// The embedded default is SQLite; DATABASE_URL runs the same benchmark on PostgreSQL (an empty database).
const databaseUrl = process.env.DATABASE_URL;
const db = openDatabase({ dataDir, databaseUrl });
await migrate(db);
await ensureDefaultAdmin(db, dataDir, ADMIN);

const children: ChildProcess[] = [];
function child(entry: string, env: Record<string, string>): ChildProcess {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, entry)], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { PATH: process.env.PATH, ...env },
  });
  children.push(proc);
  return proc;
}

const apiPort = await freePort();
const apiUrl = `http://127.0.0.1:${apiPort}`;
const api = child('api/main.ts', {
  BERTH_DATA_DIR: dataDir,
  ...(databaseUrl && { DATABASE_URL: databaseUrl }),
  BERTH_PORT: String(apiPort),
  BERTH_ADMIN_TOKEN: ADMIN,
  BERTH_LOG_LEVEL: 'warn',
  BERTH_REGISTRATION_TTL: '2h',
  TEMPORAL_ADDRESS: server.address,
});
const barePort = await freePort();
child('bench/bare-server.ts', { PORT: String(barePort) });

// What the emulated cloud saw, and when each job was ready (its register call answered).
const created = new Map<string, number>();
const waiters = new Map<string, { resolve: () => void; promise: Promise<void> }>();
const registerLatency: number[] = [];
let retriedRegistrations = 0;
let hold = false;
const held: CreatedVm[] = [];

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
    retriedRegistrations++;
    await sleep(1_000);
  }
  registerLatency.push(performance.now() - started);
  readiness(vm.jobId).resolve();
}

const emulator = new EmulatorProvider(dataDir, (vm) => {
  created.set(vm.jobId, vm.at);
  if (hold) held.push(vm);
  else void register(vm).catch((err) => log(`registration failed: ${err}`));
});

const workerConnection = await NativeConnection.connect({ address: server.address });
log('bundling the workflows and starting the workers...');
const worker = await createWorker({
  connection: workerConnection,
  namespace: 'default',
  taskQueue: 'berth-provision',
  activities: createActivities({
    db,
    providers: new ProviderRegistry({ dataDir, db, keyring: loadKeyring({ dataDir }), replace: [emulator] }),
    publicUrl: apiUrl,
    registrationKey: registrationKey(dataDir),
  }),
});
const engineWorker = await Worker.create({
  connection: workerConnection,
  taskQueue: 'bench-engine',
  workflowsPath: path.join(ROOT, 'bench/workflows.ts'),
  activities: createBenchActivities((id) => void client.workflow.getHandle(id).signal(goSignal)),
});
const running = [worker.run(), engineWorker.run()];
await waitHealthy(`${apiUrl}/healthz`);
await waitHealthy(`http://127.0.0.1:${barePort}/bare`);

async function waitHealthy(url: string): Promise<void> {
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

// ---- scenarios ----

const auth = { authorization: `Bearer ${ADMIN}` };

async function submit(): Promise<{ jobId: string; at: number }> {
  const at = performance.now();
  const res = await fetch(`${apiUrl}/cp/api/v1/cluster/nodes`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'local', region: 'local', plan: 'local-1' }),
  });
  if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
  const { job_id } = (await res.json()) as { job_id: string };
  return { jobId: job_id, at };
}

/** 1. Overhead, one job at a time: submit → the provider's create call; register → ready. */
async function overhead() {
  const toCreate: number[] = [];
  registerLatency.length = 0;
  for (let i = 0; i < SIZES.overhead; i++) {
    const { jobId, at } = await submit();
    await readiness(jobId).promise;
    toCreate.push(created.get(jobId)! - at);
  }
  return { submit_to_create_ms: percentiles(toCreate), register_to_ready_ms: percentiles(registerLatency) };
}

/** 2. Throughput: n jobs submitted at once, until the last one is ready. */
async function berthBurst(n: number) {
  const started = performance.now();
  const jobs = await Promise.all(Array.from({ length: n }, () => submit()));
  await Promise.all(jobs.map((j) => readiness(j.jobId).promise));
  const seconds = (performance.now() - started) / 1000;
  return { jobs: n, seconds: round(seconds), jobs_per_second: round(n / seconds) };
}

/** 4. The engine's limit: the minimal workflow of the same shape, n at once. */
async function engineBurst(n: number) {
  const started = performance.now();
  const handles = await Promise.all(
    Array.from({ length: n }, (_, i) => {
      const id = `engine-${n}-${i}-${Date.now()}`;
      return client.workflow.start<typeof minimalJob>('minimalJob', { taskQueue: 'bench-engine', workflowId: id, args: [id] });
    }),
  );
  await Promise.all(handles.map((h) => h.result()));
  const seconds = (performance.now() - started) / 1000;
  return { jobs: n, seconds: round(seconds), jobs_per_second: round(n / seconds) };
}

/** Closed-loop load: `concurrency` clients requesting `url` back to back for `seconds`. */
async function load(url: string, headers: Record<string, string>, seconds: number, concurrency = 16) {
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        const res = await fetch(url, { headers });
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`${url} answered ${res.status}`);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { requests_per_second: round(latencies.length / seconds), latency_ms: percentiles(latencies) };
}

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024);
}

/** 3. Held jobs: n jobs waiting for their VM at once; memory, and job reads meanwhile. */
async function heldJobs(n: number) {
  hold = true;
  const jobIds: string[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => submit()));
    jobIds.push(...batch.map((j) => j.jobId));
  }
  for (;;) {
    const row = await db
      .selectFrom('jobs')
      .select(sql<number>`count(*)`.as('n'))
      .where('phase', '=', 'bootstrapping')
      .executeTakeFirstOrThrow();
    if (Number(row.n) >= n) break;
    await sleep(500);
  }
  global.gc?.();
  const memory = { worker_rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20), api_rss_mb: rssMb(api.pid!) };
  const reads: number[] = [];
  await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      for (let i = w; i < Math.min(n, 800); i += 8) {
        const t = performance.now();
        const res = await fetch(`${apiUrl}/cp/api/v1/cluster/jobs/${jobIds[i]}`, { headers: auth });
        await res.arrayBuffer();
        reads.push(performance.now() - t);
      }
    }),
  );
  return { jobs: n, ...memory, get_job_ms: percentiles(reads) };
}

const round = (n: number) => Math.round(n * 100) / 100;

// ---- run ----

try {
  log(`running the ${QUICK ? 'quick' : 'full'} benchmark`);
  await overhead(); // warm-up: caches, JIT, SQLite pages
  const overheadResult = await overhead();
  log(`overhead: ${JSON.stringify(overheadResult)}`);

  const throughput: Record<string, { berth: unknown; engine: unknown; ratio: number }> = {};
  for (const n of SIZES.bursts) {
    const engine = await engineBurst(n);
    const berth = await berthBurst(n);
    throughput[n] = { berth, engine, ratio: ratio(berth.jobs_per_second, engine.jobs_per_second) };
    log(`throughput ${n}: berth ${berth.jobs_per_second}/s, engine ${engine.jobs_per_second}/s`);
  }

  const someJob = (await db.selectFrom('jobs').select('job_id').executeTakeFirstOrThrow()).job_id;
  const jobRead = await load(`${apiUrl}/cp/api/v1/cluster/jobs/${someJob}`, auth, SIZES.loadSeconds);
  const bare = await load(`http://127.0.0.1:${barePort}/bare`, {}, SIZES.loadSeconds);
  const apiLimit = { get_job: jobRead, bare_route: bare, ratio: ratio(jobRead.requests_per_second, bare.requests_per_second) };
  log(`api: ${jobRead.requests_per_second} req/s against ${bare.requests_per_second} req/s bare`);

  // Before the held jobs, so the pool's worker RSS is not theirs.
  const poolContext = { apiUrl, auth, db, client, apiPid: api.pid!, log };
  log(`pool of ${SIZES.pool}: 0 → ${SIZES.pool} → 0...`);
  const scale = await poolScale(poolContext, SIZES.pool, POOL_TIMEOUT_S);
  log(`pool: ${JSON.stringify(scale)}`);
  log(`heartbeats of ${AGENTS.nodes} nodes every ${AGENTS.intervalS}s for ${SIZES.heartbeatSeconds}s, then a burst...`);
  const beats = await heartbeats(poolContext, {
    ...AGENTS,
    seconds: SIZES.heartbeatSeconds,
    burstSeconds: SIZES.loadSeconds,
    burstConcurrency: 32,
  });
  log(`heartbeats: ${JSON.stringify(beats)}`);

  log(`holding ${SIZES.held} jobs...`);
  const heldResult = await heldJobs(SIZES.held);
  log(`held: ${JSON.stringify(heldResult)}`);

  const results = {
    taken_at: new Date().toISOString(),
    mode: QUICK ? 'quick' : 'full',
    database: databaseUrl ? 'postgresql' : 'sqlite',
    machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? 'unknown', memory_gb: round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}` },
    overhead: overheadResult,
    throughput,
    held: heldResult,
    api: apiLimit,
    pools: { scale, heartbeats: beats },
    /** Callbacks answered 503 (not delivered within the API's window, in a burst) and sent again. */
    retried_registrations: retriedRegistrations,
  };
  const outDir = path.resolve(process.env.BERTH_BENCH_DIR ?? path.join(ROOT, 'data', 'bench'));
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `bench-${results.taken_at.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  writeChart(file.replace(/\.json$/, '.svg'), {
    'submit → create': overheadResult.submit_to_create_ms,
    'register → ready': overheadResult.register_to_ready_ms,
    [`GET job, ${SIZES.held} held`]: heldResult.get_job_ms,
    'GET job, under load': jobRead.latency_ms,
    'bare route, under load': bare.latency_ms,
    [`heartbeat, ${beats.steady.target_per_second}/s`]: beats.steady.latency_ms,
    'heartbeat, burst': beats.burst.latency_ms,
  } satisfies Record<string, Percentiles>);
  printTable(results);
  console.log(file);
} finally {
  hold = true;
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

function printTable(r: {
  overhead: { submit_to_create_ms: Percentiles; register_to_ready_ms: Percentiles };
  throughput: Record<string, { berth: unknown; engine: unknown; ratio: number }>;
  held: { jobs: number; worker_rss_mb: number; api_rss_mb: number; get_job_ms: Percentiles };
  api: { get_job: { requests_per_second: number }; bare_route: { requests_per_second: number }; ratio: number };
  pools: { scale: PoolScaleResult; heartbeats: HeartbeatResult };
}) {
  const s = r.pools.scale;
  const h = r.pools.heartbeats;
  const w = s.workflow;
  const c = s.scale_out.admission_cycle_ms;
  const p = (x: Percentiles) => `p50 ${x.p50}  p95 ${x.p95}  p99 ${x.p99} ms`;
  const pct = (share: number) => `${Math.round(share * 100)}%`;
  const lines = [
    `submit → create call        ${p(r.overhead.submit_to_create_ms)}`,
    `register → ready            ${p(r.overhead.register_to_ready_ms)}`,
    ...Object.entries(r.throughput).map(([n, t]) => {
      const b = t.berth as { jobs_per_second: number };
      const e = t.engine as { jobs_per_second: number };
      return `${n.padStart(5)} at once               berth ${b.jobs_per_second}/s, engine ${e.jobs_per_second}/s, ratio ${t.ratio}`;
    }),
    `${r.held.jobs} held jobs              worker RSS ${r.held.worker_rss_mb} MiB, API RSS ${r.held.api_rss_mb} MiB, GET job ${p(r.held.get_job_ms)}`,
    `GET job under load          ${r.api.get_job.requests_per_second} req/s, bare route ${r.api.bare_route.requests_per_second} req/s, ratio ${r.api.ratio}`,
    `pool 0 → ${s.nodes}`.padEnd(28) +
      `${s.scale_out.ready_s} s until all ready (${s.scale_out.nodes_per_second} nodes/s; one admission every ${s.scale_out.admission_interval_ms} ms)`,
    `  admission`.padEnd(28) +
      `${c.admission_activities} admission activit${c.admission_activities === 1 ? 'y' : 'ies'} (median ${c.admission_activity_ms} ms), ${c.children_started} child starts within ${c.child_starts_span_ms} ms`,
    `pool ${s.nodes} → 0`.padEnd(28) + `${s.scale_in.gone_s} s until all gone (drain timeout 1 s; one removal started every ${s.scale_in.removal_interval_ms} ms)`,
    `pool run                    worker RSS peak ${s.worker_rss_peak_mb} MiB (${s.worker_rss_before_mb} before), reconciler history ${w.history_events} events, ${w.runs} run${w.runs === 1 ? '' : 's'} (${w.events_all_runs} events in all)`,
    `heartbeats ${h.nodes} nodes/${h.interval_s}s`.padEnd(28) +
      `${h.steady.requests_per_second} req/s, ${p(h.steady.latency_ms)}, API CPU ${pct(h.steady.api_cpu_share)} of a core (idle ${pct(h.api_cpu_share_idle)})`,
    `heartbeat burst, ${h.burst.concurrency} at once`.padEnd(28) + `${h.burst.requests_per_second} req/s, ${p(h.burst.latency_ms)}, API CPU ${pct(h.burst.api_cpu_share)} of a core`,
  ];
  console.log(lines.join('\n'));
}
