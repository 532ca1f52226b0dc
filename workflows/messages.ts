// Shared by the workflows, the API and the tests: inputs, results and message definitions.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { PoolStatus } from '../placement/pool-spec.js';
import type { Phase } from './phases.js';

export const provisionWorkflowId = (jobId: string) => `provision-${jobId}`;
/** The VM's name at the provider, derived from the job id: a retried create finds it again. */
export const vmName = (jobId: string) => `berth-${jobId}`;
export const decommissionWorkflowId = (nodeId: string) => `decommission-${nodeId}`;
export const poolWorkflowId = (tenantId: string, name: string) => `pool-${tenantId}-${name}`;

export interface ProvisionInput {
  jobId: string;
  tenantId: string;
  provider: string;
  region: string;
  plan: string;
  hostname?: string | undefined;
  sshKey?: string | undefined;
  image?: string | undefined;
  labels: Record<string, string>;
  network?: string | undefined;
  firewall?: string | undefined;
  publicIpv4?: boolean | undefined;
  ipv6?: boolean | undefined;
  /** How long the VM has to call back; an argument so tests can shorten it. */
  registrationTtlMs: number;
  /** Set for a pool's node: the create loads the template's extra user-data by this reference. */
  pool?: PoolRef | undefined;
}

export interface PoolRef {
  name: string;
  templateVersion: number;
}

export interface ProvisionResult {
  jobId: string;
  nodeId: string;
  vmId: string;
}

/** What a VM reports about itself when it registers; never the token. */
export interface NodeFacts {
  hostname: string;
  [fact: string]: string | number | boolean;
}

/** Sent by an API that bound the node itself (with the token's claim); older APIs send none. */
export interface RegisterBinding {
  nodeId: string;
}

export interface RegisterResult {
  nodeId: string;
}

export interface ProvisionState {
  phase: Phase;
  vmId?: string | undefined;
  nodeId?: string | undefined;
  error?: string | undefined;
}

export interface DecommissionInput {
  nodeId: string;
  tenantId: string;
  jobId: string | null;
  provider: string;
  vmId: string | null;
  /** The node's pool, told when the node is gone. */
  pool?: string | undefined;
}

export interface PoolWorkflowInput {
  tenantId: string;
  name: string;
  /** What the reconciler remembers across continue-as-new. */
  memory?: PoolMemory | undefined;
  /** History length after which it continues as new (tests lower it). */
  maxHistoryEvents?: number | undefined;
}

export interface PoolMemory {
  /** Sequence number of the last recorded event. */
  eventSeq: number;
  /** Epoch ms of the last load or empty-node action (cooldown). */
  lastScaleAt?: number | undefined;
  status: PoolStatus;
  /** The desired size and spec generation last seen, to tell an operator's change apart. */
  seen?: { desired: number; generation: number; templateVersion: number } | undefined;
  /** Members whose removal was started, so it is not started again. */
  removing: string[];
  /** Reconciliation passes so far, across continue-as-new. */
  passes: number;
}

/** What the `pool` query answers: the reconciler's live view. */
export interface PoolSnapshot {
  passes: number;
  status: PoolStatus;
  summary: string;
}

/** The API hands a VM's callback to its job; the answer carries the new node's id. */
export const registerUpdate = defineUpdate<RegisterResult, [NodeFacts, RegisterBinding?]>('register');
export const stateQuery = defineQuery<ProvisionState>('state');
/** Wakes a pool's reconciler: its spec changed, or one of its jobs or nodes changed or ended. */
export const poolPokeSignal = defineSignal('poke');
export const poolStateQuery = defineQuery<PoolSnapshot>('pool');
