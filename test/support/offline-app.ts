// The API with no worker and no Temporal server behind it, for route tests driven by app.request().
import { Client, Connection } from '@temporalio/client';
import { pino } from 'pino';
import { createApp } from '../../api/app.js';
import type { AppDeps } from '../../api/deps.js';
import type { Db } from '../../db/connect.js';
import { ProviderRegistry } from '../../providers/registry.js';
import { loadKeyring } from '../../security/key-files.js';
import { freePort } from '../../temporal/dev-server.js';

/** A client of a Temporal server that is not there: nothing listens on its port. */
export async function unreachableTemporal(): Promise<Client> {
  return new Client({ connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}` }) });
}

/** The app on `db`, its providers from `dataDir`, silent; `extra` replaces any of its deps. */
export function offlineApp(db: Db, dataDir: string, temporal: Client, extra: Partial<AppDeps> = {}) {
  return createApp({
    db,
    temporal,
    providers: new ProviderRegistry({ dataDir, db, keyring: loadKeyring({ dataDir }) }),
    taskQueue: 'none',
    registrationTtlMs: 60_000,
    logger: pino({ level: 'silent' }),
    ...extra,
  });
}
