import path from 'node:path';
import { loadOrCreateSecretFile } from '../security/key-files.js';
import { newSecretToken } from '../security/tokens.js';
import type { Db } from './connect.js';
import { DEFAULT_TENANT_ID, ensureApiKey, ensureTenant } from './tenants.js';

export interface DefaultAdmin {
  /** Where the generated token is kept, when it was not given by BERTH_ADMIN_TOKEN. */
  file: string | undefined;
  /** The token, only when it was generated just now (to print it once). */
  generated: string | undefined;
}

/**
 * The default tenant and its admin key: BERTH_ADMIN_TOKEN when set, otherwise a token generated
 * once and kept (mode 0600) under the data dir. Only the key's hash goes into the database.
 */
export async function ensureDefaultAdmin(db: Db, dataDir: string, adminToken: string | undefined): Promise<DefaultAdmin> {
  await ensureTenant(db, DEFAULT_TENANT_ID, 'Default tenant', 'enterprise');
  if (adminToken) {
    await ensureApiKey(db, DEFAULT_TENANT_ID, adminToken, 'BERTH_ADMIN_TOKEN');
    return { file: undefined, generated: undefined };
  }
  const file = path.join(dataDir, 'secrets', 'admin-token');
  const { value, created } = loadOrCreateSecretFile(file, () => newSecretToken('berth'));
  await ensureApiKey(db, DEFAULT_TENANT_ID, value, 'generated admin token');
  return { file, generated: created ? value : undefined };
}
