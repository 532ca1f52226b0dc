import { createHash, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import type { DoAccount, DoAction, DoDroplet, DoRegion, DoSize, DoSshKey } from '../../providers/digitalocean/api-types.js';
import { bootFromUserData, type BootMode, type NodeLoad } from './boot.js';

/**
 * A stateful stand-in for the parts of DigitalOcean API v2 Berth uses, with the spec's shapes and
 * DigitalOcean's error format. Droplets go new -> active when their create action completes
 * (after `bootDelayMs`), and then "boot": their user-data registers with Berth. Faults are
 * injected through the handle, never over HTTP.
 */
export interface DigitalOceanEmulatorOptions {
  token?: string;
  bootMode?: BootMode;
  /** Time from create to active (default 200 ms). */
  bootDelayMs?: number;
  /** Largest page the emulator serves (default 200, the API's); lower it to exercise pagination. */
  maxPerPage?: number;
}

export interface LoggedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Date.now() on arrival. */
  at: number;
}

/** A droplet as the emulator keeps it: the API's view plus what was sent at create. */
export interface EmulatedDroplet extends DoDroplet {
  user_data: string;
  ssh_keys: Array<string | number>;
  public_networking: boolean;
}

export interface DigitalOceanEmulator {
  /** The API root: an adapter's baseUrl; paths are /v2/... under it. */
  url: string;
  token: string;
  /** A firewall that exists, to attach droplets to. */
  firewallId: string;
  /** A VPC that exists, in nyc3. */
  vpcId: string;
  /** Every request received (the Authorization header is never kept). */
  requests: LoggedRequest[];
  droplets(): EmulatedDroplet[];
  sshKeys(): DoSshKey[];
  /** Droplet ids assigned to a firewall (default: the pre-made one). */
  firewallDropletIds(firewallId?: string): number[];
  setAccountStatus(status: DoAccount['status'], message?: string): void;
  /** The load the droplet's node agent reports from its next heartbeat on (default all 0). */
  setLoad(dropletId: number | string, load: NodeLoad): void;
  /** Stops the droplet's heartbeats, leaving it running: a node that became unreachable. */
  stopAgent(dropletId: number | string): void;
  /** Deletes the droplet behind Berth's back. */
  deleteOutOfBand(dropletId: number | string): void;
  faults: {
    /** The next n requests get 429 too_many_requests, with RateLimit-* headers and, if given, Retry-After. */
    rateLimitNext(n: number, retryAfterSec?: number): void;
    /** The next n requests get 503. */
    serverErrorNext(n: number): void;
    /** The next POST /v2/droplets makes the droplet, then answers only after `ms`. */
    hangCreateAfterCommit(ms: number): void;
    /** POST /v2/droplets of this size in this region gets DigitalOcean's 422 "not available in this region". */
    soldOut(size: string, region: string): void;
    /** The next droplet's create action ends "errored" and the droplet stays "new". */
    failNextCreateAction(): void;
  };
  close(): Promise<void>;
}

const DEFAULT_TOKEN = 'do-emulator-token';
const RATE_LIMIT = 250;
const MAX_USER_DATA = 64 * 1024;
const NAME = /^[a-zA-Z0-9]?[a-z0-9A-Z.-]*[a-z0-9A-Z]$/;
const TAG = /^[A-Za-z0-9_:-]{1,255}$/;
const IMAGES: Record<string, { id: number; name: string; distribution: string }> = {
  'ubuntu-24-04-x64': { id: 160000001, name: '24.04 (LTS) x64', distribution: 'Ubuntu' },
  'ubuntu-22-04-x64': { id: 160000002, name: '22.04 (LTS) x64', distribution: 'Ubuntu' },
  'debian-12-x64': { id: 160000003, name: '12 x64', distribution: 'Debian' },
};

const FEATURES = ['backups', 'ipv6', 'metadata', 'install_agent', 'storage', 'image_transfer'];
/** nyc3, fra1 and ams3 take droplets; sfo1 is closed to new ones. */
const REGIONS: Array<Omit<DoRegion, 'sizes'>> = [
  { name: 'New York 3', slug: 'nyc3', features: FEATURES, available: true },
  { name: 'Frankfurt 1', slug: 'fra1', features: FEATURES, available: true },
  { name: 'Amsterdam 3', slug: 'ams3', features: FEATURES, available: true },
  { name: 'San Francisco 1', slug: 'sfo1', features: FEATURES, available: false },
];
/** s-2vcpu-4gb is not offered in fra1; s-1vcpu-512mb-10gb is listed but unavailable everywhere. */
const SIZES: DoSize[] = [
  size('s-1vcpu-1gb', 1, 1024, 25, 1, 6, 0.00893, ['nyc3', 'fra1', 'ams3', 'sfo1'], true),
  size('s-2vcpu-4gb', 2, 4096, 80, 4, 24, 0.03571, ['nyc3', 'ams3'], true),
  size('s-4vcpu-8gb', 4, 8192, 160, 5, 48, 0.07143, ['nyc3', 'fra1', 'ams3'], true),
  size('s-1vcpu-512mb-10gb', 1, 512, 10, 0.5, 4, 0.00595, ['nyc3', 'fra1'], false),
];

function size(slug: string, vcpus: number, memory: number, disk: number, transfer: number, monthly: number, hourly: number, regions: string[], available: boolean): DoSize {
  return { slug, memory, vcpus, disk, transfer, price_monthly: monthly, price_hourly: hourly, regions, available, description: 'Basic' };
}

const region = (slug: string): DoRegion | undefined => {
  const r = REGIONS.find((x) => x.slug === slug);
  return r && { ...r, sizes: SIZES.filter((s) => s.available && s.regions.includes(slug)).map((s) => s.slug) };
};

/** ISO-8601 to the second, as DigitalOcean writes times. */
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 422 | 429 | 503,
    readonly id: string,
    message: string,
  ) {
    super(message);
  }
}

const badRequest = (message: string) => new ApiError(400, 'bad_request', message);
const unprocessable = (message: string) => new ApiError(422, 'unprocessable_entity', message);
const notFound = () => new ApiError(404, 'not_found', 'The resource you were accessing could not be found.');

export async function startDigitalOceanEmulator(options: DigitalOceanEmulatorOptions = {}): Promise<DigitalOceanEmulator> {
  const token = options.token ?? DEFAULT_TOKEN;
  const bootMode = options.bootMode ?? 'register';
  const bootDelayMs = options.bootDelayMs ?? 200;
  const maxPerPage = Math.min(options.maxPerPage ?? 200, 200);
  const shutdown = new AbortController();
  const timers = new Set<NodeJS.Timeout>();
  const agents = new Map<number, AbortController>();
  const loads = new Map<number, NodeLoad>();

  const account: DoAccount = {
    droplet_limit: 25,
    floating_ip_limit: 5,
    email: 'emulator@example.com',
    name: 'Emulator',
    uuid: createHash('sha1').update(token).digest('hex'),
    email_verified: true,
    status: 'active',
    status_message: '',
  };
  const droplets = new Map<number, EmulatedDroplet>();
  const actions = new Map<number, DoAction>();
  const keys = new Map<number, DoSshKey>();
  const firewallId = randomUUID();
  const firewalls = new Map<string, Set<number>>([[firewallId, new Set()]]);
  const vpcId = randomUUID();
  const vpcs = new Map<string, string>([[vpcId, 'nyc3']]);
  const requests: LoggedRequest[] = [];
  let nextDropletId = 400_000_001;
  let nextActionId = 2_000_000_001;
  let nextKeyId = 51_000_001;

  const faults = { rateLimited: 0, retryAfterSec: undefined as number | undefined, serverErrors: 0, hangMs: 0, failAction: false, soldOut: new Set<string>() };
  let windowStart = Date.now();
  let windowCount = 0;

  const app = new Hono();
  let base = '';

  app.onError((err, c) => {
    if (err instanceof SyntaxError) err = badRequest('error parsing request body');
    if (!(err instanceof ApiError)) return c.json({ id: 'server_error', message: 'Unexpected server-side error', request_id: randomUUID() }, 500);
    return c.json({ id: err.id, message: err.message, request_id: randomUUID() }, err.status);
  });
  app.notFound((c) => c.json({ id: 'not_found', message: 'The resource you were accessing could not be found.', request_id: randomUUID() }, 404));

  app.use('*', async (c, next) => {
    const url = new URL(c.req.url);
    requests.push({ method: c.req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), at: Date.now() });
    // The per-minute budget, reported on every answer like the real API (never enforced here).
    if (Date.now() - windowStart >= 60_000) [windowStart, windowCount] = [Date.now(), 0];
    windowCount++;
    const reset = Math.ceil((windowStart + 60_000) / 1000);
    c.header('RateLimit-Limit', String(RATE_LIMIT));
    c.header('RateLimit-Remaining', String(Math.max(0, RATE_LIMIT - windowCount)));
    c.header('RateLimit-Reset', String(reset));
    if (faults.rateLimited > 0) {
      faults.rateLimited--;
      c.header('RateLimit-Remaining', '0');
      if (faults.retryAfterSec !== undefined) {
        c.header('Retry-After', String(faults.retryAfterSec));
        c.header('RateLimit-Reset', String(Math.ceil(Date.now() / 1000) + faults.retryAfterSec));
      }
      throw new ApiError(429, 'too_many_requests', 'API rate limit exceeded.');
    }
    if (faults.serverErrors > 0) {
      faults.serverErrors--;
      throw new ApiError(503, 'service_unavailable', 'The service is temporarily unavailable; try again later.');
    }
    if (c.req.header('authorization') !== `Bearer ${token}`) throw new ApiError(401, 'unauthorized', 'Unable to authenticate you.');
    await next();
  });

  app.get('/v2/account', (c) => c.json({ account }));

  app.get('/v2/regions', (c) =>
    c.json(
      page(
        c,
        'regions',
        REGIONS.map((r) => region(r.slug)!),
      ),
    ),
  );

  app.get('/v2/sizes', (c) => c.json(page(c, 'sizes', SIZES)));

  app.get('/v2/droplets', (c) => {
    const { tag_name: tag, name } = c.req.query();
    if (tag !== undefined && name !== undefined) throw badRequest('tag_name cannot be combined with name');
    const list = [...droplets.values()]
      .filter((d) => tag === undefined || d.tags.some((t) => t.toLowerCase() === tag.toLowerCase()))
      .filter((d) => name === undefined || d.name.toLowerCase() === name.toLowerCase());
    return c.json(page(c, 'droplets', list.map(apiView)));
  });

  app.post('/v2/droplets', async (c) => {
    const droplet = newDroplet(await c.req.json());
    const action = startCreate(droplet);
    const answer = {
      droplet: apiView(droplet),
      links: { actions: [{ id: action.id, rel: 'create', href: `${base}/v2/actions/${action.id}` }] },
    };
    if (faults.hangMs > 0) {
      const ms = faults.hangMs;
      faults.hangMs = 0;
      await sleep(ms, undefined, { signal: shutdown.signal }).catch(() => {});
    }
    return c.json(answer, 202);
  });

  app.delete('/v2/droplets', (c) => {
    const tag = c.req.query('tag_name');
    if (!tag) throw badRequest('tag_name is required');
    for (const d of [...droplets.values()]) if (d.tags.some((t) => t.toLowerCase() === tag.toLowerCase())) destroy(d.id);
    return c.body(null, 204);
  });

  app.get('/v2/droplets/:id', (c) => c.json({ droplet: apiView(dropletOf(c.req.param('id'))) }));

  app.delete('/v2/droplets/:id', (c) => {
    destroy(dropletOf(c.req.param('id')).id);
    return c.body(null, 204);
  });

  app.get('/v2/actions/:id', (c) => {
    const action = actions.get(Number(c.req.param('id')));
    if (!action) throw notFound();
    return c.json({ action });
  });

  app.get('/v2/account/keys', (c) => c.json(page(c, 'ssh_keys', [...keys.values()])));

  app.post('/v2/account/keys', async (c) => {
    const body = (await c.req.json()) as Partial<Record<string, unknown>>;
    if (typeof body.name !== 'string' || body.name === '') throw unprocessable('name is required');
    if (typeof body.public_key !== 'string') throw unprocessable('public_key is required');
    const fingerprint = md5Fingerprint(body.public_key);
    if (!fingerprint) throw unprocessable('Key invalid, type not supported');
    if ([...keys.values()].some((k) => k.fingerprint === fingerprint)) throw unprocessable('SSH Key is already in use on your account');
    const key: DoSshKey = { id: nextKeyId++, fingerprint, public_key: body.public_key, name: body.name };
    keys.set(key.id, key);
    return c.json({ ssh_key: key }, 201);
  });

  app.get('/v2/account/keys/:key', (c) => {
    const key = keyOf(c.req.param('key'));
    if (!key) throw notFound();
    return c.json({ ssh_key: key });
  });

  app.post('/v2/firewalls/:id/droplets', async (c) => {
    const attached = firewalls.get(c.req.param('id'));
    if (!attached) throw notFound();
    const ids = ((await c.req.json()) as { droplet_ids?: unknown }).droplet_ids;
    if (!Array.isArray(ids) || !ids.every((id) => Number.isInteger(id))) throw badRequest('droplet_ids must be a list of integers');
    const missing = (ids as number[]).filter((id) => !droplets.has(id));
    if (missing.length > 0) throw unprocessable(`droplets not found: ${missing.join(', ')}`);
    for (const id of ids as number[]) attached.add(id);
    return c.body(null, 204);
  });

  /** A page of a list with the spec's `links.pages` (absolute URLs) and `meta.total`. */
  function page<T>(c: Context, key: string, all: T[]): Record<string, unknown> {
    const perPage = intParam(c, 'per_page', 20);
    const number = intParam(c, 'page', 1);
    if (perPage > 200) throw badRequest('per_page must be at most 200');
    const size = Math.min(perPage, maxPerPage);
    const last = Math.max(1, Math.ceil(all.length / size));
    const link = (p: number) => {
      const url = new URL(`${base}${new URL(c.req.url).pathname}`);
      for (const [k, v] of Object.entries(c.req.query())) url.searchParams.set(k, v);
      url.searchParams.set('page', String(p));
      url.searchParams.set('per_page', String(size));
      return url.toString();
    };
    const pages: Record<string, string> = {};
    if (number > 1) Object.assign(pages, { first: link(1), prev: link(Math.min(number - 1, last)) });
    if (number < last) Object.assign(pages, { next: link(number + 1), last: link(last) });
    return { [key]: all.slice((number - 1) * size, number * size), links: { pages }, meta: { total: all.length } };
  }

  function intParam(c: Context, name: string, fallback: number): number {
    const raw = c.req.query(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) throw badRequest(`${name} must be a positive integer`);
    return value;
  }

  /** Validates a single-droplet create body the way the API answers it, and records the droplet. */
  function newDroplet(input: unknown): EmulatedDroplet {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw badRequest('error parsing request body');
    const body = input as Partial<Record<string, unknown>>;
    if (body.names !== undefined) throw unprocessable('this emulator creates one droplet per request');
    if (typeof body.name !== 'string' || body.name.length > 255 || !NAME.test(body.name)) throw unprocessable('Name must contain only letters, numbers, dots and dashes');
    const sizeInfo = SIZES.find((s) => s.slug === body.size);
    if (!sizeInfo) throw unprocessable('You specified an invalid size for Droplet creation.');
    const image = typeof body.image === 'string' ? IMAGES[body.image] : undefined;
    if (!image) throw unprocessable('You specified an invalid image for Droplet creation.');
    const where = typeof body.region === 'string' ? region(body.region) : undefined;
    if (!where) throw unprocessable('You specified an invalid region for Droplet creation.');
    if (!where.available) throw unprocessable('Region is not available');
    if (!where.sizes.includes(sizeInfo.slug) || faults.soldOut.has(`${sizeInfo.slug}@${where.slug}`)) throw unprocessable('Size is not available in this region.');
    const userData = body.user_data ?? '';
    if (typeof userData !== 'string') throw unprocessable('user_data must be a string');
    if (Buffer.byteLength(userData, 'utf8') > MAX_USER_DATA) throw unprocessable('user_data must not exceed 64 KiB');
    const tags = body.tags ?? [];
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string' && TAG.test(t))) {
      throw unprocessable('tags may contain only letters, numbers, colons, dashes and underscores (at most 255 characters)');
    }
    const sshKeys = body.ssh_keys ?? [];
    if (!Array.isArray(sshKeys) || !sshKeys.every((k) => (typeof k === 'string' || typeof k === 'number') && keyOf(String(k)))) {
      throw unprocessable('ssh_keys: one of the keys was not found');
    }
    for (const flag of ['ipv6', 'public_networking', 'monitoring', 'backups'] as const) {
      if (body[flag] !== undefined && typeof body[flag] !== 'boolean') throw badRequest(`${flag} must be a boolean`);
    }
    const ipv6 = body.ipv6 === true;
    const publicNetworking = body.public_networking !== false;
    if (!publicNetworking && ipv6) throw unprocessable('ipv6 must be false when public_networking is false');
    if (body.vpc_uuid !== undefined) {
      const vpcRegion = typeof body.vpc_uuid === 'string' ? vpcs.get(body.vpc_uuid) : undefined;
      if (!vpcRegion) throw unprocessable('vpc_uuid: the VPC was not found');
      if (vpcRegion !== where.slug) throw unprocessable('vpc_uuid: the VPC is not in the region of the Droplet');
    }

    const droplet: EmulatedDroplet = {
      id: nextDropletId++,
      name: body.name,
      memory: sizeInfo.memory,
      vcpus: sizeInfo.vcpus,
      disk: sizeInfo.disk,
      locked: false,
      status: 'new',
      created_at: now(),
      features: ['private_networking', ...(ipv6 ? ['ipv6'] : [])],
      backup_ids: [],
      next_backup_window: null,
      snapshot_ids: [],
      image: { ...image, slug: body.image as string, public: true },
      volume_ids: [],
      size: sizeInfo,
      size_slug: sizeInfo.slug,
      networks: { v4: [], v6: [] },
      region: where,
      tags: [...new Set(tags as string[])],
      vpc_uuid: (body.vpc_uuid as string | undefined) ?? `default-vpc-${where.slug}`,
      user_data: userData,
      ssh_keys: sshKeys as Array<string | number>,
      public_networking: publicNetworking,
    };
    droplets.set(droplet.id, droplet);
    return droplet;
  }

  /** The create action: in progress until the droplet is up, then the droplet boots its user-data. */
  function startCreate(droplet: EmulatedDroplet): DoAction {
    const action: DoAction = {
      id: nextActionId++,
      status: 'in-progress',
      type: 'create',
      started_at: now(),
      completed_at: null,
      resource_id: droplet.id,
      resource_type: 'droplet',
      region_slug: droplet.region.slug,
    };
    actions.set(action.id, action);
    const fail = faults.failAction;
    faults.failAction = false;
    const timer = setTimeout(() => {
      timers.delete(timer);
      action.completed_at = now();
      if (fail || !droplets.has(droplet.id)) {
        action.status = 'errored';
        return;
      }
      action.status = 'completed';
      droplet.status = 'active';
      droplet.networks = networksFor(droplet);
      if (bootMode !== 'register') return;
      const agent = new AbortController();
      agents.set(droplet.id, agent);
      const signal = AbortSignal.any([shutdown.signal, agent.signal]);
      bootFromUserData(droplet.user_data, shutdown.signal, { signal, load: () => loads.get(droplet.id) ?? {} }).catch(() => {});
    }, bootDelayMs);
    timers.add(timer);
    return action;
  }

  function destroy(id: number): void {
    agents.get(id)?.abort();
    droplets.delete(id);
    for (const attached of firewalls.values()) attached.delete(id);
  }

  function dropletOf(raw: string): EmulatedDroplet {
    const droplet = /^[0-9]+$/.test(raw) ? droplets.get(Number(raw)) : undefined;
    if (!droplet) throw notFound();
    return droplet;
  }

  function keyOf(idOrFingerprint: string): DoSshKey | undefined {
    return [...keys.values()].find((k) => String(k.id) === idOrFingerprint || k.fingerprint === idOrFingerprint);
  }

  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: base,
    token,
    firewallId,
    vpcId,
    requests,
    droplets: () => [...droplets.values()].map((d) => structuredClone(d)),
    sshKeys: () => [...keys.values()].map((k) => ({ ...k })),
    firewallDropletIds: (id = firewallId) => [...(firewalls.get(id) ?? [])],
    setAccountStatus(status, message = '') {
      account.status = status;
      account.status_message = message;
    },
    setLoad: (id, load) => loads.set(Number(id), load),
    stopAgent: (id) => agents.get(Number(id))?.abort(),
    deleteOutOfBand: (id) => destroy(Number(id)),
    faults: {
      rateLimitNext(n, retryAfterSec) {
        faults.rateLimited = n;
        faults.retryAfterSec = retryAfterSec;
      },
      serverErrorNext(n) {
        faults.serverErrors = n;
      },
      hangCreateAfterCommit(ms) {
        faults.hangMs = ms;
      },
      soldOut(sizeSlug, regionSlug) {
        faults.soldOut.add(`${sizeSlug}@${regionSlug}`);
      },
      failNextCreateAction() {
        faults.failAction = true;
      },
    },
    async close() {
      shutdown.abort();
      for (const timer of timers) clearTimeout(timer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** What the API shows of a droplet: without what was only sent at create. */
function apiView(droplet: EmulatedDroplet): DoDroplet {
  const { user_data: _userData, ssh_keys: _sshKeys, public_networking: _public, ...view } = structuredClone(droplet);
  return view;
}

/** Addresses from documentation ranges, derived from the droplet id. */
function networksFor(droplet: EmulatedDroplet): DoDroplet['networks'] {
  const a = (droplet.id >> 8) & 0xff;
  const b = droplet.id & 0xff;
  const v4: DoDroplet['networks']['v4'] = [{ ip_address: `10.10.${a}.${b}`, netmask: '255.255.0.0', gateway: '10.10.0.1', type: 'private' }];
  if (droplet.public_networking) v4.push({ ip_address: `203.0.113.${b}`, netmask: '255.255.255.0', gateway: '203.0.113.1', type: 'public' });
  const v6: DoDroplet['networks']['v6'] = droplet.features.includes('ipv6')
    ? [{ ip_address: `2001:db8::${droplet.id.toString(16)}`, netmask: 64, gateway: '2001:db8::1', type: 'public' }]
    : [];
  return { v4, v6 };
}

/** DigitalOcean's key fingerprint: MD5 of the decoded key blob, colon-separated hex. */
function md5Fingerprint(publicKey: string): string | undefined {
  const blob = publicKey.trim().split(/\s+/)[1];
  if (!blob || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) return undefined;
  const digest = createHash('md5').update(Buffer.from(blob, 'base64')).digest('hex');
  return digest.replace(/(..)(?!$)/g, '$1:');
}
