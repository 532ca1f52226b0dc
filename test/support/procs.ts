// Processes as Linux shows them under /proc: to find the children of `npm start` and to prove that
// none is left behind. Also the captured output of a process, waited on line by line.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';

const read = (file: string): string => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return ''; // gone, or not ours
  }
};

const allPids = (): number[] =>
  fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);

/** The command line, arguments joined by spaces. */
export const cmdline = (pid: number): string => read(`/proc/${pid}/cmdline`).split('\0').join(' ').trim();

/** Running children of a process (zombies excluded), with their command lines. */
export function childrenOf(ppid: number): Array<{ pid: number; cmd: string }> {
  const found: Array<{ pid: number; cmd: string }> = [];
  for (const pid of allPids()) {
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    const stat = read(`/proc/${pid}/stat`);
    const [state, parent] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(parent) === ppid && state !== 'Z') found.push({ pid, cmd: cmdline(pid) });
  }
  return found;
}

/** The one running child whose command line contains text; throws if there is none or several. */
export function childMatching(ppid: number, text: string): number {
  const matches = childrenOf(ppid).filter((c) => c.cmd.includes(text));
  if (matches.length !== 1) throw new Error(`expected one child of ${ppid} running "${text}", found ${JSON.stringify(childrenOf(ppid))}`);
  return matches[0]!.pid;
}

/** Live processes whose command line, environment or working directory mention the path. */
export function processesUsing(dir: string): Array<{ pid: number; cmd: string }> {
  return allPids()
    .filter((pid) => pid !== process.pid)
    .filter((pid) => {
      const state = read(`/proc/${pid}/stat`).split(') ')[1]?.[0];
      if (!state || state === 'Z') return false;
      let cwd = '';
      try {
        cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        // not ours
      }
      return cmdline(pid).includes(dir) || read(`/proc/${pid}/environ`).includes(dir) || cwd.startsWith(dir);
    })
    .map((pid) => ({ pid, cmd: cmdline(pid) }));
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return !read(`/proc/${pid}/stat`).split(') ')[1]?.startsWith('Z');
}

/** Everything a process writes to stdout and stderr, kept in order. */
export function captureOutput(child: ChildProcess) {
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return {
    text: () => text,
    /** Waits until the output, from offset on, matches; returns the match and where it ends. */
    async waitFor(pattern: RegExp, timeoutMs: number, offset = 0): Promise<{ match: RegExpExecArray; end: number }> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = pattern.exec(text.slice(offset));
        if (match) return { match, end: offset + match.index + match[0].length };
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the process exited before printing ${pattern}:\n${text.slice(-4_000)}`);
        if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs / 1000}s:\n${text.slice(-4_000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

/** Polls until check() returns a value other than undefined. */
export async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
