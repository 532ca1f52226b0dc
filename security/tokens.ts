import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Constant-time comparison of two hex digests (different lengths are simply unequal). */
export function digestsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** A random identifier of lowercase letters and digits, safe in hostnames, labels and URLs. */
export function randomId(length = 16): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

/** A deterministic identifier of the same alphabet, for ids derived from an idempotency key. */
export function derivedId(...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('\0')).digest();
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < 16; i++) out += alphabet[digest[i]! % alphabet.length];
  return out;
}

export function newSecretToken(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/**
 * The registration token of a job: derived, not random, so a retried or adopted VM creation
 * embeds the same token. Format `brt_<job_id>_<mac>`; the job id lets the API find the record.
 */
export function deriveRegistrationToken(key: Buffer, tenantId: string, jobId: string): string {
  const mac = createHmac('sha256', key).update(`berth-registration\0${tenantId}\0${jobId}`).digest('base64url');
  return `brt_${jobId}_${mac}`;
}

/** The job id a registration token claims to belong to, or undefined when it is malformed. */
export function registrationTokenJobId(token: string): string | undefined {
  const m = /^brt_([a-z0-9]{1,64})_[A-Za-z0-9_-]{43}$/.exec(token);
  return m?.[1];
}
