// `npm run berth -- <command>`: tenants and admin keys, on the same database as the running API
// (BERTH_DATA_DIR / DATABASE_URL).
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config/index.js';
import { rotateCredentials } from '../db/credentials.js';
import { loadKeyring, replaceMasterKeyFile } from '../security/key-files.js';
import { migrate, openDatabase, type Db } from '../db/connect.js';
import { createApiKey, createTenant, getTenant, listApiKeys, listTenants, revokeApiKey, TENANT_ID_PATTERN } from '../db/tenants.js';
import { isTier, TIER_NAMES } from '../db/tiers.js';

const USAGE = `usage: npm run berth -- <command>
  tenant create <tenant_id> --tier <${TIER_NAMES.join('|')}> [--name <name>]
  tenant list
  key create <tenant_id> [--label <label>]    prints the new key alone on the last line
  key list <tenant_id>
  key revoke <key_id>
  vault rotate [--new-key]                    re-seals stored provider tokens under the current
                                              master key; --new-key first makes a new key file
                                              (only when BERTH_MASTER_KEY is not set)`;

class UsageError extends Error {}

async function run(db: Db, config: Config, argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { tier: { type: 'string' }, name: { type: 'string' }, label: { type: 'string' }, 'new-key': { type: 'boolean' } },
  });
  const [noun, verb, arg] = positionals;
  const command = `${noun ?? ''} ${verb ?? ''}`;
  const needArg = (what: string) => {
    if (!arg) throw new UsageError(`${command}: missing ${what}`);
    return arg;
  };

  switch (command) {
    case 'tenant create': {
      const tenantId = needArg('<tenant_id>');
      if (!TENANT_ID_PATTERN.test(tenantId)) throw new UsageError(`tenant id "${tenantId}": lowercase letters, digits and dashes, at most 63`);
      const tier = values.tier ?? '';
      if (!isTier(tier)) throw new UsageError(`--tier must be one of ${TIER_NAMES.join(', ')}`);
      if (!(await createTenant(db, tenantId, values.name ?? tenantId, tier))) throw new Error(`tenant ${tenantId} exists already`);
      console.log(`created tenant ${tenantId} (${tier})`);
      return;
    }
    case 'tenant list':
      for (const t of await listTenants(db)) console.log(`${t.tenant_id}\t${t.tier}\t${t.name}`);
      return;
    case 'key create': {
      const tenantId = needArg('<tenant_id>');
      if (!(await getTenant(db, tenantId))) throw new Error(`no tenant ${tenantId}`);
      const { keyId, key } = await createApiKey(db, tenantId, values.label ?? 'cli');
      console.log(`created key ${keyId} for tenant ${tenantId}; it is shown once:`);
      console.log(key);
      return;
    }
    case 'key list':
      for (const k of await listApiKeys(db, needArg('<tenant_id>'))) {
        console.log(`${k.key_id}\t${k.label}\t${k.created_at}\t${k.revoked_at ? `revoked ${k.revoked_at}` : 'live'}`);
      }
      return;
    case 'key revoke': {
      const keyId = needArg('<key_id>');
      if (!(await revokeApiKey(db, keyId))) throw new Error(`no live key ${keyId}`);
      console.log(`revoked key ${keyId}`);
      return;
    }
    case 'vault rotate': {
      if (values['new-key']) {
        if (config.masterKey) throw new UsageError('--new-key manages the key file; with BERTH_MASTER_KEY set, set a new key there and the old one in BERTH_MASTER_KEY_PREVIOUS');
        replaceMasterKeyFile(config.dataDir);
      }
      const keyring = loadKeyring({ dataDir: config.dataDir, masterKey: config.masterKey, previousKeys: config.previousMasterKeys });
      const { rotated, total } = await rotateCredentials(db, keyring);
      console.log(`re-sealed ${rotated} of ${total} provider token(s) under master key ${keyring.current.id}`);
      return;
    }
    default:
      throw new UsageError(positionals.length ? `unknown command "${command.trim()}"` : 'no command');
  }
}

let db: Db | undefined;
try {
  const config = loadConfig();
  db = openDatabase(config);
  await migrate(db);
  await run(db, config, process.argv.slice(2));
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`berth: ${message}`);
  if (err instanceof UsageError) console.error(USAGE);
  process.exitCode = err instanceof UsageError || err instanceof ConfigError ? 2 : 1;
} finally {
  await db?.destroy();
}
