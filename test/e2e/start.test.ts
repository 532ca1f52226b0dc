// `npm start` as a real process tree (scripts/start.ts: its own Temporal dev server, worker and API
// on free ports and a temp data dir): kill -9 of the worker, the API and the dev server each gets a
// one-line report and a restart, jobs still reach ready, and Ctrl-C stops everything, a restart
// that is waiting included, leaving no process behind.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../temporal/dev-server.js';
import { provisionWorkflowId } from '../../workflows/messages.js';
import { alive, captureOutput, childMatching, processesUsing, until } from '../support/procs.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TOKEN = 'berth_test_admin_token_0123456789';

let dataDir: string;
let apiUrl: string;
let temporalPort: number;
let start: ChildProcess;
let output: ReturnType<typeof captureOutput>;
let firstJob: string;
/** Every pid seen in the tree, for the final check that none is left. */
const seen = new Set<number>();

async function api(method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${apiUrl}/cp/api/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: await res.json() };
}

async function addNode(labels: Record<string, string> = {}): Promise<string> {
  const res = await api('POST', '/cluster/nodes', { provider: 'local', region: 'local', plan: 'local-1', labels });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.job_id as string;
}

async function waitForPhase(jobId: string, phases: string[], timeoutMs: number): Promise<{ phase: string }> {
  return until(
    `job ${jobId} in ${phases.join('|')}`,
    async () => {
      const job = (await api('GET', `/cluster/jobs/${jobId}`).catch(() => undefined))?.body;
      return phases.includes(job?.phase) ? job : undefined;
    },
    timeoutMs,
    200,
  );
}

const child = (text: string) => {
  const pid = childMatching(start.pid!, text);
  seen.add(pid);
  return pid;
};

/** kill -9 of the child running `text`; resolves with the pid of the run started after it and how long that took. */
async function killAndWaitForRestart(name: string, text: string): Promise<{ pid: number; ms: number }> {
  const before = child(text);
  const offset = output.text().length;
  const killedAt = Date.now();
  process.kill(before, 'SIGKILL');
  await output.waitFor(new RegExp(`berth: the ${name} exited \\(signal SIGKILL\\); restarting in \\d+(\\.\\d)?s \\(restart \\d+\\)\\n`), 10_000, offset);
  const pid = await until(
    `a new ${name}`,
    () => {
      try {
        const now = child(text);
        return now !== before ? now : undefined;
      } catch {
        return undefined; // not started again yet
      }
    },
    45_000,
    50,
  );
  return { pid, ms: Date.now() - killedAt };
}

beforeAll(async () => {
  const cli = process.env.BERTH_TEMPORAL_CLI;
  if (!cli) throw new Error('BERTH_TEMPORAL_CLI is not set');
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-start-'));
  const [port, uiPort] = [await freePort(), await freePort()];
  temporalPort = await freePort();
  apiUrl = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BERTH_TEMPORAL_CLI: cli,
    BERTH_DATA_DIR: dataDir,
    BERTH_PORT: String(port),
    BERTH_TEMPORAL_PORT: String(temporalPort),
    TEMPORAL_UI_PORT: String(uiPort),
    BERTH_ADMIN_TOKEN: TOKEN,
    BERTH_LOG_LEVEL: 'warn',
  };
  for (const name of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'BERTH_TASK_QUEUE', 'BERTH_PUBLIC_URL', 'BERTH_HOST']) delete env[name];
  // Its own process group, so a SIGINT to the group is what Ctrl-C in a terminal sends.
  start = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  output = captureOutput(start);
  await output.waitFor(/Berth is running\. Ctrl-C stops everything\./, 150_000);
}, 180_000);

afterAll(async () => {
  if (start && start.exitCode === null && start.signalCode === null) {
    try {
      process.kill(-start.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (dataDir) {
    for (const p of processesUsing(dataDir)) process.kill(p.pid, 'SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}, 30_000);

describe('npm start supervises its children', () => {
  it('starts a worker killed with -9 again, and the job it was running reaches ready', { timeout: 150_000 }, async () => {
    // slow-create: the create call answers 20s after the VM started, so the kill lands in the middle of it.
    const jobId = (firstJob = await addNode({ 'berth.dev/simulate': 'slow-create' }));
    await waitForPhase(jobId, ['provisioning'], 60_000);
    const { ms } = await killAndWaitForRestart('worker', 'worker/main');
    console.log(`worker started again ${ms} ms after kill -9`);
    expect(output.text()).toContain('berth: the worker exited (signal SIGKILL); restarting in 1s (restart 1)\n');
    expect((await waitForPhase(jobId, ['ready', 'failed', 'cancelled'], 120_000)).phase).toBe('ready');
  });

  it('starts an API killed with -9 again on its port', { timeout: 60_000 }, async () => {
    const { ms } = await killAndWaitForRestart('API', 'api/main');
    const healthy = Date.now();
    await until('the API answers', async () => ((await fetch(`${apiUrl}/healthz`).catch(() => undefined))?.ok ? true : undefined), 30_000);
    console.log(`API process started again ${ms} ms after kill -9, healthy ${ms + Date.now() - healthy} ms after it`);
    expect(output.text()).toContain('berth: the API exited (signal SIGKILL); restarting in 1s (restart 1)\n');
    expect((await api('GET', '/cluster/nodes')).status).toBe(200);
  });

  it('starts a dev server killed with -9 again on its database, and a new job reaches ready', { timeout: 150_000 }, async () => {
    const { ms } = await killAndWaitForRestart('Temporal dev server', 'start-dev');
    console.log(`dev server started again ${ms} ms after kill -9`);
    // The history of the jobs before the kill is still there: the same database file.
    const connection = await Connection.connect({ address: `127.0.0.1:${temporalPort}` });
    try {
      const before = await new Client({ connection }).workflow.getHandle(provisionWorkflowId(firstJob)).describe();
      expect(before.status.name).toBe('COMPLETED');
    } finally {
      await connection.close();
    }
    const jobId = await addNode();
    const phaseAt = Date.now();
    expect((await waitForPhase(jobId, ['ready', 'failed', 'cancelled'], 120_000)).phase).toBe('ready');
    console.log(`a job after the dev server restart took ${Date.now() - phaseAt} ms to ready`);
  });

  it('stops everything on Ctrl-C, a restart that waits included', { timeout: 60_000 }, async () => {
    for (const vm of fs.readdirSync(path.join(dataDir, 'local-vms')).filter((d) => !d.startsWith('.'))) {
      seen.add(Number(fs.readFileSync(path.join(dataDir, 'local-vms', vm, 'pid'), 'utf8')));
    }
    const worker = child('worker/main');
    const offset = output.text().length;
    process.kill(worker, 'SIGKILL');
    await output.waitFor(/berth: the worker exited \(signal SIGKILL\); restarting in \d+s/, 10_000, offset);
    process.kill(-start.pid!, 'SIGINT');
    const code = await new Promise((resolve) => start.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    expect(output.text()).toMatch(/berth: stopping\.\.\.\n[\s\S]*berth: stopped\n/);
    // Longer than the restart would have waited: it must not happen.
    await new Promise((r) => setTimeout(r, 2_500));
    expect([...seen].filter(alive)).toEqual([]);
    expect(processesUsing(dataDir)).toEqual([]);
    expect(seen.size).toBeGreaterThanOrEqual(8); // 2 workers, 2 APIs, 2 dev servers, 2 VMs
  });
});
