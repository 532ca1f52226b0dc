import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Keyring, newMasterKeyText, parseMasterKey } from './vault.js';

/**
 * Reads a secret kept under the data dir, creating it (mode 0600) on first use. Creation uses
 * an exclusive open so two processes starting together end up with the same secret.
 */
export function loadOrCreateSecretFile(file: string, create: () => string): { value: string; created: boolean } {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    const fd = fs.openSync(file, 'wx', 0o600);
    const value = create();
    fs.writeSync(fd, `${value}\n`);
    fs.closeSync(fd);
    return { value, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  for (let attempt = 0; attempt < 50; attempt++) {
    const value = fs.readFileSync(file, 'utf8').trim();
    if (value !== '') return { value, created: false };
    // Another process has created the file but not written it yet.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
  throw new Error(`secret file ${file} is empty`);
}

/** The key that registration tokens are derived from (32 random bytes, hex). */
export function registrationKey(dataDir: string): Buffer {
  const file = path.join(dataDir, 'secrets', 'registration.key');
  return Buffer.from(loadOrCreateSecretFile(file, () => randomBytes(32).toString('hex')).value, 'hex');
}

export interface KeyringSource {
  dataDir: string;
  /** BERTH_MASTER_KEY: when set, the key lives with the operator, not under the data dir. */
  masterKey?: string | undefined;
  /** BERTH_MASTER_KEY_PREVIOUS: older keys (comma-separated) that still open unrotated records. */
  previousKeys?: string | undefined;
}

export const masterKeyFiles = (dataDir: string) => ({
  current: path.join(dataDir, 'secrets', 'master.key'),
  previous: path.join(dataDir, 'secrets', 'master.key.previous'),
});

/**
 * The keyring that seals provider credentials: BERTH_MASTER_KEY (+ _PREVIOUS) when set, else
 * key files under the data dir, created on first use and re-read when a rotation changed them.
 */
export function loadKeyring(source: KeyringSource): Keyring {
  if (source.masterKey) {
    const previous = (source.previousKeys ?? '').split(',').filter((k) => k.trim() !== '');
    return new Keyring(
      parseMasterKey(source.masterKey, 'BERTH_MASTER_KEY'),
      previous.map((k) => parseMasterKey(k, 'BERTH_MASTER_KEY_PREVIOUS')),
    );
  }
  const files = masterKeyFiles(source.dataDir);
  const read = (): Keyring => {
    const current = parseMasterKey(loadOrCreateSecretFile(files.current, newMasterKeyText).value, files.current);
    const previous = fs.existsSync(files.previous)
      ? fs
          .readFileSync(files.previous, 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '')
      : [];
    return new Keyring(
      current,
      previous.map((k) => parseMasterKey(k, files.previous)),
      read,
    );
  };
  return read();
}

/**
 * Makes a new current master key under the data dir; the old one moves to the previous-keys
 * file, so records it sealed still open until they are re-sealed.
 */
export function replaceMasterKeyFile(dataDir: string): void {
  const files = masterKeyFiles(dataDir);
  const old = fs.existsSync(files.current) ? fs.readFileSync(files.current, 'utf8').trim() : '';
  if (old !== '') fs.appendFileSync(files.previous, `${old}\n`, { mode: 0o600 });
  const staging = `${files.current}.new`;
  fs.writeFileSync(staging, `${newMasterKeyText()}\n`, { mode: 0o600 });
  fs.renameSync(staging, files.current);
}
