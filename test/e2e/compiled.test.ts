// The compiled build (`npm run build`, tsconfig.build.json) as production runs it: built into a temp
// folder laid out like the container image (package.json, node_modules, dist/, console/dist), with
// every dependency but tsx, so nothing can fall back to running TypeScript. The API and the worker
// run as `node dist/.../main.js` against the suite's Temporal server and take a local-provider job
// to ready; then `node dist/scripts/start.js` starts both itself, and bin/berth.js runs the
// compiled CLI.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inject } from 'vitest';
import { freePort } from '../../temporal/dev-server.js';
import { captureOutput, processesUsing, until } from '../support/procs.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TOKEN = 'berth_test_admin_token_0123456789';
const run = promisify(execFile);

let app: string;
let dataDir: string;
const started: ChildProcess[] = [];

/** `node <file>` in the temp layout, with the environment a container would have and no loader. */
function node(file: string, env: NodeJS.ProcessEnv, args: string[] = []): ChildProcess & { output: ReturnType<typeof captureOutput> } {
  const child = spawn(process.execPath, [path.join(app, file), ...args], {
    cwd: app,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, BERTH_DATA_DIR: dataDir, TEMPORAL_ADDRESS: inject('temporalAddress'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  return Object.assign(child, { output: captureOutput(child) });
}

beforeAll(async () => {
  app = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-compiled-'));
  dataDir = path.join(app, 'data');
  const tsc = [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', path.join(app, 'dist')];
  await run(process.execPath, tsc, { cwd: ROOT }).catch((err: { stdout?: string }) => {
    throw new Error(`the build failed:\n${err.stdout ?? String(err)}`);
  });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(app, 'package.json'));
  fs.mkdirSync(path.join(app, 'node_modules'));
  for (const name of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    if (name !== 'tsx' && name !== '.bin') fs.symlinkSync(path.join(ROOT, 'node_modules', name), path.join(app, 'node_modules', name));
  }
  // A stand-in for the console build, to see that the compiled server finds console/dist.
  fs.mkdirSync(path.join(app, 'console/dist'), { recursive: true });
  fs.writeFileSync(path.join(app, 'console/dist/index.html'), '<!doctype html><title>compiled console check</title>');
  fs.mkdirSync(path.join(app, 'bin'));
  fs.copyFileSync(path.join(ROOT, 'bin/berth.js'), path.join(app, 'bin/berth.js'));
}, 180_000);

afterAll(async () => {
  for (const child of started) child.kill('SIGKILL');
  if (app) {
    for (const p of processesUsing(dataDir)) process.kill(p.pid, 'SIGKILL');
    fs.rmSync(app, { recursive: true, force: true });
  }
});

it('builds only the runtime code, and no TypeScript is left to run', () => {
  expect(fs.readdirSync(path.join(app, 'dist')).sort()).toEqual(
    ['activities', 'api', 'cli', 'config', 'console', 'db', 'placement', 'providers', 'scripts', 'security', 'temporal', 'worker', 'workflows'].sort(),
  );
  expect(fs.readdirSync(path.join(app, 'dist/scripts')).sort()).toEqual(['berth.js', 'start.js']);
  expect(fs.existsSync(path.join(app, 'node_modules/tsx'))).toBe(false);
});

it('runs the compiled API and worker, which take a local-provider job to ready', { timeout: 180_000 }, async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = { BERTH_TASK_QUEUE: `compiled-${path.basename(app)}`, BERTH_PUBLIC_URL: url, BERTH_ADMIN_TOKEN: TOKEN };
  const worker = node('dist/worker/main.js', { ...env, BERTH_LOG_LEVEL: 'info' });
  const api = node('dist/api/main.js', { ...env, BERTH_PORT: String(port), BERTH_LOG_LEVEL: 'warn' });
  const auth = { authorization: `Bearer ${TOKEN}` };
  await until('the compiled API answers', async () => ((await fetch(`${url}/healthz`).catch(() => undefined))?.ok ? true : undefined), 60_000, 200);
  await worker.output.waitFor(/"msg":"worker started"/, 120_000);
  expect(worker.output.text()).toMatch(/"cached":false.*"msg":"workflow bundle ready"/);

  // Files read at run time beside the code: the console build and Swagger UI's assets.
  expect(await (await fetch(`${url}/`)).text()).toContain('compiled console check');
  expect((await fetch(`${url}/cp/api/v1/docs/swagger-ui-bundle.js`)).status).toBe(200);

  const created = await fetch(`${url}/cp/api/v1/cluster/nodes`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'local', region: 'local', plan: 'local-1' }),
  });
  expect(created.status).toBe(202);
  const { job_id: jobId } = (await created.json()) as { job_id: string };
  const job = await until(
    `job ${jobId} ends`,
    async () => {
      const body = (await (await fetch(`${url}/cp/api/v1/cluster/jobs/${jobId}`, { headers: auth })).json()) as { phase: string; vm_id: string };
      return ['ready', 'failed', 'cancelled'].includes(body.phase) ? body : undefined;
    },
    120_000,
    250,
  );
  expect(job.phase, `worker:\n${worker.output.text().slice(-3_000)}\napi:\n${api.output.text().slice(-3_000)}`).toBe('ready');

  // The VM booted with the compiled runner: here there is neither vm-runner.ts nor tsx to run it with.
  expect(fs.readFileSync(path.join(dataDir, 'local-vms', job.vm_id, 'console.log'), 'utf8')).toMatch(/registered as node/);

  for (const child of [worker, api]) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  expect([worker.exitCode, api.exitCode]).toEqual([0, 0]);
});

it('runs the compiled npm start, which starts the compiled worker and API', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const start = node('dist/scripts/start.js', {
    BERTH_PORT: String(port),
    BERTH_ADMIN_TOKEN: TOKEN,
    BERTH_TASK_QUEUE: `compiled-start-${path.basename(app)}`,
    BERTH_LOG_LEVEL: 'warn',
  });
  await start.output.waitFor(/Berth is running\. Ctrl-C stops everything\./, 90_000);
  const children = processesUsing(dataDir)
    .map((p) => p.cmd)
    .filter((cmd) => cmd.includes('/dist/'));
  expect(children).toEqual(expect.arrayContaining([`${process.execPath} ${path.join(app, 'dist/worker/main.js')}`, `${process.execPath} ${path.join(app, 'dist/api/main.js')}`]));
  expect((await fetch(`http://127.0.0.1:${port}/healthz`)).ok).toBe(true);
  const exited = new Promise((resolve) => start.once('exit', resolve));
  start.kill('SIGTERM');
  expect(await exited).toBe(0);
});

it('runs the compiled CLI through bin/berth.js', async () => {
  const help = node('bin/berth.js', {}, ['--help']);
  const code = await new Promise((resolve) => help.once('exit', resolve));
  expect(code, help.output.text()).toBe(0);
  expect(help.output.text()).toContain('node add --provider P --region R --plan X');
});
