// `--wait`: follows a job's phases on its event stream until it ends.
import type { Client } from './client.js';
import { seg } from './command.js';
import { CliError } from './errors.js';
import { printJson, type Output } from './format.js';
import { PhaseProgress } from './progress.js';

/** Phases after which a provision job changes no more on its own (workflows/phases.ts). */
const FINAL = new Set(['ready', 'failed', 'cancelled', 'decommissioned']);

interface PhaseEvent {
  job_id: string;
  phase: string;
  at: string;
  node_id?: string;
  error?: string;
}

/**
 * Shows each phase as it comes; on `ready` prints the node id (or the job as JSON), otherwise
 * fails with the job's error. Ctrl-C stops waiting and leaves the job running.
 */
export async function waitForJob(client: Client, jobId: string, out: Output): Promise<void> {
  const progress = new PhaseProgress();
  const controller = new AbortController();
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  let end: PhaseEvent | undefined;
  try {
    for await (const event of client.events(`/cluster/jobs/${seg(jobId)}/events`, controller.signal)) {
      if (event.event !== 'phase') continue;
      const data = JSON.parse(event.data) as PhaseEvent;
      progress.phase(data.phase, data.at);
      if (FINAL.has(data.phase)) {
        end = data;
        break;
      }
    }
  } catch (err) {
    if (!interrupted) {
      progress.finish();
      // The job does not depend on this command: say how to find it again.
      const message = err instanceof Error ? err.message : String(err);
      throw new CliError(`${message}; job ${jobId} carries on (\`berth job show ${jobId}\` shows it)`, err instanceof CliError ? err.exitCode : 1);
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (interrupted || !end) {
    progress.finish();
    throw new CliError(`stopped waiting; job ${jobId} carries on (\`berth job show ${jobId}\` follows it, \`berth job cancel ${jobId}\` cancels it)`, 130);
  }
  const ok = end.phase === 'ready';
  progress.finish({ ok });
  if (out === 'json') printJson(await client.get(`/cluster/jobs/${seg(jobId)}`));
  else if (ok) process.stdout.write(`${end.node_id}\n`);
  if (!ok) throw new CliError(`job ${jobId} ${end.phase}: ${end.error ?? 'no reason recorded'}`);
}
