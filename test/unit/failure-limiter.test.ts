import { describe, expect, it } from 'vitest';
import { FailureLimiter } from '../../api/failure-limiter.js';

describe('FailureLimiter', () => {
  it('blocks a key after its failures until the window ends, and keys are independent', () => {
    let now = 1_000_000;
    const limiter = new FailureLimiter(2, 60_000, () => now);
    expect(limiter.retryAfter('a')).toBe(0);
    limiter.fail('a');
    expect(limiter.retryAfter('a')).toBe(0);
    limiter.fail('a');
    expect(limiter.retryAfter('a')).toBe(60);
    expect(limiter.retryAfter('b')).toBe(0);
    now += 59_500;
    expect(limiter.retryAfter('a')).toBe(1);
    now += 500;
    expect(limiter.retryAfter('a')).toBe(0);
    limiter.fail('a');
    expect(limiter.retryAfter('a')).toBe(0);
  });
});
