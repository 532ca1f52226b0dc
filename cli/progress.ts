// A job's phases as they happen, on stderr: a spinner with the elapsed time on a terminal, one
// plain line per phase otherwise (logs, CI, pipes).
import { seconds } from './format.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const CLEAR = '\r\x1b[2K';

export class PhaseProgress {
  readonly #out: NodeJS.WriteStream;
  readonly #tty: boolean;
  readonly #started = Date.now();
  #current: { phase: string; at: number } | undefined;
  #first: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #frame = 0;

  constructor(out: NodeJS.WriteStream = process.stderr) {
    this.#out = out;
    this.#tty = Boolean(out.isTTY) && process.env.TERM !== 'dumb';
  }

  /** A new phase, at the server's time `at` (ISO). */
  phase(phase: string, atIso: string): void {
    const parsed = Date.parse(atIso);
    // The server's clock, unless it is ahead of ours (then: now).
    const at = Number.isNaN(parsed) ? Date.now() : Math.min(parsed, Date.now());
    this.#first ??= at;
    if (this.#current?.phase === phase) return;
    if (this.#tty) {
      if (this.#current) this.#out.write(`${CLEAR}✓ ${this.#current.phase.padEnd(16)}${seconds(at - this.#current.at)}\n`);
      this.#current = { phase, at };
      this.#timer ??= setInterval(() => this.#draw(), 100);
      this.#draw();
    } else {
      this.#current = { phase, at };
      this.#out.write(`${seconds(at - this.#first).padStart(7)}  ${phase}\n`);
    }
  }

  /** Stops the spinner; a terminal phase gets its own line (`✓ ready` or `✗ failed`). */
  finish(outcome?: { ok: boolean }): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (!this.#tty || !this.#current) return;
    const mark = outcome === undefined ? '·' : outcome.ok ? '✓' : '✗';
    this.#out.write(`${CLEAR}${mark} ${this.#current.phase.padEnd(16)}${seconds(Date.now() - (this.#first ?? this.#started))} in all\n`);
  }

  #draw(): void {
    if (!this.#current) return;
    const now = Date.now();
    const frame = FRAMES[this.#frame++ % FRAMES.length];
    const total = seconds(now - (this.#first ?? this.#started));
    this.#out.write(`${CLEAR}${frame} ${this.#current.phase.padEnd(16)}${seconds(now - this.#current.at).padEnd(8)}(${total} in all)`);
  }
}
