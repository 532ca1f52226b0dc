// tenant | key | vault: on the same database as the running API (BERTH_DATA_DIR / DATABASE_URL),
// not through it. The database modules load only when one of these commands runs.
import { parseArgs } from 'node:util';
import { TIER_NAMES } from '../../db/tiers.js';
import { parsed } from '../command.js';
import { CliError, UsageError } from '../errors.js';

export const DATABASE_NOUNS = new Set(['tenant', 'key', 'vault']);

export const DATABASE_USAGE: Array<[string, string]> = [
  [`tenant create <tenant_id> --tier <${TIER_NAMES.join('|')}> [--name <name>]`, ''],
  ['tenant list', ''],
  ['key create <tenant_id> [--label <label>]', 'prints the new key alone on the last line'],
  ['key list <tenant_id>', ''],
  ['key revoke <key_id>', ''],
  ['vault rotate [--new-key]', 're-seals stored provider tokens under the current master key; --new-key first makes a new key file (only when BERTH_MASTER_KEY is not set)'],
];

export async function runDatabaseCommand(argv: string[]): Promise<void> {
  const [{ ConfigError, loadConfig }, { rotateCredentials }, { loadKeyring, replaceMasterKeyFile }, { migrate, openDatabase }, tenants, { isTier }] = await Promise.all([
    import('../../config/index.js'),
    import('../../db/credentials.js'),
    import('../../security/key-files.js'),
    import('../../db/connect.js'),
    import('../../db/tenants.js'),
    import('../../db/tiers.js'),
  ]);
  const { createApiKey, createTenant, getTenant, listApiKeys, listTenants, revokeApiKey, TENANT_ID_PATTERN } = tenants;

  const noun = argv[0]!;
  const { positionals, values } = parsed(noun, () =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: { tier: { type: 'string' }, name: { type: 'string' }, label: { type: 'string' }, 'new-key': { type: 'boolean' } },
    }),
  );
  const [, verb, arg] = positionals;
  const command = `${noun} ${verb ?? ''}`;
  const needArg = (what: string) => {
    if (!arg) throw new UsageError(`${command}: missing ${what}`, noun);
    return arg;
  };

  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, 2);
    throw err;
  }
  const db = openDatabase(config);
  try {
    await migrate(db);
    switch (command) {
      case 'tenant create': {
        const tenantId = needArg('<tenant_id>');
        if (!TENANT_ID_PATTERN.test(tenantId)) throw new UsageError(`tenant id "${tenantId}": lowercase letters, digits and dashes, at most 63`, noun);
        const tier = values.tier ?? '';
        if (!isTier(tier)) throw new UsageError(`--tier must be one of ${TIER_NAMES.join(', ')}`, noun);
        if (!(await createTenant(db, tenantId, values.name ?? tenantId, tier))) throw new CliError(`tenant ${tenantId} exists already`);
        console.log(`created tenant ${tenantId} (${tier})`);
        return;
      }
      case 'tenant list':
        for (const t of await listTenants(db)) console.log(`${t.tenant_id}\t${t.tier}\t${t.name}`);
        return;
      case 'key create': {
        const tenantId = needArg('<tenant_id>');
        if (!(await getTenant(db, tenantId))) throw new CliError(`no tenant ${tenantId}`);
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
        if (!(await revokeApiKey(db, keyId))) throw new CliError(`no live key ${keyId}`);
        console.log(`revoked key ${keyId}`);
        return;
      }
      case 'vault rotate': {
        if (values['new-key']) {
          if (config.masterKey) {
            throw new UsageError('--new-key manages the key file; with BERTH_MASTER_KEY set, set a new key there and the old one in BERTH_MASTER_KEY_PREVIOUS', noun);
          }
          replaceMasterKeyFile(config.dataDir);
        }
        const keyring = loadKeyring({ dataDir: config.dataDir, masterKey: config.masterKey, previousKeys: config.previousMasterKeys });
        const { rotated, total } = await rotateCredentials(db, keyring);
        console.log(`re-sealed ${rotated} of ${total} provider token(s) under master key ${keyring.current.id}`);
        return;
      }
      default:
        throw new UsageError(`unknown command "${command.trim()}"`, noun);
    }
  } finally {
    await db.destroy();
  }
}
