import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptions, type ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import type { sweepOrphans } from '../workflows/sweep.js';

export const ORPHAN_SWEEP_SCHEDULE_ID = 'berth-orphan-sweep';

/**
 * The periodic orphan sweep, as a Temporal schedule (visible and pausable in the Web UI). Created
 * on first start, brought in line with the configuration on later ones.
 */
export async function ensureOrphanSweep(client: Client, options: { taskQueue: string; intervalMs: number; graceMs: number }): Promise<void> {
  const action: ScheduleOptionsStartWorkflowAction<typeof sweepOrphans> = {
    type: 'startWorkflow',
    workflowType: 'sweepOrphans',
    taskQueue: options.taskQueue,
    args: [{ graceMs: options.graceMs }],
    staticSummary: 'delete VMs with Berth labels that belong to no live job or node',
  };
  const schedule: ScheduleOptions<typeof action> = {
    scheduleId: ORPHAN_SWEEP_SCHEDULE_ID,
    spec: { intervals: [{ every: options.intervalMs }] },
    action,
    policies: { overlap: ScheduleOverlapPolicy.SKIP },
  };
  try {
    await client.schedule.create(schedule);
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(ORPHAN_SWEEP_SCHEDULE_ID).update((previous) => ({ ...previous, spec: schedule.spec, action }));
  }
}
