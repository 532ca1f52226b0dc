// The engine's own limit: a workflow of the same shape as provisionNode (3 activities, 5 local
// activities, one message) that does nothing else.
import { condition, defineSignal, proxyActivities, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { createBenchActivities } from './bench-activities.js';

type BenchActivities = ReturnType<typeof createBenchActivities>;
const { step } = proxyActivities<BenchActivities>({ startToCloseTimeout: '1m' });
const { mark } = proxyLocalActivities<BenchActivities>({ startToCloseTimeout: '10s' });

export const goSignal = defineSignal('go');

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
