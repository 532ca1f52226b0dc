import { createHash } from 'node:crypto';
import { ProviderError } from './types.js';

/**
 * The MD5 fingerprint of an OpenSSH public key line, colon-separated hex, as Hetzner and
 * DigitalOcean show it (and `ssh-keygen -l -E md5` prints it). Refuses what is not a key.
 */
export function sshKeyFingerprint(publicKey: string, provider: string): string {
  const [type, blob] = publicKey.trim().split(/\s+/);
  const bytes = blob && /^[A-Za-z0-9+/]+={0,2}$/.test(blob) ? Buffer.from(blob, 'base64') : undefined;
  // The blob starts with its own key type (uint32 length, then the name), as OpenSSH writes it.
  const nameLength = bytes && bytes.length > 4 ? bytes.readUInt32BE(0) : -1;
  if (!type || !bytes || nameLength < 1 || bytes.subarray(4, 4 + nameLength).toString('latin1') !== type) {
    throw new ProviderError(`${provider}: the SSH key is not an OpenSSH public key line ("<type> <base64> [comment]")`, 'invalid_input', false);
  }
  return createHash('md5').update(bytes).digest('hex').match(/../g)!.join(':');
}
