import { z } from 'zod';
import { LABEL_JOB, LABEL_MANAGED, LABEL_POOL, LABEL_TENANT } from '../providers/types.js';
import { PHASES } from '../workflows/phases.js';

/** An RFC 1123 host label: what every provider accepts as a server name. */
export const hostnameSchema = z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/, 'must be a host name of letters, digits and dashes (at most 63)');

const RESERVED_LABELS = new Set([LABEL_JOB, LABEL_TENANT, LABEL_MANAGED, LABEL_POOL]);

const labelsSchema = z
  .record(
    z
      .string()
      .regex(/^[a-z0-9]([a-z0-9./_-]{0,62})$/, 'label keys are lowercase letters, digits and . / _ - (at most 63)')
      .refine((key) => !RESERVED_LABELS.has(key), 'this label is set by Berth'),
    z.string().regex(/^[A-Za-z0-9._-]{0,63}$/, 'label values are letters, digits and . _ - (at most 63)'),
  )
  .refine((labels) => Object.keys(labels).length <= 32, 'at most 32 labels');

export const createNodeSchema = z
  .strictObject({
    provider: z.string().min(1),
    region: z.string().min(1).max(64),
    plan: z.string().min(1).max(64),
    hostname: hostnameSchema.optional(),
    ssh_key: z
      .string()
      .max(16_384)
      .regex(/^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+( [^\n]*)?$/, 'must be an OpenSSH public key')
      .optional(),
    image: z
      .string()
      .regex(/^[A-Za-z0-9._:/-]{1,128}$/, 'must be an image name or id')
      .optional(),
    labels: labelsSchema.optional(),
    /** Private network: a Hetzner network id or a DigitalOcean VPC uuid. */
    network: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a network id')
      .optional(),
    firewall: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a firewall id')
      .optional(),
    public_ipv4: z.boolean().optional(),
    ipv6: z.boolean().optional(),
  })
  .meta({
    id: 'NodeRequest',
    description: 'A node: the provider, region and plan, and options.',
    examples: [{ provider: 'local', region: 'local', plan: 'local-1', hostname: 'worker-1', labels: { team: 'web' } }],
  });
export type CreateNodeBody = z.output<typeof createNodeSchema>;

export const idempotencyKeySchema = z.string().regex(/^[\x21-\x7e]{1,255}$/, 'must be 1-255 visible ASCII characters');

export const listJobsQuerySchema = z.strictObject({
  phase: z.enum(PHASES).optional(),
  pool: z.string().min(1).max(63).optional().meta({ description: 'only the jobs this pool made' }),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** What a VM reports when it calls back. Extra facts are kept, within limits. */
export const registerSchema = z
  .object({
    token: z.string().min(1).max(256),
    hostname: hostnameSchema.optional(),
    credential_sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'a sha256 digest: 64 lowercase hex digits')
      .optional()
      .meta({
        description:
          "sha256 (hex) of the node agent's credential, made on the VM: the answer then carries no credential, and a repeat of a registration whose answer was lost is answered again",
      }),
  })
  .catchall(z.union([z.string().max(256), z.number(), z.boolean()]))
  .refine((body) => Object.keys(body).length <= 32, 'at most 32 facts')
  .meta({
    id: 'Registration',
    description: "The VM's registration token and its facts (at most 32; strings up to 256 characters, numbers, booleans).",
    examples: [{ token: 'brt_0123456789abcdef_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG', hostname: 'worker-1', arch: 'x86_64' }],
  });

export const idSchema = z.string().regex(/^[a-z0-9-]{1,80}$/);

/** What a reconnecting event-stream client sends; anything but an integer is ignored. */
export const lastEventIdHeaders = z.object({
  'Last-Event-ID': z.string().optional().meta({ description: 'the id of the last event received: the stream goes on after it' }),
});
