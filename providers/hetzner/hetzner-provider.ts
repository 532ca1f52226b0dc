import { setTimeout as sleep } from 'node:timers/promises';
import { ProviderHttpClient, type CloudProviderOptions, type ProviderFault } from '../http.js';
import { sshKeyFingerprint } from '../ssh-keys.js';
import { LABEL_JOB, LABEL_MANAGED, ProviderError, type CallOptions, type Plan, type Provider, type Region, type Vm, type VmSpec } from '../types.js';
import type {
  HcloudAction,
  HcloudCreateServerRequest,
  HcloudCreateServerResponse,
  HcloudListMeta,
  HcloudLocation,
  HcloudServer,
  HcloudServerType,
  HcloudSshKey,
} from './api-types.js';

export const DEFAULT_HETZNER_API_URL = 'https://api.hetzner.cloud/v1';
/** Hetzner refuses larger `user_data`. */
export const HETZNER_USER_DATA_MAX_BYTES = 32 * 1024;

const DEFAULT_IMAGE = 'ubuntu-24.04';
/** The API's largest page. */
const PER_PAGE = 50;
/** A server that keeps announcing a next page (Prism's examples do) must not loop us forever. */
const MAX_PAGES = 20;
const MAX_POLL_INTERVAL_MS = 10_000;
/** Creating and starting a server takes seconds to a minute; past this, give up and let a retry adopt it. */
const ACTION_DEADLINE_MS = 10 * 60_000;

/** Codes Hetzner documents as "try again", though their 4xx status reads as final to the HTTP client. */
const TRANSIENT_CODES = new Set(['conflict', 'locked', 'maintenance', 'unavailable', 'service_error', 'server_error', 'timeout', 'rate_limit_exceeded']);

/**
 * Hetzner Cloud. A job's VM is found again by its `berth.dev/job` label (a label selector) or
 * by its name, which Hetzner keeps unique per project: a second create answers uniqueness_error.
 */
export class HetznerProvider implements Provider {
  readonly name = 'hetzner' as const;
  private readonly http: ProviderHttpClient;
  private readonly pollIntervalMs: number;

  constructor(options: CloudProviderOptions) {
    this.http = new ProviderHttpClient({
      ...options.http,
      provider: 'hetzner',
      baseUrl: options.baseUrl ?? DEFAULT_HETZNER_API_URL,
      token: options.token,
      parseError: parseHetznerError,
    });
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
  }

  /** There is no whoami: a cheap authenticated read tells a valid token from an invalid one. */
  async verify(options?: CallOptions): Promise<void> {
    await refined(this.http.get('/locations', { query: { per_page: 1 }, signal: options?.signal }));
  }

  async regions(options?: CallOptions): Promise<Region[]> {
    const locations = await refined(this.listAll<HcloudLocation>('/locations', 'locations', {}, options?.signal));
    return locations.map((l) => ({ name: l.name, description: l.description || l.city }));
  }

  /**
   * Server types with a price in the region that are not deprecated. Prices are the net ones
   * (without VAT): VAT depends on the customer's country, and DigitalOcean's prices are net too,
   * so budgets compare like with like.
   */
  async plans(region: string, options?: CallOptions): Promise<Plan[]> {
    const types = await refined(this.listAll<HcloudServerType>('/server_types', 'server_types', {}, options?.signal));
    const plans: Plan[] = [];
    for (const type of types) {
      const plan = toPlan(type, region);
      if (plan) plans.push(plan);
    }
    return plans;
  }

  async listByJob(jobId: string, options?: CallOptions): Promise<Vm[]> {
    const servers = await refined(this.listServers({ label_selector: `${LABEL_JOB}==${jobId}` }, options?.signal));
    // Checked here as well: the caller deletes every VM but the first, so a selector the server
    // ignored must not hand it someone else's. Oldest first, the one the caller keeps.
    return servers
      .filter((s) => s.labels?.[LABEL_JOB] === jobId)
      .sort((a, b) => a.created.localeCompare(b.created) || a.id - b.id)
      .map(toVm);
  }

  async findByName(name: string, options?: CallOptions): Promise<Vm | undefined> {
    const servers = await refined(this.listServers({ name }, options?.signal));
    const server = servers.find((s) => s.name === name);
    return server && toVm(server);
  }

  async listManaged(options?: CallOptions): Promise<Vm[]> {
    const servers = await refined(this.listServers({ label_selector: `${LABEL_MANAGED}==true` }, options?.signal));
    return servers.filter((s) => s.labels?.[LABEL_MANAGED] === 'true').map(toVm);
  }

  async create(spec: VmSpec, options?: CallOptions): Promise<Vm> {
    const signal = options?.signal;
    // Everything that can be refused locally is, before any request.
    const body = createRequest(spec);
    const fingerprint = spec.sshKey === undefined ? undefined : sshKeyFingerprint(spec.sshKey, 'hetzner');
    let created: HcloudCreateServerResponse;
    let failed: HcloudAction | undefined;
    try {
      if (spec.sshKey !== undefined && fingerprint !== undefined) {
        body.ssh_keys = [String(await this.ensureSshKey(spec.sshKey.trim(), fingerprint, signal))];
      }
      created = await this.http.post<HcloudCreateServerResponse>('/servers', { body, signal });
      // The create action, then the power-on that start_after_create queued.
      const deadline = Date.now() + ACTION_DEADLINE_MS;
      for (const action of [created.action, ...(created.next_actions ?? [])]) {
        const done = await this.waitForAction(action, deadline, signal);
        if (done.status === 'error') {
          failed = done;
          break;
        }
      }
    } catch (err) {
      throw createError(refine(err), spec);
    }
    if (failed) {
      const code = failed.error?.code ?? 'action_failed';
      throw new ProviderError(`hetzner: ${failed.command} for server ${spec.name} failed: ${failed.error?.message ?? code}`, code, false);
    }
    return { ...toVm(created.server), status: 'running' };
  }

  /** Networks, firewalls and public IPs are part of the create request: nothing is left to apply. */
  async adopt(vm: Vm): Promise<Vm> {
    return vm;
  }

  async delete(vmId: string, options?: CallOptions): Promise<'deleted' | 'not_found'> {
    const signal = options?.signal;
    // Not a Hetzner server id (another cloud's, a typo): no such server can exist.
    if (!/^[1-9][0-9]{0,15}$/.test(vmId)) return 'not_found';
    let answer: { action?: HcloudAction } | undefined;
    try {
      answer = await this.http.delete<{ action?: HcloudAction } | undefined>(`/servers/${vmId}`, { signal });
    } catch (err) {
      if (err instanceof ProviderError && err.code === 'not_found') return 'not_found';
      throw refine(err);
    }
    if (!answer?.action) return 'deleted';
    let done: HcloudAction;
    try {
      done = await this.waitForAction(answer.action, Date.now() + ACTION_DEADLINE_MS, signal);
    } catch (err) {
      // Best effort: Hetzner took the delete; a lost poll does not undo it.
      if (err instanceof ProviderError) return 'deleted';
      throw err;
    }
    if (done.status === 'error') {
      // The server may still be there; deleting again is safe.
      const code = done.error?.code ?? 'action_failed';
      throw new ProviderError(`hetzner: deleting server ${vmId} failed: ${done.error?.message ?? code}`, code, true);
    }
    return 'deleted';
  }

  /** The project's SSH key with this fingerprint, created if missing (keys are unique by fingerprint). */
  private async ensureSshKey(publicKey: string, fingerprint: string, signal: AbortSignal | undefined): Promise<number> {
    const existing = await this.sshKeyByFingerprint(fingerprint, signal);
    if (existing) return existing.id;
    const name = `berth-${fingerprint.replace(/:/g, '').slice(0, 16)}`;
    try {
      const res = await this.http.post<{ ssh_key: HcloudSshKey }>('/ssh_keys', {
        body: { name, public_key: publicKey, labels: { [LABEL_MANAGED]: 'true' } },
        signal,
      });
      return res.ssh_key.id;
    } catch (err) {
      if (!(err instanceof ProviderError && err.code === 'uniqueness_error')) throw err;
      // A concurrent create added it first.
      const raced = await this.sshKeyByFingerprint(fingerprint, signal);
      if (raced) return raced.id;
      throw err;
    }
  }

  private async sshKeyByFingerprint(fingerprint: string, signal: AbortSignal | undefined): Promise<HcloudSshKey | undefined> {
    const res = await this.http.get<{ ssh_keys?: HcloudSshKey[] }>('/ssh_keys', { query: { fingerprint }, signal });
    return res.ssh_keys?.find((k) => k.fingerprint === fingerprint);
  }

  /** Polls the action until it is no longer running, waiting longer each time. */
  private async waitForAction(action: HcloudAction, deadline: number, signal: AbortSignal | undefined): Promise<HcloudAction> {
    let current = action;
    let interval = this.pollIntervalMs;
    while (current.status === 'running') {
      if (Date.now() + interval > deadline) {
        throw new ProviderError(`hetzner: action ${current.id} (${current.command}) is still running`, 'timeout', true);
      }
      await sleep(interval, undefined, { signal });
      interval = Math.min(interval * 1.5, MAX_POLL_INTERVAL_MS);
      current = (await this.http.get<{ action: HcloudAction }>(`/actions/${current.id}`, { signal })).action;
    }
    return current;
  }

  private async listServers(query: Record<string, string>, signal: AbortSignal | undefined): Promise<HcloudServer[]> {
    const servers = await this.listAll<HcloudServer>('/servers', 'servers', query, signal);
    // Pages can shift while servers come and go; one entry per server.
    return [...new Map(servers.map((s) => [s.id, s])).values()];
  }

  /** Every page of a list endpoint, following `next_page` only forward and at most MAX_PAGES times. */
  private async listAll<T>(path: string, key: string, query: Record<string, string>, signal: AbortSignal | undefined): Promise<T[]> {
    const items: T[] = [];
    let page = 1;
    for (let fetched = 0; fetched < MAX_PAGES; fetched++) {
      const res = await this.http.get<Record<string, unknown> & { meta?: HcloudListMeta }>(path, {
        query: { ...query, page, per_page: PER_PAGE },
        signal,
      });
      const list = res[key];
      if (Array.isArray(list)) items.push(...(list as T[]));
      const next = res.meta?.pagination?.next_page;
      if (typeof next !== 'number' || next <= page) break;
      page = next;
    }
    return items;
  }
}

/** Hetzner's error body: `{"error":{"code","message","details"}}`. */
export function parseHetznerError(body: unknown): ProviderFault | undefined {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (typeof error?.code !== 'string') return undefined;
  return { code: error.code, message: typeof error.message === 'string' ? error.message : error.code };
}

function createRequest(spec: VmSpec): HcloudCreateServerRequest {
  const size = Buffer.byteLength(spec.userData, 'utf8');
  if (size > HETZNER_USER_DATA_MAX_BYTES) {
    throw new ProviderError(`hetzner: user_data is ${size} bytes, more than the ${HETZNER_USER_DATA_MAX_BYTES} Hetzner accepts`, 'invalid_input', false);
  }
  const body: HcloudCreateServerRequest = {
    name: spec.name,
    server_type: spec.plan,
    location: spec.region,
    image: spec.image ?? DEFAULT_IMAGE,
    user_data: spec.userData,
    labels: spec.labels,
    start_after_create: true,
    public_net: { enable_ipv4: spec.publicIpv4 ?? true, enable_ipv6: spec.ipv6 ?? true },
  };
  if (spec.network !== undefined) body.networks = [resourceId('network', spec.network)];
  if (spec.firewall !== undefined) body.firewalls = [{ firewall: resourceId('firewall', spec.firewall) }];
  return body;
}

function resourceId(what: string, value: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(value)) throw new ProviderError(`hetzner: ${what} id ${JSON.stringify(value)} is not a number`, 'invalid_input', false);
  return Number(value);
}

function toPlan(type: HcloudServerType, region: string): Plan | undefined {
  if (type.deprecated || type.deprecation) return undefined;
  // Newer responses say per location whether the type is still offered there.
  const where = type.locations?.find((l) => l.name === region);
  if (type.locations?.length && (!where || where.deprecation)) return undefined;
  const price = type.prices.find((p) => p.location === region);
  const monthly = Number.parseFloat(price?.price_monthly.net ?? '');
  const hourly = Number.parseFloat(price?.price_hourly.net ?? '');
  if (!Number.isFinite(monthly) || !Number.isFinite(hourly)) return undefined;
  return {
    name: type.name,
    vcpu: type.cores,
    memory_mb: Math.round(type.memory * 1024),
    disk_gb: type.disk,
    arch: type.architecture === 'arm' ? 'arm' : 'x86',
    price_monthly: monthly,
    price_hourly: hourly,
    currency: 'EUR',
  };
}

function toVm(server: HcloudServer): Vm {
  return { id: String(server.id), name: server.name, status: server.status, labels: server.labels ?? {}, createdAt: server.created };
}

/** What the HTTP client made of the failure, with Hetzner's meaning of its own codes. */
function refine(err: unknown): unknown {
  if (!(err instanceof ProviderError)) return err;
  if (!err.retryable && TRANSIENT_CODES.has(err.code)) return new ProviderError(err.message, err.code, true, err.retryAfterMs, err.status);
  if (err.code === 'token_readonly') {
    return new ProviderError('hetzner: the token is read-only; Berth needs a Read & Write API token', err.code, false, undefined, err.status);
  }
  return err;
}

async function refined<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw refine(err);
  }
}

/** Hetzner's "sold out" and "no capacity" codes, worded with the type and location asked for. */
function createError(err: unknown, spec: VmSpec): unknown {
  if (!(err instanceof ProviderError)) return err;
  const detail = hetznerMessage(err.message);
  switch (err.code) {
    case 'resource_unavailable':
      return new ProviderError(`hetzner: server type ${spec.plan} is unavailable in location ${spec.region}: ${detail}`, err.code, false, undefined, err.status);
    case 'placement_error':
      return new ProviderError(`hetzner: no capacity to place a ${spec.plan} server in ${spec.region}: ${detail}`, err.code, false, undefined, err.status);
    case 'resource_limit_exceeded':
      return new ProviderError(`hetzner: the project's resource limit is reached: ${detail}`, err.code, false, undefined, err.status);
    default:
      return err;
  }
}

/** Hetzner's own words from a ProviderError message, without the HTTP client's framing. */
function hetznerMessage(message: string): string {
  return message.replace(/^hetzner: [A-Z]+ \S+: /, '');
}
