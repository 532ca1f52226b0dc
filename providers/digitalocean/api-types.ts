/**
 * The parts of DigitalOcean API v2 shapes Berth reads or sends, named as in the official OpenAPI
 * spec (components/schemas). Fields Berth does not use are left out.
 */

/** `error`: every non-2xx answer. */
export interface DoError {
  id: string;
  message: string;
  request_id?: string;
}

/** `account`, from GET /v2/account. */
export interface DoAccount {
  droplet_limit: number;
  floating_ip_limit: number;
  email: string;
  uuid: string;
  email_verified: boolean;
  status: 'active' | 'warning' | 'locked';
  status_message: string;
  name?: string;
}

/** `region`. */
export interface DoRegion {
  name: string;
  slug: string;
  features: string[];
  available: boolean;
  sizes: string[];
}

/** `size`: `memory` in MB, `disk` in GB, prices in USD. */
export interface DoSize {
  slug: string;
  memory: number;
  vcpus: number;
  disk: number;
  transfer: number;
  price_monthly: number;
  price_hourly: number;
  regions: string[];
  available: boolean;
  description: string;
}

export interface DoNetworkV4 {
  ip_address: string;
  netmask: string;
  gateway: string;
  type: 'public' | 'private';
}

export interface DoNetworkV6 {
  ip_address: string;
  netmask: number;
  gateway: string;
  type: 'public';
}

export type DoDropletStatus = 'new' | 'active' | 'off' | 'archive';

/** `droplet`. */
export interface DoDroplet {
  id: number;
  name: string;
  memory: number;
  vcpus: number;
  disk: number;
  locked: boolean;
  status: DoDropletStatus;
  created_at: string;
  features: string[];
  backup_ids: number[];
  next_backup_window: { start: string; end: string } | null;
  snapshot_ids: number[];
  image: { id: number; name: string; distribution: string; slug: string | null; public: boolean };
  volume_ids: string[];
  size: DoSize;
  size_slug: string;
  networks: { v4: DoNetworkV4[]; v6: DoNetworkV6[] };
  region: DoRegion;
  tags: string[];
  vpc_uuid?: string;
}

export type DoActionStatus = 'in-progress' | 'completed' | 'errored';

/** `action`. */
export interface DoAction {
  id: number;
  status: DoActionStatus;
  type: string;
  started_at: string;
  completed_at: string | null;
  resource_id: number | null;
  resource_type: string;
  region_slug: string | null;
}

/** `action_link`, in `links.actions` of a create answer. */
export interface DoActionLink {
  id: number;
  rel: string;
  href: string;
}

/** `sshKeys`. */
export interface DoSshKey {
  id: number;
  fingerprint: string;
  public_key: string;
  name: string;
}

/** `pagination` and `meta`, on every list. */
export interface DoPage {
  links?: { pages?: { first?: string; prev?: string; next?: string; last?: string } };
  meta: { total: number };
}

/** `droplet_single_create`: the fields Berth sets. */
export interface DoDropletCreate {
  name: string;
  region: string;
  size: string;
  /** A slug, or the id of a private image. */
  image: string | number;
  user_data: string;
  tags: string[];
  ipv6: boolean;
  ssh_keys?: Array<string | number>;
  vpc_uuid?: string;
  public_networking?: boolean;
}

/** The `202` answer to a single create. */
export interface DoDropletCreated {
  droplet: DoDroplet;
  links: { actions?: DoActionLink[] };
}
