// Starts a throwaway PostgreSQL cluster for the dialect suite when the machine has one installed
// (Debian: apt-get install postgresql). Without it the PostgreSQL half of the suite is skipped,
// and the run says so.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort } from '../../temporal/dev-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** postgres://… of a superuser on the throwaway cluster, or '' when PostgreSQL is not installed. */
    postgresUrl: string;
  }
}

let stop: (() => void) | undefined;

function findPgBin(): string | undefined {
  const candidates = [process.env.BERTH_PG_BIN, ...listVersions('/usr/lib/postgresql').map((v) => `/usr/lib/postgresql/${v}/bin`)];
  return candidates.find((dir): dir is string => !!dir && fs.existsSync(path.join(dir, 'initdb')));
}

function listVersions(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort((a, b) => Number(b) - Number(a));
  } catch {
    return [];
  }
}

export async function setup(project: TestProject): Promise<void> {
  const bin = findPgBin();
  if (!bin) {
    console.warn('berth: PostgreSQL is not installed (apt-get install postgresql): skipping the PostgreSQL dialect tests');
    project.provide('postgresUrl', '');
    return;
  }
  // initdb refuses to run as root: run the cluster as the postgres user then.
  const asRoot = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) =>
    asRoot ? execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args], { stdio: 'pipe' }) : execFileSync(path.join(bin, cmd), args, { stdio: 'pipe' });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-pg-'));
  if (asRoot) execFileSync('chown', ['postgres:postgres', dir]);
  const data = path.join(dir, 'data');
  const port = await freePort();
  run('initdb', ['-D', data, '-U', 'berth', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  run('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`, 'start']);
  stop = () => {
    spawnSync(asRoot ? 'runuser' : path.join(bin, 'pg_ctl'), asRoot ? ['-u', 'postgres', '--', path.join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop'] : ['-D', data, '-m', 'immediate', 'stop']);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  project.provide('postgresUrl', `postgres://berth@127.0.0.1:${port}/postgres`);
}

export async function teardown(): Promise<void> {
  stop?.();
}
