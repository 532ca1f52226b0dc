// The run's figures as a table on stdout: Temporal on a file (as `npm start`) | Temporal in memory.
import type { CloudCalls } from './clouds.js';
import type { JobCost } from './counts.js';
import type { HeartbeatResult, PoolScaleResult } from './pools.js';
import type { BurstResult, CoreResult } from './scenarios.js';
import type { Percentiles } from './stats.js';

type Throughput = CoreResult['throughput'][string] & { harness_alone?: { worker_and_harness_ms_per_job: number } };

export interface TableInput {
  overhead: CoreResult['overhead'];
  throughput: Record<string, Throughput>;
  per_job: NonNullable<CoreResult['per_job']> & { provider_calls_clouds: Record<string, { first_job: CloudCalls; per_job: CloudCalls }> };
  held: { jobs: number; worker_rss_mb: number; api_rss_mb: number; get_job_ms: Percentiles };
  api: { get_job: { requests_per_second: number }; bare_route: { requests_per_second: number }; ratio: number };
  pools: { scale: PoolScaleResult; heartbeats: HeartbeatResult };
  in_memory: CoreResult;
}

const p = (x: Percentiles) => `p50 ${x.p50}  p95 ${x.p95}  p99 ${x.p99} ms`;
const pct = (share: number) => `${Math.round(share * 100)}%`;
const two = (label: string, file: string, memory: string) => `${label.padEnd(28)}${file.padEnd(44)}${memory}`;
const rate = (t: Throughput) => `${t.berth.jobs_per_second}/s: ${t.ratio} same-shape, ${t.ratio_lean} lean`;
const calls = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
const cost = (c: JobCost) => `${c.workflow_tasks} workflow tasks, ${c.activities} activities, ${c.local_activities} local activities, ${c.history_events} events`;
const cpu = (b: BurstResult) => {
  const ms = b.cpu.ms_per_job;
  return `dev server ${ms.dev_server}, worker+harness ${ms.worker_and_harness}, API ${ms.api} ms/job; busiest ${b.cpu.busiest.replace(/_/g, ' ')} (${pct(b.cpu.core_share[b.cpu.busiest]!)} of a core)`;
};

export function printTable(r: TableInput): void {
  const m = r.in_memory;
  const s = r.pools.scale;
  const h = r.pools.heartbeats;
  const w = s.workflow;
  const c = s.scale_out.admission_cycle_ms;
  const lines = [
    two('', 'Temporal on a file (npm start)', 'Temporal in memory'),
    two('submit → create call', p(r.overhead.submit_to_create_ms), p(m.overhead.submit_to_create_ms)),
    two('register → ready', p(r.overhead.register_to_ready_ms), p(m.overhead.register_to_ready_ms)),
    two('  called back in the create', p(r.overhead.register_during_create_ms), p(m.overhead.register_during_create_ms)),
    'jobs at once: Berth jobs/s, and its ratio to the same-shape and the lean baseline',
    ...Object.entries(r.throughput).map(([n, t]) => two(`${n.padStart(5)} at once`, rate(t), m.throughput[n] ? rate(m.throughput[n]!) : '')),
    ...Object.entries(r.throughput).map(([n, t]) =>
      two(
        `${n.padStart(5)} baselines`,
        `same-shape ${t.engine.jobs_per_second}/s, lean ${t.lean.jobs_per_second}/s`,
        m.throughput[n] ? `same-shape ${m.throughput[n]!.engine.jobs_per_second}/s, lean ${m.throughput[n]!.lean.jobs_per_second}/s` : '',
      ),
    ),
    'CPU per job over each burst (Temporal on a file)',
    ...Object.entries(r.throughput).flatMap(([n, t]) => [
      `${n.padStart(5)} Berth`.padEnd(28) + cpu(t.berth),
      `${n.padStart(5)} same-shape`.padEnd(28) + cpu(t.engine),
      `${n.padStart(5)} lean`.padEnd(28) + cpu(t.lean),
      ...(t.harness_alone ? [`${n.padStart(5)} harness alone`.padEnd(28) + `${t.harness_alone.worker_and_harness_ms_per_job} ms/job (its HTTP calls for a Berth job)`] : []),
    ]),
    'per job, from histories',
    `  Berth`.padEnd(28) + `${cost(r.per_job.berth)}; emulator calls: ${calls(r.per_job.berth.provider_calls)}`,
    `  same-shape`.padEnd(28) + cost(r.per_job.engine),
    `  lean`.padEnd(28) + `${cost(r.per_job.lean)}; provider calls: ${calls(r.per_job.lean.provider_calls)}`,
    ...Object.entries(r.per_job.provider_calls_clouds).map(
      ([cloud, x]) => `  ${cloud} API calls`.padEnd(28) + `${x.per_job.total} per job (${calls(x.per_job.calls)}); first job ${x.first_job.total}`,
    ),
    `${r.held.jobs} held jobs`.padEnd(28) + `worker RSS ${r.held.worker_rss_mb} MiB, API RSS ${r.held.api_rss_mb} MiB, GET job ${p(r.held.get_job_ms)}`,
    `GET job under load          ${r.api.get_job.requests_per_second} req/s, bare route ${r.api.bare_route.requests_per_second} req/s, ratio ${r.api.ratio}`,
    `pool 0 → ${s.nodes}`.padEnd(28) +
      `${s.scale_out.ready_s} s until all ready (${s.scale_out.nodes_per_second} nodes/s; one admission every ${s.scale_out.admission_interval_ms} ms)`,
    `  admission`.padEnd(28) +
      `${c.admission_activities} admission activit${c.admission_activities === 1 ? 'y' : 'ies'} (median ${c.admission_activity_ms} ms), ${c.children_started} child starts within ${c.child_starts_span_ms} ms`,
    `pool ${s.nodes} → 0`.padEnd(28) + `${s.scale_in.gone_s} s until all gone (drain timeout 1 s; one removal started every ${s.scale_in.removal_interval_ms} ms)`,
    `pool run                    worker RSS peak ${s.worker_rss_peak_mb} MiB (${s.worker_rss_before_mb} before), reconciler history ${w.history_events} events, ${w.runs} run${w.runs === 1 ? '' : 's'} (${w.events_all_runs} events in all)`,
    `heartbeats ${h.nodes} nodes/${h.interval_s}s`.padEnd(28) +
      `${h.steady.requests_per_second} req/s, ${p(h.steady.latency_ms)}, API CPU ${pct(h.steady.api_cpu_share)} of a core (idle ${pct(h.api_cpu_share_idle)})`,
    `heartbeat burst, ${h.burst.concurrency} at once`.padEnd(28) +
      `${h.burst.requests_per_second} req/s, ${p(h.burst.latency_ms)}, API CPU ${pct(h.burst.api_cpu_share)} of a core`,
  ];
  console.log(lines.join('\n'));
}
