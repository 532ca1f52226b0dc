import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  allHandlersFinished,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { retry } from './activity-options.js';
import { describeFailure, formatDuration } from './describe.js';
import {
  poolPokeSignal,
  poolWorkflowId,
  registerUpdate,
  stateQuery,
  type NodeFacts,
  type ProvisionInput,
  type RegisterBinding,
  type ProvisionResult,
  type ProvisionState,
} from './messages.js';
import type { Phase } from './phases.js';
import { SA_PHASE } from './search-attributes.js';

const { verifyProvider, revokeRegistrationToken, deleteJobVms, bindNode, setNodeStatus, unbindJobNode } = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '10s',
  retry,
});

// Waits for a cancelled create to actually stop, so the compensation that follows sees its VM.
const { createVm } = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '10s',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
});

const { recordPhase } = proxyLocalActivities<Activities>({ startToCloseTimeout: '10s', retry });

// The token check in the job's first workflow task: usually answered from a check of the last
// minute, and a longer wait (a rate limit) keeps the task alive with heartbeats of its own.
const local = proxyLocalActivities<Activities>({ startToCloseTimeout: '2m', retry });

interface Compensation {
  what: string;
  run: () => Promise<unknown>;
}

/**
 * Phases in which the VM may call back: it can boot before the workflow has seen the create return.
 * A repeated delivery (the API lost the first answer, e.g. in a worker crash) gets the same answer.
 */
const REGISTRABLE: ReadonlySet<Phase> = new Set(['provisioning', 'bootstrapping']);
const REDELIVERABLE: ReadonlySet<Phase> = new Set(['provisioning', 'bootstrapping', 'registering', 'ready']);

/**
 * One provision job: verify → create VM → wait for its callback → ready. The API binds the node
 * when it consumes the token (it records 'registering'), so the callback's task records 'ready'.
 * Anything that goes wrong, a timeout or a cancel runs the compensations newest-first.
 */
export async function provisionNode(input: ProvisionInput): Promise<ProvisionResult> {
  const state: ProvisionState = { phase: 'queued' };
  let facts: NodeFacts | undefined;
  let binding: RegisterBinding | undefined;
  let ended = false;
  // Runs from before it record every phase in a local activity of their own, and show each one in
  // BerthPhase. Later runs let verifyProvider and createVm record the phases they pass through.
  // Their API binds the node: one patch marker, not two.
  const phasesInActivities = patched('phases-in-activities');
  // Runs from before it bind the node in an activity once called back, and unbind only that node.
  const apiBinds = phasesInActivities || patched('register-binds-in-api');

  setHandler(stateQuery, () => state);
  setHandler(
    registerUpdate,
    async (reported: NodeFacts, bound?: RegisterBinding) => {
      facts ??= reported;
      binding ??= bound;
      await condition(() => state.phase === 'ready' || ended);
      if (state.phase !== 'ready' || !state.nodeId) {
        throw ApplicationFailure.nonRetryable(`the job ended before the node was bound: ${state.error ?? state.phase}`, 'JobEnded');
      }
      return { nodeId: state.nodeId };
    },
    {
      validator: (_reported: NodeFacts, _bound?: RegisterBinding) => {
        const allowed = facts === undefined ? REGISTRABLE : REDELIVERABLE;
        if (!allowed.has(state.phase)) throw new Error(`the job is ${state.phase}, not waiting for its VM`);
      },
    },
  );

  async function setPhase(phase: Phase, details: Pick<ProvisionState, 'vmId' | 'nodeId' | 'error'> = {}): Promise<void> {
    Object.assign(state, details, { phase });
    upsertSearchAttributes([{ key: SA_PHASE, value: phase }]);
    await recordPhase({ jobId: input.jobId, phase, at: new Date().toISOString(), ...details });
  }

  /**
   * A phase an activity records in the database (runs with `phasesInActivities`): the workflow only
   * moves its own state, and shows the phase in BerthPhase when `shown`: the waits a job can sit
   * in for long (the create, the VM's boot), not the provider check.
   */
  function passPhase(phase: Phase, details: Pick<ProvisionState, 'vmId'> = {}, shown = true): void {
    Object.assign(state, details, { phase });
    if (shown) upsertSearchAttributes([{ key: SA_PHASE, value: phase }]);
  }

  /** A pool's job wakes its pool's reconciler when its node is ready and when the job ends. */
  async function tellPool(): Promise<void> {
    if (!input.pool) return;
    try {
      await getExternalWorkflowHandle(poolWorkflowId(input.tenantId, input.pool.name)).signal(poolPokeSignal);
    } catch {
      // The pool is gone, or its reconciler is not running: it reads the job's state when it runs.
    }
  }

  const compensations: Compensation[] = [];
  const { jobId, tenantId, provider } = input;
  try {
    if (phasesInActivities) {
      passPhase('verifying', {}, false);
      // Runs from before it check the token in an activity of its own, one workflow task more.
      const verify = patched('verify-locally') ? local.verifyProvider : verifyProvider;
      await verify({ tenantId, provider, jobId });
      passPhase('provisioning');
    } else {
      await setPhase('verifying');
      await verifyProvider({ tenantId, provider });
      await setPhase('provisioning');
    }
    compensations.unshift({ what: 'revoke the registration token', run: () => revokeRegistrationToken({ jobId }) });
    // Registered before the create: a create that timed out may still have made the VM.
    compensations.unshift({ what: 'delete the VM', run: () => deleteJobVms({ provider, jobId, tenantId }) });
    // The API may bind the node as soon as the token exists; unbinding by job id runs after the
    // 'decommissioning' record, which stops the API from binding it.
    if (apiBinds) compensations.unshift({ what: 'unbind the node', run: () => unbindJobNode({ jobId }) });
    const { vmId } = await createVm(phasesInActivities ? { ...input, recordPhases: true } : input);

    // A VM that called back while its create returned is bound: the API recorded the phases between.
    if (!(apiBinds && binding)) {
      if (phasesInActivities) passPhase('bootstrapping', { vmId });
      else await setPhase('bootstrapping', { vmId });
      if (!(await condition(() => facts !== undefined, input.registrationTtlMs))) {
        throw ApplicationFailure.nonRetryable(`the VM did not call back within ${formatDuration(input.registrationTtlMs)}`, 'RegistrationTimeout');
      }
    }

    let nodeId = `node-${jobId}`;
    if (apiBinds && binding) {
      nodeId = binding.nodeId;
    } else {
      // An older API delivered the callback (or an older run takes it): bind it here.
      await setPhase('registering');
      if (!apiBinds) compensations.unshift({ what: 'unbind the node', run: () => setNodeStatus({ nodeId, status: 'decommissioned' }) });
      await bindNode({ jobId, tenantId, provider, vmId, nodeId, facts: facts!, pool: input.pool?.name });
    }

    await setPhase('ready', { nodeId, vmId });
    await tellPool();
    await condition(allHandlersFinished);
    return { jobId, nodeId, vmId };
  } catch (err) {
    // A cancel that found its create's worker dead ends as that attempt's timeout, not as a
    // cancellation: the request still decides how the job ends (patched: older runs said failed).
    const cancelled = isCancellation(err) || (CancellationScope.current().consideredCancelled && patched('cancel-outlasts-activity-timeout'));
    const reason = cancelled ? 'cancelled on request' : describeFailure(err);
    await CancellationScope.nonCancellable(async () => {
      await setPhase('decommissioning', { error: reason });
      const problems: string[] = [];
      for (const compensation of compensations) {
        try {
          await compensation.run();
        } catch (failure) {
          problems.push(`could not ${compensation.what}: ${describeFailure(failure)}`);
        }
      }
      await setPhase(cancelled ? 'cancelled' : 'failed', { error: [reason, ...problems].join('; ') });
      await tellPool();
    });
    ended = true;
    await condition(allHandlersFinished);
    if (cancelled) throw isCancellation(err) ? err : new CancelledFailure('cancelled on request');
    throw ApplicationFailure.nonRetryable(reason, 'ProvisionFailed');
  }
}
