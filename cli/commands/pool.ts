// pool ls | show | create | scale | rm | events
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { apiClient, output, outputOption, parsed, positionals, seg, wholeNumber, type Command } from '../command.js';
import { CliError, UsageError } from '../errors.js';
import { fields, memory, price, print, printJson, table, time } from '../format.js';
import { labels, sshKey } from './node.js';

interface PoolView {
  name: string;
  state: string;
  template: { provider: string; region: string; plan: string; user_data?: { bytes: number }; workload_command?: string; labels?: Record<string, string> };
  template_version: number;
  min: number;
  max: number;
  desired: number;
  autoscaling: { scale_out_cpu?: number; scale_in_cpu?: number; window: string; cooldown: string; step: number; empty_ttl?: string } | null;
  health: { unhealthy_after: string; max_unhealthy: string | number };
  evaluation_interval: string;
  drain_timeout: string;
  nodes: { ready: number; provisioning: number; draining: number; unhealthy: number };
  capacity: { vcpu: number; memory_mb: number; disk_gb: number; arch: string; price_monthly: number; currency: string };
  cpu_average: number | null;
  last_action: { at: string; kind: string; reason: string } | null;
  conditions: Array<{ type: string; reason: string; message: string }>;
  workflow_id: string;
}

const templateText = (t: PoolView['template']) => `${t.provider} ${t.plan} in ${t.region}`;

function autoscalingText(a: PoolView['autoscaling']): string {
  if (!a) return 'off';
  const parts = [
    a.scale_out_cpu !== undefined && `out above cpu ${a.scale_out_cpu}`,
    a.scale_in_cpu !== undefined && `in below cpu ${a.scale_in_cpu}`,
    `window ${a.window}`,
    `cooldown ${a.cooldown}`,
    `step ${a.step}`,
    a.empty_ttl !== undefined && `empty nodes removed after ${a.empty_ttl}`,
  ];
  return parts.filter(Boolean).join(', ');
}

function showPool(pool: PoolView): void {
  const n = pool.nodes;
  const c = pool.capacity;
  print(
    fields([
      ['pool', pool.name],
      ['state', pool.state],
      ['template', `${templateText(pool.template)} (version ${pool.template_version})${pool.template.user_data ? `, user-data ${pool.template.user_data.bytes} bytes` : ''}`],
      ['size', `desired ${pool.desired} (min ${pool.min}, max ${pool.max})`],
      ['nodes', `${n.ready} ready, ${n.provisioning} provisioning, ${n.draining} draining, ${n.unhealthy} unhealthy`],
      ['capacity', `${c.vcpu} vCPU, ${memory(c.memory_mb)} RAM, ${c.disk_gb} GB disk (${c.arch}); ${price(c.price_monthly)} ${c.currency}/month`],
      ['cpu average', pool.cpu_average],
      ['autoscaling', autoscalingText(pool.autoscaling)],
      ['health', `unhealthy after ${pool.health.unhealthy_after} without a heartbeat; at most ${pool.health.max_unhealthy} replaced at once`],
      ['evaluation', `every ${pool.evaluation_interval}; drain timeout ${pool.drain_timeout}`],
      ['last action', pool.last_action ? `${time(pool.last_action.at)}  ${pool.last_action.kind}: ${pool.last_action.reason}` : 'none yet'],
      ['conditions', pool.conditions.length ? pool.conditions.map((x) => `${x.type} (${x.reason}): ${x.message}`).join('\n' + ' '.repeat(14)) : 'none'],
      ['workflow', pool.workflow_id],
    ]),
  );
}

/** A spec file in the API's JSON shape (`POST /cluster/pools`), as JSON or YAML. */
async function readSpecFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`--file: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let spec: unknown;
  try {
    if (path.extname(file) === '.json') spec = JSON.parse(text);
    else spec = (await import('yaml')).parse(text); // YAML is a superset of JSON
  } catch (err) {
    throw new CliError(`--file: ${file} is not valid ${path.extname(file) === '.json' ? 'JSON' : 'YAML or JSON'}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new CliError(`--file: ${file} must hold an object, the body of POST /cluster/pools`);
  return spec as Record<string, unknown>;
}

const viewOrJson = (out: string, pool: PoolView) => (out === 'json' ? printJson(pool) : showPool(pool));

export const poolCommands: Command[] = [
  {
    noun: 'pool',
    verb: 'ls',
    synopsis: '',
    summary: 'the node pools, with their sizes and counts',
    async run(args) {
      const { values, positionals: rest } = parsed('pool', () => parseArgs({ args, allowPositionals: true, options: { ...outputOption } }));
      positionals('pool ls', 'pool', rest);
      const out = output(values, 'pool');
      const answer = await apiClient().get<{ pools: PoolView[] }>('/cluster/pools');
      if (out === 'json') return printJson(answer);
      print(
        table(
          answer.pools,
          [
            { title: 'POOL', value: (p) => p.name },
            { title: 'STATE', value: (p) => p.state },
            { title: 'TEMPLATE', value: (p) => templateText(p.template) },
            { title: 'MIN', value: (p) => p.min, align: 'right' },
            { title: 'DESIRED', value: (p) => p.desired, align: 'right' },
            { title: 'MAX', value: (p) => p.max, align: 'right' },
            { title: 'READY', value: (p) => p.nodes.ready, align: 'right' },
            { title: 'PROVISIONING', value: (p) => p.nodes.provisioning, align: 'right' },
            { title: 'DRAINING', value: (p) => p.nodes.draining, align: 'right' },
            { title: 'UNHEALTHY', value: (p) => p.nodes.unhealthy, align: 'right' },
            { title: 'CONDITIONS', value: (p) => p.conditions.map((c) => `${c.type}(${c.reason})`).join(', ') },
          ],
          'no pools',
        ),
      );
    },
  },
  {
    noun: 'pool',
    verb: 'show',
    synopsis: '<name>',
    summary: 'one pool: its spec, node counts, capacity, conditions and last action',
    async run(args) {
      const { values, positionals: rest } = parsed('pool', () => parseArgs({ args, allowPositionals: true, options: { ...outputOption } }));
      const [name] = positionals('pool show', 'pool', rest, '<name>');
      const out = output(values, 'pool');
      viewOrJson(out, await apiClient().get<PoolView>(`/cluster/pools/${seg(name!)}`));
    },
  },
  {
    noun: 'pool',
    verb: 'create',
    synopsis: '<name> --provider P --region R --plan X --min N --max N [--desired N] [--ssh-key FILE|KEY] [--label k=v ...] [--file spec.json|yaml]',
    summary: "makes a pool; --file gives a whole spec (the API's JSON shape, or YAML), flags override it",
    async run(args) {
      const { values, positionals: rest } = parsed('pool', () =>
        parseArgs({
          args,
          allowPositionals: true,
          options: {
            provider: { type: 'string' },
            region: { type: 'string' },
            plan: { type: 'string' },
            min: { type: 'string' },
            max: { type: 'string' },
            desired: { type: 'string' },
            'ssh-key': { type: 'string' },
            label: { type: 'string', multiple: true },
            file: { type: 'string', short: 'f' },
            ...outputOption,
          },
        }),
      );
      if (rest.length > 1) throw new UsageError(`pool create: unexpected argument "${rest[1]}"`, 'pool');
      const out = output(values, 'pool');
      const file = values.file === undefined ? {} : await readSpecFile(values.file);
      const fileTemplate = typeof file.template === 'object' && file.template !== null ? (file.template as Record<string, unknown>) : {};
      const template = {
        ...fileTemplate,
        ...(values.provider !== undefined && { provider: values.provider }),
        ...(values.region !== undefined && { region: values.region }),
        ...(values.plan !== undefined && { plan: values.plan }),
        ...(values['ssh-key'] !== undefined && { ssh_key: sshKey(values['ssh-key']) }),
        ...(values.label?.length && { labels: { ...(fileTemplate.labels as object), ...labels(values.label, 'pool') } }),
      };
      const numbers = {
        min: wholeNumber(values.min, '--min', 'pool'),
        max: wholeNumber(values.max, '--max', 'pool'),
        desired: wholeNumber(values.desired, '--desired', 'pool'),
      };
      const body: Record<string, unknown> = { ...file, template };
      if (rest[0] !== undefined) body.name = rest[0];
      for (const [key, value] of Object.entries(numbers)) if (value !== undefined) body[key] = value;
      if (values.file === undefined) {
        const missing = [
          body.name === undefined && '<name>',
          ...(['provider', 'region', 'plan'] as const).filter((k) => !values[k]).map((k) => `--${k}`),
          ...(['min', 'max'] as const).filter((k) => numbers[k] === undefined).map((k) => `--${k}`),
        ].filter(Boolean);
        if (missing.length) throw new UsageError(`pool create: missing ${missing.join(', ')}`, 'pool');
      } else if (body.name === undefined) {
        throw new UsageError('pool create: missing <name> (as the argument or `name` in the file)', 'pool');
      }
      viewOrJson(out, await apiClient().request<PoolView>('POST', '/cluster/pools', { body }));
    },
  },
  {
    noun: 'pool',
    verb: 'scale',
    synopsis: '<name> --desired N [--min N] [--max N]',
    summary: "changes a pool's size; it takes effect at once",
    async run(args) {
      const { values, positionals: rest } = parsed('pool', () =>
        parseArgs({ args, allowPositionals: true, options: { desired: { type: 'string' }, min: { type: 'string' }, max: { type: 'string' }, ...outputOption } }),
      );
      const [name] = positionals('pool scale', 'pool', rest, '<name>');
      const out = output(values, 'pool');
      const body = {
        desired: wholeNumber(values.desired, '--desired', 'pool'),
        min: wholeNumber(values.min, '--min', 'pool'),
        max: wholeNumber(values.max, '--max', 'pool'),
      };
      if (Object.values(body).every((v) => v === undefined)) throw new UsageError('pool scale: give --desired (and/or --min, --max)', 'pool');
      const pool = await apiClient().request<PoolView>('PATCH', `/cluster/pools/${seg(name!)}`, { body: JSON.parse(JSON.stringify(body)) });
      if (out === 'json') printJson(pool);
      else print(`pool ${pool.name}: desired ${pool.desired} (min ${pool.min}, max ${pool.max}); ${pool.nodes.ready} ready, ${pool.nodes.provisioning} provisioning`);
    },
  },
  {
    noun: 'pool',
    verb: 'rm',
    synopsis: '<name>',
    summary: 'deletes a pool: drains and removes its nodes, then the pool',
    async run(args) {
      const { values, positionals: rest } = parsed('pool', () => parseArgs({ args, allowPositionals: true, options: { ...outputOption } }));
      const [name] = positionals('pool rm', 'pool', rest, '<name>');
      const out = output(values, 'pool');
      const answer = await apiClient().request<{ name: string; state: string }>('DELETE', `/cluster/pools/${seg(name!)}`);
      if (out === 'json') printJson(answer);
      else print(`pool ${answer.name}: ${answer.state}; its nodes are drained and removed, then the pool (\`berth pool events ${answer.name}\` follows it)`);
    },
  },
  {
    noun: 'pool',
    verb: 'events',
    synopsis: '<name>',
    summary: "the pool's decisions with their reasons, then new ones as they are taken (Ctrl-C stops)",
    async run(args) {
      const { values, positionals: rest } = parsed('pool', () => parseArgs({ args, allowPositionals: true, options: { ...outputOption } }));
      const [name] = positionals('pool events', 'pool', rest, '<name>');
      const out = output(values, 'pool');
      const client = apiClient();
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.on('SIGINT', stop);
      try {
        for await (const event of client.events(`/cluster/pools/${seg(name!)}/events`, controller.signal)) {
          if (out === 'json') {
            process.stdout.write(`${JSON.stringify({ event: event.event, ...JSON.parse(event.data) })}\n`);
          } else if (event.event === 'decision') {
            const d = JSON.parse(event.data) as { at: string; kind: string; reason: string };
            print(`${time(d.at)}  ${d.kind.padEnd(14)}  ${d.reason}`);
          } else if (event.event === 'deleted') {
            print(`pool ${name} is deleted`);
          }
          if (event.event === 'deleted') return;
        }
      } catch (err) {
        if (!controller.signal.aborted) throw err;
      } finally {
        process.off('SIGINT', stop);
      }
    },
  },
];
