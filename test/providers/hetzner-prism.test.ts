import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HetznerProvider } from '../../providers/hetzner/hetzner-provider.js';
import { LABEL_JOB, LABEL_MANAGED, ProviderError, type Vm } from '../../providers/types.js';
import { freePort, stopProcess } from '../../temporal/dev-server.js';
import { specFile } from '../support/specs.js';

/**
 * The adapter against Prism's mock of the official spec: Prism answers 422 (or 400/401) to any
 * request that does not match the spec, and its static examples check that responses parse. It is
 * stateless, so this checks shapes only; flows are in hetzner.test.ts.
 */

const repoRoot = path.resolve(fileURLToPath(import.meta.url), '../../..');
const spec = specFile('hcloud.openapi.json');
const specPath = spec.path ?? '';
const prismBin = path.join(repoRoot, 'node_modules/.bin/prism');
const haveSpec = spec.path !== undefined;
if (!haveSpec) console.warn(`hetzner-prism.test: skipped, no spec at ${spec.searched.join(', ')} (set BERTH_SPECS_DIR)`);

const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJyI3iGMVVK0AhWOpjTMBY+ARMoXnKrzWx8hxMe2mVNh ops@berth';

interface Exchange {
  method: string;
  path: string;
  status: number;
  /** Prism's list of violations, for a refused request. */
  body?: string;
}

describe.skipIf(!haveSpec)(haveSpec ? 'HetznerProvider against Prism (hcloud.openapi.json)' : 'Hetzner Prism test skipped: no spec (set BERTH_SPECS_DIR)', () => {
  let prism: ChildProcess;
  let baseUrl: string;
  let provider: HetznerProvider;
  const exchanges: Exchange[] = [];
  const realFetch = globalThis.fetch;

  beforeAll(async () => {
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    prism = spawn(prismBin, ['mock', '-p', String(port), '-h', '127.0.0.1', specPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    await listening(prism);

    // Records every exchange with Prism, so each test can check that all its requests validated.
    globalThis.fetch = async (input, init) => {
      const res = await realFetch(input, init);
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (url.origin === baseUrl) {
        exchanges.push({
          method: init?.method ?? 'GET',
          path: url.pathname,
          status: res.status,
          ...(res.status >= 400 && { body: await res.clone().text() }),
        });
      }
      return res;
    };
    provider = new HetznerProvider({ token: 'prism-token', baseUrl, pollIntervalMs: 10, http: { backoffMs: 10, timeoutMs: 10_000 } });
  });

  afterAll(async () => {
    globalThis.fetch = realFetch;
    if (prism) await stopProcess(prism, 5_000);
  });

  beforeEach(() => {
    exchanges.length = 0;
  });

  /** Every request this test made was valid per the spec; a refused one fails with Prism's reasons. */
  function expectAllValid(...expected: string[]): void {
    const refused = exchanges.filter((x) => x.status >= 400);
    expect(refused, JSON.stringify(refused, null, 2)).toEqual([]);
    for (const call of expected) expect(exchanges.map((x) => `${x.method} ${x.path}`)).toContain(call);
  }

  /** No ProviderError that means "the request was refused". */
  function expectNotRefused(err: unknown): void {
    if (!(err instanceof ProviderError)) throw err;
    expect(err.status, err.message).toBeUndefined();
    expect(err.code, err.message).not.toBe('invalid_input');
  }

  it('verify', async () => {
    await provider.verify();
    expectAllValid('GET /locations');
  });

  it('regions', async () => {
    const regions = await provider.regions();
    expect(regions[0]).toEqual({ name: 'fsn1', description: 'Falkenstein DC Park 1' });
    expectAllValid('GET /locations');
  });

  it('plans, whose pagination stops although the example always announces page 4', async () => {
    const plans = await provider.plans('fsn1');
    expect(Array.isArray(plans)).toBe(true);
    // The example type is deprecated (its deprecation object is filled in), so it is not offered.
    expect(plans).toEqual([]);
    expect(exchanges.filter((x) => x.path === '/server_types').length).toBe(2);
    expectAllValid('GET /server_types');
  });

  it('listByJob, findByName, listManaged', async () => {
    // The example server carries other labels: the adapter's own check keeps it out.
    expect(await provider.listByJob('job-1')).toEqual([]);
    const found = await provider.findByName('my-resource');
    expect(found).toMatchObject({ id: '42', name: 'my-resource', createdAt: expect.any(String) });
    expect(await provider.listManaged()).toEqual([]);
    expectAllValid('GET /servers');
  });

  it('create with an SSH key, a network, a firewall and IP options', async () => {
    const outcome = await provider
      .create({
        name: 'berth-job-1',
        region: 'fsn1',
        plan: 'cpx22',
        sshKey: SSH_KEY,
        userData: '#cloud-config\n{}\n',
        labels: { [LABEL_JOB]: 'job-1', [LABEL_MANAGED]: 'true' },
        network: '4711',
        firewall: '38',
        publicIpv4: false,
        ipv6: true,
      })
      .then(
        (vm: Vm) => vm,
        (err: unknown) => err,
      );
    // Prism's example action (GET /actions/{id}) has status "error", so the wait ends there.
    if (outcome instanceof ProviderError) {
      expectNotRefused(outcome);
      expect(outcome).toMatchObject({ code: 'action_failed', retryable: false });
    } else {
      expect(outcome).toMatchObject({ id: '42', status: 'running' });
    }
    // The example key's fingerprint is not ours, so the adapter adds the key.
    expectAllValid('GET /ssh_keys', 'POST /ssh_keys', 'POST /servers');
    expect(exchanges.some((x) => x.path.startsWith('/actions/'))).toBe(true);
  });

  it('delete', async () => {
    const outcome = await provider.delete('42').then(
      (result) => result,
      (err: unknown) => err,
    );
    if (outcome instanceof ProviderError) {
      expectNotRefused(outcome);
      expect(outcome.code).toBe('action_failed');
    } else {
      expect(outcome).toBe('deleted');
    }
    expectAllValid('DELETE /servers/42');
  });
});

/** Resolves once Prism says it listens; it loads the whole spec first (~20 s). */
function listening(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4_000);
      if (output.includes('Prism is listening')) {
        child.stdout?.removeAllListeners('data');
        child.stderr?.removeAllListeners('data');
        // Keep draining, so a full pipe never blocks Prism.
        child.stdout?.resume();
        child.stderr?.resume();
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`prism exited (${code}) before listening:\n${output}`)));
    child.once('error', reject);
  });
}
