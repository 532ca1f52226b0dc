// The restart policy of `npm start`'s children, and the supervisor on real (tiny) processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RESTART_POLICY, formatDelay, nextRestart, supervise, type RestartPolicy } from '../../temporal/supervisor.js';

describe('nextRestart', () => {
  it('doubles from 1s to 30s over quick restarts, then stays at 30s as a crash loop', () => {
    let quick = 0;
    const seen: Array<[number, number, boolean]> = [];
    for (let i = 0; i < 8; i++) {
      const next = nextRestart(quick, 500);
      seen.push([next.restart, next.delayMs, next.crashLoop]);
      quick = next.restart;
    }
    expect(seen).toEqual([
      [1, 1_000, false],
      [2, 2_000, false],
      [3, 4_000, false],
      [4, 8_000, false],
      [5, 16_000, false],
      [6, 30_000, true],
      [7, 30_000, true],
      [8, 30_000, true],
    ]);
  });

  it('starts over after a run of at least a minute, and not after a shorter one', () => {
    expect(nextRestart(7, 60_000)).toEqual({ restart: 1, delayMs: 1_000, crashLoop: false });
    expect(nextRestart(3, 59_999)).toEqual({ restart: 4, delayMs: 8_000, crashLoop: false });
  });

  it('caps the doubling at the longest delay before the crash loop starts', () => {
    const policy: RestartPolicy = { initialDelayMs: 1_000, maxDelayMs: 5_000, resetAfterMs: 60_000, crashLoopAfter: 10 };
    expect(nextRestart(3, 0, policy)).toEqual({ restart: 4, delayMs: 5_000, crashLoop: false });
    expect(nextRestart(10, 0, policy)).toEqual({ restart: 11, delayMs: 5_000, crashLoop: true });
  });

  it('has the documented defaults', () => {
    expect(DEFAULT_RESTART_POLICY).toEqual({ initialDelayMs: 1_000, maxDelayMs: 30_000, resetAfterMs: 60_000, crashLoopAfter: 5 });
    expect([1_000, 1_500, 30_000, 60_000].map(formatDelay)).toEqual(['1s', '1.5s', '30s', '1m']);
  });
});

const FAST: RestartPolicy = { initialDelayMs: 100, maxDelayMs: 400, resetAfterMs: 60_000, crashLoopAfter: 2 };
const sleeper = () => spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const waitFor = async (check: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('supervise', () => {
  it('restarts a killed child with a new process, one log line per restart', async () => {
    const lines: string[] = [];
    const supervised = await supervise({ name: 'sleeper', start: sleeper, say: (l) => lines.push(l), policy: FAST });
    try {
      const first = supervised.child!.pid!;
      process.kill(first, 'SIGKILL');
      await waitFor(() => supervised.child !== undefined && supervised.child.pid !== first);
      expect(lines).toEqual(['the sleeper exited (signal SIGKILL); restarting in 0.1s (restart 1)']);
      expect(supervised.restarts).toBe(1);
      expect(alive(supervised.child!.pid!)).toBe(true);
    } finally {
      await supervised.stop();
    }
  });

  it('says when it is crash-looping and keeps retrying at the longest delay', async () => {
    const lines: string[] = [];
    const crasher = () => spawn(process.execPath, ['-e', 'process.exit(3)'], { stdio: 'ignore' });
    const supervised = await supervise({ name: 'crasher', start: crasher, say: (l) => lines.push(l), policy: FAST });
    try {
      await waitFor(() => lines.length >= 4);
      expect(lines.slice(0, 4)).toEqual([
        'the crasher exited (code 3); restarting in 0.1s (restart 1)',
        'the crasher exited (code 3); restarting in 0.2s (restart 2)',
        'the crasher exited (code 3); restarting in 0.4s (restart 3; crash loop: no run lasted 1m, retrying every 0.4s until one does)',
        'the crasher exited (code 3); restarting in 0.4s (restart 4; crash loop: no run lasted 1m, retrying every 0.4s until one does)',
      ]);
    } finally {
      await supervised.stop();
    }
  });

  it('cancels a restart that waits when stopped, and stops the running child', async () => {
    const started: ChildProcess[] = [];
    const lines: string[] = [];
    const policy = { ...FAST, initialDelayMs: 500 };
    const supervised = await supervise({ name: 'sleeper', start: () => started[started.push(sleeper()) - 1]!, say: (l) => lines.push(l), policy });
    process.kill(started[0]!.pid!, 'SIGKILL');
    await waitFor(() => lines.length === 1);
    await supervised.stop();
    await new Promise((r) => setTimeout(r, 800));
    expect(started).toHaveLength(1);
    expect(supervised.child).toBeUndefined();

    const again = await supervise({ name: 'sleeper', start: sleeper, say: () => {}, policy });
    const pid = again.child!.pid!;
    await again.stop();
    expect(alive(pid)).toBe(false);
  });

  it('leaves the child stopped when shouldRestart says no, and throws the first start error', async () => {
    const lines: string[] = [];
    const exits: string[] = [];
    const supervised = await supervise({ name: 'sleeper', start: sleeper, say: (l) => lines.push(l), policy: FAST, shouldRestart: (exit) => (exits.push(exit), false) });
    process.kill(supervised.child!.pid!, 'SIGTERM');
    await waitFor(() => exits.length === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect([exits, lines, supervised.child]).toEqual([['signal SIGTERM'], [], undefined]);

    await expect(supervise({ name: 'broken', start: () => Promise.reject(new Error('no binary')), say: () => {} })).rejects.toThrow('no binary');
  });

  it('retries a restart whose start fails, with the back-off', async () => {
    const lines: string[] = [];
    let calls = 0;
    const start = () => (++calls === 2 ? Promise.reject(new Error('port 7233 is in use')) : sleeper());
    const supervised = await supervise({ name: 'server', start, say: (l) => lines.push(l), policy: FAST });
    try {
      process.kill(supervised.child!.pid!, 'SIGKILL');
      await waitFor(() => calls === 3 && supervised.child !== undefined);
      expect(lines).toEqual([
        'the server exited (signal SIGKILL); restarting in 0.1s (restart 1)',
        'the server did not start (port 7233 is in use); restarting in 0.2s (restart 2)',
      ]);
    } finally {
      await supervised.stop();
    }
  });
});
