// One empty, migrated database per call, on each dialect the machine has: the dialect suite runs
// the same tests against every entry.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { migrate, openDatabase, type Db } from '../../db/connect.js';
import { randomId } from '../../security/tokens.js';

export interface TestDatabase {
  db: Db;
  /** What a second process needs to open the same database. */
  env: { BERTH_DATA_DIR: string; DATABASE_URL?: string };
  drop(): Promise<void>;
}

async function sqlite(): Promise<TestDatabase> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-db-'));
  const db = openDatabase({ dataDir });
  await migrate(db);
  return {
    db,
    env: { BERTH_DATA_DIR: dataDir },
    async drop() {
      await db.destroy();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function postgres(): Promise<TestDatabase> {
  const admin = new URL(inject('postgresUrl'));
  const name = `berth_${randomId(10)}`;
  const client = new pg.Client({ connectionString: admin.href });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(admin.href);
  url.pathname = `/${name}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-db-'));
  const db = openDatabase({ dataDir, databaseUrl: url.href });
  await migrate(db);
  return {
    db,
    env: { BERTH_DATA_DIR: dataDir, DATABASE_URL: url.href },
    async drop() {
      await db.destroy();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The dialects to run against: SQLite always, PostgreSQL when the test run started one. */
export function dialects(): Array<[string, () => Promise<TestDatabase>]> {
  return inject('postgresUrl')
    ? [
        ['sqlite', sqlite],
        ['postgres', postgres],
      ]
    : [['sqlite', sqlite]];
}
