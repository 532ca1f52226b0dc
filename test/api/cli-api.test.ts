// The operator CLI against a real API and worker: `berth` run as a child process, as a user would,
// with BERTH_URL / BERTH_TOKEN or the config file `berth login` writes.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '../../temporal/dev-server.js';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let stack: Stack;
let home: string;
/** Everything the CLI printed, to check that the token never shows. */
const printed: string[] = [];

beforeAll(async () => {
  stack = await startStack({ heartbeatIntervalMs: 1_000 });
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-home-'));
});
afterAll(async () => {
  await stack?.stop();
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts `berth args...`; env given as undefined removes a variable. */
function start(args: string[], options: { env?: Record<string, string | undefined>; input?: string; bin?: string } = {}) {
  const env: Record<string, string> = {};
  const merged = {
    PATH: process.env.PATH,
    HOME: home,
    BERTH_URL: stack.publicUrl,
    BERTH_TOKEN: ADMIN_TOKEN,
    BERTH_CONFIG: path.join(home, 'config.json'),
    ...options.env,
  };
  for (const [key, value] of Object.entries(merged)) if (value !== undefined) env[key] = value;
  const argv = options.bin ? [options.bin, ...args] : ['--import', 'tsx', path.join(ROOT, 'scripts/berth.ts'), ...args];
  const child: ChildProcess = spawn(process.execPath, argv, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  const run: Run = { code: null, stdout: '', stderr: '' };
  child.stdout!.on('data', (chunk) => (run.stdout += chunk));
  child.stderr!.on('data', (chunk) => (run.stderr += chunk));
  child.stdin!.end(options.input ?? '');
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code, signal) => {
      run.code = code ?? (signal ? 128 : null);
      printed.push(run.stdout, run.stderr);
      resolve(run);
    }),
  );
  return { child, run, done };
}

const berth = (...args: string[]) => start(args).done;
const json = (run: Run) => {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout);
};

it('adds a node with --wait, showing each phase, then lists, shows and removes it', async () => {
  const added = await berth('node', 'add', '--provider', 'local', '--region', 'local', '--plan', 'local-1', '--hostname', 'cli-1', '--label', 'team=ops', '--wait');
  expect(added.code, added.stderr).toBe(0);
  // Not a terminal: one plain line per phase on stderr, the node id alone on stdout.
  const phases = added.stderr
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[1]);
  expect(phases).toEqual(['queued', 'verifying', 'provisioning', 'bootstrapping', 'registering', 'ready']);
  expect(added.stderr).not.toContain('\x1b');
  const nodeId = added.stdout.trim();
  expect(nodeId).toMatch(/^node-[a-z0-9]+$/);

  const nodes = json(await berth('node', 'ls', '--output', 'json')).nodes;
  const node = nodes.find((n: any) => n.node_id === nodeId);
  expect(node).toMatchObject({ hostname: 'cli-1', status: 'ready', provider: 'local' });
  const table = await berth('node', 'ls', '--status', 'ready');
  expect(table.stdout.split('\n')[0]).toMatch(/^NODE\s+HOSTNAME\s+STATUS/);
  expect(table.stdout).toMatch(new RegExp(`${nodeId}\\s+cli-1\\s+ready\\s+local`));

  const job = json(await berth('job', 'show', node.job_id, '-o', 'json'));
  expect(job).toMatchObject({ job_id: node.job_id, phase: 'ready', node_id: nodeId });
  expect(job.progress.map((p: any) => p.phase)).toEqual(phases);
  const shown = await berth('job', 'show', node.job_id);
  expect(shown.code).toBe(0);
  expect(shown.stdout).toMatch(/^job:\s+\S+/m);
  expect(shown.stdout).toMatch(/^registering\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+\+\d+\.\ds$/m);
  expect((await berth('job', 'ls', '--phase', 'ready')).stdout).toContain(node.job_id);

  const removed = await berth('node', 'rm', nodeId);
  expect(removed.code, removed.stderr).toBe(0);
  expect(removed.stdout).toMatch(/decommission/);
  await expect
    .poll(async () => json(await berth('node', 'ls', '-o', 'json', '--status', 'decommissioned')).nodes.map((n: any) => n.node_id), { timeout: 30_000, interval: 500 })
    .toContain(nodeId);
});

it('stops waiting on Ctrl-C without cancelling the job, and cancels it with job cancel', async () => {
  const waiting = start(['node', 'add', '--provider', 'local', '--region', 'local', '--plan', 'local-1', '--label', 'berth.dev/simulate=never-register', '--wait']);
  await expect.poll(() => waiting.run.stderr, { timeout: 30_000, interval: 100 }).toMatch(/bootstrapping/);
  waiting.child.kill('SIGINT');
  const stopped = await waiting.done;
  expect(stopped.code).toBe(130);
  const jobId = /job ([a-z0-9]+) carries on/.exec(stopped.stderr)?.[1];
  expect(jobId, stopped.stderr).toBeDefined();
  expect(stopped.stderr).toContain(`berth job cancel ${jobId}`);
  expect(json(await berth('job', 'show', jobId!, '-o', 'json')).phase).toBe('bootstrapping');

  const cancelled = await berth('job', 'cancel', jobId!);
  expect(cancelled.code, cancelled.stderr).toBe(0);
  await stack.waitForPhase(jobId!, ['cancelled']);
  const again = await berth('job', 'cancel', jobId!);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/^berth: .*\(job_finished\)\n$/);
});

it('creates a pool from a YAML spec, shows it reaching its nodes, scales it and follows its deletion', { timeout: 90_000 }, async () => {
  const spec = path.join(home, 'pool.yaml');
  fs.writeFileSync(spec, 'template:\n  provider: local\n  region: local\n  plan: local-1\nmin: 1\nmax: 3\nevaluation_interval: 1s\nhealth:\n  unhealthy_after: 6s\n');
  const created = await berth('pool', 'create', 'cli', '--file', spec, '--desired', '2');
  expect(created.code, created.stderr).toBe(0);
  expect(created.stdout).toMatch(/^size:\s+desired 2 \(min 1, max 3\)$/m);

  await expect.poll(async () => json(await berth('pool', 'show', 'cli', '--output', 'json')).nodes.ready, { timeout: 45_000, interval: 500 }).toBe(2);
  expect((await berth('pool', 'show', 'cli')).stdout).toMatch(/^nodes:\s+2 ready, 0 provisioning/m);
  expect((await berth('pool', 'ls')).stdout).toMatch(/^cli\s+active\s+local local-1 in local\s+1\s+2\s+3\s+2\s/m);
  expect(json(await berth('node', 'ls', '--pool', 'cli', '-o', 'json')).nodes).toHaveLength(2);

  const scaled = await berth('pool', 'scale', 'cli', '--desired', '1');
  expect(scaled.code, scaled.stderr).toBe(0);
  expect(scaled.stdout).toMatch(/desired 1 \(min 1, max 3\)/);
  expect(json(await berth('pool', 'show', 'cli', '-o', 'json')).desired).toBe(1);
  const refused = await berth('pool', 'scale', 'cli', '--desired', '7');
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/^berth: .*\(invalid_request, field desired\)\n$/);

  // A pool from flags alone.
  const flags = json(await berth('pool', 'create', 'flags', '--provider', 'local', '--region', 'local', '--plan', 'local-2', '--min', '0', '--max', '2', '-o', 'json'));
  expect(flags).toMatchObject({ name: 'flags', min: 0, max: 2, desired: 0, template: { plan: 'local-2' } });
  expect((await berth('pool', 'rm', 'flags')).code).toBe(0);

  expect((await berth('pool', 'rm', 'cli')).stdout).toMatch(/^pool cli: deleting/);
  // The decision stream, from the first decision until the pool is gone.
  const events = await berth('pool', 'events', 'cli');
  expect(events.code, events.stderr).toBe(0);
  const lines = events.stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}add\s+2 nodes/);
  expect(lines).toContainEqual(expect.stringMatching(/ desired\s+desired set to 1 \(was 2\)/));
  expect(lines.at(-1)).toBe('pool cli is deleted');
});

it('fails with one line and exit 1 for API errors, and exit 2 with the usage for bad command lines', async () => {
  const badPlan = await berth('node', 'add', '--provider', 'local', '--region', 'local', '--plan', 'local-9');
  expect(badPlan.code).toBe(1);
  expect(badPlan.stdout).toBe('');
  expect(badPlan.stderr).toMatch(/^berth: .*local-9.* \(unknown_plan, field plan\)\n$/);

  const badToken = await start(['node', 'ls'], { env: { BERTH_TOKEN: 'berth_not_a_key_of_this_berth_0000' } }).done;
  expect(badToken.code).toBe(1);
  expect(badToken.stderr).toMatch(/^berth: the token is refused by .*; run `berth login`.*\n$/);

  const down = await start(['job', 'ls'], { env: { BERTH_URL: `http://127.0.0.1:${await freePort()}` } }).done;
  expect(down.code).toBe(1);
  expect(down.stderr).toMatch(/^berth: cannot connect to http:\/\/127\.0\.0\.1:\d+: connection refused.*npm start.*\n$/);

  const unknown = await berth('frobnicate');
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toMatch(/^berth: unknown command "frobnicate"\n\nusage: berth/);
  const missing = await berth('pool', 'create', 'x', '--provider', 'local');
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(/missing --region, --plan, --min, --max/);
  expect((await berth('node', 'ls', '--output', 'yaml')).code).toBe(2);
  expect((await berth('node', 'ls', '--frob')).code).toBe(2);

  // --help lists every command, through the bin too (the one `npx berth` runs).
  const help = await start(['--help'], { bin: path.join(ROOT, 'bin/berth.js') }).done;
  expect(help.code).toBe(0);
  for (const command of [
    'login',
    'node add',
    'node ls',
    'node rm',
    'job ls',
    'job show',
    'job cancel',
    'provider ls',
    'provider verify',
    'provider plans',
    'pool create',
    'pool scale',
    'pool events',
    'tenant create',
    'key create',
    'vault rotate',
  ]) {
    expect(help.stdout).toContain(`  ${command}`);
  }
});

it('logs in: the token from stdin goes to a 0600 config file that later commands use', async () => {
  const noEnv = { BERTH_URL: undefined, BERTH_TOKEN: undefined };
  const xdg = path.join(home, 'xdg');
  const login = await start(['login', '--url', `${stack.publicUrl}/cp/api/v1/`], { env: { ...noEnv, BERTH_CONFIG: undefined, XDG_CONFIG_HOME: xdg }, input: `${ADMIN_TOKEN}\n` })
    .done;
  expect(login.code, login.stderr).toBe(0);
  const file = path.join(xdg, 'berth', 'config.json');
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ url: stack.publicUrl, token: ADMIN_TOKEN });

  const listed = await start(['provider', 'ls', '-o', 'json'], { env: { ...noEnv, BERTH_CONFIG: undefined, XDG_CONFIG_HOME: xdg } }).done;
  expect(json(listed).providers).toContainEqual({ name: 'local', configured: true });
  const plans = await start(['provider', 'plans', 'local', '--region', 'local'], { env: { ...noEnv, BERTH_CONFIG: file } }).done;
  expect(plans.code, plans.stderr).toBe(0);
  expect(plans.stdout.split('\n')[0]).toMatch(/^PLAN\s+VCPU\s+RAM\s+DISK\s+ARCH\s+MONTHLY\s+HOURLY\s+CURRENCY$/);
  expect(plans.stdout).toMatch(/^local-1\s+1\s+512 MB\s+1 GB\s+x86\s+1\.00\s+0\.0014\s+EUR$/m);
  // The environment wins over the file.
  expect((await start(['node', 'ls'], { env: { BERTH_TOKEN: 'berth_wrong_token_0000000000000', BERTH_CONFIG: file } }).done).code).toBe(1);

  // A refused token is not saved.
  const other = path.join(home, 'other.json');
  const refused = await start(['login', '--url', stack.publicUrl], { env: { ...noEnv, BERTH_CONFIG: other }, input: 'berth_wrong_token_0000000000000\n' }).done;
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/^berth: the token is refused by .*nothing saved\n$/);
  expect(fs.existsSync(other)).toBe(false);
});

it('never prints the token', () => {
  expect(printed.length).toBeGreaterThan(20);
  for (const text of printed) expect(text).not.toContain(ADMIN_TOKEN);
});
