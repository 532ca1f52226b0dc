export const PROVIDER_NAMES = ['local', 'hetzner', 'digitalocean'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** Labels Berth puts on every VM it creates; the job label is how a job finds its VM again. */
export const LABEL_JOB = 'berth.dev/job';
export const LABEL_TENANT = 'berth.dev/tenant';
export const LABEL_MANAGED = 'berth.dev/managed';
/** The pool a VM was made for. */
export const LABEL_POOL = 'berth.dev/pool';

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
  /** Indicative prices in the region, from the provider's catalogue. */
  price_monthly: number;
  price_hourly: number;
  currency: string;
}

/** A plan's monthly price in cents, the unit of budgets. */
export const monthlyCents = (plan: Plan) => Math.round(plan.price_monthly * 100);

export interface VmSpec {
  /** Deterministic, derived from the job id. */
  name: string;
  region: string;
  plan: string;
  image?: string | undefined;
  sshKey?: string | undefined;
  userData: string;
  labels: Record<string, string>;
  /** Private network (Hetzner network id, DigitalOcean VPC uuid). */
  network?: string | undefined;
  /** Firewall id to attach the VM to. */
  firewall?: string | undefined;
  /** false: no public IPv4 (on DigitalOcean: no public networking at all, so no IPv6 either). */
  publicIpv4?: boolean | undefined;
  /** Public IPv6 as well. */
  ipv6?: boolean | undefined;
}

export interface Vm {
  id: string;
  name: string;
  status: string;
  labels: Record<string, string>;
  /** ISO-8601, as the provider reports it. */
  createdAt?: string | undefined;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
}

/** One cloud, as the workflow's activities see it. Every method is safe to retry. */
export interface Provider {
  readonly name: ProviderName;
  verify(options?: CallOptions): Promise<void>;
  regions(options?: CallOptions): Promise<Region[]>;
  plans(region: string, options?: CallOptions): Promise<Plan[]>;
  /** VMs carrying the job label, so a retried create can adopt instead of duplicating. */
  listByJob(jobId: string, options?: CallOptions): Promise<Vm[]>;
  findByName(name: string, options?: CallOptions): Promise<Vm | undefined>;
  /** Every VM carrying the managed label, for the orphan sweep. */
  listManaged(options?: CallOptions): Promise<Vm[]>;
  /** Creates the VM and returns once the provider reports it running. */
  create(spec: VmSpec, options?: CallOptions): Promise<Vm>;
  /**
   * Finishes a VM made by an earlier attempt whose answer was lost: applies what `create` applies
   * once the VM exists (DigitalOcean's firewall). Safe to repeat.
   */
  adopt(vm: Vm, spec: VmSpec, options?: CallOptions): Promise<Vm>;
  /** Not-found counts as done. */
  delete(vmId: string, options?: CallOptions): Promise<'deleted' | 'not_found'>;
}

/** A provider error with the provider's own code, and whether retrying can help. */
export class ProviderError extends Error {
  override name = 'ProviderError';
  constructor(
    message: string,
    readonly code: string,
    readonly retryable: boolean,
    /** How long the provider asked us to wait (rate limits). */
    readonly retryAfterMs?: number,
    /** The HTTP status of a refused request, when there was one. */
    readonly status?: number,
  ) {
    super(message);
  }
}
