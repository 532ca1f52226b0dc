/**
 * Counts failures per key (a client address) in fixed windows; once a key has used up its
 * failures, it waits for the window to end. Memory is bounded: old windows are dropped.
 */
export class FailureLimiter {
  private readonly windows = new Map<string, { start: number; failures: number }>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until the key may try again, or 0 when it may try now. */
  retryAfter(key: string): number {
    const window = this.current(key);
    if (!window || window.failures < this.maxFailures) return 0;
    return Math.max(1, Math.ceil((window.start + this.windowMs - this.now()) / 1000));
  }

  fail(key: string): void {
    const window = this.current(key) ?? { start: this.now(), failures: 0 };
    window.failures += 1;
    this.windows.set(key, window);
    if (this.windows.size > 10_000) this.dropExpired();
  }

  private current(key: string) {
    const window = this.windows.get(key);
    if (window && this.now() - window.start >= this.windowMs) {
      this.windows.delete(key);
      return undefined;
    }
    return window;
  }

  private dropExpired(): void {
    for (const key of [...this.windows.keys()]) this.current(key);
  }
}
