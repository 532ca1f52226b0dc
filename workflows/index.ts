// The worker's workflow bundle: every workflow type Berth runs.
export { provisionNode } from './provision.js';
export { decommissionNode } from './decommission.js';
export { sweepOrphans } from './sweep.js';
export { poolReconciler } from './pool.js';
