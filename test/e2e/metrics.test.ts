// What operators watch, end to end: a local job and a Hetzner-emulator job run to ready through
// the real worker process (worker/main.ts, its Prometheus port on), then the API's /metrics and the
// worker's port are scraped for the named series with real values, the dashboard's expressions are
// checked against what both expose, and every log line of a job carries its job_id and tenant_id.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { freePort } from '../../temporal/dev-server.js';
import { CLOUDS, capturingLogger, type CloudEmulator } from '../support/clouds.js';
import { allPanels, metricNamesIn, readDashboard } from '../support/dashboard.js';
import { metricNames, parsePrometheus, valueOf, type Sample } from '../support/prometheus.js';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const API = '/cp/api/v1/cluster';
const hetzner = CLOUDS.find((c) => c.name === 'hetzner')!;

let emu: CloudEmulator;
let stack: Stack;
let worker: ChildProcess;
let workerMetricsUrl: string;
const apiLogs = capturingLogger();
/** The worker's stdout, one JSON line each. */
const workerLines: string[] = [];
const jobs: { local?: string; hetzner?: string; soldOut?: string } = {};

async function scrape(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(url, { headers });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

/** Polls `read` until it gives a truthy value. */
async function soon<T>(read: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  emu = await hetzner.start({ bootDelayMs: 50 });
  stack = await startStack({
    worker: false,
    logger: apiLogs.logger,
    registry: { apiUrls: { hetzner: emu.url }, http: { timeoutMs: 2_000, backoffMs: 50, maxWaitMs: 5_000 }, pollIntervalMs: 50 },
  });
  const port = await freePort();
  workerMetricsUrl = `http://127.0.0.1:${port}/metrics`;
  // The real worker entry point, as `npm start` runs it, on this stack's data dir and task queue.
  worker = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'worker/main.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      PATH: process.env.PATH,
      TEMPORAL_ADDRESS: stack.address,
      BERTH_DATA_DIR: stack.dataDir,
      BERTH_TASK_QUEUE: stack.taskQueue,
      BERTH_PUBLIC_URL: stack.publicUrl,
      BERTH_HETZNER_API_URL: emu.url,
      BERTH_LOG_LEVEL: 'debug',
      BERTH_HEARTBEAT_INTERVAL: '1s',
      BERTH_WORKER_METRICS_PORT: String(port),
    },
  });
  let partial = '';
  worker.stdout!.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop()!;
    workerLines.push(...lines.filter((l) => l.trim() !== ''));
  });
  await soon(async () => workerLines.some((l) => l.includes('"worker started"')), 90_000, 'the worker to start');
}, 120_000);

afterAll(async () => {
  if (worker && worker.exitCode === null) {
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.kill('SIGTERM');
    await exited;
  }
  await stack?.stop();
  await emu?.close();
});

describe('metrics', () => {
  let api: Sample[];
  let apiText: string;
  let sdk: Sample[];
  let sdkText: string;

  it('runs a local and a Hetzner job to ready through the worker process (a 429 on the way), one to failed, and deletes a node', async () => {
    expect((await stack.request('POST', `${API}/providers/hetzner/verify`, { token: emu.token })).status).toBe(200);
    // The API's own provider calls: the first is refused with a 429 and retried; the repeats come from the cache.
    emu.faults.rateLimitNext(1, 0);
    expect((await stack.request('GET', `${API}/providers/hetzner/regions`)).status).toBe(200);
    expect((await stack.request('GET', `${API}/providers/hetzner/regions`)).status).toBe(200);
    expect((await stack.request('GET', `${API}/providers/hetzner/plans?region=${hetzner.region}`)).status).toBe(200);

    jobs.local = await stack.createNode({ hostname: 'metrics-local' });
    expect((await stack.waitForPhase(jobs.local, ['ready', 'failed'], 60_000)).phase).toBe('ready');

    // The catalogue is cached, so the API's create makes no provider call: the worker's first call gets the 429.
    const before = emu.requestCount();
    emu.faults.rateLimitNext(1, 0);
    jobs.hetzner = await stack.createNode({ provider: 'hetzner', region: hetzner.region, plan: hetzner.plan, hostname: 'metrics-cloud' });
    expect((await stack.waitForPhase(jobs.hetzner, ['ready', 'failed'], 60_000)).phase).toBe('ready');
    expect(emu.requestCount()).toBeGreaterThan(before);

    // A sold-out plan fails the create activity (the SDK counts it), and the job fails.
    emu.faults.soldOut(hetzner.plan, hetzner.region);
    jobs.soldOut = await stack.createNode({ provider: 'hetzner', region: hetzner.region, plan: hetzner.plan });
    expect((await stack.waitForPhase(jobs.soldOut, ['ready', 'failed'], 60_000)).phase).toBe('failed');
    // Deleting the Hetzner node deletes its VM (DELETE /servers/{id}) in the decommission workflow.
    expect((await stack.request('DELETE', `${API}/nodes/node-${jobs.hetzner}`)).status).toBe(202);
    await stack.waitForPhase(jobs.hetzner, ['decommissioned'], 60_000);

    const refused = await stack.request('POST', `${API}/register`, { token: 'berth_reg_not-a-real-token-0000000000000000' });
    expect(refused.status).toBe(401);

    const served = await scrape(`${stack.publicUrl}/metrics`);
    expect(served.status).toBe(200);
    expect(served.type).toMatch(/^text\/plain; version=0\.0\.4/);
    apiText = served.text;
    api = parsePrometheus(apiText);
    // The SDK's exporter collects on scrape; its Berth counters are there once the activities ran.
    sdkText = await soon(
      async () => {
        const text = (await scrape(workerMetricsUrl)).text;
        return text.includes('berth_vm_deletes_total') && text.includes('temporal_activity_execution_failed_total') ? text : undefined;
      },
      15_000,
      "the worker's series",
    );
    sdk = parsePrometheus(sdkText);
  }, 150_000);

  it("counts the API's requests by route template, method and status, with their latency", () => {
    const created = { route: `${API}/nodes`, method: 'POST', status: '202' };
    expect(valueOf(api, 'berth_http_requests_total', created)).toBeGreaterThanOrEqual(2);
    expect(valueOf(api, 'berth_http_requests_total', { route: `${API}/jobs/:id`, method: 'GET', status: '200' })).toBeGreaterThanOrEqual(2);
    expect(valueOf(api, 'berth_http_request_duration_seconds_count', { route: `${API}/nodes`, method: 'POST' })).toBeGreaterThanOrEqual(2);
    expect(valueOf(api, 'berth_http_request_duration_seconds_bucket', { route: `${API}/nodes`, method: 'POST', le: '+Inf' })).toBeGreaterThanOrEqual(2);
    // Routes are templates: no job id, tenant, hostname or token in any label.
    const routes = new Set(api.filter((s) => s.name === 'berth_http_requests_total').map((s) => s.labels.route));
    for (const route of routes) expect(route === 'unmatched' || route!.startsWith('/'), route).toBe(true);
    for (const secret of [jobs.local!, jobs.hetzner!, 'metrics-local', 'metrics-cloud', ADMIN_TOKEN, emu.token]) {
      expect(apiText).not.toContain(secret);
      expect(sdkText).not.toContain(secret);
    }
    const labelNames = new Set([...api, ...sdk].flatMap((s) => Object.keys(s.labels)));
    for (const name of ['tenant', 'tenant_id', 'job_id', 'hostname', 'vm_id', 'node_id']) expect(labelNames.has(name), name).toBe(false);
  });

  it('reads jobs by phase and nodes by status and provider from the database at scrape time', () => {
    expect(valueOf(api, 'berth_jobs', { phase: 'ready' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(api, 'berth_jobs', { phase: 'cancelled' })).toBe(0);
    expect(valueOf(api, 'berth_nodes', { status: 'ready', provider: 'local' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(api, 'berth_nodes', { status: 'decommissioned', provider: 'hetzner' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(api, 'berth_jobs', { phase: 'failed' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(api, 'berth_jobs', { phase: 'decommissioned' })).toBeGreaterThanOrEqual(1);
  });

  it('counts refused registrations by the code answered', () => {
    expect(valueOf(api, 'berth_registration_failures_total', { code: 'invalid_token' })).toBeGreaterThanOrEqual(1);
  });

  it("counts the API's provider calls by endpoint template and status (the 429 too), and catalogue hits and misses", () => {
    const locations = { provider: 'hetzner', method: 'GET', endpoint: '/locations' };
    expect(valueOf(api, 'berth_provider_requests_total', { ...locations, status: '429' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(api, 'berth_provider_requests_total', { ...locations, status: '200' })).toBeGreaterThanOrEqual(2);
    expect(valueOf(api, 'berth_provider_request_duration_seconds_count', locations)).toBeGreaterThanOrEqual(3);
    expect(valueOf(api, 'berth_catalogue_cache_lookups_total', { provider: 'hetzner', kind: 'regions', result: 'miss' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(api, 'berth_catalogue_cache_lookups_total', { provider: 'hetzner', kind: 'regions', result: 'hit' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(api, 'process_cpu_seconds_total')).toBeGreaterThan(0);
  });

  it("serves the SDK's series and Berth's worker series on the worker's one port", () => {
    const provision = { workflow_type: 'provisionNode', task_queue: stack.taskQueue };
    expect(valueOf(sdk, 'temporal_workflow_completed_total', provision)).toBeGreaterThanOrEqual(2);
    expect(valueOf(sdk, 'temporal_activity_execution_failed_total', { activity_type: 'createVm' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(sdk, 'temporal_workflow_failed_total', provision)).toBe(1);
    expect(valueOf(sdk, 'temporal_workflow_task_schedule_to_start_latency_seconds_count', { task_queue: stack.taskQueue })).toBeGreaterThan(0);
    expect(valueOf(sdk, 'temporal_activity_schedule_to_start_latency_seconds_count', { task_queue: stack.taskQueue })).toBeGreaterThan(0);
    expect(valueOf(sdk, 'temporal_activity_execution_latency_seconds_count', { activity_type: 'createVm' })).toBeGreaterThanOrEqual(2);
    // Berth's: the worker's provider calls, the 429 included, and the activities' counters.
    expect(valueOf(sdk, 'berth_provider_requests_total', { provider: 'hetzner', method: 'POST', endpoint: '/servers', status: '201' })).toBe(1);
    expect(valueOf(sdk, 'berth_provider_requests_total', { provider: 'hetzner', status: '429' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(sdk, 'berth_provider_request_duration_seconds_count', { provider: 'hetzner', endpoint: '/actions/{id}' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(sdk, 'berth_provider_requests_total', { provider: 'hetzner', method: 'DELETE', endpoint: '/servers/{id}' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(sdk, 'berth_vm_deletes_total', { provider: 'hetzner' })).toBe(1);
    expect(valueOf(sdk, 'berth_vm_creates_total', { provider: 'hetzner', outcome: 'created' })).toBe(1);
    expect(valueOf(sdk, 'berth_vm_creates_total', { provider: 'local', outcome: 'created' })).toBe(1);
    expect(valueOf(sdk, 'berth_job_phases_total', { phase: 'ready', activity_type: 'recordPhase' })).toBeGreaterThanOrEqual(2);
    expect(valueOf(sdk, 'berth_job_phases_total', { phase: 'failed' })).toBeGreaterThanOrEqual(1);
  });

  it('uses in the dashboard only series that Berth or the SDK expose', () => {
    const exposed = new Set([...metricNames(api), ...metricNames(sdk)]);
    const used = allPanels(readDashboard().panels).flatMap((p) => (p.targets ?? []).flatMap((t) => metricNamesIn(t.expr)));
    expect(used.length).toBeGreaterThan(10);
    expect([...new Set(used)].filter((name) => !exposed.has(name))).toEqual([]);
  });

  it('asks for BERTH_METRICS_TOKEN as a bearer token when it is set', async () => {
    const token = 'metrics-token-0123456789';
    const app = createApp({
      db: stack.db,
      temporal: stack.client,
      providers: stack.providers,
      taskQueue: stack.taskQueue,
      registrationTtlMs: 60_000,
      logger: pino({ level: 'silent' }),
      metricsToken: token,
    });
    const without = await app.request('/metrics');
    expect(without.status).toBe(401);
    expect(without.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await without.json()) as any).error.code).toBe('unauthorized');
    expect((await app.request('/metrics', { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);
    expect((await app.request('/metrics', { headers: { authorization: 'Basic abc' } })).status).toBe(401);
    const withToken = await app.request('/metrics', { headers: { authorization: `Bearer ${token}` } });
    expect(withToken.status).toBe(200);
    expect(await withToken.text()).toContain('berth_jobs{phase="ready"}');
    // Without a token set, it is public like /healthz.
    expect((await scrape(`${stack.publicUrl}/metrics`)).status).toBe(200);
  });
});

describe('logs', () => {
  it('gives every worker line of a job its job_id and tenant_id', () => {
    for (const jobId of [jobs.local!, jobs.hetzner!, jobs.soldOut!]) {
      const lines = workerLines.filter((l) => l.includes(jobId)).map((l) => JSON.parse(l) as Record<string, unknown>);
      // Activity and workflow lines of the SDK, at debug level.
      expect(lines.length, jobId).toBeGreaterThan(5);
      for (const line of lines) expect(line, JSON.stringify(line)).toMatchObject({ job_id: jobId, tenant_id: stack.tenantId });
    }
    const other = workerLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.job_id !== undefined);
    expect(other.every((l) => Object.values(jobs).includes(l.job_id as string))).toBe(true);
    // The decommission workflow's lines are the job's too.
    expect(workerLines.some((l) => l.includes(`decommission-node-${jobs.hetzner}`))).toBe(true);
  });

  it("gives the API's lines of a job's routes its job_id and the caller's tenant_id", () => {
    // The job's routes (its node's heartbeats are the node agent's, which has no tenant session).
    const lines = apiLogs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => String(l.path).startsWith(`${API}/jobs/${jobs.local}`));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatchObject({ job_id: jobs.local, tenant_id: stack.tenantId });
  });
});
