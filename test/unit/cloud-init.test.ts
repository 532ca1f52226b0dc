import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, it, expect } from 'vitest';
import { parse } from 'yaml';
import { sha256Hex } from '../../security/tokens.js';
import {
  AGENT_PATH,
  AGENT_SERVICE_PATH,
  AGENT_TIMER_PATH,
  BOOTSTRAP_PATH,
  REGISTRATION_ENV_PATH,
  USER_DATA_LIMITS,
  WORKLOAD_COMMAND_PATH,
  buildUserData,
  parseUserDataParts,
  readRegistrationEnv,
  userDataBytes,
  userDataKind,
  type RegistrationEnv,
} from '../../activities/cloud-init.js';

interface WriteFile {
  path: string;
  permissions: string;
  owner?: string;
  content: string;
}
interface CloudConfig {
  hostname: string;
  write_files: WriteFile[];
  runcmd?: unknown;
}

const TOKEN = 'brt_job123_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd';
const NODE_TOKEN = `bnt_${'Ab0-_'.repeat(8)}xyz`;
const base: RegistrationEnv = {
  registerUrl: 'https://berth.example.com:8443/v1/register',
  token: TOKEN,
  tenantId: 'tenant-a',
  hostname: 'node-1.example',
};

/** Berth's cloud-config: the first part of the user-data. */
function berthConfig(text: string): CloudConfig {
  const part = parseUserDataParts(text)[0]!;
  expect(part.contentType).toBe('text/cloud-config');
  expect(part.body.split('\n')[0]).toBe('#cloud-config');
  return parse(part.body) as CloudConfig;
}

function file(config: CloudConfig, p: string): WriteFile {
  const found = config.write_files.filter((f) => f.path === p);
  expect(found).toHaveLength(1);
  return found[0]!;
}

const run = promisify(execFile);

describe('buildUserData', () => {
  it('is a MIME multi-part document: Berth cloud-config, then the register script, no runcmd', () => {
    const text = buildUserData(base);
    const [head] = text.split('\n\n', 1);
    const boundary = /^Content-Type: multipart\/mixed; boundary="([^"]+)"$/m.exec(head!)?.[1];
    expect(boundary).toBeDefined();
    expect(head).toMatch(/^MIME-Version: 1\.0$/m);
    expect(text.endsWith(`--${boundary}--\n`)).toBe(true);

    const parts = parseUserDataParts(text);
    expect(parts.map((p) => [p.contentType, p.filename])).toEqual([
      ['text/cloud-config', 'berth.cfg'],
      ['text/x-shellscript', 'berth-register.sh'],
    ]);
    // Every part names its type and file, as cloud-init expects of a multi-part document.
    const sections = text.split(`--${boundary}\n`).slice(1);
    expect(sections).toHaveLength(2);
    for (const section of sections) {
      expect(section).toMatch(/^Content-Type: text\/[a-z-]+; charset="utf-8"$/m);
      expect(section).toMatch(/^Content-Disposition: attachment; filename="[^"]+"$/m);
      expect(section).toMatch(/^Content-Transfer-Encoding: 7bit$/m);
    }
    for (const part of parts) expect(part.body).not.toContain(boundary);

    const config = berthConfig(text);
    expect(config.runcmd).toBeUndefined();
    expect(parts[1]!.body).toBe('#!/bin/sh\nexec sh "${BERTH_ROOT:-}/usr/local/sbin/berth-bootstrap" "${BERTH_ROOT:-}/etc/berth/registration.env"\n');
  });

  it('writes a 0600 registration env file with the registration values and the interval', () => {
    const config = berthConfig(buildUserData(base, { heartbeatIntervalS: 7 }));
    const env = file(config, REGISTRATION_ENV_PATH);
    expect(REGISTRATION_ENV_PATH).toBe('/etc/berth/registration.env');
    expect(env.permissions).toBe('0600');
    const lines = env.content.split('\n');
    expect(lines).toContain(`BERTH_REGISTER_URL=${base.registerUrl}`);
    expect(lines).toContain(`BERTH_REGISTER_TOKEN=${TOKEN}`);
    expect(lines).toContain(`BERTH_TENANT_ID=${base.tenantId}`);
    expect(lines).toContain('BERTH_AGENT_INTERVAL=7');
    expect(config.hostname).toBe(base.hostname);
    expect(file(berthConfig(buildUserData(base)), REGISTRATION_ENV_PATH).content).toContain('BERTH_AGENT_INTERVAL=15\n');
  });

  it('writes an executable bootstrap, the agent and its systemd timer', () => {
    const config = berthConfig(buildUserData(base, { heartbeatIntervalS: 20 }));
    for (const p of [BOOTSTRAP_PATH, AGENT_PATH]) {
      expect(file(config, p).permissions).toBe('0755');
      expect(file(config, p).content.startsWith('#!/bin/sh\n')).toBe(true);
    }
    const service = file(config, AGENT_SERVICE_PATH).content;
    expect(service).toMatch(/^Type=oneshot$/m);
    expect(service).toMatch(/^ExecStart=\/bin\/sh \/usr\/local\/sbin\/berth-agent \/etc\/berth\/node\.env$/m);
    const timer = file(config, AGENT_TIMER_PATH).content;
    expect(timer).toMatch(/^OnBootSec=20s$/m);
    expect(timer).toMatch(/^OnUnitActiveSec=20s$/m);
    expect(timer).toMatch(/^AccuracySec=1s$/m);
    expect(timer).toMatch(/^WantedBy=timers\.target$/m);
  });

  it('puts the token only in the env file content', () => {
    const text = buildUserData(base);
    const config = berthConfig(text);
    // Exactly one occurrence in the raw document...
    expect(text.split(TOKEN)).toHaveLength(2);
    // ...and it is inside the env file, nowhere else.
    const others = { ...config, write_files: config.write_files.filter((f) => f.path !== REGISTRATION_ENV_PATH) };
    expect(JSON.stringify(others)).not.toContain(TOKEN);
    expect(file(config, REGISTRATION_ENV_PATH).content).toContain(TOKEN);
  });

  it('writes the workload command to its own 0700 file, never to the env file', () => {
    const command = `kubectl get pods -o name | wc -l # "quoted" $(not expanded) 'x'`;
    const config = berthConfig(buildUserData(base, { workloadCommand: command }));
    const workload = file(config, WORKLOAD_COMMAND_PATH);
    expect(workload.permissions).toBe('0700');
    expect(workload.content).toBe(`#!/bin/sh\n${command}\n`);
    expect(file(config, REGISTRATION_ENV_PATH).content).not.toContain('kubectl');
    expect(berthConfig(buildUserData(base)).write_files.map((f) => f.path)).not.toContain(WORKLOAD_COMMAND_PATH);
  });

  it('adds the operator part last, typed from its first line', () => {
    const script = buildUserData(base, { extraUserData: '#!/bin/bash\necho hi\n' });
    expect(parseUserDataParts(script).map((p) => [p.contentType, p.filename])).toEqual([
      ['text/cloud-config', 'berth.cfg'],
      ['text/x-shellscript', 'berth-register.sh'],
      ['text/x-shellscript', 'user-data.sh'],
    ]);
    expect(parseUserDataParts(script)[2]!.body).toBe('#!/bin/bash\necho hi\n');

    const config = buildUserData(base, { extraUserData: '#cloud-config\nruncmd:\n  - echo hi\n' });
    const parts = parseUserDataParts(config);
    expect(parts[2]).toEqual({ contentType: 'text/cloud-config', filename: 'user-data.cfg', body: '#cloud-config\nruncmd:\n  - echo hi\n' });
    // Its lists are appended to Berth's instead of replacing them (cloud-init's default).
    expect(config).toMatch(/^Merge-Type: list\(append\)\+dict\(recurse_array\)\+str\(\)$/m);
  });

  it.each(['echo hi', '', ' #cloud-config', '#cloud-config-archive\n- x', 'MIME-Version: 1.0\n', '\uFEFF#!/bin/sh'])('refuses operator user-data %j', (extra) => {
    expect(userDataKind(extra)).toBeUndefined();
    expect(() => buildUserData(base, { extraUserData: extra })).toThrow(/must start with #cloud-config or #!/);
  });

  it('tells the kinds of user-data apart', () => {
    expect(userDataKind('#cloud-config\n{}')).toBe('cloud-config');
    expect(userDataKind('#cloud-config\r\nruncmd: []')).toBe('cloud-config');
    expect(userDataKind('#!/usr/bin/env python3\n')).toBe('shellscript');
  });

  it('carries a non-ASCII or long-lined part as base64, and reads it back', () => {
    const extra = '#!/bin/sh\necho "grüße, 世界"\n';
    const text = buildUserData(base, { extraUserData: extra });
    expect(text).toMatch(/^Content-Transfer-Encoding: base64$/m);
    expect(text).not.toContain('grüße');
    expect(parseUserDataParts(text)[2]!.body).toBe(extra);

    const long = `#!/bin/sh\necho ${'x'.repeat(1_200)}\n`;
    expect(parseUserDataParts(buildUserData(base, { extraUserData: long }))[2]!.body).toBe(long);
    // A body without a final newline stays without one.
    expect(parseUserDataParts(buildUserData(base, { extraUserData: '#!/bin/sh\ntrue' }))[2]!.body).toBe('#!/bin/sh\ntrue');
  });

  it('picks a boundary that occurs in no part, even one that tries', () => {
    const first = buildUserData(base, { extraUserData: '#!/bin/sh\n' });
    const boundary = /boundary="([^"]+)"/.exec(first)![1]!;
    const extra = `#!/bin/sh\n# --${boundary}\n`;
    const text = buildUserData(base, { extraUserData: extra });
    const other = /boundary="([^"]+)"/.exec(text)![1]!;
    for (const part of parseUserDataParts(text)) expect(part.body).not.toContain(other);
    expect(parseUserDataParts(text)[2]!.body).toBe(extra);
  });

  it('knows each provider\u2019s size limit and measures UTF-8 bytes', () => {
    expect(USER_DATA_LIMITS).toEqual({ local: 65_536, hetzner: 32_768, digitalocean: 65_536 });
    expect(userDataBytes('é')).toBe(2);
    const text = buildUserData(base, { workloadCommand: 'echo 1' });
    expect(userDataBytes(text)).toBe(Buffer.byteLength(text));
    // Berth's own parts leave most of the smallest limit to the operator.
    expect(userDataBytes(text)).toBeLessThan(USER_DATA_LIMITS.hetzner / 2);
  });

  it.each<[keyof RegistrationEnv, string]>([
    ['hostname', 'a;rm -rf /'],
    ['token', 'brt_job_abc\nBERTH_REGISTER_URL=http://evil'],
    ['tenantId', '$(id)'],
    ['registerUrl', 'http://x/`id`'],
    ['hostname', 'a b'],
    ['tenantId', "t'quote"],
    ['token', ''],
  ])('rejects %s = %j without producing output', (key, value) => {
    let output: string | undefined;
    expect(() => {
      output = buildUserData({ ...base, [key]: value });
    }).toThrow(new RegExp(`cloud-init value ${key} `));
    expect(output).toBeUndefined();
  });

  it.each([0, 1.5, 301, Number.NaN])('rejects heartbeatIntervalS %s', (value) => {
    expect(() => buildUserData(base, { heartbeatIntervalS: value })).toThrow(/heartbeatIntervalS/);
  });
});

describe('reading user-data back', () => {
  it('reads the registration env and the interval from multi-part user-data', () => {
    const text = buildUserData(base, { heartbeatIntervalS: 3, extraUserData: '#cloud-config\nwrite_files: []\n' });
    expect(readRegistrationEnv(text)).toEqual({ ...base, heartbeatIntervalS: 3 });
  });

  it('reads a plain document as one part', () => {
    expect(parseUserDataParts('#cloud-config\n{}\n')).toEqual([{ contentType: 'text/cloud-config', body: '#cloud-config\n{}\n' }]);
    expect(parseUserDataParts('#!/bin/sh\ntrue\n')).toEqual([{ contentType: 'text/x-shellscript', body: '#!/bin/sh\ntrue\n' }]);
  });

  it('reads CRLF line endings', () => {
    const text = buildUserData(base).replace(/\n/g, '\r\n');
    expect(readRegistrationEnv(text).token).toBe(TOKEN);
  });
});

/** The scripts as the VM receives them. */
const written = parse(parseUserDataParts(buildUserData(base))[0]!.body) as CloudConfig;
const BOOTSTRAP = written.write_files.find((f) => f.path === BOOTSTRAP_PATH)!.content;
const AGENT = written.write_files.find((f) => f.path === AGENT_PATH)!.content;

describe('scripts', () => {
  it.each([
    ['berth-bootstrap', BOOTSTRAP],
    ['berth-agent', AGENT],
    ['berth-register.sh', parseUserDataParts(buildUserData(base))[1]!.body],
  ])('%s is valid sh', async (_name, script) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-sh-'));
    try {
      fs.writeFileSync(path.join(dir, 'script'), script);
      await expect(run('sh', ['-n', path.join(dir, 'script')])).resolves.toBeDefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface Received {
  at: number;
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

/** A stand-in for Berth's API: records every request and answers with `reply`. */
let server: http.Server;
let origin: string;
const received: Received[] = [];
let reply: (req: Received) => { status: number; body: unknown; headers?: Record<string, string> } = () => ({ status: 200, body: { state: 'active' } });

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const entry = { method: req.method!, url: req.url!, authorization: req.headers.authorization, body, at: Date.now() };
      received.push(entry);
      const answer = reply(entry);
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

let root: string;
let berthDir: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-vm-'));
  berthDir = path.join(root, 'etc', 'berth');
  fs.mkdirSync(berthDir, { recursive: true });
  fs.writeFileSync(path.join(root, 'bootstrap'), BOOTSTRAP);
  fs.writeFileSync(path.join(root, 'agent'), AGENT);
  received.length = 0;
  reply = () => ({ status: 200, body: { state: 'active' } });
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

const mode = (p: string) => fs.statSync(p).mode & 0o777;
const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', ...extra });

describe('berth-bootstrap', () => {
  const register = () => {
    const registrationEnv = [
      `BERTH_REGISTER_URL=${origin}/cp/api/v1/cluster/register`,
      `BERTH_REGISTER_TOKEN=${TOKEN}`,
      'BERTH_TENANT_ID=tenant-a',
      'BERTH_NODE_HOSTNAME=node-1',
      'BERTH_AGENT_INTERVAL=4',
      '',
    ].join('\n');
    fs.writeFileSync(path.join(berthDir, 'registration.env'), registrationEnv, { mode: 0o600 });
    // BERTH_LOCAL_VM keeps it away from this host's systemd.
    return run('sh', [path.join(root, 'bootstrap'), path.join(berthDir, 'registration.env')], { env: env({ BERTH_LOCAL_VM: '1' }) });
  };

  it('registers, then writes node.env and agent.header (0600) and never prints the node token', async () => {
    reply = () => ({ status: 200, body: { node_id: 'node-job123', job_id: 'job123', node_token: NODE_TOKEN } });
    const { stdout, stderr } = await register();
    expect(received).toHaveLength(1);
    expect(received[0]!.url).toBe('/cp/api/v1/cluster/register');
    expect(JSON.parse(received[0]!.body)).toEqual({ token: TOKEN, hostname: 'node-1', credential_sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });

    const nodeEnv = path.join(berthDir, 'node.env');
    const header = path.join(berthDir, 'agent.header');
    expect(fs.readFileSync(nodeEnv, 'utf8')).toBe(
      `BERTH_NODE_ID=node-job123\nBERTH_HEARTBEAT_URL=${origin}/cp/api/v1/cluster/nodes/node-job123/heartbeat\nBERTH_AGENT_INTERVAL=4\n`,
    );
    expect(fs.readFileSync(header, 'utf8')).toBe(`Authorization: Bearer ${NODE_TOKEN}\n`);
    expect(mode(nodeEnv)).toBe(0o600);
    expect(mode(header)).toBe(0o600);
    expect(stdout).toContain('node-job123');
    expect(stdout + stderr).not.toContain(NODE_TOKEN);
    expect(stdout + stderr).not.toContain(TOKEN);
  });

  it("makes the agent's credential itself and sends only its digest; the API's echo of it starts the agent", async () => {
    reply = (req) => ({
      status: 200,
      body: { node_id: 'node-job123', job_id: 'job123', credential_sha256: (JSON.parse(req.body) as { credential_sha256: string }).credential_sha256 },
    });
    const { stdout, stderr } = await register();
    const sent = (JSON.parse(received[0]!.body) as { credential_sha256: string }).credential_sha256;
    const credential = /^Authorization: Bearer (bnt_[A-Za-z0-9_-]{43})\n$/.exec(fs.readFileSync(path.join(berthDir, 'agent.header'), 'utf8'))?.[1];
    expect(credential).toBeDefined();
    expect(sha256Hex(credential!)).toBe(sent);
    expect(mode(path.join(berthDir, 'agent.credential'))).toBe(0o600);
    expect(received[0]!.body).not.toContain(credential!.slice(4));
    expect(stdout + stderr).not.toContain(credential!.slice(4));
  });

  it('sends the same digest when run again (an answer lost with the run), a new one on another VM', async () => {
    reply = () => ({ status: 401, body: { error: { code: 'invalid_token' } } });
    await expect(register()).rejects.toMatchObject({ code: 1 });
    await expect(register()).rejects.toMatchObject({ code: 1 });
    const digests = received.map((r) => (JSON.parse(r.body) as { credential_sha256: string }).credential_sha256);
    expect(digests[0]).toBe(digests[1]);
    fs.rmSync(path.join(berthDir, 'agent.credential'));
    await expect(register()).rejects.toMatchObject({ code: 1 });
    expect((JSON.parse(received[2]!.body) as { credential_sha256: string }).credential_sha256).not.toBe(digests[0]);
  });

  it('starts no agent on an echo of another digest', async () => {
    reply = () => ({ status: 200, body: { node_id: 'node-job123', job_id: 'job123', credential_sha256: 'f'.repeat(64) } });
    await register();
    expect(fs.existsSync(path.join(berthDir, 'agent.header'))).toBe(false);
  });

  it('copes with an answer without a node token: registered, no agent files', async () => {
    reply = () => ({ status: 200, body: { node_id: 'node-job123', job_id: 'job123' } });
    const { stdout } = await register();
    expect(stdout).toContain('registered as node node-job123');
    expect(fs.existsSync(path.join(berthDir, 'node.env'))).toBe(false);
    expect(fs.existsSync(path.join(berthDir, 'agent.header'))).toBe(false);
  });

  it.each([
    { node_id: 'node-job123', node_token: 'bnt_abc$(touch pwned)' },
    { node_id: 'node-job123', node_token: 'not-a-node-token' },
    { node_id: 'Node;id', node_token: NODE_TOKEN },
  ])('refuses an answer with unsafe values: %j', async (answer) => {
    reply = () => ({ status: 200, body: { ...answer, job_id: 'job123' } });
    await expect(register()).rejects.toMatchObject({ code: 1 });
    expect(fs.existsSync(path.join(berthDir, 'node.env'))).toBe(false);
    expect(fs.existsSync(path.join(berthDir, 'agent.header'))).toBe(false);
    expect(fs.existsSync(path.join(root, 'pwned'))).toBe(false);
  });

  it.each([401, 409])('stops at once on a %i', async (status) => {
    reply = () => ({ status, body: { error: { code: 'refused' } } });
    await expect(register()).rejects.toMatchObject({ code: 1 });
    expect(received).toHaveLength(1);
  });

  // A blocked address (429) and a registration whose claim is still held (503) say when to come back.
  it.each([429, 503])('waits out the Retry-After of a %i, then registers', { timeout: 20_000 }, async (status) => {
    reply = () =>
      received.length < 3
        ? { status, body: { error: { code: 'later' } }, headers: { 'Retry-After': '1' } }
        : { status: 200, body: { node_id: 'node-job123', job_id: 'job123', node_token: NODE_TOKEN } };
    const { stdout, stderr } = await register();
    expect(stdout).toContain('registered as node node-job123');
    expect(received).toHaveLength(3);
    // Retry-After 1 s, not the 2 s then 4 s back-off of an answer without one.
    const gaps = [received[1]!.at - received[0]!.at, received[2]!.at - received[1]!.at];
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(900);
    expect(gaps[1]!).toBeLessThan(3_000);
    expect(stderr).toContain(`not registered yet (${status}), trying again in 1s`);
  });
});

describe('berth-agent', () => {
  const proc = () => path.join(root, 'proc');

  beforeEach(() => {
    fs.writeFileSync(
      path.join(berthDir, 'node.env'),
      `BERTH_NODE_ID=node-job1\nBERTH_HEARTBEAT_URL=${origin}/cp/api/v1/cluster/nodes/node-job1/heartbeat\nBERTH_AGENT_INTERVAL=1\n`,
    );
    fs.writeFileSync(path.join(berthDir, 'agent.header'), `Authorization: Bearer ${NODE_TOKEN}\n`, { mode: 0o600 });
    fs.mkdirSync(proc());
    // busy = total - idle - iowait = 2000 - 1400 - 100 = 500
    fs.writeFileSync(path.join(proc(), 'stat'), 'cpu  300 0 200 1400 100 0 0 0 0 0\ncpu0 300 0 200 1400 100 0 0 0 0 0\nintr 1\n');
    fs.writeFileSync(path.join(proc(), 'meminfo'), 'MemTotal:       1000000 kB\nMemFree:         100000 kB\nMemAvailable:    250000 kB\n');
  });

  const agent = (extra: Record<string, string> = {}) =>
    run('sh', [path.join(root, 'agent'), path.join(berthDir, 'node.env')], { env: env({ BERTH_PROC: proc(), BERTH_ROOT: root, ...extra }) });
  const lastBody = () => JSON.parse(received.at(-1)!.body) as Record<string, unknown>;

  it('reports CPU since its last sample, memory and the workload count, with the node token', async () => {
    fs.writeFileSync(path.join(berthDir, 'agent.cpu'), '200 1000\n');
    fs.writeFileSync(path.join(berthDir, 'workload-command'), '#!/bin/sh\necho 7\n', { mode: 0o700 });
    await agent();
    expect(received).toHaveLength(1);
    expect(received[0]!.method).toBe('POST');
    expect(received[0]!.url).toBe('/cp/api/v1/cluster/nodes/node-job1/heartbeat');
    expect(received[0]!.authorization).toBe(`Bearer ${NODE_TOKEN}`);
    // (500 - 200) / (2000 - 1000)
    expect(received[0]!.body).toBe('{"cpu":0.300,"memory":0.750,"workloads":7}');
    expect(fs.readFileSync(path.join(berthDir, 'agent.cpu'), 'utf8')).toBe('500 2000\n');
  });

  it('samples twice 1 s apart on its first run, and counts what it cannot read as 0', async () => {
    fs.writeFileSync(path.join(berthDir, 'workload-command'), '#!/bin/sh\necho lots\n', { mode: 0o700 });
    const started = Date.now();
    await agent();
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(lastBody()).toEqual({ cpu: 0, memory: 0.75, workloads: 0 });
    fs.rmSync(proc(), { recursive: true });
    await agent();
    expect(received.at(-1)!.body).toBe('{"cpu":0.000,"memory":0.000,"workloads":0}');
  });

  it('reads the load file instead of /proc when one is set', async () => {
    const loadFile = path.join(root, 'load.json');
    fs.writeFileSync(loadFile, JSON.stringify({ cpu: 0.9, workloads: 3 }));
    await agent({ BERTH_AGENT_LOAD_FILE: loadFile });
    expect(received.at(-1)!.body).toBe('{"cpu":0.900,"memory":0.000,"workloads":3}');
    fs.writeFileSync(loadFile, JSON.stringify({ cpu: 1.7, memory: 0.25, workloads: 'x' }));
    await agent({ BERTH_AGENT_LOAD_FILE: loadFile });
    expect(lastBody()).toEqual({ cpu: 1, memory: 0.25, workloads: 0 });
    await agent({ BERTH_AGENT_LOAD_FILE: path.join(root, 'missing.json') });
    expect(lastBody()).toEqual({ cpu: 0, memory: 0, workloads: 0 });
  });

  it('marks itself draining on a drain answer, reports drained, and clears it when active again', async () => {
    const loadFile = path.join(root, 'load.json');
    reply = () => ({ status: 200, body: { state: 'drain' } });
    await agent({ BERTH_AGENT_LOAD_FILE: loadFile });
    expect(lastBody().drained).toBeUndefined();
    expect(fs.existsSync(path.join(berthDir, 'draining'))).toBe(true);

    await agent({ BERTH_AGENT_LOAD_FILE: loadFile });
    expect(lastBody()).toEqual({ cpu: 0, memory: 0, workloads: 0, drained: true });

    reply = () => ({ status: 200, body: { state: 'active' } });
    await agent({ BERTH_AGENT_LOAD_FILE: loadFile });
    expect(fs.existsSync(path.join(berthDir, 'draining'))).toBe(false);
    await agent({ BERTH_AGENT_LOAD_FILE: loadFile });
    expect(lastBody().drained).toBeUndefined();
  });

  it('exits 0 when the heartbeat fails, and changes nothing', async () => {
    const loadFile = path.join(root, 'load.json');
    reply = () => ({ status: 500, body: { state: 'drain' } });
    await expect(agent({ BERTH_AGENT_LOAD_FILE: loadFile })).resolves.toBeDefined();
    expect(fs.existsSync(path.join(berthDir, 'draining'))).toBe(false);
    fs.writeFileSync(path.join(berthDir, 'node.env'), 'BERTH_NODE_ID=n\nBERTH_HEARTBEAT_URL=http://127.0.0.1:9/x\nBERTH_AGENT_INTERVAL=1\n');
    await expect(agent({ BERTH_AGENT_LOAD_FILE: loadFile })).resolves.toBeDefined();
  });
});
