import { LocalProvider } from './local/local-provider.js';
import { PROVIDER_NAMES, type Provider, type ProviderName } from './types.js';

export interface ProviderStatus {
  name: ProviderName;
  configured: boolean;
}

/** The providers a Berth process can use. Cloud adapters are not configured yet. */
export class ProviderRegistry {
  private readonly providers = new Map<ProviderName, Provider>();

  /** `replace` swaps in other implementations by name (the benchmark's emulator, for one). */
  constructor(options: { dataDir: string; replace?: Provider[] }) {
    this.providers.set('local', new LocalProvider({ dataDir: options.dataDir }));
    for (const provider of options.replace ?? []) this.providers.set(provider.name, provider);
  }

  list(): ProviderStatus[] {
    return PROVIDER_NAMES.map((name) => ({ name, configured: this.providers.has(name) }));
  }

  get(name: string): Provider | undefined {
    return this.providers.get(name as ProviderName);
  }

  /** For activities: a provider that must exist, as the workflow only runs validated jobs. */
  require(name: string): Provider {
    const provider = this.get(name);
    if (!provider) throw new Error(`provider ${name} is not configured`);
    return provider;
  }
}
