import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

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
