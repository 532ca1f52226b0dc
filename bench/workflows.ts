// Baselines for Berth's provisionNode, run on the same server by a worker with the same settings.
import { allHandlersFinished, condition, defineSignal, defineUpdate, proxyActivities, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { createBenchActivities } from './bench-activities.js';

type BenchActivities = ReturnType<typeof createBenchActivities>;
const { step } = proxyActivities<BenchActivities>({ startToCloseTimeout: '1m' });
const { mark } = proxyLocalActivities<BenchActivities>({ startToCloseTimeout: '10s' });

export const goSignal = defineSignal('go');
/** The lean job's callback: answered once the node is bound, like Berth's register update. */
export const leanRegisterUpdate = defineUpdate<void>('register');

/** The engine's limit: the same shape as provisionNode (3 activities, 5 local activities, one message), doing nothing else. */
export async function minimalJob(id: string): Promise<void> {
  let go = false;
  setHandler(goSignal, () => {
    go = true;
  });
  await mark(id);
  await step(id, 'verify');
  await mark(id);
  await step(id, 'create');
  await mark(id);
  await condition(() => go);
  await mark(id);
  await step(id, 'bind');
  await mark(id);
}

/** What a job must do and no more: create, wait for the VM's callback (an update), bind, answer the callback. */
export async function leanJob(id: string): Promise<void> {
  let registered = false;
  let bound = false;
  setHandler(leanRegisterUpdate, async () => {
    registered = true;
    await condition(() => bound);
  });
  await step(id, 'create');
  await condition(() => registered);
  await step(id, 'bind');
  bound = true;
  await condition(allHandlersFinished);
}
