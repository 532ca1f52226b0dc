import { getExternalWorkflowHandle, patched, proxyActivities, proxyLocalActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { retry } from './activity-options.js';
import { poolPokeSignal, poolWorkflowId, type DecommissionInput } from './messages.js';
import { SA_PHASE } from './search-attributes.js';

const { deleteVm, deleteJobVms, revokeRegistrationToken, setNodeStatus } = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '10s',
  retry,
});
const { recordPhase } = proxyLocalActivities<Activities>({ startToCloseTimeout: '10s', retry });

/** Tears a node's VM down and revokes the node. Retries until the provider confirms. */
export async function decommissionNode(input: DecommissionInput): Promise<void> {
  const { nodeId, jobId, provider, tenantId } = input;
  // Histories from before the phase was kept in BerthPhase replay without it.
  const showsPhase = patched('decommission-phase-attribute');
  const record = async (phase: 'decommissioning' | 'decommissioned') => {
    if (showsPhase) upsertSearchAttributes([{ key: SA_PHASE, value: phase }]);
    if (jobId) await recordPhase({ jobId, phase, at: new Date().toISOString() });
  };
  await setNodeStatus({ nodeId, status: 'decommissioning' });
  await record('decommissioning');
  if (input.vmId) await deleteVm({ provider, vmId: input.vmId, tenantId });
  if (jobId) {
    // A VM found by the job label that is not the recorded one is still this node's: delete it too.
    await deleteJobVms({ provider, jobId, tenantId });
    await revokeRegistrationToken({ jobId });
  }
  await setNodeStatus({ nodeId, status: 'decommissioned' });
  await record('decommissioned');
  if (input.pool) {
    try {
      await getExternalWorkflowHandle(poolWorkflowId(tenantId, input.pool)).signal(poolPokeSignal);
    } catch {
      // The pool is gone: nobody to tell.
    }
  }
}
