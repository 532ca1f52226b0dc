// The core scenarios, run on each stack: overhead one job at a time, and bursts of n jobs at once
// of Berth and of the two baselines, each with the CPU every process spent on it.
import type { WorkflowHandle } from '@temporalio/client';
import { provisionWorkflowId, stateQuery } from '../workflows/messages.js';
import { historyCounts, type JobCost } from './counts.js';
import { cpuPerJob, type CpuPerJob } from './cpu.js';
import { ENGINE_QUEUE, type Stack } from './stack.js';
import { percentiles, ratio, type Percentiles } from './stats.js';
import type { leanJob, minimalJob } from './workflows.js';

const round = (n: number) => Math.round(n * 100) / 100;

export interface BurstResult {
  jobs: number;
  seconds: number;
  jobs_per_second: number;
  cpu: CpuPerJob;
}

export interface Overhead {
  submit_to_create_ms: Percentiles;
  /** The VM calls back once its job waits for it, as a real VM does: it boots long after its create returned. */
  register_to_ready_ms: Percentiles;
  /** The emulator's instant boot: the VM calls back inside the create call, as in the bursts. */
  register_during_create_ms: Percentiles;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once the job's workflow has taken its create's result and waits for the VM's callback. */
async function waitingForCallback(stack: Stack, jobId: string): Promise<void> {
  const handle = stack.client.workflow.getHandle(provisionWorkflowId(jobId));
  while ((await handle.query(stateQuery)).phase !== 'bootstrapping') await sleep(2);
}

/**
 * Overhead, one job at a time: submit → the provider's create call, and register → ready twice:
 * with the callback sent once the job waits for it, and inside the create call.
 */
export async function overhead(stack: Stack, jobs: number): Promise<Overhead & { job_ids: string[] }> {
  const toCreate: number[] = [];
  const jobIds: string[] = [];
  stack.registerLatency.length = 0;
  stack.holding.on = true;
  try {
    for (let i = 0; i < jobs; i++) {
      const { jobId, at } = await stack.submit();
      let vm = stack.holding.vms.find((v) => v.jobId === jobId);
      for (; !vm; vm = stack.holding.vms.find((v) => v.jobId === jobId)) await sleep(1);
      stack.holding.vms.splice(stack.holding.vms.indexOf(vm), 1);
      toCreate.push(vm.at - at);
      await waitingForCallback(stack, jobId);
      await stack.callBack(vm);
      jobIds.push(jobId);
    }
  } finally {
    stack.holding.on = false;
  }
  const waiting = percentiles(stack.registerLatency);
  stack.registerLatency.length = 0;
  for (let i = 0; i < jobs; i++) {
    const { jobId } = await stack.submit();
    await stack.readiness(jobId).promise;
  }
  return { submit_to_create_ms: percentiles(toCreate), register_to_ready_ms: waiting, register_during_create_ms: percentiles(stack.registerLatency), job_ids: jobIds };
}

async function timed(stack: Stack, n: number, work: () => Promise<unknown>): Promise<BurstResult> {
  const started = performance.now();
  const { cpu } = await cpuPerJob(stack.pids, n, work);
  const seconds = (performance.now() - started) / 1000;
  return { jobs: n, seconds: round(seconds), jobs_per_second: round(n / seconds), cpu };
}

/** n Berth jobs submitted at once, until the last one is ready. */
export function berthBurst(stack: Stack, n: number): Promise<BurstResult> {
  return timed(stack, n, async () => {
    const jobs = await Promise.all(Array.from({ length: n }, () => stack.submit()));
    await Promise.all(jobs.map((j) => stack.readiness(j.jobId).promise));
  });
}

export type Baseline = 'minimal' | 'lean';

function startBaseline(stack: Stack, kind: Baseline, id: string): Promise<WorkflowHandle> {
  const options = { taskQueue: ENGINE_QUEUE, workflowId: id, args: [id] as [string] };
  return kind === 'lean' ? stack.client.workflow.start<typeof leanJob>('leanJob', options) : stack.client.workflow.start<typeof minimalJob>('minimalJob', options);
}

/** n baseline jobs started at once (by the client, no API), until the last one completed; the ids of a few. */
export async function baselineBurst(stack: Stack, kind: Baseline, n: number): Promise<BurstResult & { sample_ids: string[] }> {
  const prefix = kind === 'lean' ? 'lean' : 'engine';
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${n}-${i}-${Date.now()}`);
  const result = await timed(stack, n, async () => {
    const handles = await Promise.all(ids.map((id) => startBaseline(stack, kind, id)));
    await Promise.all(handles.map((h) => h.result()));
  });
  return { ...result, sample_ids: ids.slice(0, 3) };
}

/**
 * The harness alone: the HTTP calls it makes for n Berth jobs (a submit and a callback each), n at
 * once, against the bare route. Its CPU is what the harness adds to the worker's in a Berth burst.
 */
export async function harnessBurst(bareUrl: string, n: number): Promise<{ jobs: number; worker_and_harness_ms_per_job: number }> {
  const post = async (body: unknown) => {
    const res = await fetch(bareUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await res.json();
  };
  const { cpu } = await cpuPerJob({ harness: process.pid }, n, async () => {
    await Promise.all(Array.from({ length: n }, () => post({ provider: 'local', region: 'local', plan: 'local-1' })));
    await Promise.all(Array.from({ length: n }, () => post({ token: 'x'.repeat(64) })));
  });
  return { jobs: n, worker_and_harness_ms_per_job: cpu.ms_per_job.harness! };
}

export interface CoreResult {
  overhead: Overhead;
  throughput: Record<string, { berth: BurstResult; engine: BurstResult; lean: BurstResult; ratio: number; ratio_lean: number }>;
  /** What one job costs the engine and the provider (file-backed run only). */
  per_job?: { berth: JobCost & { provider_calls: Record<string, number> }; engine: JobCost; lean: JobCost & { provider_calls: Record<string, number> } };
}

/** The core scenarios on one stack. */
export async function core(stack: Stack, sizes: { overhead: number; bursts: number[] }, log: (line: string) => void, counts: boolean): Promise<CoreResult> {
  const tag = `[${stack.temporal}]`;
  await overhead(stack, sizes.overhead); // warm-up: caches, JIT, SQLite pages
  const callsBefore = new Map(stack.emulator.calls);
  // Its two rounds make 2 × sizes.overhead jobs.
  const { job_ids, ...overheadResult } = await overhead(stack, sizes.overhead);
  const providerCalls = Object.fromEntries(
    [...stack.emulator.calls].map(([method, n]) => [method, round((n - (callsBefore.get(method) ?? 0)) / (2 * sizes.overhead))]).filter(([, n]) => n !== 0),
  );
  log(`${tag} overhead: ${JSON.stringify(overheadResult)}`);

  const throughput: CoreResult['throughput'] = {};
  const samples: Record<Baseline, string[]> = { minimal: [], lean: [] };
  for (const n of sizes.bursts) {
    const { sample_ids: minimalIds, ...engine } = await baselineBurst(stack, 'minimal', n);
    const { sample_ids: leanIds, ...lean } = await baselineBurst(stack, 'lean', n);
    const berth = await berthBurst(stack, n);
    samples.minimal = minimalIds;
    samples.lean = leanIds;
    throughput[n] = { berth, engine, lean, ratio: ratio(berth.jobs_per_second, engine.jobs_per_second), ratio_lean: ratio(berth.jobs_per_second, lean.jobs_per_second) };
    log(`${tag} ${n} at once: berth ${berth.jobs_per_second}/s, same-shape ${engine.jobs_per_second}/s, lean ${lean.jobs_per_second}/s`);
  }
  if (!counts) return { overhead: overheadResult, throughput };

  // The last few jobs of the overhead run: finished, one at a time, nothing else in their histories.
  const berthIds = job_ids.slice(-3).map(provisionWorkflowId);
  await Promise.all(berthIds.map((id) => stack.client.workflow.getHandle(id).result()));
  const per_job = {
    berth: { ...(await historyCounts(stack.client, berthIds)), provider_calls: providerCalls },
    engine: await historyCounts(stack.client, samples.minimal),
    // Its one provider call is the `create` step (bind is Berth's own database).
    lean: { ...(await historyCounts(stack.client, samples.lean)), provider_calls: { create: 1 } },
  };
  log(`${tag} per job: ${JSON.stringify(per_job)}`);
  return { overhead: overheadResult, throughput, per_job };
}
