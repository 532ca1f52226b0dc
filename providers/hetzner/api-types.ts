/**
 * The parts of the Hetzner Cloud API v1 responses the adapter reads, named as in the OpenAPI spec
 * (hcloud.openapi.json). Fields the adapter ignores are left out.
 */

export interface HcloudListMeta {
  pagination?: {
    page: number;
    per_page: number;
    next_page: number | null;
    last_page: number | null;
    total_entries: number | null;
  };
}

export interface HcloudLocation {
  id: number;
  name: string;
  description: string;
  city: string;
  country: string;
}

/** Decimal strings, e.g. "4.5100"; net is without VAT, gross with it. */
export interface HcloudAmount {
  net: string;
  gross: string;
}

export interface HcloudServerTypePrice {
  location: string;
  price_hourly: HcloudAmount;
  price_monthly: HcloudAmount;
}

export interface HcloudDeprecation {
  announced: string;
  unavailable_after: string;
}

export interface HcloudServerType {
  id: number;
  name: string;
  cores: number;
  /** GB. */
  memory: number;
  /** GB. */
  disk: number;
  architecture: 'x86' | 'arm';
  deprecated?: boolean | null;
  deprecation?: HcloudDeprecation | null;
  /** Per-location availability; `deprecation` here replaces the top-level one. */
  locations?: Array<{ id: number; name: string; deprecation?: HcloudDeprecation | null }>;
  prices: HcloudServerTypePrice[];
}

export type HcloudServerStatus = 'initializing' | 'starting' | 'running' | 'stopping' | 'off' | 'deleting' | 'migrating' | 'rebuilding' | 'unknown';

export interface HcloudServer {
  id: number;
  name: string;
  status: HcloudServerStatus;
  created: string;
  labels: Record<string, string>;
}

export interface HcloudAction {
  id: number;
  command: string;
  status: 'running' | 'success' | 'error';
  progress: number;
  started: string;
  finished: string | null;
  /** Set (at least) when status is 'error'; Prism's examples fill it in for every status. */
  error?: { code: string; message: string } | null;
}

export interface HcloudSshKey {
  id: number;
  name: string;
  fingerprint: string;
  public_key: string;
  labels: Record<string, string>;
}

export interface HcloudCreateServerResponse {
  server: HcloudServer;
  action: HcloudAction;
  next_actions: HcloudAction[];
}

/** POST /servers, as in the spec's request schema. */
export interface HcloudCreateServerRequest {
  name: string;
  server_type: string;
  location: string;
  image: string;
  user_data: string;
  labels: Record<string, string>;
  start_after_create: boolean;
  /** IDs or names, as strings: the spec types the items as strings. */
  ssh_keys?: string[];
  networks?: number[];
  firewalls?: Array<{ firewall: number }>;
  public_net: { enable_ipv4: boolean; enable_ipv6: boolean };
}

export interface HcloudErrorBody {
  error: { code: string; message: string; details?: unknown };
}
