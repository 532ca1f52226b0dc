import { LABEL_JOB, LABEL_MANAGED, LABEL_TENANT, ProviderError } from '../types.js';

/**
 * DigitalOcean has tags (letters, digits, `:`, `-`, `_`; at most 255 characters), not key/value
 * labels. Berth's own labels map to tags that round-trip exactly:
 *
 *   berth.dev/managed=true  <->  berth-managed
 *   berth.dev/job=<id>      <->  berth-job:<id>
 *   berth.dev/tenant=<id>   <->  berth-tenant:<id>
 *
 * Any other label becomes `<key>:<value>` (just `<key>` when the value is empty) with every
 * character outside the tag alphabet replaced by `_`, cut at 255 characters, and prefixed with
 * `user-` when it would otherwise start with `berth-`, so a user label can never pose as Berth's.
 * Those tags are lossy and are not read back into labels.
 */
export const TAG_MANAGED = 'berth-managed';
const JOB_PREFIX = 'berth-job:';
const TENANT_PREFIX = 'berth-tenant:';
const MAX_TAG = 255;

/** Job and tenant ids are already in the tag alphabet; anything else could not round-trip. */
const BERTH_ID = /^[a-z0-9-]+$/;

export const jobTag = (jobId: string) => JOB_PREFIX + berthId(LABEL_JOB, jobId, JOB_PREFIX);
export const tenantTag = (tenantId: string) => TENANT_PREFIX + berthId(LABEL_TENANT, tenantId, TENANT_PREFIX);

function berthId(label: string, value: string, prefix: string): string {
  if (!BERTH_ID.test(value) || prefix.length + value.length > MAX_TAG) {
    throw new ProviderError(`label ${label}=${JSON.stringify(value)} cannot be written as a DigitalOcean tag`, 'invalid_input', false);
  }
  return value;
}

/** The lossy tag for a label that is not Berth's; `undefined` for an empty key. */
export function userTag(key: string, value: string): string | undefined {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_:-]/g, '_');
  if (key === '') return undefined;
  let tag = value === '' ? clean(key) : `${clean(key)}:${clean(value)}`;
  if (tag.toLowerCase().startsWith('berth-')) tag = `user-${tag}`;
  return tag.slice(0, MAX_TAG);
}

export function labelsToTags(labels: Record<string, string>): string[] {
  const tags = new Set<string>();
  for (const [key, value] of Object.entries(labels)) {
    if (key === LABEL_JOB) tags.add(jobTag(value));
    else if (key === LABEL_TENANT) tags.add(tenantTag(value));
    else if (key === LABEL_MANAGED) {
      if (value !== 'true') throw new ProviderError(`label ${LABEL_MANAGED} can only be "true"`, 'invalid_input', false);
      tags.add(TAG_MANAGED);
    } else {
      const tag = userTag(key, value);
      if (tag) tags.add(tag);
    }
  }
  return [...tags];
}

/**
 * Berth's labels, rebuilt from a droplet's tags; other tags are ignored. Read case-insensitively:
 * DigitalOcean keeps the spelling a tag was first created with, and Berth's ids are lowercase.
 */
export function tagsToLabels(tags: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const tag of tags.map((t) => t.toLowerCase())) {
    if (tag === TAG_MANAGED) labels[LABEL_MANAGED] = 'true';
    else if (tag.startsWith(JOB_PREFIX)) labels[LABEL_JOB] = tag.slice(JOB_PREFIX.length);
    else if (tag.startsWith(TENANT_PREFIX)) labels[LABEL_TENANT] = tag.slice(TENANT_PREFIX.length);
  }
  return labels;
}
