/** The window of `logship dlq replay`: its --max-inflight, within what one consumer's prefetch can hold. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadCommandLine } from '@logship/common';
import { replayWindow } from '@logship/indexer';

describe('dlq replay window', () => {
  it('is --max-inflight (default 1000), no more than the letters to replay', () => {
    assert.equal(replayWindow(loadCommandLine('dlq', ['replay'], {}).config.maxInflight, 50_000), 1000);
    assert.equal(replayWindow(loadCommandLine('dlq', ['replay', '--max-inflight', '7'], {}).config.maxInflight, 50_000), 7);
    assert.equal(replayWindow(undefined, 50_000), 1000);
    assert.equal(replayWindow(1000, 12), 12, 'a replay of 12 letters holds 12');
    assert.equal(replayWindow(1000, 0), 1, 'never 0: prefetch 0 would mean unlimited');
  });

  it('--max-inflight above 65535 is capped at 65535: basic.qos prefetch-count is a 16-bit field', () => {
    assert.equal(replayWindow(100_000, 1_000_000), 65_535);
  });
});
