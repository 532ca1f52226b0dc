import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { ConfigError, loadConfig, parseDuration } from '../../config/index.js';

/** The ConfigError thrown for `env`, failing the test if none is thrown. */
function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig defaults', () => {
  it('uses the documented defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8080);
    expect(config.host).toBe('127.0.0.1');
    expect(config.registrationTtlMs).toBe(30 * 60 * 1000);
    expect(config.publicUrl).toBe('http://127.0.0.1:8080');
    expect(config.temporal.uiPort).toBe(8233);
    expect(config.temporal.namespace).toBe('default');
    expect(config.adminToken).toBeUndefined();
    expect(path.isAbsolute(config.dataDir)).toBe(true);
    expect(path.basename(config.dataDir)).toBe('data');
  });

  it('treats empty strings as unset', () => {
    const config = loadConfig({ BERTH_PORT: '', BERTH_REGISTRATION_TTL: '', BERTH_HOST: '  ', BERTH_PUBLIC_URL: '' });
    expect(config.port).toBe(8080);
    expect(config.registrationTtlMs).toBe(1_800_000);
    expect(config.host).toBe('127.0.0.1');
    expect(config.publicUrl).toBe('http://127.0.0.1:8080');
  });

  it('derives the default public URL from BERTH_PORT', () => {
    const config = loadConfig({ BERTH_PORT: '9090' });
    expect(config.port).toBe(9090);
    expect(config.publicUrl).toBe('http://127.0.0.1:9090');
  });

  it('resolves a relative BERTH_DATA_DIR to an absolute path', () => {
    const config = loadConfig({ BERTH_DATA_DIR: 'some/dir' });
    expect(config.dataDir).toBe(path.resolve('some/dir'));
  });
});

describe('loadConfig values', () => {
  it.each([
    ['5s', 5_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
  ])('parses BERTH_REGISTRATION_TTL=%s', (value, expected) => {
    expect(loadConfig({ BERTH_REGISTRATION_TTL: value }).registrationTtlMs).toBe(expected);
  });

  it('strips trailing slashes from BERTH_PUBLIC_URL and ignores BERTH_PORT for it', () => {
    const config = loadConfig({ BERTH_PUBLIC_URL: 'https://berth.example.com/base//', BERTH_PORT: '9090' });
    expect(config.publicUrl).toBe('https://berth.example.com/base');
  });

  it.each([
    ['7d', 7 * 24 * 3_600_000],
    ['1s', 1_000],
  ])('accepts BERTH_REGISTRATION_TTL=%s at the edge of the allowed range', (value, expected) => {
    expect(loadConfig({ BERTH_REGISTRATION_TTL: value }).registrationTtlMs).toBe(expected);
  });

  it('falls back to the info log level when BERTH_LOG_LEVEL is empty', () => {
    expect(loadConfig({ BERTH_LOG_LEVEL: '' }).logLevel).toBe('info');
    expect(loadConfig({ BERTH_LOG_LEVEL: '  ' }).logLevel).toBe('info');
    expect(loadConfig({}).logLevel).toBe('info');
  });

  it('accepts an admin token of 16 characters', () => {
    expect(loadConfig({ BERTH_ADMIN_TOKEN: 'x'.repeat(16) }).adminToken).toBe('x'.repeat(16));
  });
});

describe('loadConfig errors', () => {
  it.each([
    ['BERTH_PORT', 'abc'],
    ['BERTH_PORT', '70000'],
    ['BERTH_PORT', '0'],
    ['TEMPORAL_UI_PORT', '1.5'],
    ['BERTH_REGISTRATION_TTL', 'soon'],
    ['BERTH_REGISTRATION_TTL', '-5s'],
    ['BERTH_PUBLIC_URL', 'ftp://x'],
    ['BERTH_ADMIN_TOKEN', 'short'],
    ['BERTH_PORT', '0x50'],
    ['BERTH_PORT', '1e3'],
    ['BERTH_PUBLIC_URL', 'http:///'],
  ])('rejects %s=%s with a message naming the variable', (name, value) => {
    const err = configError({ [name]: value });
    expect(err.name).toBe('ConfigError');
    expect(err.message).toMatch(new RegExp(`^\\s*${name}: `, 'm'));
  });

  it.each(['99999999999999999999', '500ms', '8d'])('rejects BERTH_REGISTRATION_TTL=%s as outside 1s..7d', (value) => {
    const err = configError({ BERTH_REGISTRATION_TTL: value });
    expect(err.message).toMatch(/^\s*BERTH_REGISTRATION_TTL: .*between 1s and 7d/m);
  });

  it('reports every invalid variable at once', () => {
    const err = configError({ BERTH_PORT: 'abc', BERTH_REGISTRATION_TTL: 'soon' });
    expect(err.message).toContain('BERTH_PORT');
    expect(err.message).toContain('BERTH_REGISTRATION_TTL');
  });

  it('does not echo the rejected admin token', () => {
    expect(configError({ BERTH_ADMIN_TOKEN: 'sekrit-value' }).message).not.toContain('sekrit-value');
  });
});

describe('BERTH_HEARTBEAT_INTERVAL', () => {
  it('defaults to 15s and accepts 1s to 5m', () => {
    expect(loadConfig({}).heartbeatIntervalMs).toBe(15_000);
    expect(loadConfig({ BERTH_HEARTBEAT_INTERVAL: '' }).heartbeatIntervalMs).toBe(15_000);
    expect(loadConfig({ BERTH_HEARTBEAT_INTERVAL: '1s' }).heartbeatIntervalMs).toBe(1_000);
    expect(loadConfig({ BERTH_HEARTBEAT_INTERVAL: '30s' }).heartbeatIntervalMs).toBe(30_000);
    expect(loadConfig({ BERTH_HEARTBEAT_INTERVAL: '5m' }).heartbeatIntervalMs).toBe(300_000);
  });

  it.each(['500ms', '1500ms', '6m', 'often', '0s'])('rejects %s with a message naming the variable', (value) => {
    expect(configError({ BERTH_HEARTBEAT_INTERVAL: value }).message).toMatch(/^\s*BERTH_HEARTBEAT_INTERVAL: /m);
  });
});

describe('parseDuration', () => {
  it.each([
    ['5s', 5_000],
    [' 2m ', 120_000],
    ['30m', 1_800_000],
    ['1500', 1_500],
  ])('parses %j', (value, expected) => {
    expect(parseDuration(value)).toBe(expected);
  });

  it.each(['', 'soon', '-5s', '0', '0s'])('rejects %j', (value) => {
    expect(parseDuration(value)).toBeUndefined();
  });
});
