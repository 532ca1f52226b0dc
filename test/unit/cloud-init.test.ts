import { describe, it, expect } from 'vitest';
import { parse } from 'yaml';
import { BOOTSTRAP_PATH, REGISTRATION_ENV_PATH, buildUserData, type RegistrationEnv } from '../../activities/cloud-init.js';

interface WriteFile {
  path: string;
  permissions: string;
  owner?: string;
  content: string;
}
interface CloudConfig {
  hostname: string;
  write_files: WriteFile[];
  runcmd: string[][];
}

const TOKEN = 'brt_job123_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd';
const base: RegistrationEnv = {
  registerUrl: 'https://berth.example.com:8443/v1/register',
  token: TOKEN,
  tenantId: 'tenant-a',
  hostname: 'node-1.example',
};

function parseUserData(text: string): CloudConfig {
  expect(text.split('\n')[0]).toBe('#cloud-config');
  return parse(text) as CloudConfig;
}

function file(config: CloudConfig, p: string): WriteFile {
  const found = config.write_files.filter((f) => f.path === p);
  expect(found).toHaveLength(1);
  return found[0]!;
}

describe('buildUserData', () => {
  it('writes a 0600 registration env file with the registration values', () => {
    const config = parseUserData(buildUserData(base));
    const env = file(config, REGISTRATION_ENV_PATH);
    expect(REGISTRATION_ENV_PATH).toBe('/etc/berth/registration.env');
    expect(env.permissions).toBe('0600');
    const lines = env.content.split('\n');
    expect(lines).toContain(`BERTH_REGISTER_URL=${base.registerUrl}`);
    expect(lines).toContain(`BERTH_REGISTER_TOKEN=${TOKEN}`);
    expect(lines).toContain(`BERTH_TENANT_ID=${base.tenantId}`);
    expect(config.hostname).toBe(base.hostname);
  });

  it('writes an executable bootstrap and runs it with the env file', () => {
    const config = parseUserData(buildUserData(base));
    const bootstrap = file(config, BOOTSTRAP_PATH);
    expect(bootstrap.permissions).toBe('0755');
    expect(bootstrap.content.startsWith('#!/bin/sh\n')).toBe(true);
    expect(config.runcmd).toEqual([['sh', BOOTSTRAP_PATH, REGISTRATION_ENV_PATH]]);
  });

  it('puts the token only in the env file content', () => {
    const text = buildUserData(base);
    const config = parseUserData(text);
    // Exactly one occurrence in the raw document...
    expect(text.split(TOKEN)).toHaveLength(2);
    // ...and it is inside the env file, nowhere else in the parsed document.
    const others = { ...config, write_files: config.write_files.filter((f) => f.path !== REGISTRATION_ENV_PATH) };
    expect(JSON.stringify(others)).not.toContain(TOKEN);
    expect(file(config, REGISTRATION_ENV_PATH).content).toContain(TOKEN);
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
});
