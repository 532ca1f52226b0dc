import {
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import { decide, type Decision, type Removal } from '../placement/pool-decision.js';
import type { Condition, Member } from '../placement/pool-spec.js';
import { retry } from './activity-options.js';
import { decommissionNode } from './decommission.js';
import { decommissionWorkflowId, poolPokeSignal, poolStateQuery, provisionWorkflowId, type PoolMemory, type PoolWorkflowInput, type ProvisionInput } from './messages.js';
import { provisionNode } from './provision.js';
import { SA_PHASE, SA_POOL, SA_PROVIDER, SA_TENANT } from './search-attributes.js';

// Database writes that take milliseconds: a short timeout, so an attempt lost with a dead worker
// is retried within seconds instead of holding the pool's decisions for a minute.
const { setPoolDesired, recordPoolEvents, requestDrain, admitPoolNode, admitPoolNodes, finishPoolDeletion } = proxyActivities<Activities>({
  startToCloseTimeout: '15s',
  retry,
});
// Read-only, so a local activity: one marker in the history instead of three events per pass.
const { readPool } = proxyLocalActivities<Activities>({ startToCloseTimeout: '1m', retry });

const DEFAULT_MAX_HISTORY_EVENTS = 2_000;

type RecordedEvent = { seq: number; at: string; kind: string; reason: string };

/**
 * One pool's reconciler: reads the pool's numbers, decides with a pure function, acts by starting
 * provision and decommission workflows (abandoned on close, so neither a continue-as-new nor a
 * crash of this workflow touches a node's job), records why, and sleeps until the evaluation
 * interval passes or something changes. It ends when a deleted pool has no member left.
 */
export async function poolReconciler(input: PoolWorkflowInput): Promise<void> {
  const { tenantId, name } = input;
  const memory: PoolMemory = input.memory ?? { eventSeq: 0, status: { conditions: [] }, removing: [], passes: 0 };
  let poked = true;
  let summary = `pool ${name}: starting`;
  setHandler(poolPokeSignal, () => {
    poked = true;
  });
  setHandler(poolStateQuery, () => ({ passes: memory.passes, status: memory.status, summary }));

  const pending: RecordedEvent[] = [];
  const note = (kind: string, reason: string, at: number) => {
    memory.eventSeq += 1;
    pending.push({ seq: memory.eventSeq, at: new Date(at).toISOString(), kind, reason });
    memory.status.lastAction = { at: new Date(at).toISOString(), kind, reason };
  };

  for (;;) {
    poked = false;
    const view = await readPool({ tenantId, name });
    if (!view) return; // deleted, or never created
    memory.passes += 1;

    // Changes made through the API since the last pass.
    if (memory.seen && memory.seen.desired !== view.desired) note('desired', `desired set to ${view.desired} (was ${memory.seen.desired})`, view.now);
    if (memory.seen && memory.seen.templateVersion !== view.templateVersion) {
      note('template', `template v${view.templateVersion} applies to the nodes made from now on`, view.now);
    }
    // Runs from before it let a partition's first silent node be replaced alone (patched).
    const decision = decide({ ...view, lastScaleAt: memory.lastScaleAt, countGoingSilent: patched('partition-counts-going-silent') });
    let generation = view.generation;
    if (decision.desired !== view.desired && !view.deleting) {
      if (!(await setPoolDesired({ tenantId, name, generation, desired: decision.desired }))) {
        // The operator changed the spec meanwhile: decide again on the new one.
        memory.seen = undefined;
        continue;
      }
      generation += 1;
    }
    // A deleting pool decides on zero but keeps its stored desired: remember what is stored, or
    // every pass would note an operator's change that never happened (patched: older runs did).
    const seenDesired = view.deleting && patched('deleting-pool-keeps-desired') ? view.desired : decision.desired;
    memory.seen = { desired: seenDesired, generation, templateVersion: view.templateVersion };
    if (decision.scaled) memory.lastScaleAt = view.now;
    for (const event of decision.events) note(event.kind, event.reason, view.now);

    const present = new Set(view.members.map((m) => m.jobId));
    memory.removing = memory.removing.filter((jobId) => present.has(jobId));
    await drainNodes(decision.drain, view.now);
    await removeMembers(decision.remove, view.now, view.members);
    const blocked = await addNodes(decision, view.templateVersion, view.now);

    const conditions = [...decision.conditions, ...(blocked ? [blocked] : [])];
    noteConditionChanges(memory.status.conditions, conditions, view.now);
    memory.status = { ...memory.status, conditions };
    if (pending.length > 0) {
      await recordPoolEvents({ tenantId, name, events: pending.splice(0), status: memory.status });
    }

    const c = decision.counts;
    summary = view.deleting
      ? `pool ${name}: deleting, ${view.members.length} node${view.members.length === 1 ? '' : 's'} left`
      : `pool ${name}: ${c.ready} of ${decision.desired} ready, desired ${decision.desired} (min ${view.min}, max ${view.max})` +
        (conditions.length > 0 ? `; ${conditions.map((x) => x.type).join(', ')}` : '');
    setCurrentDetails(summary);

    if (view.deleting && view.members.length === 0) {
      await finishPoolDeletion({ tenantId, name });
      return;
    }
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > (input.maxHistoryEvents ?? DEFAULT_MAX_HISTORY_EVENTS)) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof poolReconciler>({ ...input, memory });
    }
    await condition(() => poked, view.spec.evaluationIntervalMs);
  }

  async function drainNodes(drains: Removal[], now: number): Promise<void> {
    if (drains.length === 0) return;
    await requestDrain({ tenantId, nodeIds: drains.map((d) => d.nodeId!) });
    for (const d of drains) note('drain', `${d.nodeId}: ${d.reason}`, now);
  }

  async function removeMembers(removals: Removal[], now: number, members: Member[]): Promise<void> {
    const actions: Array<() => Promise<void>> = [];
    for (const removal of removals) {
      if (memory.removing.includes(removal.jobId)) continue;
      memory.removing.push(removal.jobId);
      const member = members.find((m) => m.jobId === removal.jobId);
      if (!removal.nodeId || !member?.node) {
        note('cancel', `job ${removal.jobId}: ${removal.reason}`, now);
        actions.push(() => cancelJob(removal.jobId));
        continue;
      }
      note('remove', `${removal.nodeId}: ${removal.reason}`, now);
      const node = member.node;
      actions.push(() => startDecommission(removal, node));
    }
    // Started together: a scale-in of a hundred nodes takes one workflow task, not a hundred.
    if (patched('pool-batch-actions')) await Promise.all(actions.map((action) => action()));
    else for (const action of actions) await action();
  }

  async function cancelJob(jobId: string): Promise<void> {
    try {
      await getExternalWorkflowHandle(provisionWorkflowId(jobId)).cancel();
    } catch {
      // Already ended: nothing to cancel.
    }
  }

  async function startDecommission(removal: Removal, node: NonNullable<Member['node']>): Promise<void> {
    try {
      await startChild(decommissionNode, {
        workflowId: decommissionWorkflowId(removal.nodeId!),
        args: [{ nodeId: removal.nodeId!, tenantId, jobId: removal.jobId, provider: node.provider, vmId: node.vmId, pool: name }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: SA_TENANT, value: tenantId },
          { key: SA_PROVIDER, value: node.provider },
          { key: SA_PHASE, value: 'decommissioning' },
          { key: SA_POOL, value: name },
        ],
        staticSummary: `decommission ${removal.nodeId} of pool ${name}: ${removal.reason}`,
      });
    } catch (err) {
      // Someone (DELETE /nodes/{id}) is already tearing it down.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }

  /**
   * Starts the decision's new nodes: admitted in one activity, in order, up to the first refusal,
   * then started together. (Histories from before the batch admitted and started them one by one.)
   */
  async function addNodes(decision: Decision, templateVersion: number, now: number): Promise<Condition | undefined> {
    if (decision.add === 0) return undefined;
    const newJobId = () => uuid4().replace(/-/g, '').slice(0, 16);
    let admitted: Array<{ input: ProvisionInput; summary: string }> = [];
    let refused: { code: string; message: string } | undefined;
    if (patched('pool-batch-actions')) {
      const jobIds = Array.from({ length: decision.add }, newJobId);
      ({ admitted, refusal: refused } = await admitPoolNodes({ tenantId, pool: name, jobIds, templateVersion }));
      await Promise.all(admitted.map(startProvision));
    } else {
      for (let i = 0; i < decision.add; i++) {
        const admission = await admitPoolNode({ tenantId, pool: name, jobId: newJobId(), templateVersion });
        if (!admission.admitted) {
          refused = admission;
          break;
        }
        admitted.push(admission);
        await startProvision(admission);
      }
    }
    const started = admitted.length;
    if (started > 0) note('add', `${started} node${started === 1 ? '' : 's'} (${decision.addReason})`, now);
    return refused && { type: 'ScaleOutBlocked', reason: refused.code, message: refused.message };
  }

  async function startProvision(admission: { input: ProvisionInput; summary: string }): Promise<void> {
    await startChild(provisionNode, {
      workflowId: provisionWorkflowId(admission.input.jobId),
      args: [admission.input],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: [
        { key: SA_TENANT, value: tenantId },
        { key: SA_PROVIDER, value: admission.input.provider },
        { key: SA_PHASE, value: 'queued' },
        { key: SA_POOL, value: name },
      ],
      staticSummary: admission.summary,
    });
  }

  function noteConditionChanges(before: Condition[], after: Condition[], now: number): void {
    const key = (c: Condition) => `${c.type}:${c.reason}`;
    for (const c of after) if (!before.some((b) => key(b) === key(c))) note('condition', `${c.type}: ${c.reason}: ${c.message}`, now);
    for (const c of before) if (!after.some((a) => a.type === c.type)) note('resolved', `${c.type} cleared`, now);
  }
}
