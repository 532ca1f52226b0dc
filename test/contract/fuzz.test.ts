// Schemathesis fuzzes the running API from its OpenAPI document: every operation, a bounded number
// of cases each, with the admin key. No answer may be a 5xx, undocumented, of another content type
// or off its schema; every answer (the 4xx too) must keep the contract as the stack's own check
// reads it; and nothing may be created by a request that was refused.
//
// The stack runs without a worker: jobs and pools the fuzzer creates are recorded and their
// workflows started, but no VM is ever made (a pool of `min: 1000` would otherwise start 1000
// local VMs), and the workflows are terminated at the end. The clouds are emulators, so no
// request leaves the machine. Checks and per-operation settings are in schemathesis.toml: a
// job's event stream is read up to its first event; a pool's is not fuzzed (it stays open
// without an event until a reconciler decides something, and no worker runs here); its answers
// are checked in the suites that read it, and in openapi.test.ts.
//
// BERTH_FUZZ_SEED reruns a seed, BERTH_FUZZ_EXAMPLES changes the cases per operation (50),
// BERTH_FUZZ_VERBOSE=1 prints Schemathesis's whole output.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOUDS, type CloudEmulator } from '../support/clouds.js';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

const API = '/cp/api/v1';
const EXAMPLES = Number(process.env.BERTH_FUZZ_EXAMPLES ?? 50);
const SEED = Number(process.env.BERTH_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

function schemathesisBinary(): string {
  const cache = process.env.BERTH_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'berth');
  const binary = process.env.BERTH_SCHEMATHESIS ?? path.join(cache, 'venv', 'bin', 'schemathesis');
  if (!fs.existsSync(binary)) {
    throw new Error(`Schemathesis is not installed at ${binary}: \`npm test\` installs it (scripts/prepare.sh), or set BERTH_SCHEMATHESIS to a schemathesis binary`);
  }
  return binary;
}

function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, NO_COLOR: '1', SCHEMATHESIS_TELEMETRY: 'false' } });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

async function count(stack: Stack, table: 'jobs' | 'pools' | 'nodes' | 'api_keys' | 'tenants' | 'provider_credentials' | 'registration_tokens') {
  const row = await stack.db
    .selectFrom(table)
    .select(sql<number>`count(*)`.as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe('Schemathesis against the running API', () => {
  let stack: Stack;
  const emulators: CloudEmulator[] = [];
  let before: Record<string, number>;
  let result: { code: number | null; output: string };
  let junit = '';
  let workDir: string;

  beforeAll(async () => {
    for (const cloud of CLOUDS) emulators.push(await cloud.start({ bootDelayMs: 50 }));
    stack = await startStack({
      worker: false,
      registry: {
        apiUrls: Object.fromEntries(CLOUDS.map((cloud, i) => [cloud.name, emulators[i]!.url])),
        http: { timeoutMs: 1_000, backoffMs: 50, maxWaitMs: 2_000 },
        pollIntervalMs: 50,
      },
    });
    stack.contract!.record = true;
    before = {
      jobs: await count(stack, 'jobs'),
      pools: await count(stack, 'pools'),
      nodes: await count(stack, 'nodes'),
      api_keys: await count(stack, 'api_keys'),
      tenants: await count(stack, 'tenants'),
      provider_credentials: await count(stack, 'provider_credentials'),
      registration_tokens: await count(stack, 'registration_tokens'),
    };
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-fuzz-'));
    const started = Date.now();
    result = await run(
      schemathesisBinary(),
      [
        '--config-file',
        path.join(import.meta.dirname, 'schemathesis.toml'),
        'run',
        `${stack.publicUrl}${API}/openapi.json`,
        '--url',
        stack.publicUrl,
        '--header',
        `Authorization: Bearer ${ADMIN_TOKEN}`,
        '--phases',
        'examples,coverage,fuzzing,stateful',
        '--max-examples',
        String(EXAMPLES),
        '--seed',
        String(SEED),
        // One worker: hypothesis's lambda descriptions race in Python 3.11's parser under threads.
        '--workers',
        '1',
        '--request-timeout',
        '15',
        '--generation-database',
        'none',
        '--suppress-health-check',
        'all',
        '--no-color',
        '--report',
        'junit',
        '--report-dir',
        workDir,
      ],
      workDir,
      170_000,
    );
    const report = fs.readdirSync(workDir).find((f) => f.startsWith('junit') && f.endsWith('.xml'));
    if (report) junit = fs.readFileSync(path.join(workDir, report), 'utf8');
    const summary = process.env.BERTH_FUZZ_VERBOSE ? result.output : result.output.slice(Math.max(0, result.output.lastIndexOf('SUMMARY') - 40));
    console.log(`schemathesis (seed ${SEED}, ${EXAMPLES} examples per operation) ran ${Math.round((Date.now() - started) / 1000)} s, exit ${result.code}\n${summary}`);
  }, 240_000);

  afterAll(async () => {
    if (stack) {
      // The fuzzer's jobs and pools: their workflows end here, with no worker to run them.
      for await (const wf of stack.client.workflow.list({ query: `TaskQueue = '${stack.taskQueue}' AND ExecutionStatus = 'Running'` })) {
        await stack.client.workflow
          .getHandle(wf.workflowId, wf.runId)
          .terminate('fuzzing is over')
          .catch(() => {});
      }
      await stack.stop();
    }
    for (const emu of emulators) await emu.close();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('finds no failure: no 5xx, only documented statuses, content types and headers, every body on its schema', () => {
    // The JUnit report: one test case per operation, with a <failure> or <error> for each problem.
    const failed = [...junit.matchAll(/<testcase[^>]*name="([^"]+)"[^>]*>\s*<(failure|error)/g)].map((m) => `${m[2]}: ${m[1]}`);
    if (result.code !== 0) {
      // Schemathesis prints each failure with a curl line that reproduces it.
      const failures = result.output.slice(Math.max(0, result.output.indexOf('FAILURES')));
      console.error(`Schemathesis failed (exit ${result.code}); rerun with BERTH_FUZZ_SEED=${SEED}.\n${failed.join('\n')}\n${failures}`);
    }
    expect(junit, 'the JUnit report').toMatch(/<testsuite/);
    expect(failed).toEqual([]);
    expect(result.code, result.output.slice(-4000)).toBe(0);
  });

  it('exercised every operation but the pool event stream', () => {
    const operations = new Set([...stack.contract!.seen].map((s) => s.split(' ')[0]));
    expect(operations.has('poolEvents')).toBe(false);
    for (const op of ['createNode', 'listNodes', 'deleteNode', 'listJobs', 'getJob', 'jobEvents', 'cancelJob', 'createPool', 'listPools', 'getPool', 'updatePool', 'deletePool']) {
      expect(operations.has(op), op).toBe(true);
    }
    for (const op of ['listProviders', 'verifyProviderToken', 'forgetProviderToken', 'listRegions', 'listPlans', 'getBudget', 'setBudget', 'register', 'heartbeat']) {
      expect(operations.has(op), op).toBe(true);
    }
    for (const op of ['listKeys', 'createKey', 'revokeKey', 'listTenants', 'createTenant', 'health', 'openApiDocument', 'referencePage', 'referencePageAsset']) {
      expect(operations.has(op), op).toBe(true);
    }
    expect(stack.contract!.answers.length).toBeGreaterThan(200);
  });

  it('answered every request within the contract, each 4xx in the error shape', () => {
    const answers = stack.contract!.answers;
    expect(answers.filter((a) => a.status >= 500)).toEqual([]);
    for (const a of answers.filter((x) => x.status >= 400)) {
      const what = `${a.method} ${a.path} ${a.status}: ${a.text.slice(0, 200)}`;
      const body = JSON.parse(a.text);
      expect(
        Object.keys(body.error).filter((k) => !['code', 'message', 'field'].includes(k)),
        what,
      ).toEqual([]);
      expect(typeof body.error.code, what).toBe('string');
      expect(typeof body.error.message, what).toBe('string');
      // Only a refused provider token says more: `{valid: false, provider, error}` (documented).
      const extra = Object.keys(body).filter((k) => k !== 'error');
      expect(extra.length === 0 || (a.path.endsWith('/verify') && a.status === 422 && extra.join() === 'valid,provider'), what).toBe(true);
    }
    expect(stack.contract!.take()).toEqual([]);
  });

  it('created nothing for a refused request', async () => {
    const answers = stack.contract!.answers;
    const created = (method: string, route: RegExp, status: number) => answers.filter((a) => a.method === method && route.test(a.path) && a.status === status);
    const jobs = new Set(created('POST', /^\/cp\/api\/v1\/cluster\/nodes$/, 202).map((a) => JSON.parse(a.text).job_id as string));
    const pools = created('POST', /^\/cp\/api\/v1\/cluster\/pools$/, 201).length;
    const keys = created('POST', /^\/cp\/api\/v1\/keys$/, 201).length;
    const tenants = created('POST', /^\/cp\/api\/v1\/tenants$/, 201).length;
    const verified = created('POST', /^\/cp\/api\/v1\/cluster\/providers\/[^/]+\/verify$/, 200).length;
    console.log(`the fuzzer made ${jobs.size} jobs, ${pools} pools, ${keys} keys, ${tenants} tenants, ${verified} verified tokens`);

    expect(await count(stack, 'jobs')).toBe(before.jobs! + jobs.size);
    expect(await count(stack, 'pools')).toBe(before.pools! + pools);
    // A new tenant comes with its first key.
    expect(await count(stack, 'api_keys')).toBe(before.api_keys! + keys + tenants);
    expect(await count(stack, 'tenants')).toBe(before.tenants! + tenants);
    expect(await count(stack, 'provider_credentials')).toBeLessThanOrEqual(before.provider_credentials! + verified);
    // No worker ran: no VM called back, so there is no node and no registration token.
    expect(await count(stack, 'nodes')).toBe(before.nodes);
    expect(await count(stack, 'registration_tokens')).toBe(before.registration_tokens);
    // One provision workflow per job, one reconciler per pool: none for a refused request.
    const workflows = async (type: string) => (await stack.client.workflow.count(`TaskQueue = '${stack.taskQueue}' AND WorkflowType = '${type}'`)).count;
    await expect.poll(() => workflows('provisionNode'), { timeout: 10_000 }).toBe(jobs.size);
    await expect.poll(() => workflows('poolReconciler'), { timeout: 10_000 }).toBe(pools);
    expect(await stack.local.all()).toEqual([]);
  });
});
