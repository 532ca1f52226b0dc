// A child process kept running by `npm start`: when it exits it is started again after a back-off
// (1s doubling to 30s, back to 1s once a run lasted a minute), and a crash loop keeps retrying at
// the longest delay instead of giving up. stop() also cancels a restart that is waiting.
import type { ChildProcess } from 'node:child_process';
import { stopProcess } from './dev-server.js';

export interface RestartPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  /** A run at least this long was healthy: the next exit starts the back-off over. */
  resetAfterMs: number;
  /** After this many quick restarts in a row the child is crash-looping: every retry waits maxDelayMs. */
  crashLoopAfter: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { initialDelayMs: 1_000, maxDelayMs: 30_000, resetAfterMs: 60_000, crashLoopAfter: 5 };

export interface RestartDecision {
  /** Which quick restart in a row this is (1 after a healthy run). */
  restart: number;
  delayMs: number;
  crashLoop: boolean;
}

/** The restart after a run of ranMs, given how many quick restarts came right before it. */
export function nextRestart(quickRestarts: number, ranMs: number, policy: RestartPolicy = DEFAULT_RESTART_POLICY): RestartDecision {
  const restart = ranMs >= policy.resetAfterMs ? 1 : quickRestarts + 1;
  const crashLoop = restart > policy.crashLoopAfter;
  const delayMs = crashLoop ? policy.maxDelayMs : Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (restart - 1));
  return { restart, delayMs, crashLoop };
}

/** "1s", "1.5s", "30s", "2m": short enough for one log line. */
export function formatDelay(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Number((ms / 1_000).toFixed(1))}s`;
}

export interface SupervisedOptions {
  /** As the log names it: "worker", "API", "Temporal dev server". */
  name: string;
  /** Starts one run; a rejection counts as a run that ended at once. */
  start: () => ChildProcess | Promise<ChildProcess>;
  /** Where the restart lines go (one line each, without a prefix). */
  say: (line: string) => void;
  policy?: RestartPolicy;
  /** Asked at each exit; false leaves the child stopped (npm start: an exit before it is up is fatal). */
  shouldRestart?: (exit: string) => boolean;
  /** Stops a run (default: SIGTERM, SIGKILL after 10s). */
  stopRun?: (child: ChildProcess) => Promise<void>;
}

export interface Supervised {
  readonly name: string;
  /** The current run; undefined while a restart waits. */
  readonly child: ChildProcess | undefined;
  /** Restarts so far, all of them. */
  readonly restarts: number;
  /** Stops the current run, or cancels the restart that waits; no run starts afterwards. */
  stop(): Promise<void>;
}

const describeExit = (code: number | null, signal: NodeJS.Signals | null) => (signal ? `signal ${signal}` : `code ${code}`);

/** Starts the child (the first start's error is thrown) and keeps it running until stop(). */
export async function supervise(options: SupervisedOptions): Promise<Supervised> {
  const policy = options.policy ?? DEFAULT_RESTART_POLICY;
  const stopRun = options.stopRun ?? ((child: ChildProcess) => stopProcess(child));
  let child: ChildProcess | undefined;
  let starting: Promise<unknown> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let quick = 0;
  let restarts = 0;

  const afterExit = (exit: string, ranMs: number, verb: string) => {
    child = undefined;
    if (stopped) return;
    if (options.shouldRestart && !options.shouldRestart(exit)) return;
    const next = nextRestart(quick, ranMs, policy);
    quick = next.restart;
    const loop = next.crashLoop ? `; crash loop: no run lasted ${formatDelay(policy.resetAfterMs)}, retrying every ${formatDelay(policy.maxDelayMs)} until one does` : '';
    options.say(`the ${options.name} ${verb} (${exit}); restarting in ${formatDelay(next.delayMs)} (restart ${next.restart}${loop})`);
    timer = setTimeout(() => {
      timer = undefined;
      restarts++;
      void run().catch(() => {}); // the failure has been reported and rescheduled by run()
    }, next.delayMs);
  };

  const run = (): Promise<void> => {
    const startedAt = Date.now();
    const attempt = (async () => {
      let started: ChildProcess;
      try {
        started = await options.start();
      } catch (err) {
        if (restarts === 0) throw err;
        afterExit(err instanceof Error ? err.message : String(err), Date.now() - startedAt, 'did not start');
        return;
      }
      if (stopped) return void (await stopRun(started));
      child = started;
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => afterExit(describeExit(code, signal), Date.now() - startedAt, 'exited');
      if (started.exitCode !== null || started.signalCode !== null) onExit(started.exitCode, started.signalCode);
      else started.once('exit', onExit);
    })();
    // stop() waits for a start in progress, and stops what it started.
    const pending: Promise<void> = attempt
      .catch(() => {})
      .finally(() => {
        if (starting === pending) starting = undefined;
      });
    starting = pending;
    return attempt;
  };

  await run();
  return {
    name: options.name,
    get child() {
      return child;
    },
    get restarts() {
      return restarts;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await starting;
      if (child) await stopRun(child);
    },
  };
}
