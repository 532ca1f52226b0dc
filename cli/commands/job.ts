// job ls | show | cancel
import { parseArgs } from 'node:util';
import { apiClient, output, outputOption, parsed, positionals, seg, wholeNumber, type Command } from '../command.js';
import { age, fields, print, printJson, seconds, table, time } from '../format.js';

interface JobView {
  job_id: string;
  phase: string;
  provider: string;
  region: string;
  plan: string;
  hostname?: string;
  node_id?: string;
  vm_id?: string;
  error?: string;
  created_at: string;
  updated_at: string;
  progress?: Array<{ phase: string; at: string }>;
}

export const jobCommands: Command[] = [
  {
    noun: 'job',
    verb: 'ls',
    synopsis: '[--phase P] [--limit N]',
    summary: 'lists the jobs, newest first (100 unless --limit)',
    async run(args) {
      const { values, positionals: rest } = parsed('job', () =>
        parseArgs({ args, allowPositionals: true, options: { phase: { type: 'string' }, limit: { type: 'string' }, ...outputOption } }),
      );
      positionals('job ls', 'job', rest);
      const out = output(values, 'job');
      const answer = await apiClient().get<{ jobs: JobView[] }>('/cluster/jobs', { phase: values.phase, limit: wholeNumber(values.limit, '--limit', 'job') });
      if (out === 'json') return printJson(answer);
      print(
        table(
          answer.jobs,
          [
            { title: 'JOB', value: (j) => j.job_id },
            { title: 'PHASE', value: (j) => j.phase },
            { title: 'PROVIDER', value: (j) => j.provider },
            { title: 'REGION', value: (j) => j.region },
            { title: 'PLAN', value: (j) => j.plan },
            { title: 'HOSTNAME', value: (j) => j.hostname },
            { title: 'NODE', value: (j) => j.node_id },
            { title: 'AGE', value: (j) => age(j.created_at), align: 'right' },
            { title: 'ERROR', value: (j) => j.error },
          ],
          'no jobs',
        ),
      );
    },
  },
  {
    noun: 'job',
    verb: 'show',
    synopsis: '<job_id>',
    summary: 'one job: where it is, its node and VM, its error, and every phase it passed',
    async run(args) {
      const { values, positionals: rest } = parsed('job', () => parseArgs({ args, allowPositionals: true, options: { ...outputOption } }));
      const [jobId] = positionals('job show', 'job', rest, '<job_id>');
      const out = output(values, 'job');
      const job = await apiClient().get<JobView>(`/cluster/jobs/${seg(jobId!)}`);
      if (out === 'json') return printJson(job);
      const progress = job.progress ?? [];
      const start = Date.parse(progress[0]?.at ?? job.created_at);
      print(
        fields([
          ['job', job.job_id],
          ['phase', job.phase],
          ['request', `${job.provider} ${job.plan} in ${job.region}`],
          ['hostname', job.hostname],
          ['node', job.node_id],
          ['vm', job.vm_id],
          ['error', job.error],
          ['created', time(job.created_at)],
          ['updated', time(job.updated_at)],
        ]),
      );
      print('');
      print(
        table(
          progress,
          [
            { title: 'PHASE', value: (p) => p.phase },
            { title: 'AT', value: (p) => time(p.at) },
            { title: 'AFTER', value: (p) => `+${seconds(Date.parse(p.at) - start)}`, align: 'right' },
          ],
          'no phases recorded yet',
        ),
      );
    },
  },
  {
    noun: 'job',
    verb: 'cancel',
    synopsis: '<job_id>',
    summary: 'cancels a job that has not ended; its VM is torn down',
    async run(args) {
      const { positionals: rest } = parsed('job', () => parseArgs({ args, allowPositionals: true, options: {} }));
      const [jobId] = positionals('job cancel', 'job', rest, '<job_id>');
      await apiClient().request('POST', `/cluster/jobs/${seg(jobId!)}/cancel`);
      print(`job ${jobId}: cancelling; its VM is torn down (\`berth job show ${jobId}\` follows it)`);
    },
  },
];
