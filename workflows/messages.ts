// Shared by the workflows, the API and the tests: inputs, results and message definitions.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Phase } from './phases.js';

export const provisionWorkflowId = (jobId: string) => `provision-${jobId}`;
export const decommissionWorkflowId = (nodeId: string) => `decommission-${nodeId}`;

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
}

/** The API hands a VM's callback to its job; the answer carries the new node's id. */
export const registerUpdate = defineUpdate<RegisterResult, [NodeFacts]>('register');
export const stateQuery = defineQuery<ProvisionState>('state');
