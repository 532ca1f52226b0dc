// docker-compose.yml cannot be run here (no container registry is reachable), so it is checked
// against what is run: every environment variable is one its image reads, every pulled image is
// pinned by version, and the Temporal versions and settings are those of temporal/versions.ts, which
// `npm run test:cluster` (test/cluster/topology.test.ts) runs on a real Temporal server.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  TEMPORAL_HISTORY_SHARDS,
  TEMPORAL_SCHEMA_VERSION,
  TEMPORAL_SERVER_VERSION,
  TEMPORAL_SQL_PLUGIN,
  TEMPORAL_UI_VERSION,
  TEMPORAL_VISIBILITY_SCHEMA_VERSION,
} from '../../temporal/versions.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

interface Service {
  image?: string;
  build?: unknown;
  environment?: Record<string, string> | string[];
}
const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  configs?: Record<string, { content?: string }>;
};
const services = compose.services;
const envNames = (service: Service): string[] => (Array.isArray(service.environment) ? service.environment.map((e) => e.split('=')[0]!) : Object.keys(service.environment ?? {}));
const imageOf = (service: Service) => {
  const [name, tag = ''] = service.image!.split(':');
  return { name: name!, tag };
};
const bare = (version: string) => version.replace(/^v/, '');

/** Berth's variables: the keys of envSchema in config/index.ts (read from the source: it is not exported). */
function berthVariables(): string[] {
  const source = fs.readFileSync(path.join(ROOT, 'config/index.ts'), 'utf8');
  const body = /const envSchema = z\.object\(\{\n([\s\S]*?)\n\}\);/.exec(source)?.[1];
  if (!body) throw new Error('envSchema not found in config/index.ts');
  return [...body.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!);
}

// The variables each kind of image reads, beyond Berth's own. Documented, not guessed: the
// Temporal server's are the `.Env.X` of its config template (docker/config_template.yaml in the
// server's Go module, checked below when the module is in the Go module cache); auto-setup adds its
// SKIP_* and DEFAULT_NAMESPACE*; the UI's are the `env "X"` of the UI server's config/docker.yaml;
// the admin tools' CLI reads TEMPORAL_ADDRESS; the postgres image documents POSTGRES_* and PGDATA.
const TEMPORAL_SERVER_VARIABLES = [
  'DB',
  'DB_PORT',
  'DBNAME',
  'VISIBILITY_DBNAME',
  'POSTGRES_SEEDS',
  'POSTGRES_USER',
  'POSTGRES_PWD',
  'NUM_HISTORY_SHARDS',
  'DYNAMIC_CONFIG_FILE_PATH',
  'BIND_ON_IP',
  'TEMPORAL_BROADCAST_ADDRESS',
  'LOG_LEVEL',
  'PROMETHEUS_ENDPOINT',
];
const AUTO_SETUP_VARIABLES = [
  'SKIP_SCHEMA_SETUP',
  'SKIP_DB_CREATE',
  'SKIP_DEFAULT_NAMESPACE_CREATION',
  'DEFAULT_NAMESPACE',
  'DEFAULT_NAMESPACE_RETENTION',
  'SKIP_ADD_CUSTOM_SEARCH_ATTRIBUTES',
];
const UI_VARIABLES = ['TEMPORAL_ADDRESS', 'TEMPORAL_UI_PORT', 'TEMPORAL_UI_PUBLIC_PATH', 'TEMPORAL_DEFAULT_NAMESPACE', 'TEMPORAL_CORS_ORIGINS', 'TEMPORAL_CSRF_COOKIE_INSECURE'];
const ADMIN_TOOLS_VARIABLES = ['TEMPORAL_ADDRESS'];
const POSTGRES_VARIABLES = ['POSTGRES_USER', 'POSTGRES_PASSWORD', 'POSTGRES_DB', 'POSTGRES_INITDB_ARGS', 'PGDATA'];
// Read by Berth outside envSchema: api/main.ts links the console to this Temporal UI.
const BERTH_EXTRA_VARIABLES = ['BERTH_TEMPORAL_UI_URL'];

function allowedVariables(service: Service): string[] {
  if (service.build) return [...berthVariables(), ...BERTH_EXTRA_VARIABLES];
  const { name } = imageOf(service);
  if (name === 'temporalio/auto-setup') return [...TEMPORAL_SERVER_VARIABLES, ...AUTO_SETUP_VARIABLES];
  if (name === 'temporalio/server') return TEMPORAL_SERVER_VARIABLES;
  if (name === 'temporalio/ui') return UI_VARIABLES;
  if (name === 'temporalio/admin-tools') return ADMIN_TOOLS_VARIABLES;
  if (name === 'postgres') return POSTGRES_VARIABLES;
  throw new Error(`no list of variables for the image ${name}: add one to this test`);
}

/** A module's folder in the Go module cache, when it is there (it is after `npm run test:cluster`). */
function goModule(module: string): string | undefined {
  try {
    const cache =
      process.env.GOMODCACHE ||
      execFileSync('go', ['env', 'GOMODCACHE'], { stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim();
    const dir = path.join(cache, module);
    return fs.existsSync(dir) ? dir : undefined;
  } catch {
    return undefined;
  }
}

const temporalService = Object.values(services).find((s) => /^temporalio\/(auto-setup|server)$/.test(imageOf(s).name ?? ''));

describe('docker-compose.yml', () => {
  it('gives every service only variables its image reads', () => {
    for (const [name, service] of Object.entries(services)) {
      const allowed = new Set(allowedVariables(service));
      expect(
        envNames(service).filter((v) => !allowed.has(v)),
        `unknown variables of ${name}`,
      ).toEqual([]);
    }
    // The Berth services have the settings a multi-process deployment needs.
    for (const name of ['berth-api', 'berth-worker']) {
      expect(envNames(services[name]!)).toEqual(expect.arrayContaining(['DATABASE_URL', 'TEMPORAL_ADDRESS', 'BERTH_DATA_DIR', 'BERTH_PUBLIC_URL', 'BERTH_MASTER_KEY']));
    }
  });

  it('pins every pulled image by version', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.build) continue; // built from this repository, not pulled
      const { tag } = imageOf(service);
      expect(tag, `${name}: ${service.image}`).toMatch(/^v?\d+\.\d+(\.\d+)?([-.][\w.-]+)?$/);
    }
  });

  it('runs the Temporal versions and settings the topology test ran', () => {
    const server = bare(TEMPORAL_SERVER_VERSION);
    expect(temporalService?.image).toBe(`temporalio/auto-setup:${server}`);
    // The admin tools carry the SQL schema tool and the schema files: the same release.
    const adminTools = Object.values(services).filter((s) => imageOf(s).name === 'temporalio/admin-tools');
    for (const s of adminTools) expect(imageOf(s).tag.startsWith(`${server}-`), s.image).toBe(true);
    for (const s of Object.values(services).filter((s) => imageOf(s).name === 'temporalio/ui')) expect(s.image).toBe(`temporalio/ui:${bare(TEMPORAL_UI_VERSION)}`);

    const env = temporalService!.environment as Record<string, string>;
    expect(env.DB).toBe(TEMPORAL_SQL_PLUGIN);
    expect(Number(env.NUM_HISTORY_SHARDS)).toBe(TEMPORAL_HISTORY_SHARDS);
    expect([env.DBNAME ?? 'temporal', env.VISIBILITY_DBNAME ?? 'temporal_visibility']).toEqual(['temporal', 'temporal_visibility']);
    // The dynamic config that npm start's dev server and npm run cluster set.
    const dynamic = parse(compose.configs?.['temporal-dynamic-config']?.content ?? '') as Record<string, Array<{ value: unknown }>>;
    expect(dynamic['system.enableActivityEagerExecution']?.[0]?.value).toBe(true);
  });

  const serverModule = goModule(`go.temporal.io/server@${TEMPORAL_SERVER_VERSION}`);
  it.skipIf(!serverModule)('agrees with the Temporal server module: its config template and schema versions', () => {
    const template = fs.readFileSync(path.join(serverModule!, 'docker/config_template.yaml'), 'utf8');
    const read = new Set([...template.matchAll(/\.Env\.([A-Z0-9_]+)/g)].map((m) => m[1]));
    expect(TEMPORAL_SERVER_VARIABLES.filter((v) => !read.has(v))).toEqual([]);
    const versions = fs.readFileSync(path.join(serverModule!, 'schema/postgresql/v12/version.go'), 'utf8');
    expect(/const Version = "([\d.]+)"/.exec(versions)?.[1]).toBe(TEMPORAL_SCHEMA_VERSION);
    expect(/const VisibilityVersion = "([\d.]+)"/.exec(versions)?.[1]).toBe(TEMPORAL_VISIBILITY_SCHEMA_VERSION);
  });

  const uiModule = goModule(`github.com/temporalio/ui-server/v2@${TEMPORAL_UI_VERSION}`);
  it.skipIf(!uiModule)('agrees with the UI server module: the variables of its docker config', () => {
    const config = fs.readFileSync(path.join(uiModule!, 'config/docker.yaml'), 'utf8');
    const read = new Set([...config.matchAll(/env "([A-Z0-9_]+)"/g)].map((m) => m[1]));
    expect(UI_VARIABLES.filter((v) => !read.has(v))).toEqual([]);
  });
});
