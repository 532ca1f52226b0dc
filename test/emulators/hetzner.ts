import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { bootFromUserData, type BootMode, type NodeLoad } from './boot.js';

/**
 * A stateful stand-in for the Hetzner Cloud API v1, for the parts Berth uses: locations, server
 * types, servers, actions, SSH keys. Responses follow the shapes of hcloud.openapi.json; servers
 * go initializing → running after `bootDelayMs` and then "boot" by running their user-data's
 * registration call, as cloud-init would.
 */

export const HETZNER_EMULATOR_TOKEN = 'hetzner-emulator-token';

export interface HetznerEmulatorOptions {
  /** The one accepted bearer token (default 'hetzner-emulator-token'). */
  token?: string;
  /** 'never-register': servers run but never call back. */
  bootMode?: BootMode;
  /** How long create, start and delete actions run (default 100 ms). */
  bootDelayMs?: number;
}

export interface EmulatedServer {
  id: number;
  name: string;
  status: 'initializing' | 'running' | 'off' | 'deleting';
  labels: Record<string, string>;
  created: string;
  serverType: string;
  location: string;
  image: string;
  userData: string | undefined;
  sshKeys: number[];
  networks: number[];
  firewalls: number[];
  publicIpv4: boolean;
  publicIpv6: boolean;
  /** The registration call's HTTP status once the boot ran it, or 'failed'. */
  boot?: number | 'failed';
}

export interface EmulatedSshKey {
  id: number;
  name: string;
  fingerprint: string;
  public_key: string;
  labels: Record<string, string>;
  created: string;
}

/** One request as received (the Authorization header is never kept). */
export interface EmulatorRequest {
  method: string;
  /** Relative to the API base, e.g. '/servers'. */
  path: string;
  query: Record<string, string>;
}

export interface HetznerFaults {
  /** The next n requests get 429 rate_limit_exceeded, with RateLimit-Reset (Unix seconds) `retryAfterSec` ahead. */
  rateLimitNext(n: number, retryAfterSec?: number): void;
  /** The next n requests get 503 unavailable. */
  serverErrorNext(n: number): void;
  /** The next POST /servers makes the server, then answers only after `ms`. */
  hangCreateAfterCommit(ms: number): void;
  /** POST /servers with this type in this location fails: 403 resource_unavailable, or 412 placement_error. */
  soldOut(serverType: string, location: string, code?: 'resource_unavailable' | 'placement_error'): void;
  /** From now on the token may only read: writes get 403 token_readonly. */
  readOnlyToken(): void;
}

export interface HetznerEmulator {
  /** The API base URL, for the adapter's baseUrl. */
  url: string;
  token: string;
  requests: EmulatorRequest[];
  faults: HetznerFaults;
  servers(): EmulatedServer[];
  sshKeys(): EmulatedSshKey[];
  /** The load the server's node agent reports from its next heartbeat on (default all 0). */
  setLoad(serverId: number | string, load: NodeLoad): void;
  /** Stops the server's heartbeats, leaving it running: a node that became unreachable. */
  stopAgent(serverId: number | string): void;
  /** Deletes the server behind Berth's back: no action, it is simply gone. */
  deleteOutOfBand(serverId: number | string): void;
  close(): Promise<void>;
}

interface Action {
  id: number;
  command: string;
  status: 'running' | 'success' | 'error';
  progress: number;
  started: string;
  finished: string | null;
  resources: Array<{ id: number; type: string }>;
  error: { code: string; message: string } | null;
}

interface LocationInfo {
  id: number;
  name: string;
  description: string;
  city: string;
  country: string;
  latitude: number;
  longitude: number;
  network_zone: string;
}

interface TypeInfo {
  id: number;
  name: string;
  cores: number;
  memory: number;
  disk: number;
  architecture: 'x86' | 'arm';
  cpu_type: 'shared' | 'dedicated';
  /** Net monthly EUR per location; the type is offered only where it has a price. */
  monthly: Record<string, number>;
  deprecated?: boolean;
  /** Locations where the type is being phased out (the newer per-location deprecation). */
  deprecatedIn?: string[];
}

const LOCATIONS: LocationInfo[] = [
  { id: 1, name: 'fsn1', description: 'Falkenstein DC Park 1', city: 'Falkenstein', country: 'DE', latitude: 50.47612, longitude: 12.370071, network_zone: 'eu-central' },
  { id: 2, name: 'nbg1', description: 'Nuremberg DC Park 1', city: 'Nuremberg', country: 'DE', latitude: 49.452102, longitude: 11.076665, network_zone: 'eu-central' },
  { id: 3, name: 'hel1', description: 'Helsinki DC Park 1', city: 'Helsinki', country: 'FI', latitude: 60.169855, longitude: 24.938379, network_zone: 'eu-central' },
  { id: 4, name: 'ash', description: 'Ashburn, VA', city: 'Ashburn, VA', country: 'US', latitude: 39.045821, longitude: -77.487073, network_zone: 'us-east' },
];

// Nominal prices, not Hetzner's price list.
const SERVER_TYPES: TypeInfo[] = [
  { id: 1, name: 'cx11', cores: 1, memory: 2, disk: 20, architecture: 'x86', cpu_type: 'shared', monthly: { fsn1: 3.29, nbg1: 3.29, hel1: 3.29 }, deprecated: true },
  { id: 22, name: 'cx22', cores: 2, memory: 4, disk: 40, architecture: 'x86', cpu_type: 'shared', monthly: { fsn1: 3.79, nbg1: 3.79, hel1: 3.79 } },
  {
    id: 23,
    name: 'cpx11',
    cores: 2,
    memory: 2,
    disk: 40,
    architecture: 'x86',
    cpu_type: 'shared',
    monthly: { fsn1: 4.35, nbg1: 4.35, hel1: 4.35, ash: 4.99 },
    deprecatedIn: ['hel1'],
  },
  { id: 25, name: 'cpx31', cores: 4, memory: 8, disk: 160, architecture: 'x86', cpu_type: 'shared', monthly: { fsn1: 14.86, nbg1: 14.86, hel1: 14.86, ash: 16.49 } },
  { id: 45, name: 'cax11', cores: 2, memory: 4, disk: 40, architecture: 'arm', cpu_type: 'shared', monthly: { fsn1: 3.79, nbg1: 3.79, hel1: 3.79 } },
];

const USER_DATA_MAX_BYTES = 32 * 1024;
const RATE_LIMIT = 3600;
const PAST_DEPRECATION = { announced: '2024-06-01T00:00:00Z', unavailable_after: '2024-09-01T00:00:00Z' };
const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
// From the spec's label value pattern; keys are an optional DNS prefix and a name like a value.
const LABEL_VALUE = /^(|[a-z0-9A-Z]|[a-z0-9A-Z][a-z0-9A-Z._-]{0,61}[a-z0-9A-Z])$/;
const LABEL_KEY = /^([a-z0-9]([a-z0-9-.]{0,251}[a-z0-9])?\/)?[a-z0-9A-Z]([a-z0-9A-Z._-]{0,61}[a-z0-9A-Z])?$/;

class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
  }
}

const invalid = (field: string, message: string) => new ApiError(400, 'invalid_input', message, { fields: [{ name: field, messages: [message] }] });

export async function startHetznerEmulator(options: HetznerEmulatorOptions = {}): Promise<HetznerEmulator> {
  const token = options.token ?? HETZNER_EMULATOR_TOKEN;
  const bootMode = options.bootMode ?? 'register';
  const delayMs = options.bootDelayMs ?? 100;

  const servers = new Map<number, EmulatedServer>();
  const sshKeys = new Map<number, EmulatedSshKey>();
  const actions = new Map<number, Action>();
  const requests: EmulatorRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const booting = new AbortController();
  const agents = new Map<number, AbortController>();
  const loads = new Map<number, NodeLoad>();
  let nextId = 100_001;
  let rateLimited = { count: 0, retryAfterSec: 1 };
  let serverErrors = 0;
  let hangCreateMs = 0;
  let readOnly = false;
  const soldOut = new Map<string, 'resource_unavailable' | 'placement_error'>();

  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };
  const now = () => new Date().toISOString();

  /** An action that runs for `delayMs`, then succeeds and calls `done`. */
  const startAction = (command: string, resource: number, done: () => void): Action => {
    const action: Action = {
      id: nextId++,
      command,
      status: 'running',
      progress: 0,
      started: now(),
      finished: null,
      resources: [{ id: resource, type: 'server' }],
      error: null,
    };
    actions.set(action.id, action);
    later(delayMs, () => {
      Object.assign(action, { status: 'success', progress: 100, finished: now() });
      done();
    });
    return action;
  };

  const boot = (server: EmulatedServer) => {
    if (bootMode !== 'register' || !server.userData) return;
    const agent = new AbortController();
    agents.set(server.id, agent);
    const signal = AbortSignal.any([booting.signal, agent.signal]);
    bootFromUserData(server.userData, booting.signal, { signal, load: () => loads.get(server.id) ?? {} }).then(
      (status) => (server.boot = status),
      () => (server.boot = 'failed'),
    );
  };

  const app = new Hono().basePath('/v1');

  app.onError((err, c) => {
    if (err instanceof ApiError) return fail(c, err);
    return fail(c, new ApiError(500, 'server_error', 'internal error in the emulator'));
  });
  app.notFound((c) => fail(c, new ApiError(404, 'not_found', 'not found')));

  app.use('*', async (c, next) => {
    requests.push({ method: c.req.method, path: c.req.path.replace(/^\/v1/, ''), query: c.req.query() });
    if (rateLimited.count > 0) {
      rateLimited.count--;
      const reset = Math.ceil((Date.now() + rateLimited.retryAfterSec * 1000) / 1000);
      c.header('RateLimit-Limit', String(RATE_LIMIT));
      c.header('RateLimit-Remaining', '0');
      c.header('RateLimit-Reset', String(reset));
      return fail(c, new ApiError(429, 'rate_limit_exceeded', 'limit of 3600 requests per hour reached'));
    }
    if (serverErrors > 0) {
      serverErrors--;
      return fail(c, new ApiError(503, 'unavailable', 'service temporarily unavailable'));
    }
    if (c.req.header('authorization') !== `Bearer ${token}`) {
      return fail(c, new ApiError(401, 'unauthorized', 'unable to authenticate'));
    }
    if (readOnly && c.req.method !== 'GET') {
      return fail(c, new ApiError(403, 'token_readonly', 'the token is only allowed to perform GET requests'));
    }
    // Plenty left: the emulator only runs out when told to.
    c.header('RateLimit-Limit', String(RATE_LIMIT));
    c.header('RateLimit-Remaining', String(RATE_LIMIT - 1));
    c.header('RateLimit-Reset', String(Math.ceil(Date.now() / 1000) + 1));
    await next();
  });

  app.get('/locations', (c) => c.json(paged('locations', LOCATIONS.filter(byName(c)), c)));

  app.get('/server_types', (c) => c.json(paged('server_types', SERVER_TYPES.filter(byName(c)).map(serverTypeJson), c)));

  app.get('/servers', (c) => {
    const selector = c.req.query('label_selector');
    const status = c.req.queries('status');
    const list = [...servers.values()]
      .filter(byName(c))
      .filter((s) => selector === undefined || matchesSelector(s.labels, selector))
      .filter((s) => !status || status.includes(s.status));
    return c.json(paged('servers', list.map(serverJson), c));
  });

  app.post('/servers', async (c) => {
    const body = await jsonBody(c);
    const name = requireString(body, 'name');
    const typeName = requireString(body, 'server_type');
    const image = requireString(body, 'image');
    if (!HOSTNAME.test(name)) throw invalid('name', 'name must be a valid hostname');
    const type = SERVER_TYPES.find((t) => t.name === typeName || String(t.id) === typeName);
    if (!type) throw invalid('server_type', `server type ${typeName} not found`);
    const locationName = optionalString(body, 'location') ?? 'fsn1';
    const location = LOCATIONS.find((l) => l.name === locationName || String(l.id) === locationName);
    if (!location) throw invalid('location', `location ${locationName} not found`);
    if (type.deprecated) throw invalid('server_type', `server type ${type.name} is deprecated and can no longer be ordered`);
    if (type.monthly[location.name] === undefined || type.deprecatedIn?.includes(location.name)) {
      throw invalid('server_type', `server type ${type.name} is not available in location ${location.name}`);
    }
    const userData = optionalString(body, 'user_data');
    if (userData !== undefined && Buffer.byteLength(userData) > USER_DATA_MAX_BYTES) throw invalid('user_data', 'user_data is limited to 32 KiB');
    const labels = labelsOf(body);
    const keys = idList(body, 'ssh_keys').map((ref) => {
      const key = [...sshKeys.values()].find((k) => String(k.id) === String(ref) || k.name === ref);
      if (!key) throw invalid('ssh_keys', `ssh key ${String(ref)} not found`);
      return key.id;
    });
    const networks = idList(body, 'networks').map((n) => numberOf('networks', n));
    const firewalls = arrayOf(body, 'firewalls').map((f) => numberOf('firewalls', (f as { firewall?: unknown } | null)?.firewall));
    const publicNet = (body.public_net ?? {}) as { enable_ipv4?: unknown; enable_ipv6?: unknown };
    const start = body.start_after_create !== false;

    const blocked = soldOut.get(`${type.name}@${location.name}`);
    if (blocked === 'resource_unavailable') {
      throw new ApiError(403, blocked, `server type ${type.name} is currently unavailable in location ${location.name}`);
    }
    if (blocked === 'placement_error') throw new ApiError(412, blocked, 'error during placement');
    if ([...servers.values()].some((s) => s.name === name)) {
      throw new ApiError(409, 'uniqueness_error', 'server name is already used', { fields: [{ name: 'name' }] });
    }

    const server: EmulatedServer = {
      id: nextId++,
      name,
      status: 'initializing',
      labels,
      created: now(),
      serverType: type.name,
      location: location.name,
      image,
      userData,
      sshKeys: keys,
      networks,
      firewalls,
      publicIpv4: publicNet.enable_ipv4 !== false,
      publicIpv6: publicNet.enable_ipv6 !== false,
    };
    servers.set(server.id, server);
    const nextActions: Action[] = [];
    const action = startAction('create_server', server.id, () => {
      if (server.status !== 'initializing') return;
      server.status = start ? 'running' : 'off';
      if (start) boot(server);
    });
    if (start) nextActions.push(startAction('start_server', server.id, () => {}));

    if (hangCreateMs > 0) {
      const ms = hangCreateMs;
      hangCreateMs = 0;
      await new Promise<void>((resolve) => later(ms, resolve));
    }
    const rootPassword = keys.length > 0 ? null : randomBytes(12).toString('base64url');
    return c.json({ server: serverJson(server), action, next_actions: nextActions, root_password: rootPassword }, 201);
  });

  app.get('/servers/:id', (c) => c.json({ server: serverJson(findServer(c.req.param('id'))) }));

  app.delete('/servers/:id', (c) => {
    const server = findServer(c.req.param('id'));
    server.status = 'deleting';
    agents.get(server.id)?.abort();
    const action = startAction('delete_server', server.id, () => servers.delete(server.id));
    return c.json({ action });
  });

  const getAction = (c: Context) => {
    const action = actions.get(numberOf('id', c.req.param('id')));
    if (!action) throw new ApiError(404, 'not_found', 'action not found');
    return c.json({ action });
  };
  app.get('/actions/:id', getAction);
  app.get('/servers/actions/:id', getAction);

  app.get('/ssh_keys', (c) => {
    const fingerprint = c.req.query('fingerprint');
    const selector = c.req.query('label_selector');
    const list = [...sshKeys.values()]
      .filter(byName(c))
      .filter((k) => fingerprint === undefined || k.fingerprint === fingerprint)
      .filter((k) => selector === undefined || matchesSelector(k.labels, selector));
    return c.json(paged('ssh_keys', list, c));
  });

  app.post('/ssh_keys', async (c) => {
    const body = await jsonBody(c);
    const name = requireString(body, 'name');
    const publicKey = requireString(body, 'public_key');
    const fingerprint = md5Fingerprint(publicKey);
    const labels = labelsOf(body);
    for (const key of sshKeys.values()) {
      if (key.name === name) throw new ApiError(409, 'uniqueness_error', 'SSH key with the same name already exists', { fields: [{ name: 'name' }] });
      if (key.fingerprint === fingerprint) {
        throw new ApiError(409, 'uniqueness_error', 'SSH key with the same fingerprint already exists', { fields: [{ name: 'public_key' }] });
      }
    }
    const key: EmulatedSshKey = { id: nextId++, name, fingerprint, public_key: publicKey.trim(), labels, created: now() };
    sshKeys.set(key.id, key);
    return c.json({ ssh_key: key }, 201);
  });

  const findServer = (id: string): EmulatedServer => {
    const server = servers.get(numberOf('id', id));
    if (!server) throw new ApiError(404, 'not_found', `server with ID '${id}' not found`);
    return server;
  };

  const httpServer: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const { port } = httpServer.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    token,
    requests,
    faults: {
      rateLimitNext: (n, retryAfterSec = 1) => (rateLimited = { count: n, retryAfterSec }),
      serverErrorNext: (n) => (serverErrors = n),
      hangCreateAfterCommit: (ms) => (hangCreateMs = ms),
      soldOut: (serverType, location, code = 'resource_unavailable') => soldOut.set(`${serverType}@${location}`, code),
      readOnlyToken: () => (readOnly = true),
    },
    servers: () => [...servers.values()],
    sshKeys: () => [...sshKeys.values()],
    setLoad: (id, load) => loads.set(Number(id), load),
    stopAgent: (id) => agents.get(Number(id))?.abort(),
    deleteOutOfBand: (id) => {
      agents.get(Number(id))?.abort();
      servers.delete(Number(id));
    },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      booting.abort();
      // A hung create still holds its connection; close() alone would wait for it.
      if ('closeAllConnections' in httpServer) httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}

function fail(c: Context, err: ApiError): Response {
  return c.json({ error: { code: err.code, message: err.message, details: err.details } }, err.status);
}

function byName(c: Context) {
  const name = c.req.query('name');
  return (item: { name: string }) => name === undefined || item.name === name;
}

/** A page of `items` under `key`, with Hetzner's meta.pagination. */
function paged<T>(key: string, items: T[], c: Context): Record<string, unknown> {
  const page = positiveInt('page', c.req.query('page') ?? '1');
  const perPage = Math.min(positiveInt('per_page', c.req.query('per_page') ?? '25'), 50);
  const lastPage = Math.max(1, Math.ceil(items.length / perPage));
  return {
    [key]: items.slice((page - 1) * perPage, page * perPage),
    meta: {
      pagination: {
        page,
        per_page: perPage,
        previous_page: page > 1 ? page - 1 : null,
        next_page: page < lastPage ? page + 1 : null,
        last_page: lastPage,
        total_entries: items.length,
      },
    },
  };
}

/**
 * Hetzner's label selector, the subset Berth could use: comma-separated (AND) terms of
 * `k==v`, `k=v`, `k!=v`, `k` (has) and `!k` (has not).
 */
export function matchesSelector(labels: Record<string, string>, selector: string): boolean {
  return selector.split(',').every((raw) => {
    const term = raw.trim();
    const m = /^(!?)([^=!\s]+)\s*(?:(==|=|!=)\s*(\S*))?$/.exec(term);
    if (!m) throw invalid('label_selector', `invalid label selector term "${term}"`);
    const [, not, key = '', op, value = ''] = m;
    if (not) {
      if (op) throw invalid('label_selector', `invalid label selector term "${term}"`);
      return !(key in labels);
    }
    if (!op) return key in labels;
    return op === '!=' ? labels[key] !== value : labels[key] === value;
  });
}

function md5Fingerprint(publicKey: string): string {
  const blob = publicKey.trim().split(/\s+/)[1] ?? '';
  const bytes = Buffer.from(blob, 'base64');
  if (!/^ssh-|^ecdsa-/.test(publicKey.trim()) || bytes.length < 16) throw invalid('public_key', 'invalid public key');
  return createHash('md5')
    .update(bytes)
    .digest('hex')
    .replace(/(..)(?!$)/g, '$1:');
}

function serverTypeJson(t: TypeInfo) {
  const price = (net: number) => ({ net: net.toFixed(10), gross: (net * 1.19).toFixed(10) });
  return {
    id: t.id,
    name: t.name,
    description: t.name.toUpperCase(),
    category: t.cpu_type === 'shared' ? 'Shared vCPU' : 'Dedicated vCPU',
    cores: t.cores,
    memory: t.memory,
    disk: t.disk,
    architecture: t.architecture,
    cpu_type: t.cpu_type,
    storage_type: 'local',
    deprecated: t.deprecated ?? false,
    deprecation: t.deprecated ? PAST_DEPRECATION : null,
    locations: Object.keys(t.monthly).map((name) => ({
      id: LOCATIONS.find((l) => l.name === name)?.id ?? 0,
      name,
      deprecation: t.deprecated || t.deprecatedIn?.includes(name) ? PAST_DEPRECATION : null,
    })),
    prices: Object.entries(t.monthly).map(([location, monthly]) => ({
      location,
      price_hourly: price(monthly / 730),
      price_monthly: price(monthly),
      included_traffic: location === 'ash' ? 1_099_511_627_776 : 21_990_232_555_520,
      price_per_tb_traffic: price(1),
    })),
  };
}

function serverJson(s: EmulatedServer) {
  const type = SERVER_TYPES.find((t) => t.name === s.serverType) ?? SERVER_TYPES[0]!;
  const location = LOCATIONS.find((l) => l.name === s.location) ?? LOCATIONS[0]!;
  const [os = 'unknown', version = null] = s.image.split('-');
  const octet = (s.id % 250) + 2;
  return {
    id: s.id,
    name: s.name,
    status: s.status,
    created: s.created,
    labels: s.labels,
    server_type: serverTypeJson(type),
    location,
    datacenter: {
      id: location.id,
      name: `${location.name}-dc3`,
      description: `${location.city} DC 3`,
      location,
      server_types: { supported: SERVER_TYPES.map((t) => t.id), available: SERVER_TYPES.map((t) => t.id), available_for_migration: [] },
    },
    image: {
      id: 161_547_269,
      type: 'system',
      status: 'available',
      name: s.image,
      description: s.image,
      image_size: null,
      disk_size: 5,
      created: '2024-04-25T00:00:00Z',
      created_from: null,
      bound_to: null,
      os_flavor: ['ubuntu', 'debian', 'fedora', 'centos', 'rocky', 'alma', 'opensuse'].includes(os) ? os : 'unknown',
      os_version: version,
      rapid_deploy: true,
      protection: { delete: false },
      deprecated: null,
      deleted: null,
      labels: {},
      architecture: type.architecture,
    },
    iso: null,
    public_net: {
      ipv4: s.publicIpv4 ? { id: s.id, ip: `203.0.113.${octet}`, blocked: false, dns_ptr: `static.${octet}.113.0.203.clients.your-server.de` } : null,
      ipv6: s.publicIpv6 ? { id: s.id + 1, ip: `2001:db8:${s.id.toString(16)}::/64`, blocked: false, dns_ptr: [] } : null,
      floating_ips: [],
      firewalls: s.firewalls.map((id) => ({ id, status: 'applied' })),
    },
    private_net: s.networks.map((network) => ({ network, ip: `10.0.0.${octet}`, alias_ips: [], mac_address: `86:00:00:00:00:${octet.toString(16).padStart(2, '0')}` })),
    backup_window: null,
    rescue_enabled: false,
    locked: false,
    protection: { delete: false, rebuild: false },
    primary_disk_size: type.disk,
    included_traffic: 21_990_232_555_520,
    ingoing_traffic: 0,
    outgoing_traffic: 0,
    placement_group: null,
    load_balancers: [],
    volumes: [],
  };
}

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new ApiError(400, 'json_error', 'invalid JSON input in the request');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, 'json_error', 'the request body must be a JSON object');
  return body as Record<string, unknown>;
}

function requireString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '') throw invalid(field, `${field} is required`);
  return value;
}

function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(field, `${field} must be a string`);
  return value;
}

function arrayOf(body: Record<string, unknown>, field: string): unknown[] {
  const value = body[field];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(field, `${field} must be an array`);
  return value;
}

/** IDs (numbers) or names (strings), as Hetzner takes them. */
function idList(body: Record<string, unknown>, field: string): Array<string | number> {
  return arrayOf(body, field).map((v) => {
    if (typeof v !== 'string' && typeof v !== 'number') throw invalid(field, `${field} must hold IDs or names`);
    return v;
  });
}

function numberOf(field: string, value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw invalid(field, `${field} must be a positive integer ID`);
  return n;
}

function positiveInt(field: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw invalid(field, `${field} must be a positive integer`);
  return n;
}

function labelsOf(body: Record<string, unknown>): Record<string, string> {
  const labels = body.labels ?? {};
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) throw invalid('labels', 'labels must be an object');
  for (const [key, value] of Object.entries(labels)) {
    if (!LABEL_KEY.test(key)) throw invalid('labels', `invalid label key "${key}"`);
    if (typeof value !== 'string' || !LABEL_VALUE.test(value)) throw invalid('labels', `invalid value for label "${key}"`);
  }
  return { ...(labels as Record<string, string>) };
}
