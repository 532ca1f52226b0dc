import { setTimeout as sleep } from 'node:timers/promises';
import { ProviderHttpClient, type CloudProviderOptions, type ProviderFault } from '../http.js';
import { sshKeyFingerprint } from '../ssh-keys.js';
import { ProviderError, type CallOptions, type Plan, type Provider, type Region, type Vm, type VmSpec } from '../types.js';
import type { DoAccount, DoAction, DoDroplet, DoDropletCreate, DoDropletCreated, DoPage, DoRegion, DoSize, DoSshKey } from './api-types.js';
import { jobTag, labelsToTags, TAG_MANAGED, tagsToLabels } from './tags.js';

export const DEFAULT_DIGITALOCEAN_API_URL = 'https://api.digitalocean.com';
export const DEFAULT_DIGITALOCEAN_IMAGE = 'ubuntu-24-04-x64';
/** DigitalOcean refuses larger user_data. */
export const MAX_USER_DATA_BYTES = 64 * 1024;

const PER_PAGE = 200;
/** A mock (or a misbehaving API) may link to "next" forever. */
const MAX_PAGES = 20;
const MAX_POLL_INTERVAL_MS = 10_000;
/** A create action that is still running after this long is left to the caller's retry (it adopts by tag). */
const ACTION_DEADLINE_MS = 10 * 60_000;
const FIREWALL_ATTEMPTS = 3;
/** `droplet_single_create.name` in the spec. */
const DROPLET_NAME = /^[a-zA-Z0-9]?[a-z0-9A-Z.-]*[a-z0-9A-Z]$/;
const TAG = /^[A-Za-z0-9_:-]{1,255}$/;
/** DigitalOcean's 422 for a size or region that cannot take new droplets now ("Size is not available in this region."). */
const UNAVAILABLE = /\bnot available\b|\bunavailable\b/i;

/**
 * DigitalOcean droplets. There is no idempotency key and names may repeat, so a droplet is found
 * again by its job tag (see tags.ts): the create activity lists by job before creating, and after
 * an ambiguous failure (a timed-out POST) the droplet is adopted instead of made twice.
 */
export class DigitalOceanProvider implements Provider {
  readonly name = 'digitalocean' as const;
  private readonly http: ProviderHttpClient;
  private readonly pollIntervalMs: number;

  constructor(options: CloudProviderOptions) {
    this.http = new ProviderHttpClient({
      ...options.http,
      provider: 'digitalocean',
      baseUrl: options.baseUrl ?? DEFAULT_DIGITALOCEAN_API_URL,
      token: options.token,
      parseError: parseDoError,
    });
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
  }

  async verify(options?: CallOptions): Promise<void> {
    const { account } = await this.get<{ account: DoAccount }>('/v2/account', {}, options);
    // "warning" (e.g. a billing reminder) still creates droplets; "locked" does not.
    if (account.status !== 'active' && account.status !== 'warning') {
      const why = account.status_message?.trim() || 'no reason given';
      throw new ProviderError(`digitalocean: the account is ${account.status}: ${why}`, `account_${account.status}`, false);
    }
  }

  async regions(options?: CallOptions): Promise<Region[]> {
    const regions = await this.list<DoRegion>('/v2/regions', 'regions', (r) => r.slug, {}, options);
    return regions.filter((r) => r.available).map((r) => ({ name: r.slug, description: r.name }));
  }

  async plans(region: string, options?: CallOptions): Promise<Plan[]> {
    const sizes = await this.list<DoSize>('/v2/sizes', 'sizes', (s) => s.slug, {}, options);
    return (
      sizes
        // GPU droplets are left out of droplet lists by tag, so a GPU job could not find its droplet again.
        .filter((s) => s.available && s.regions.includes(region) && !s.slug.startsWith('gpu-'))
        .map((s) => ({
          name: s.slug,
          vcpu: s.vcpus,
          memory_mb: s.memory,
          disk_gb: s.disk,
          // Every droplet size is x86-64.
          arch: 'x86',
          price_monthly: Number(s.price_monthly),
          price_hourly: Number(s.price_hourly),
          currency: 'USD',
        }))
    );
  }

  async listByJob(jobId: string, options?: CallOptions): Promise<Vm[]> {
    return this.listTagged(jobTag(jobId), options);
  }

  async findByName(name: string, options?: CallOptions): Promise<Vm | undefined> {
    const droplets = await this.list<DoDroplet>('/v2/droplets', 'droplets', (d) => d.id, { name }, options);
    // The filter is exact but case-insensitive; names may repeat, so the oldest wins.
    const matching = droplets.filter((d) => d.name.toLowerCase() === name.toLowerCase()).sort((a, b) => a.id - b.id);
    return matching[0] && toVm(matching[0]);
  }

  async listManaged(options?: CallOptions): Promise<Vm[]> {
    return this.listTagged(TAG_MANAGED, options);
  }

  async create(spec: VmSpec, options?: CallOptions): Promise<Vm> {
    const body = createBody(spec);
    if (spec.sshKey) body.ssh_keys = [await this.ensureSshKey(spec.sshKey, options)];

    const created = await this.post<DoDropletCreated>('/v2/droplets', body, options);
    const id = created.droplet.id;
    const actions = created.links?.actions ?? [];
    const action = actions.find((a) => a.rel === 'create') ?? actions[0];
    if (action) await this.waitForAction(action.id, id, options);
    else await this.waitUntil(async () => (await this.droplet(id, options)).status === 'active', id, options);

    if (spec.firewall) await this.attachFirewall(spec.firewall, id, options);
    return toVm(await this.droplet(id, options));
  }

  async adopt(vm: Vm, spec: VmSpec, options?: CallOptions): Promise<Vm> {
    if (!spec.firewall) return vm;
    const id = Number(vm.id);
    // The lost attempt may have ended before its droplet was up and in the firewall.
    await this.waitUntil(async () => (await this.droplet(id, options)).status === 'active', id, options);
    await this.attachFirewall(spec.firewall, id, options);
    return toVm(await this.droplet(id, options));
  }

  async delete(vmId: string, options?: CallOptions): Promise<'deleted' | 'not_found'> {
    // Droplet ids are positive integers: anything else (another cloud's id) does not exist here.
    if (!/^[1-9][0-9]{0,17}$/.test(vmId)) return 'not_found';
    try {
      await this.del(`/v2/droplets/${vmId}`, {}, options);
      return 'deleted';
    } catch (err) {
      if (err instanceof ProviderError && err.status === 404) return 'not_found';
      throw err;
    }
  }

  /**
   * Deletes every droplet carrying `tag` in one request (a job's cleanup: `jobTag(jobId)`).
   * Refuses the managed tag, which every Berth droplet carries.
   */
  async deleteByTag(tag: string, options?: CallOptions): Promise<void> {
    if (!TAG.test(tag)) throw new ProviderError(`digitalocean: not a tag: ${JSON.stringify(tag)}`, 'invalid_input', false);
    if (tag.toLowerCase() === TAG_MANAGED) throw new ProviderError(`digitalocean: refusing to delete every droplet tagged ${TAG_MANAGED}`, 'invalid_input', false);
    try {
      await this.del('/v2/droplets', { tag_name: tag }, options);
    } catch (err) {
      if (!(err instanceof ProviderError && err.status === 404)) throw err;
    }
  }

  private async listTagged(tag: string, options?: CallOptions): Promise<Vm[]> {
    const droplets = await this.list<DoDroplet>('/v2/droplets', 'droplets', (d) => d.id, { tag_name: tag }, options);
    // Tags are matched case-insensitively (DigitalOcean keeps a tag's first spelling).
    return droplets.filter((d) => (d.tags ?? []).some((t) => t.toLowerCase() === tag)).map(toVm);
  }

  /**
   * Every page of a list. Pages are requested by number on our own base URL (never by following
   * the link, which would send the token wherever the body points), and the walk stops when
   * `next` is missing or does not move forward. Items seen twice (a page shifted) count once.
   */
  private async list<T>(path: string, key: string, idOf: (item: T) => string | number, query: Record<string, string>, options?: CallOptions): Promise<T[]> {
    const seen = new Map<string | number, T>();
    let page = 1;
    for (let fetched = 0; fetched < MAX_PAGES; fetched++) {
      const body = await this.get<DoPage & Record<string, unknown>>(path, { ...query, per_page: PER_PAGE, page }, options);
      const items = body[key];
      if (!Array.isArray(items)) throw new ProviderError(`digitalocean: GET ${path}: the answer has no "${key}" list`, 'bad_response', true);
      for (const item of items as T[]) if (!seen.has(idOf(item))) seen.set(idOf(item), item);
      const next = pageNumber(body.links?.pages?.next);
      if (next === undefined || next <= page) break;
      page = next;
    }
    return [...seen.values()];
  }

  private async droplet(id: number, options?: CallOptions): Promise<DoDroplet> {
    return (await this.get<{ droplet: DoDroplet }>(`/v2/droplets/${id}`, {}, options)).droplet;
  }

  private async waitForAction(actionId: number, dropletId: number, options?: CallOptions): Promise<void> {
    await this.waitUntil(
      async () => {
        const { action } = await this.get<{ action: DoAction }>(`/v2/actions/${actionId}`, {}, options);
        if (action.status === 'errored') {
          throw new ProviderError(`digitalocean: creating droplet ${dropletId} failed (action ${actionId} errored)`, 'create_failed', false);
        }
        return action.status === 'completed';
      },
      dropletId,
      options,
    );
  }

  /** Polls with growing pauses until `done`, the caller's signal, or the deadline. */
  private async waitUntil(done: () => Promise<boolean>, dropletId: number, options?: CallOptions): Promise<void> {
    const deadline = Date.now() + ACTION_DEADLINE_MS;
    let pause = this.pollIntervalMs;
    for (;;) {
      await sleep(pause, undefined, { signal: options?.signal });
      if (await done()) return;
      if (Date.now() > deadline) {
        throw new ProviderError(`digitalocean: droplet ${dropletId} was not active within ${ACTION_DEADLINE_MS / 1000} s`, 'timeout', true);
      }
      pause = Math.min(pause * 1.5, MAX_POLL_INTERVAL_MS);
    }
  }

  /** Assigning a droplet to a firewall is idempotent, so a 5xx or lost answer is tried again here. */
  private async attachFirewall(firewallId: string, dropletId: number, options?: CallOptions): Promise<void> {
    const path = `/v2/firewalls/${encodeURIComponent(firewallId)}/droplets`;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.post(path, { droplet_ids: [dropletId] }, options);
        return;
      } catch (err) {
        if (!(err instanceof ProviderError && err.retryable) || attempt >= FIREWALL_ATTEMPTS) throw err;
        await sleep(this.pollIntervalMs * attempt, undefined, { signal: options?.signal });
      }
    }
  }

  /** The account's key with this public key's fingerprint, uploaded the first time; returns its id. */
  private async ensureSshKey(publicKey: string, options?: CallOptions): Promise<number> {
    const fingerprint = sshKeyFingerprint(publicKey, 'digitalocean');
    const existing = await this.sshKey(fingerprint, options);
    if (existing) return existing.id;
    try {
      const name = `berth-${fingerprint.replaceAll(':', '').slice(0, 16)}`;
      const { ssh_key } = await this.post<{ ssh_key: DoSshKey }>('/v2/account/keys', { name, public_key: publicKey.trim() }, options);
      return ssh_key.id;
    } catch (err) {
      // "SSH Key is already in use on your account": another create uploaded it first.
      if (!(err instanceof ProviderError && err.status === 422)) throw err;
      const again = await this.sshKey(fingerprint, options);
      if (!again) throw err;
      return again.id;
    }
  }

  private async sshKey(fingerprint: string, options?: CallOptions): Promise<DoSshKey | undefined> {
    try {
      return (await this.get<{ ssh_key: DoSshKey }>(`/v2/account/keys/${fingerprint}`, {}, options)).ssh_key;
    } catch (err) {
      if (err instanceof ProviderError && err.status === 404) return undefined;
      throw err;
    }
  }

  private get<T>(path: string, query: Record<string, string | number>, options?: CallOptions): Promise<T> {
    return mapFaults(this.http.get<T>(path, { query, signal: options?.signal }));
  }

  private post<T>(path: string, body: unknown, options?: CallOptions): Promise<T> {
    return mapFaults(this.http.post<T>(path, { body, signal: options?.signal }));
  }

  private del(path: string, query: Record<string, string>, options?: CallOptions): Promise<unknown> {
    return mapFaults(this.http.delete(path, { query, signal: options?.signal }));
  }
}

/** Checks what DigitalOcean would refuse, before any request, and builds the create body. */
function createBody(spec: VmSpec): DoDropletCreate {
  const refuse = (why: string) => new ProviderError(`digitalocean: ${why}`, 'invalid_input', false);
  if (spec.name.length > 255 || !DROPLET_NAME.test(spec.name)) throw refuse(`${JSON.stringify(spec.name)} is not a valid droplet name`);
  const bytes = Buffer.byteLength(spec.userData, 'utf8');
  if (bytes > MAX_USER_DATA_BYTES) throw refuse(`user_data is ${bytes} bytes; DigitalOcean accepts at most ${MAX_USER_DATA_BYTES}`);
  // `public_networking: false` leaves the droplet without public IPv4 and IPv6; the spec requires ipv6 false with it.
  const privateOnly = spec.publicIpv4 === false;
  if (privateOnly && spec.ipv6 === true) throw refuse('a droplet without public networking cannot have public IPv6');
  const image = spec.image ?? DEFAULT_DIGITALOCEAN_IMAGE;
  return {
    name: spec.name,
    region: spec.region,
    size: spec.plan,
    // A numeric image is an id (private images, snapshots); otherwise a slug.
    image: /^[0-9]+$/.test(image) ? Number(image) : image,
    user_data: spec.userData,
    tags: labelsToTags(spec.labels),
    ipv6: privateOnly ? false : (spec.ipv6 ?? true),
    ...(spec.network !== undefined && { vpc_uuid: spec.network }),
    ...(privateOnly && { public_networking: false }),
  };
}

/** DigitalOcean's error body: `{"id", "message", "request_id"}`. */
export function parseDoError(body: unknown): ProviderFault | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { id, message, request_id } = body as Partial<Record<string, unknown>>;
  if (typeof id !== 'string' || typeof message !== 'string') return undefined;
  return { code: id, message: typeof request_id === 'string' && request_id ? `${message} (request ${request_id})` : message };
}

/** A 422 is final: a size or region that is out of capacity, or a request DigitalOcean will never take. */
async function mapFaults<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (!(err instanceof ProviderError) || err.status !== 422) throw err;
    if (UNAVAILABLE.test(err.message)) {
      throw new ProviderError(`${err.message} (out of capacity: try another size or region)`, 'resource_unavailable', false, undefined, 422);
    }
    throw new ProviderError(err.message, 'invalid_input', false, undefined, 422);
  }
}

function pageNumber(link: string | undefined): number | undefined {
  if (!link) return undefined;
  try {
    const page = Number(new URL(link).searchParams.get('page'));
    return Number.isInteger(page) && page >= 1 ? page : undefined;
  } catch {
    return undefined;
  }
}

function toVm(droplet: DoDroplet): Vm {
  return {
    id: String(droplet.id),
    name: droplet.name,
    status: droplet.status,
    labels: tagsToLabels(droplet.tags ?? []),
    createdAt: droplet.created_at,
  };
}
