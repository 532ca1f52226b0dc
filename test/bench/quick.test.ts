// Smoke check of `npm run bench -- --quick`: every figure is produced. How good the numbers are is
// for the full run to say; a slow machine must not fail this.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

// Two stacks (Temporal on a file, then in memory) and the cloud emulators: about 2.5 minutes.
it('produces every figure, a JSON file and a chart', { timeout: 600_000 }, async () => {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-out-'));
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(ROOT, 'bench/run.ts'), '--quick'], {
    cwd: ROOT,
    env: { ...process.env, BERTH_BENCH_DIR: outDir },
    maxBuffer: 16 * 2 ** 20,
  });
  const file = stdout.trim().split('\n').at(-1)!;
  expect(path.dirname(file)).toBe(outDir);
  const results = JSON.parse(fs.readFileSync(file, 'utf8'));
  const figures = [
    results.overhead.submit_to_create_ms.p99,
    results.overhead.register_to_ready_ms.p99,
    results.overhead.register_during_create_ms.p99,
    ...Object.values(results.throughput).flatMap((t: any) => [
      t.berth.jobs_per_second,
      t.engine.jobs_per_second,
      t.lean.jobs_per_second,
      t.ratio,
      t.ratio_lean,
      t.harness_alone.worker_and_harness_ms_per_job,
      // Over a burst the dev server and the worker always work; the API only for Berth.
      ...[t.berth, t.engine, t.lean].flatMap((b: any) => [b.cpu.ms_per_job.dev_server, b.cpu.ms_per_job.worker_and_harness]),
      t.berth.cpu.ms_per_job.api,
    ]),
    // The second column: the core scenarios on a dev server in memory.
    results.in_memory.overhead.submit_to_create_ms.p99,
    results.in_memory.overhead.register_to_ready_ms.p99,
    results.in_memory.overhead.register_during_create_ms.p99,
    ...Object.values(results.in_memory.throughput).flatMap((t: any) => [t.berth.jobs_per_second, t.engine.jobs_per_second, t.lean.jobs_per_second, t.ratio, t.ratio_lean]),
    // What a job costs, from histories and the providers' request logs.
    ...['berth', 'engine', 'lean'].flatMap((k) => [results.per_job[k].workflow_tasks, results.per_job[k].activities, results.per_job[k].history_events]),
    results.per_job.berth.local_activities,
    results.per_job.engine.local_activities,
    results.per_job.berth.provider_calls.create,
    results.per_job.lean.provider_calls.create,
    ...['hetzner', 'digitalocean'].flatMap((cloud) => [results.per_job.provider_calls_clouds[cloud].per_job.total, results.per_job.provider_calls_clouds[cloud].first_job.total]),
    results.held.worker_rss_mb,
    results.held.api_rss_mb,
    results.held.get_job_ms.p99,
    results.api.get_job.requests_per_second,
    results.api.bare_route.requests_per_second,
    results.api.ratio,
  ];
  // Node pools: a pool scaled 0 → n → 0, and the node agents' heartbeats.
  const scale = results.pools.scale;
  const beats = results.pools.heartbeats;
  figures.push(
    scale.nodes,
    scale.scale_out.ready_s,
    scale.scale_out.nodes_per_second,
    scale.scale_out.admission_cycle_ms.admission_activity_ms,
    scale.scale_out.admission_cycle_ms.child_starts_span_ms,
    scale.scale_in.gone_s,
    scale.worker_rss_peak_mb,
    scale.workflow.history_events,
    scale.workflow.runs,
    beats.steady.requests_per_second,
    beats.steady.latency_ms.p50,
    beats.steady.latency_ms.p99,
    beats.steady.api_cpu_share,
    beats.burst.requests_per_second,
    beats.burst.latency_ms.p99,
    beats.burst.api_cpu_share,
    beats.cpu_samples_written,
  );
  for (const figure of figures) expect(Number.isFinite(figure) && figure > 0, String(figure)).toBe(true);
  expect(scale.scale_out.ready_s).toBeLessThan(scale.scale_out.timeout_s);
  expect(scale.scale_in.gone_s).toBeLessThan(scale.scale_in.timeout_s);
  // A batch admits many nodes within a millisecond: the interval may be 0, never negative.
  expect(scale.scale_out.admission_interval_ms).toBeGreaterThanOrEqual(0);
  expect(scale.scale_out.admission_cycle_ms.children_started).toBe(scale.nodes);
  expect(scale.scale_out.admission_cycle_ms.admission_activities).toBeGreaterThanOrEqual(1);
  expect(scale.workflow.events_all_runs).toBeGreaterThanOrEqual(scale.workflow.history_events);
  expect(beats.steady.latency_ms.count).toBe(beats.steady.requests);
  expect(beats.errors).toBe(0);
  expect(Object.keys(results.throughput)).toHaveLength(3);
  expect(Object.keys(results.in_memory.throughput)).toEqual(Object.keys(results.throughput));
  expect(results.temporal).toMatch(/file/);
  // The lean job is one create, one update, one bind; Berth's create is one call to the provider.
  expect(results.per_job.lean).toMatchObject({ activities: 2, local_activities: 0 });
  expect(results.per_job.berth.provider_calls.create).toBe(1);
  for (const cloud of ['hetzner', 'digitalocean']) {
    const calls = results.per_job.provider_calls_clouds[cloud].per_job.calls;
    expect(Object.entries(calls).filter(([k]) => /^POST \/(v2\/droplets|servers)$/.test(k))).toEqual([[expect.any(String), 1]]);
  }
  for (const t of Object.values(results.throughput) as any[]) expect(['dev_server', 'worker_and_harness', 'api']).toContain(t.berth.cpu.busiest);
  expect(results.machine.cpus).toBeGreaterThan(0);
  expect(fs.readFileSync(file.replace(/\.json$/, '.svg'), 'utf8')).toMatch(/^<svg[^>]*>[\s\S]*register → ready[\s\S]*<\/svg>\n$/);
  fs.rmSync(outDir, { recursive: true, force: true });
});
