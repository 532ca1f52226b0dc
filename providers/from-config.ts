import type { Config } from '../config/index.js';
import type { Db } from '../db/connect.js';
import { loadKeyring } from '../security/key-files.js';
import type { CatalogueObserver } from './catalogue-cache.js';
import type { ProviderCallObserver } from './http.js';
import { ProviderRegistry } from './registry.js';

/** What a process counts of its providers (its metrics). */
export interface ProviderObservers {
  providerCall?: ProviderCallObserver;
  catalogue?: CatalogueObserver;
}

/** The registry the API and the worker share: same database, same keys, same cloud URLs. */
export function registryFromConfig(config: Config, db: Db, observers: ProviderObservers = {}): ProviderRegistry {
  return new ProviderRegistry({
    dataDir: config.dataDir,
    db,
    keyring: loadKeyring({ dataDir: config.dataDir, masterKey: config.masterKey, previousKeys: config.previousMasterKeys }),
    apiUrls: { hetzner: config.hetznerApiUrl, digitalocean: config.digitaloceanApiUrl },
    http: { observer: observers.providerCall },
    catalogueObserver: observers.catalogue,
  });
}
