import type { WorkflowOptions } from '@temporalio/client';
import type { Phase } from '../workflows/phases.js';
import { SA_PHASE, SA_PROVIDER, SA_TENANT } from '../workflows/search-attributes.js';

/**
 * Start options shared by Berth's workflows: one workflow per id, ever (a retried start joins the
 * running one; a finished one is never started again), and what the Web UI filters and shows.
 */
export function berthWorkflowOptions(options: { taskQueue: string; workflowId: string; tenantId: string; provider: string; phase: Phase; summary: string }): WorkflowOptions {
  return {
    taskQueue: options.taskQueue,
    workflowId: options.workflowId,
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    typedSearchAttributes: [
      { key: SA_TENANT, value: options.tenantId },
      { key: SA_PROVIDER, value: options.provider },
      { key: SA_PHASE, value: options.phase },
    ],
    staticSummary: options.summary,
  };
}
