// The API's shapes, as the console reads them (see README, "API").

export type ProviderName = 'hetzner' | 'digitalocean' | 'local';

export interface ProviderStatus {
  name: ProviderName;
  configured: boolean;
  fingerprint?: string;
}

export interface Region {
  name: string;
  description: string;
}

export interface Plan {
  name: string;
  vcpu: number;
  memory_mb: number;
  disk_gb: number;
  arch: string;
  price_monthly: number;
  price_hourly: number;
  currency: string;
}

export interface PlansAnswer {
  provider: ProviderName;
  region: string;
  indicative: boolean;
  note: string;
  plans: Plan[];
}

export type Phase = 'queued' | 'verifying' | 'provisioning' | 'bootstrapping' | 'registering' | 'ready' | 'decommissioning' | 'failed' | 'cancelled' | 'decommissioned';

export const FINAL_PHASES: ReadonlySet<string> = new Set(['ready', 'failed', 'cancelled', 'decommissioned']);

export interface Job {
  job_id: string;
  phase: Phase;
  provider: ProviderName;
  region: string;
  plan: string;
  hostname?: string;
  node_id?: string;
  vm_id?: string;
  error?: string;
  /** The pool that made the job. */
  pool?: string;
  created_at: string;
  updated_at: string;
}

export interface JobDetail extends Job {
  progress: { phase: Phase; at: string }[];
}

export interface PhaseEvent {
  job_id: string;
  phase: Phase;
  at: string;
  error?: string;
  node_id?: string;
  vm_id?: string;
}

export type NodeStatus = 'ready' | 'decommissioning' | 'decommissioned';

export interface ClusterNode {
  node_id: string;
  /** null for a node registered by hand. */
  job_id: string | null;
  provider: ProviderName;
  vm_id?: string | null;
  hostname: string;
  status: NodeStatus;
  /** The job's region, plan and monthly price (cents); null for a node registered by hand. */
  region: string | null;
  plan: string | null;
  price_monthly_cents: number | null;
  pool?: string;
  created_at: string;
}

export interface NodeAgentReport {
  last_heartbeat_at: string | null;
  /** 0 to 1. */
  cpu: number | null;
  /** 0 to 1. */
  memory: number | null;
  workloads: number | null;
  busy_at: string | null;
  drain_requested_at: string | null;
  drained_at: string | null;
}

export interface NodeDetail extends ClusterNode {
  facts: Record<string, string | number | boolean>;
  agent: NodeAgentReport;
  updated_at: string;
}

export interface Budget {
  monthly_cents: number | null;
  committed_cents: number;
  remaining_cents: number | null;
  nodes_counted: number;
  tier: string;
  /** null: no cap. */
  node_cap: number | null;
}

export interface Admission {
  allowed: boolean;
  status?: number;
  code?: string;
  message?: string;
}

export interface DryRun {
  dry_run: true;
  would_create: { provider: string; region: string; plan: string; hostname: string | null; labels: Record<string, string> };
  plan: Plan;
  monthly_cost: { cents: number; amount: number; currency: string; indicative: boolean };
  budget: { monthly_cents: number | null; committed_cents: number; remaining_after_cents: number | null };
  admission: Admission;
}

export interface NodeRequest {
  provider: string;
  region: string;
  plan: string;
  hostname?: string;
  ssh_key?: string;
  labels?: Record<string, string>;
}

export interface PoolTemplate {
  provider: ProviderName;
  region: string;
  plan: string;
  labels?: Record<string, string>;
  [key: string]: unknown;
}

export interface PoolCondition {
  type: string;
  reason: string;
  message?: string;
  since?: string;
  [key: string]: unknown;
}

export interface Pool {
  name: string;
  state: 'active' | 'deleting';
  template: PoolTemplate;
  template_version: number;
  min: number;
  max: number;
  desired: number;
  autoscaling: { scale_out_cpu?: number; scale_in_cpu?: number; window: string; cooldown: string; step: number; empty_ttl?: string } | null;
  health: { unhealthy_after: string; max_unhealthy: string | number };
  evaluation_interval: string;
  drain_timeout: string;
  nodes: { ready: number; provisioning: number; draining: number; unhealthy: number };
  capacity: { vcpu: number; memory_mb: number; disk_gb: number; arch: string; price_monthly: number; currency: string };
  cpu_average: number | null;
  last_action: { at: string; kind: string; reason: string } | null;
  conditions: PoolCondition[];
  workflow_id: string;
  created_at: string;
  updated_at: string;
}

export interface PoolDecision {
  pool: string;
  seq: number;
  at: string;
  kind: string;
  reason: string;
}

export interface ConsoleConfig {
  temporalUiUrl: string | null;
  namespace: string;
}
