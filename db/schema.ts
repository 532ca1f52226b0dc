import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** Timestamps are ISO-8601 UTC strings on every dialect, so they sort and compare as text. */
type Timestamp = string;

export interface TenantTable {
  tenant_id: string;
  name: string;
  tier: string;
  created_at: Timestamp;
  /** null: no budget. */
  monthly_budget_cents: ColumnType<number | null, number | null | undefined, number | null>;
  /** Jobs holding a slot: being provisioned, or bound to a live node. */
  reserved_nodes: ColumnType<number, number | undefined, number>;
  /** Sum of the monthly prices of those jobs. */
  committed_cents: ColumnType<number, number | undefined, number>;
}

export interface ApiKeyTable {
  key_id: string;
  tenant_id: string;
  /** sha256 of the bearer token; the token itself is never stored. */
  key_hash: string;
  label: string;
  created_at: Timestamp;
  revoked_at: Timestamp | null;
}

/** Projection of provision jobs for fast listing; Temporal holds the job itself. */
export interface JobTable {
  job_id: string;
  tenant_id: string;
  provider: string;
  region: string;
  plan: string;
  hostname: string | null;
  phase: string;
  vm_id: string | null;
  node_id: string | null;
  error: string | null;
  idempotency_key: string | null;
  request_hash: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** Monthly price of the plan, reserved against the tenant's budget at admission. */
  price_cents: ColumnType<number, number | undefined, number>;
  /** 1 while the job counts toward the tenant's cap and budget. */
  holds_slot: ColumnType<number, number | undefined, number>;
  /** The pool that made this job, and the template version it was made from. */
  pool: ColumnType<string | null, string | null | undefined, string | null>;
  template_version: ColumnType<number | null, number | null | undefined, number | null>;
}

export interface JobProgressTable {
  job_id: string;
  phase: string;
  at: Timestamp;
  seq: number;
}

export interface RegistrationTokenTable {
  job_id: string;
  tenant_id: string;
  /** sha256 of the one-time token. */
  token_hash: string;
  expires_at: Timestamp;
  /** Set once the job answered the registration: the token is spent. */
  used_at: Timestamp | null;
  revoked_at: Timestamp | null;
  created_at: Timestamp;
  /** A registration in flight holds the token until this plus the delivery lease. */
  claimed_at: ColumnType<Timestamp | null, Timestamp | null | undefined, Timestamp | null>;
}

export interface NodeTable {
  node_id: string;
  tenant_id: string;
  job_id: string | null;
  provider: string;
  vm_id: string | null;
  hostname: string;
  /** ready | decommissioning | decommissioned */
  status: string;
  /** 1 when Berth provisioned the VM, 0 for nodes registered by hand. */
  provisioned: ColumnType<number, number | undefined, number>;
  facts: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  pool: ColumnType<string | null, string | null | undefined, string | null>;
  /** sha256 of the node credential its agent sends with each heartbeat. */
  agent_token_hash: ColumnType<string | null, string | null | undefined, string | null>;
  /** The agent's latest report. */
  last_heartbeat_at: ColumnType<Timestamp | null, Timestamp | null | undefined, Timestamp | null>;
  cpu: ColumnType<number | null, number | null | undefined, number | null>;
  memory: ColumnType<number | null, number | null | undefined, number | null>;
  workloads: ColumnType<number | null, number | null | undefined, number | null>;
  /** Last heartbeat that reported a workload. */
  busy_at: ColumnType<Timestamp | null, Timestamp | null | undefined, Timestamp | null>;
  /** When Berth asked the node to drain, and when the node said it had. */
  drain_requested_at: ColumnType<Timestamp | null, Timestamp | null | undefined, Timestamp | null>;
  drained_at: ColumnType<Timestamp | null, Timestamp | null | undefined, Timestamp | null>;
}

/** A pool's spec; the reconciler changes `desired` with a compare-and-set on `generation`. */
export interface PoolTable {
  tenant_id: string;
  name: string;
  /** JSON of PoolSpec (placement/pool-spec.ts) without desired and the template. */
  spec: string;
  desired: number;
  template_version: number;
  generation: ColumnType<number, number | undefined, number>;
  /** JSON of PoolStatus: conditions, last action, as the reconciler last recorded them. */
  status: ColumnType<string, string | undefined, string>;
  deleting_at: ColumnType<Timestamp | null, Timestamp | null | undefined, Timestamp | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** Each version of a pool's node template; nodes keep the version they were made from. */
export interface PoolTemplateTable {
  tenant_id: string;
  pool: string;
  version: number;
  /** JSON of the template without user_data. */
  template: string;
  /** JSON of the catalogue Plan when the version was made (capacity and price). */
  plan: string;
  /** The extra cloud-init part; loaded by the create activity, never passed through Temporal. */
  user_data: string | null;
  created_at: Timestamp;
}

export interface PoolEventTable {
  tenant_id: string;
  pool: string;
  seq: number;
  at: Timestamp;
  kind: string;
  reason: string;
  data: string | null;
}

/** CPU reports of pool nodes, kept for the longest window a pool may use. */
export interface NodeSampleTable {
  node_id: string;
  at: Timestamp;
  cpu: number;
}

/** A tenant's token for one provider, sealed (see security/vault.ts); never stored in clear. */
export interface ProviderCredentialTable {
  tenant_id: string;
  provider: string;
  key_id: string;
  iv: string;
  ciphertext: string;
  auth_tag: string;
  /** The token's last four characters, to tell tokens apart. */
  fingerprint: string;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface Database {
  tenants: TenantTable;
  api_keys: ApiKeyTable;
  jobs: JobTable;
  job_progress: JobProgressTable;
  registration_tokens: RegistrationTokenTable;
  nodes: NodeTable;
  provider_credentials: ProviderCredentialTable;
  pools: PoolTable;
  pool_templates: PoolTemplateTable;
  pool_events: PoolEventTable;
  node_samples: NodeSampleTable;
}

export type JobRow = Selectable<JobTable>;
export type NewJob = Insertable<JobTable>;
export type NodeRow = Selectable<NodeTable>;
export type TenantRow = Selectable<TenantTable>;
export type PoolRow = Selectable<PoolTable>;
export type PoolEventRow = Selectable<PoolEventTable>;
export type { Generated };
