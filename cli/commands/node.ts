// node add | ls | rm
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { apiClient, output, outputOption, parsed, positionals, seg, type Command } from '../command.js';
import { CliError, UsageError } from '../errors.js';
import { age, print, printJson, table } from '../format.js';
import { waitForJob } from '../wait.js';

export interface NodeView {
  node_id: string;
  job_id: string;
  provider: string;
  vm_id?: string | null;
  hostname: string;
  status: string;
  pool?: string;
  created_at: string;
}

const SSH_KEY = /^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+) /;

/** `--ssh-key` is a public key itself, or a file holding one (`~/.ssh/id_ed25519.pub`). */
export function sshKey(value: string): string {
  if (SSH_KEY.test(value.trim())) return value.trim();
  const file = value.replace(/^~(?=$|\/)/, os.homedir());
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`--ssh-key: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give an OpenSSH public key or a .pub file`);
  }
  if (/PRIVATE KEY/.test(text)) throw new CliError(`--ssh-key: ${file} is a private key; give its .pub file`);
  return text.trim();
}

/** `--label k=v`, repeated. */
export function labels(values: string[] | undefined, noun: string): Record<string, string> | undefined {
  if (!values?.length) return undefined;
  const out: Record<string, string> = {};
  for (const pair of values) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--label must be key=value, not "${pair}"`, noun);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

export const nodeTable = (nodes: NodeView[]) =>
  table(
    nodes,
    [
      { title: 'NODE', value: (n) => n.node_id },
      { title: 'HOSTNAME', value: (n) => n.hostname },
      { title: 'STATUS', value: (n) => n.status },
      { title: 'PROVIDER', value: (n) => n.provider },
      { title: 'POOL', value: (n) => n.pool },
      { title: 'VM', value: (n) => n.vm_id },
      { title: 'JOB', value: (n) => n.job_id },
      { title: 'AGE', value: (n) => age(n.created_at), align: 'right' },
    ],
    'no nodes',
  );

export const nodeCommands: Command[] = [
  {
    noun: 'node',
    verb: 'add',
    synopsis: '--provider P --region R --plan X [--hostname H] [--ssh-key FILE|KEY] [--label k=v ...] [--wait]',
    summary: 'asks for a node; --wait shows each phase and prints the node id when it is ready',
    async run(args) {
      const { values, positionals: rest } = parsed('node', () =>
        parseArgs({
          args,
          allowPositionals: true,
          options: {
            provider: { type: 'string' },
            region: { type: 'string' },
            plan: { type: 'string' },
            hostname: { type: 'string' },
            'ssh-key': { type: 'string' },
            label: { type: 'string', multiple: true },
            wait: { type: 'boolean' },
            ...outputOption,
          },
        }),
      );
      positionals('node add', 'node', rest);
      const out = output(values, 'node');
      const missing = (['provider', 'region', 'plan'] as const).filter((k) => !values[k]);
      if (missing.length) throw new UsageError(`node add: missing ${missing.map((k) => `--${k}`).join(', ')}`, 'node');
      const body = {
        provider: values.provider,
        region: values.region,
        plan: values.plan,
        ...(values.hostname !== undefined && { hostname: values.hostname }),
        ...(values['ssh-key'] !== undefined && { ssh_key: sshKey(values['ssh-key']) }),
        ...(values.label?.length && { labels: labels(values.label, 'node') }),
      };
      const client = apiClient();
      const { job_id: jobId } = await client.request<{ job_id: string }>('POST', '/cluster/nodes', { body });
      if (values.wait) return waitForJob(client, jobId, out);
      if (out === 'json') printJson({ job_id: jobId });
      else print(`job ${jobId} queued; \`berth job show ${jobId}\` shows where it is`);
    },
  },
  {
    noun: 'node',
    verb: 'ls',
    synopsis: '[--status ready|decommissioning|decommissioned] [--pool P]',
    summary: 'lists the nodes, newest first',
    async run(args) {
      const { values, positionals: rest } = parsed('node', () =>
        parseArgs({ args, allowPositionals: true, options: { status: { type: 'string' }, pool: { type: 'string' }, ...outputOption } }),
      );
      positionals('node ls', 'node', rest);
      const out = output(values, 'node');
      const answer = await apiClient().get<{ nodes: NodeView[] }>('/cluster/nodes', { status: values.status });
      const nodes = values.pool === undefined ? answer.nodes : answer.nodes.filter((n) => n.pool === values.pool);
      if (out === 'json') printJson({ ...answer, nodes });
      else print(nodeTable(nodes));
    },
  },
  {
    noun: 'node',
    verb: 'rm',
    synopsis: '<node_id>',
    summary: 'decommissions a node: deletes its VM and revokes it',
    async run(args) {
      const { values, positionals: rest } = parsed('node', () => parseArgs({ args, allowPositionals: true, options: { ...outputOption } }));
      const [nodeId] = positionals('node rm', 'node', rest, '<node_id>');
      const out = output(values, 'node');
      const answer = await apiClient().request<{ node_id: string; status: string }>('DELETE', `/cluster/nodes/${seg(nodeId!)}`);
      if (out === 'json') printJson(answer);
      else print(`node ${answer.node_id}: ${answer.status}${answer.status === 'decommissioning' ? '; its VM is being deleted' : ''}`);
    },
  },
];
