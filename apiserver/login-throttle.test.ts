import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoginThrottle } from './login-throttle.js';

void describe('LoginThrottle', () => {
  void it('refuses a name after its failures fill the window, until the oldest leaves it', () => {
    let now = 1_000_000;
    const t = new LoginThrottle({ maxFailuresPerUser: 3, maxFailuresPerAddress: 100, windowMs: 60_000, now: () => now });
    for (let i = 0; i < 3; i++) {
      assert.equal(t.retryAfterSeconds('alice', '10.0.0.1'), 0);
      t.recordFailure('alice', '10.0.0.1');
      now += 1_000;
    }
    assert.equal(t.retryAfterSeconds('alice', '10.0.0.1'), 57, 'the first failure leaves the window 57 s from now');
    assert.equal(t.retryAfterSeconds('alice', '10.0.0.2'), 57, 'per name, from any address');
    assert.equal(t.retryAfterSeconds('bob', '10.0.0.1'), 0, 'other names are not affected');
    now += 57_000;
    assert.equal(t.retryAfterSeconds('alice', '10.0.0.1'), 0);
  });

  void it('refuses an address after its failures across names fill the window', () => {
    let now = 0;
    const t = new LoginThrottle({ maxFailuresPerUser: 100, maxFailuresPerAddress: 4, windowMs: 10_000, now: () => now });
    for (const name of ['a', 'b', 'c', 'd']) t.recordFailure(name, '192.0.2.7');
    assert.equal(t.retryAfterSeconds('e', '192.0.2.7'), 10);
    assert.equal(t.retryAfterSeconds('e', '192.0.2.8'), 0);
    now = 10_001;
    assert.equal(t.retryAfterSeconds('e', '192.0.2.7'), 0);
  });

  void it('a success clears its name; memory stays bounded', () => {
    const t = new LoginThrottle({ maxFailuresPerUser: 2, maxFailuresPerAddress: 1_000_000, maxTracked: 50 });
    t.recordFailure('carol', 'x');
    t.recordSuccess('carol');
    t.recordFailure('carol', 'x');
    assert.equal(t.retryAfterSeconds('carol', 'y'), 0, 'one failure since the success');
    for (let i = 0; i < 1000; i++) t.recordFailure(`user-${i}`, `addr-${i}`);
    assert.equal(t.retryAfterSeconds('user-0', 'addr-0'), 0, 'the oldest entries were dropped');
  });
});
