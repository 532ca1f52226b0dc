// A PostgreSQL of this machine's own installation (Debian: apt-get install postgresql), run from a
// folder: throwaway for the test suite (test/setup/postgres.ts), kept for `npm run cluster`.
// initdb refuses to run as root, so as root the cluster runs as the `postgres` OS user.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';

export interface Postgres {
  port: number;
  /** The superuser (trust authentication, 127.0.0.1 and the socket in `dir` only). */
  user: string;
  dir: string;
  /** postgres://user@127.0.0.1:port/<database> */
  url(database?: string): string;
  hasDatabase(name: string): Promise<boolean>;
  /** Creates the database unless it exists. */
  createDatabase(name: string): Promise<void>;
  stop(mode?: 'fast' | 'immediate'): void;
}

export interface PostgresOptions {
  /** The folder of the cluster: data/, log and the socket. Reused when it already holds a cluster. */
  dir: string;
  port: number;
  user: string;
  /** Extra server settings, e.g. ['fsync=off'] for a throwaway cluster. */
  settings?: string[];
}

/** The bin folder of the newest installed PostgreSQL (or BERTH_PG_BIN), or undefined. */
export function findPgBin(): string | undefined {
  const versions = (() => {
    try {
      return fs.readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
    } catch {
      return [];
    }
  })();
  const candidates = [process.env.BERTH_PG_BIN, ...versions.map((v) => `/usr/lib/postgresql/${v}/bin`)];
  return candidates.find((dir): dir is string => !!dir && fs.existsSync(path.join(dir, 'initdb')));
}

/** A PostgreSQL program, as the `postgres` OS user when this process is root. */
function pgCommand(bin: string, cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args]] : [path.join(bin, cmd), args];
}

/** Stops the cluster in `dir` (started by startPostgres), if it runs. */
export function stopPostgres(dir: string, mode: 'fast' | 'immediate' = 'fast'): void {
  const bin = findPgBin();
  const data = path.join(dir, 'data');
  if (!bin || !fs.existsSync(path.join(data, 'postmaster.pid'))) return;
  spawnSync(...pgCommand(bin, 'pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']), { stdio: 'ignore' });
}

export async function startPostgres(options: PostgresOptions): Promise<Postgres> {
  const bin = findPgBin();
  if (!bin) throw new Error('PostgreSQL is not installed (apt-get install postgresql), or set BERTH_PG_BIN to its bin folder');
  const asRoot = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) => execFileSync(...pgCommand(bin, cmd, args), { stdio: 'pipe' });

  const { dir, port, user } = options;
  const data = path.join(dir, 'data');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (asRoot) {
    for (let up = path.dirname(path.resolve(dir)); up !== path.dirname(up); up = path.dirname(up)) {
      if (!(fs.statSync(up).mode & 0o001)) throw new Error(`PostgreSQL runs as the postgres user here, which cannot enter ${up} (chmod o+x ${up})`);
    }
    execFileSync('chown', ['postgres:postgres', dir]);
  }
  if (!fs.existsSync(path.join(data, 'PG_VERSION'))) {
    run('initdb', ['-D', data, '-U', user, '--auth=trust', '--no-sync', '-E', 'UTF8']);
  }
  const settings = ['listen_addresses=127.0.0.1', 'max_connections=200', ...(options.settings ?? [])];
  const serverOptions = [`-p ${port}`, `-k ${dir}`, ...settings.map((s) => `-c ${s}`)].join(' ');
  try {
    run('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-w', '-t', '60', '-o', serverOptions, 'start']);
  } catch (err) {
    const log = fs.existsSync(path.join(dir, 'log')) ? fs.readFileSync(path.join(dir, 'log'), 'utf8').split('\n').slice(-8).join('\n') : '';
    throw new Error(`PostgreSQL did not start in ${dir} on port ${port}: ${(err as Error).message}\n${log}`, { cause: err });
  }

  const url = (database = 'postgres') => `postgres://${user}@127.0.0.1:${port}/${database}`;
  const query = async <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: url() });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  };
  const hasDatabase = (name: string) => query(async (c) => !!(await c.query('select 1 from pg_database where datname = $1', [name])).rowCount);
  return {
    port,
    user,
    dir,
    url,
    hasDatabase,
    async createDatabase(name) {
      if (!(await hasDatabase(name))) await query((c) => c.query(`create database ${pg.escapeIdentifier(name)}`));
    },
    stop: (mode) => stopPostgres(dir, mode),
  };
}
