// provider ls | verify | regions | plans
import { parseArgs } from 'node:util';
import { apiClient, output, outputOption, parsed, positionals, seg, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { memory, price, print, printJson, table } from '../format.js';
import { readSecret } from '../secret.js';

interface PlanView {
  name: string;
  vcpu: number;
  memory_mb: number;
  disk_gb: number;
  arch: string;
  price_monthly: number;
  price_hourly: number;
  currency: string;
}

export const providerCommands: Command[] = [
  {
    noun: 'provider',
    verb: 'ls',
    synopsis: '',
    summary: 'the providers, and whether a token is stored for each',
    async run(args) {
      const { values, positionals: rest } = parsed('provider', () => parseArgs({ args, allowPositionals: true, options: { ...outputOption } }));
      positionals('provider ls', 'provider', rest);
      const out = output(values, 'provider');
      const answer = await apiClient().get<{ providers: Array<{ name: string; configured: boolean; fingerprint?: string }> }>('/cluster/providers');
      if (out === 'json') return printJson(answer);
      print(
        table(
          answer.providers,
          [
            { title: 'PROVIDER', value: (p) => p.name },
            { title: 'CONFIGURED', value: (p) => (p.configured ? 'yes' : 'no') },
            { title: 'TOKEN', value: (p) => p.fingerprint },
          ],
          'no providers',
        ),
      );
    },
  },
  {
    noun: 'provider',
    verb: 'verify',
    synopsis: '<name> [--token TOKEN]',
    summary: 'checks a cloud token with the provider and stores it sealed (read from stdin without --token)',
    async run(args) {
      const { values, positionals: rest } = parsed('provider', () => parseArgs({ args, allowPositionals: true, options: { token: { type: 'string' }, ...outputOption } }));
      const [name] = positionals('provider verify', 'provider', rest, '<name>');
      const out = output(values, 'provider');
      const client = apiClient();
      const token = values.token ?? (await readSecret(`${name} API token (not shown): `, `${name} token`));
      const answer = await client.request<{ valid: boolean; provider: string; fingerprint: string }>('POST', `/cluster/providers/${seg(name!)}/verify`, {
        body: { token },
      });
      if (out === 'json') printJson(answer);
      else print(`${answer.provider}: the token is valid and stored (fingerprint ${answer.fingerprint})`);
    },
  },
  {
    noun: 'provider',
    verb: 'regions',
    synopsis: '<name>',
    summary: "the provider's regions",
    async run(args) {
      const { values, positionals: rest } = parsed('provider', () => parseArgs({ args, allowPositionals: true, options: { ...outputOption } }));
      const [name] = positionals('provider regions', 'provider', rest, '<name>');
      const out = output(values, 'provider');
      const answer = await apiClient().get<{ regions: Array<{ name: string; description: string }> }>(`/cluster/providers/${seg(name!)}/regions`);
      if (out === 'json') return printJson(answer);
      print(
        table(
          answer.regions,
          [
            { title: 'REGION', value: (r) => r.name },
            { title: 'DESCRIPTION', value: (r) => r.description },
          ],
          'no regions',
        ),
      );
    },
  },
  {
    noun: 'provider',
    verb: 'plans',
    synopsis: '<name> --region R',
    summary: 'the plans sold in a region, with their indicative prices',
    async run(args) {
      const { values, positionals: rest } = parsed('provider', () => parseArgs({ args, allowPositionals: true, options: { region: { type: 'string' }, ...outputOption } }));
      const [name] = positionals('provider plans', 'provider', rest, '<name>');
      if (!values.region) throw new UsageError('provider plans: missing --region', 'provider');
      const out = output(values, 'provider');
      const answer = await apiClient().get<{ plans: PlanView[]; note?: string }>(`/cluster/providers/${seg(name!)}/plans`, { region: values.region });
      if (out === 'json') return printJson(answer);
      print(
        table(
          answer.plans,
          [
            { title: 'PLAN', value: (p) => p.name },
            { title: 'VCPU', value: (p) => p.vcpu, align: 'right' },
            { title: 'RAM', value: (p) => memory(p.memory_mb), align: 'right' },
            { title: 'DISK', value: (p) => `${p.disk_gb} GB`, align: 'right' },
            { title: 'ARCH', value: (p) => p.arch },
            { title: 'MONTHLY', value: (p) => price(p.price_monthly), align: 'right' },
            { title: 'HOURLY', value: (p) => price(p.price_hourly), align: 'right' },
            { title: 'CURRENCY', value: (p) => p.currency },
          ],
          `no plans in ${values.region}`,
        ),
      );
      if (answer.note && answer.plans.length) print(`\n${answer.note}`);
    },
  },
];
