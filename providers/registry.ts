import type { Db } from '../db/connect.js';
import { forgetCredential, listCredentials, loadCredential, storeCredential, type StoredCredential } from '../db/credentials.js';
import type { Keyring } from '../security/vault.js';
import { CatalogueCache, type CatalogueObserver } from './catalogue-cache.js';
import { DigitalOceanProvider } from './digitalocean/digitalocean-provider.js';
import { HetznerProvider } from './hetzner/hetzner-provider.js';
import type { CloudProviderOptions } from './http.js';
import { LocalProvider } from './local/local-provider.js';
import { PROVIDER_NAMES, ProviderError, type Provider, type ProviderName } from './types.js';

export type CloudName = Exclude<ProviderName, 'local'>;
export const CLOUD_NAMES: readonly CloudName[] = ['hetzner', 'digitalocean'];
export const isCloud = (name: string): name is CloudName => (CLOUD_NAMES as readonly string[]).includes(name);
export const isProviderName = (name: string): name is ProviderName => (PROVIDER_NAMES as readonly string[]).includes(name);

export interface ProviderStatus {
  name: ProviderName;
  /** local: always; a cloud: the tenant has a verified token stored. */
  configured: boolean;
  fingerprint?: string;
}

export interface RegistryOptions {
  dataDir: string;
  /** Where tenants' provider tokens are stored, and the keys that open them. */
  db: Db;
  keyring: Keyring;
  /** Base URLs of the cloud APIs (BERTH_HETZNER_API_URL, BERTH_DIGITALOCEAN_API_URL). */
  apiUrls?: Partial<Record<CloudName, string>>;
  /** Client settings for the cloud adapters; tests shorten timeouts. */
  http?: CloudProviderOptions['http'];
  /** Action polling interval of the cloud adapters (tests use a short one). */
  pollIntervalMs?: number;
  /** Replaces implementations by name, token or not (the benchmark's emulator, for one). */
  replace?: Provider[];
  /** Told of every catalogue lookup, for the cache's hit ratio (provider calls: `http.observer`). */
  catalogueObserver?: CatalogueObserver;
}

/**
 * The providers a Berth process can use. `local` needs no token; a cloud adapter is built per
 * call around the tenant's stored token, which is loaded by reference (tenant, provider) and
 * never leaves this process. Catalogue answers are cached for a few minutes, a tenant's successful
 * token check for a minute.
 */
export class ProviderRegistry {
  private readonly fixed = new Map<ProviderName, Provider>();
  private readonly catalogue: CatalogueCache;

  constructor(private readonly options: RegistryOptions) {
    this.catalogue = new CatalogueCache(options.catalogueObserver);
    this.fixed.set('local', new LocalProvider({ dataDir: options.dataDir }));
    for (const provider of options.replace ?? []) this.fixed.set(provider.name, provider);
  }

  async list(tenantId: string): Promise<ProviderStatus[]> {
    const stored = new Map((await listCredentials(this.options.db, tenantId)).map((c) => [c.provider, c.fingerprint]));
    return PROVIDER_NAMES.map((name) => {
      if (this.fixed.has(name)) return { name, configured: true };
      const fingerprint = stored.get(name);
      return fingerprint ? { name, configured: true, fingerprint } : { name, configured: false };
    });
  }

  /** The provider with this token, whether or not it is stored (verify, a wizard's first look). */
  withToken(name: ProviderName, token: string): Provider {
    const fixed = this.fixed.get(name);
    if (fixed) return this.catalogue.wrap(fixed, name);
    return this.catalogue.wrap(this.build(name as CloudName, token), token);
  }

  /** The provider as the tenant uses it. Fails without retry when no token is stored. */
  async forTenant(tenantId: string, name: string): Promise<Provider> {
    if (!isProviderName(name)) throw new ProviderError(`unknown provider ${name}`, 'unknown_provider', false);
    const fixed = this.fixed.get(name);
    if (fixed) return this.catalogue.wrap(fixed, name, { reuseVerified: true });
    const token = await loadCredential(this.options.db, this.options.keyring, { tenantId, provider: name });
    if (!token) {
      throw new ProviderError(`no ${name} token is stored for tenant ${tenantId}; store one with POST /cp/api/v1/cluster/providers/${name}/verify`, 'no_credentials', false);
    }
    // A job's token check may be answered by one of the last minute (see VERIFIED_TTL_MS).
    return this.catalogue.wrap(this.build(name as CloudName, token), token, { reuseVerified: true });
  }

  /** Seals and stores a (verified) token for the tenant; later provisions use it by reference. */
  storeToken(tenantId: string, name: CloudName, token: string): Promise<StoredCredential> {
    return storeCredential(this.options.db, this.options.keyring, { tenantId, provider: name }, token);
  }

  forgetToken(tenantId: string, name: ProviderName): Promise<boolean> {
    return forgetCredential(this.options.db, { tenantId, provider: name });
  }

  /** True when `name` needs no token here (local, or replaced by an emulator). */
  isTokenless(name: ProviderName): boolean {
    return this.fixed.has(name);
  }

  private build(name: CloudName, token: string): Provider {
    const common = { token, http: this.options.http, pollIntervalMs: this.options.pollIntervalMs };
    const baseUrl = this.options.apiUrls?.[name];
    return name === 'hetzner' ? new HetznerProvider({ ...common, baseUrl }) : new DigitalOceanProvider({ ...common, baseUrl });
  }
}
