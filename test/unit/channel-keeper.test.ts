/** ChannelKeeper: open once, reopen later (publisher, consumer and dead-letter publisher), with a fake channel and clock. */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { type Channel, ChannelKeeper, type ChannelKeeperOptions } from '@logship/common';

class FakeChannel extends EventEmitter {
  closed = false;
  constructor(readonly id: number) {
    super();
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }
  /** the broker closes the channel with an error */
  brokerClose(message: string): void {
    this.emit('error', new Error(message));
    this.closed = true;
    this.emit('close');
  }
}

function harness(opts: Partial<ChannelKeeperOptions<Channel>> = {}) {
  const opened: FakeChannel[] = [];
  const timers: Array<{ fn: () => void; ms: number }> = [];
  let failNext = 0;
  const keeper = new ChannelKeeper<Channel>({
    open: async () => {
      if (failNext > 0) {
        failNext--;
        throw new Error('connection refused');
      }
      const ch = new FakeChannel(opened.length + 1);
      opened.push(ch);
      return ch as unknown as Channel;
    },
    reopenAfterCloseMs: 200,
    retryAfterFailureMs: 1000,
    setTimeout: (fn, ms) => timers.push({ fn, ms }),
    ...opts,
  });
  const fire = async () => {
    const due = timers.splice(0);
    for (const t of due) t.fn();
    await new Promise((r) => setImmediate(r));
  };
  return { keeper, opened, timers, fire, failOpens: (n: number) => (failNext = n) };
}

const fake = (ch: Channel | null) => ch as unknown as FakeChannel;

describe('ChannelKeeper', () => {
  it('opens one channel for concurrent open() calls', async () => {
    const h = harness();
    await Promise.all([h.keeper.open(), h.keeper.open(), h.keeper.open()]);
    assert.equal(h.opened.length, 1);
    assert.equal(fake(h.keeper.channel), h.opened[0]);
  });

  it('reopens after a close, after reopenAfterCloseMs, and tells the owner the broker error', async () => {
    const seen: Array<{ error: string | null; wasCurrent: boolean }> = [];
    const h = harness({ closed: (_ch, error, wasCurrent) => void seen.push({ error: error?.message ?? null, wasCurrent }) });
    await h.keeper.open();
    h.opened[0]!.brokerClose('CHANNEL_ERROR - something');
    assert.equal(h.keeper.channel, null);
    assert.deepEqual(seen, [{ error: 'CHANNEL_ERROR - something', wasCurrent: true }]);
    assert.deepEqual(
      h.timers.map((t) => t.ms),
      [200],
    );
    await h.fire();
    assert.equal(h.opened.length, 2);
    assert.equal(fake(h.keeper.channel), h.opened[1]);
  });

  it('stops reopening when the closed hook says the error is fatal', async () => {
    const h = harness({ closed: () => false });
    await h.keeper.open();
    h.opened[0]!.brokerClose('NOT_FOUND - no exchange');
    assert.equal(h.timers.length, 0);
    assert.equal(h.keeper.keeping, false);
    await h.keeper.open();
    assert.equal(h.opened.length, 1);
  });

  it('retries a failed open after retryAfterFailureMs unless the failed hook stops it', async () => {
    const errors: string[] = [];
    const h = harness({ failed: (err) => void errors.push((err as Error).message) });
    h.failOpens(1);
    await h.keeper.open();
    assert.equal(h.keeper.channel, null);
    assert.deepEqual(errors, ['connection refused']);
    assert.deepEqual(
      h.timers.map((t) => t.ms),
      [1000],
    );
    await h.fire();
    assert.equal(h.opened.length, 1);

    const stopped = harness({ failed: () => false });
    stopped.failOpens(1);
    await stopped.keeper.open();
    assert.equal(stopped.timers.length, 0);
  });

  it('counts a channel that fails in ready as a failed open: closed, not current, retried', async () => {
    const h = harness({
      ready: async () => {
        throw new Error('NOT_FOUND - no queue');
      },
    });
    await h.keeper.open();
    assert.equal(h.keeper.channel, null);
    assert.equal(h.opened[0]!.closed, true);
    assert.ok(h.timers.some((t) => t.ms === 1000));
  });

  it('opens on demand when reopen delays are null, and acquire() rejects with why it could not open', async () => {
    const h = harness({ reopenAfterCloseMs: null, retryAfterFailureMs: null });
    const first = fake(await h.keeper.acquire());
    assert.equal(first, h.opened[0]);
    first.brokerClose('CHANNEL_ERROR');
    assert.equal(h.timers.length, 0);
    const second = fake(await h.keeper.acquire());
    assert.equal(second, h.opened[1]);
    second.brokerClose('CHANNEL_ERROR');
    h.failOpens(1);
    await assert.rejects(h.keeper.acquire(), /connection refused/);
    assert.equal(h.timers.length, 0);
    assert.equal(fake(await h.keeper.acquire()), h.opened[2]);
  });

  it('replace() closes the current channel and opens another later; the old one is reported as not current', async () => {
    const seen: boolean[] = [];
    const h = harness({ closed: (_ch, _e, wasCurrent) => void seen.push(wasCurrent) });
    await h.keeper.open();
    h.keeper.replace(h.keeper.channel!);
    await new Promise((r) => setImmediate(r));
    assert.equal(h.opened[0]!.closed, true);
    assert.deepEqual(seen, [false]);
    await h.fire();
    assert.equal(fake(h.keeper.channel), h.opened[1]);
    // replacing a channel that is no longer current does nothing
    h.keeper.replace(h.opened[0] as unknown as Channel);
    assert.equal(fake(h.keeper.channel), h.opened[1]);
  });

  it('stop() keeps the current channel but never opens another; close() closes it', async () => {
    const h = harness();
    await h.keeper.open();
    h.keeper.stop();
    assert.equal(fake(h.keeper.channel), h.opened[0]);
    h.opened[0]!.brokerClose('CONNECTION_FORCED');
    assert.equal(h.timers.length, 0);
    await h.keeper.open();
    assert.equal(h.opened.length, 1);

    const c = harness();
    await c.keeper.open();
    await c.keeper.close();
    assert.equal(c.opened[0]!.closed, true);
    assert.equal(c.keeper.channel, null);
    await assert.rejects(c.keeper.acquire(), /stopped/);
  });

  it('closes a channel that finished opening after stop()', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const h = harness();
    const slow = new ChannelKeeper<Channel>({
      open: async () => {
        await gate;
        const ch = new FakeChannel(9);
        h.opened.push(ch);
        return ch as unknown as Channel;
      },
      reopenAfterCloseMs: 200,
      retryAfterFailureMs: 1000,
    });
    const opening = slow.open();
    await slow.close();
    release();
    await opening;
    assert.equal(slow.channel, null);
    assert.equal(h.opened[0]!.closed, true);
  });
});
