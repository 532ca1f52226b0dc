// What one job costs the engine, from the histories of a few finished jobs.
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';

const E = proto.temporal.api.enums.v1.EventType;

export interface JobCost {
  /** How many jobs' histories were read; the figures are their mean. */
  jobs: number;
  workflow_tasks: number;
  activities: number;
  local_activities: number;
  history_events: number;
}

/** Workflow tasks completed, activities scheduled, local activities (their markers), and all events, per job. */
export async function historyCounts(client: Client, workflowIds: string[]): Promise<JobCost> {
  const totals = { workflow_tasks: 0, activities: 0, local_activities: 0, history_events: 0 };
  for (const id of workflowIds) {
    const events = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
    totals.history_events += events.length;
    for (const e of events) {
      if (e.eventType === E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) totals.workflow_tasks++;
      else if (e.eventType === E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) totals.activities++;
      // Patch markers are markers too; only local activities count here.
      else if (e.eventType === E.EVENT_TYPE_MARKER_RECORDED && e.markerRecordedEventAttributes?.markerName === 'core_local_activity') totals.local_activities++;
    }
  }
  const n = workflowIds.length;
  const mean = (x: number) => Math.round((x / n) * 100) / 100;
  return {
    jobs: n,
    workflow_tasks: mean(totals.workflow_tasks),
    activities: mean(totals.activities),
    local_activities: mean(totals.local_activities),
    history_events: mean(totals.history_events),
  };
}
