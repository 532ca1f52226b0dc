// Where the CLI finds the API and its token: BERTH_URL / BERTH_TOKEN, else the file `berth login`
// wrote (BERTH_CONFIG, else $XDG_CONFIG_HOME/berth/config.json, else ~/.config/berth/config.json).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliError } from './errors.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

export interface SavedConfig {
  url?: string;
  token?: string;
}

export interface Target {
  url: string;
  token: string | undefined;
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BERTH_CONFIG) return path.resolve(env.BERTH_CONFIG);
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
  return path.join(base, 'berth', 'config.json');
}

export function readConfig(file = configPath()): SavedConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Never quote the file: it holds a token.
    throw new CliError(`${file} is not valid JSON; run \`berth login\` again to rewrite it`);
  }
  if (typeof parsed !== 'object' || parsed === null) throw new CliError(`${file} must hold a JSON object; run \`berth login\` again`);
  const { url, token } = parsed as Record<string, unknown>;
  return { ...(typeof url === 'string' && { url }), ...(typeof token === 'string' && { token }) };
}

/** Writes the file with mode 0600 (its folder 0700), replacing it whole. */
export function writeConfig(config: SavedConfig, file = configPath()): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    fs.chmodSync(temp, 0o600);
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw new CliError(`cannot write ${file}: ${(err as Error).message}`);
  }
}

/** `http://host:8080`, also accepted with a trailing slash or the `/cp/api/v1` base. */
export function normalizeUrl(raw: string, what = 'the URL'): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new CliError(`${what} "${raw}" is not a URL such as ${DEFAULT_URL}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`${what} "${raw}" must start with http:// or https://`);
  if (url.username || url.password || url.search) throw new CliError(`${what} must not carry credentials or a query`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '').replace(/\/cp\/api\/v1$/, '')}`;
}

/** The API to talk to and the token to use: the environment wins over the saved file. */
export function resolveTarget(env: NodeJS.ProcessEnv = process.env): Target {
  const needsFile = !env.BERTH_URL || !env.BERTH_TOKEN;
  const saved = needsFile ? readConfig(configPath(env)) : {};
  const url = normalizeUrl(env.BERTH_URL || saved.url || DEFAULT_URL, env.BERTH_URL ? 'BERTH_URL' : saved.url ? `the url in ${configPath(env)}` : 'the URL');
  const token = (env.BERTH_TOKEN || saved.token)?.trim() || undefined;
  return { url, token };
}
