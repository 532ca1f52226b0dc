// `npm run bench [-- --quick]`: how fast Berth orchestrates, what a job costs, how many jobs it
// holds, and how close it gets to Temporal's own limit, in one run. The main figures come from the
// embedded default as `npm start` runs it (dev server on a database file, SQLite for Berth); the
// core scenarios run again on a dev server in memory, for a second column.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { freePort, stopProcess } from '../temporal/dev-server.js';
import { writeChart } from './chart.js';
import { startCloudEmulators } from './clouds.js';
import { heldJobs, load } from './load.js';
import { heartbeats, poolScale } from './pools.js';
import { core, harnessBurst } from './scenarios.js';
import { startStack, waitHealthy } from './stack.js';
import { ratio, type Percentiles } from './stats.js';
import { printTable } from './table.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const QUICK = process.argv.includes('--quick');
const SIZES = QUICK
  ? { overhead: 20, bursts: [10, 50, 100], held: 200, loadSeconds: 3, pool: 20, heartbeatSeconds: 15 }
  : { overhead: 100, bursts: [10, 100, 1000], held: 10_000, loadSeconds: 10, pool: 100, heartbeatSeconds: 60 };
/** Node agents: 1,000 nodes, each heartbeating every 15 s (in both modes; quick sends for 15 s). */
const AGENTS = { nodes: 1000, intervalS: 15 };
const POOL_TIMEOUT_S = 300;

Runtime.install({ logger: new DefaultLogger('ERROR') });
const log = (line: string) => console.error(`bench: ${line}`);
const round = (n: number) => Math.round(n * 100) / 100;

const binary = process.env.BERTH_TEMPORAL_CLI;
if (!binary) throw new Error('BERTH_TEMPORAL_CLI is not set; run `npm run bench`');
// The embedded default is SQLite; DATABASE_URL runs the same benchmark on PostgreSQL (an empty database).
const databaseUrl = process.env.DATABASE_URL;

const barePort = await freePort();
const bare = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/bare-server.ts')], {
  cwd: ROOT,
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { PATH: process.env.PATH, PORT: String(barePort) },
});
const bareUrl = `http://127.0.0.1:${barePort}/bare`;
const clouds = await startCloudEmulators();

try {
  await waitHealthy(bareUrl);
  log(`running the ${QUICK ? 'quick' : 'full'} benchmark; bundling the workflows and starting the stack (Temporal on a file)...`);
  const stack = await startStack({ binary, temporal: 'file', databaseUrl, cloudApiUrls: clouds.apiUrls, log });
  let fileResults;
  try {
    const main = await core(stack, SIZES, log, true);
    // After the bursts, so the harness's figure is taken on a warm process.
    const harness: Record<string, Awaited<ReturnType<typeof harnessBurst>>> = {};
    for (const n of SIZES.bursts) harness[n] = await harnessBurst(bareUrl, n);
    log(`harness alone: ${JSON.stringify(harness)}`);

    log('one job at a time on the Hetzner and DigitalOcean emulators...');
    const cloudCalls = await clouds.measure(stack);
    log(`provider calls: ${JSON.stringify(cloudCalls)}`);

    const someJob = (await stack.db.selectFrom('jobs').select('job_id').where('provider', '=', 'local').executeTakeFirstOrThrow()).job_id;
    const jobRead = await load(`${stack.apiUrl}/cp/api/v1/cluster/jobs/${someJob}`, stack.auth, SIZES.loadSeconds);
    const bareRead = await load(bareUrl, {}, SIZES.loadSeconds);
    const apiLimit = { get_job: jobRead, bare_route: bareRead, ratio: ratio(jobRead.requests_per_second, bareRead.requests_per_second) };
    log(`api: ${jobRead.requests_per_second} req/s against ${bareRead.requests_per_second} req/s bare`);

    // Before the held jobs, so the pool's worker RSS is not theirs.
    const poolContext = { apiUrl: stack.apiUrl, auth: stack.auth, db: stack.db, client: stack.client, apiPid: stack.api.pid!, log };
    log(`pool of ${SIZES.pool}: 0 → ${SIZES.pool} → 0...`);
    const scale = await poolScale(poolContext, SIZES.pool, POOL_TIMEOUT_S);
    log(`pool: ${JSON.stringify(scale)}`);
    log(`heartbeats of ${AGENTS.nodes} nodes every ${AGENTS.intervalS}s for ${SIZES.heartbeatSeconds}s, then a burst...`);
    const beats = await heartbeats(poolContext, { ...AGENTS, seconds: SIZES.heartbeatSeconds, burstSeconds: SIZES.loadSeconds, burstConcurrency: 32 });
    log(`heartbeats: ${JSON.stringify(beats)}`);

    log(`holding ${SIZES.held} jobs...`);
    const held = await heldJobs(stack, SIZES.held);
    log(`held: ${JSON.stringify(held)}`);
    fileResults = { main, harness, cloudCalls, apiLimit, scale, beats, held, retried: stack.counters.retriedRegistrations };
  } finally {
    await stack.stop();
  }

  log('the core scenarios again, on a dev server in memory...');
  const memoryStack = await startStack({ binary, temporal: 'memory', databaseUrl, log });
  let memory;
  try {
    memory = { ...(await core(memoryStack, SIZES, log, false)), retried_registrations: memoryStack.counters.retriedRegistrations };
  } finally {
    await memoryStack.stop();
  }

  const { main, harness, cloudCalls, apiLimit, scale, beats, held } = fileResults;
  for (const [n, h] of Object.entries(harness)) Object.assign(main.throughput[n]!, { harness_alone: h });
  const results = {
    taken_at: new Date().toISOString(),
    mode: QUICK ? 'quick' : 'full',
    database: databaseUrl ? 'postgresql' : 'sqlite',
    /** Where the main figures' Temporal dev server keeps its state; `in_memory` has the second column. */
    temporal: 'sqlite file, WAL (as npm start)',
    machine: {
      cpus: os.cpus().length,
      cpu_model: os.cpus()[0]?.model ?? 'unknown',
      memory_gb: round(os.totalmem() / 2 ** 30),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
    },
    overhead: main.overhead,
    throughput: main.throughput,
    per_job: { ...main.per_job!, provider_calls_clouds: cloudCalls },
    held,
    api: apiLimit,
    pools: { scale, heartbeats: beats },
    /** Callbacks answered 503 (not delivered within the API's window, in a burst) and sent again. */
    retried_registrations: fileResults.retried,
    in_memory: memory,
  };
  const outDir = path.resolve(process.env.BERTH_BENCH_DIR ?? path.join(ROOT, 'data', 'bench'));
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `bench-${results.taken_at.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  writeChart(file.replace(/\.json$/, '.svg'), {
    'submit → create': main.overhead.submit_to_create_ms,
    'register → ready': main.overhead.register_to_ready_ms,
    'register → ready, in memory': memory.overhead.register_to_ready_ms,
    [`GET job, ${SIZES.held} held`]: held.get_job_ms,
    'GET job, under load': apiLimit.get_job.latency_ms,
    'bare route, under load': apiLimit.bare_route.latency_ms,
    [`heartbeat, ${beats.steady.target_per_second}/s`]: beats.steady.latency_ms,
    'heartbeat, burst': beats.burst.latency_ms,
  } satisfies Record<string, Percentiles>);
  printTable(results);
  console.log(file);
} finally {
  await clouds.close();
  await stopProcess(bare, 2_000);
}
