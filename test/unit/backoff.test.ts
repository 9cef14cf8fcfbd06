import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, parseBytes, parseDuration } from '@logship/common';

describe('backoff', () => {
  it('doubles per attempt, jitters within the upper half, never exceeds the cap', () => {
    const o = { initialMs: 100, maxMs: 1000 };
    assert.equal(backoffDelay(0, { ...o, random: () => 0 }), 50);
    assert.equal(backoffDelay(0, { ...o, random: () => 1 }), 100);
    assert.equal(backoffDelay(2, { ...o, random: () => 1 }), 400);
    for (let a = 0; a < 20; a++) {
      const d = backoffDelay(a, o);
      assert.ok(d > 0 && d <= 1000, `attempt ${a}: ${d}`);
    }
    assert.equal(backoffDelay(30, { ...o, random: () => 0 }), 500);
  });

  it('parses sizes and durations, NaN for nonsense', () => {
    assert.equal(parseBytes('5mb'), 5 * 1024 * 1024);
    assert.equal(parseBytes('512KB'), 512 * 1024);
    assert.equal(parseBytes(42), 42);
    assert.ok(Number.isNaN(parseBytes('lots')));
    assert.equal(parseDuration('1s'), 1000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('5m'), 300_000);
    assert.ok(Number.isNaN(parseDuration('soon')));
  });
});
