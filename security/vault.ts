import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** A 32-byte master key and its id: a non-secret digest stored next to what it encrypted. */
export interface MasterKey {
  id: string;
  key: Buffer;
}

/** One encrypted secret as stored: every part base64. */
export interface SealedSecret {
  key_id: string;
  iv: string;
  ciphertext: string;
  auth_tag: string;
}

/** What a secret is bound to: decrypting it under any other owner fails. */
export interface SecretOwner {
  tenantId: string;
  provider: string;
}

export class VaultError extends Error {
  override name = 'VaultError';
}

/** Parses a master key given as 64 hex characters or base64 of 32 bytes. */
export function parseMasterKey(text: string, origin: string): MasterKey {
  const value = text.trim();
  const hex = /^[0-9a-fA-F]{64}$/.test(value);
  const key = hex ? Buffer.from(value, 'hex') : /^[A-Za-z0-9+/]{43}=?$/.test(value) ? Buffer.from(value, 'base64') : Buffer.alloc(0);
  if (key.length !== 32) throw new VaultError(`${origin} must be 32 bytes, as 64 hex characters or base64`);
  return { id: createHash('sha256').update('berth-master-key\0').update(key).digest('hex').slice(0, 16), key };
}

export const newMasterKeyText = () => randomBytes(32).toString('hex');

/**
 * The current master key, which seals, and older ones that still open records written before a
 * rotation. `reload` is asked for a fresh keyring when a record names a key this one lacks (the
 * key files changed under a running process).
 */
export class Keyring {
  constructor(
    readonly current: MasterKey,
    private readonly previous: MasterKey[] = [],
    private readonly reload?: () => Keyring,
  ) {}

  find(id: string): MasterKey | undefined {
    if (id === this.current.id) return this.current;
    return this.previous.find((k) => k.id === id) ?? this.reload?.().findLoaded(id);
  }

  private findLoaded(id: string): MasterKey | undefined {
    return id === this.current.id ? this.current : this.previous.find((k) => k.id === id);
  }
}

const AAD_VERSION = 'berth-credential:v1';
const aad = (owner: SecretOwner) => Buffer.from(`${AAD_VERSION}\0${owner.tenantId}\0${owner.provider}`);

/** AES-256-GCM with a random 12-byte IV; the owner is authenticated as associated data. */
export function seal(keyring: Keyring, owner: SecretOwner, secret: string): SealedSecret {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyring.current.key, iv);
  cipher.setAAD(aad(owner));
  const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return {
    key_id: keyring.current.id,
    iv: iv.toString('base64'),
    ciphertext: ciphertext.toString('base64'),
    auth_tag: cipher.getAuthTag().toString('base64'),
  };
}

export function open(keyring: Keyring, owner: SecretOwner, sealed: SealedSecret): string {
  const master = keyring.find(sealed.key_id);
  if (!master) throw new VaultError(`the master key ${sealed.key_id} that sealed this credential is not configured`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', master.key, Buffer.from(sealed.iv, 'base64'));
    decipher.setAAD(aad(owner));
    decipher.setAuthTag(Buffer.from(sealed.auth_tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    // Never say more: wrong owner, wrong key and tampering look the same.
    throw new VaultError('the stored credential could not be decrypted');
  }
}

/** What may be shown of a token: its last four characters. */
export const fingerprintOf = (token: string) => `…${token.slice(-4)}`;
