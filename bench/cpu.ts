// CPU time of the benchmark's processes, from /proc/<pid>/stat, so a burst says which one limits it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

const round = (n: number) => Math.round(n * 100) / 100;

/** CPU seconds (user + system, all threads) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces: fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Runs `work` and says what share of one core the process used meanwhile. */
export async function cpuShare<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; cpu_share: number; seconds: number }> {
  const cpu = cpuSeconds(pid);
  const started = performance.now();
  const result = await work();
  const seconds = (performance.now() - started) / 1000;
  return { result, cpu_share: round((cpuSeconds(pid) - cpu) / seconds), seconds: round(seconds) };
}

export interface CpuPerJob {
  /** CPU milliseconds per job, per process. */
  ms_per_job: Record<string, number>;
  /** Share of one core each process used over the burst (the machine has `cpus` of them). */
  core_share: Record<string, number>;
  /** The process that used the most CPU: the likeliest limit. */
  busiest: string;
}

/**
 * CPU of each named process over `work`, per job. Clock ticks are 10 ms: a small burst's figures
 * are coarse, a large one's are not.
 */
export async function cpuPerJob<T>(pids: Record<string, number>, jobs: number, work: () => Promise<T>): Promise<{ result: T; cpu: CpuPerJob }> {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const started = performance.now();
  const result = await work();
  const seconds = (performance.now() - started) / 1000;
  const used = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid) - before[name]!]));
  const busiest = Object.entries(used).reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  return {
    result,
    cpu: {
      ms_per_job: Object.fromEntries(Object.entries(used).map(([name, s]) => [name, round((s * 1000) / jobs)])),
      core_share: Object.fromEntries(Object.entries(used).map(([name, s]) => [name, round(s / seconds)])),
      busiest,
    },
  };
}
