// Berth's counters of what its activities did, on the SDK's activity metric meter: the worker's
// Prometheus port shows them beside Temporal's series (`_total` is added by the exporter). Without
// a metrics exporter the meter does nothing.
import { Context } from '@temporalio/activity';

const COUNTERS = {
  berth_vm_creates: 'VMs made for jobs, by provider and outcome (created, adopted: found after a lost answer or a retry)',
  berth_vm_deletes: "VMs Berth deleted (a job's compensation, a node's decommission), by provider",
  berth_job_phases: 'Phases provision jobs entered, by phase (each job that ends ready adds one to ready)',
} as const;

export function countActivity(name: keyof typeof COUNTERS, tags: Record<string, string>, value = 1): void {
  if (value <= 0) return;
  try {
    Context.current().metricMeter.createCounter(name, '', COUNTERS[name]).add(value, tags);
  } catch {
    // Outside an activity (a script calling the function directly): nothing to count on.
  }
}
