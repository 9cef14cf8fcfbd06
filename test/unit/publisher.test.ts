/**
 * The Publisher's channel lifecycle against a fake connection and a fake
 * confirm channel that behaves as amqplib's does: every confirm callback
 * fires, with Error('channel closed') for each unconfirmed publish when the
 * channel closes (before 'close' is emitted), and publish() throws on a closed
 * channel. Time is a fake clock, so the nack budget (60 s) and the backoff
 * between re-publishes are tested without waiting.
 *
 * Issue: the nack budget counted re-publishes after reconnects, so a few
 * seconds of nacks during a quorum leader election failed a run ("the broker
 * rejected a message 6 times").
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { ErrorCodes, createLogger, type RecoveringChannelModel } from '@logship/common';
import { NACK_BUDGET_MS, Publisher, type OutgoingMessage, type Outcome, type PublisherClock } from '@logship/shipper';

type ConfirmCb = (err: Error | null) => void;

class FakeConfirmChannel extends EventEmitter {
  closed = false;
  /** as amqplib between close() and close-ok: publishes throw "Channel closing" */
  closing = false;
  /** close() takes until finishClose() (default: closes at once) */
  slowClose = false;
  /** every publish, in order, with its callback (null once answered) and the body's bytes (amqplib copies them into its frame) */
  readonly published: Array<{ id: string; cb: ConfirmCb | null; body: string }> = [];
  publish(_exchange: string, _key: string, body: Buffer, props: { messageId: string }, cb: ConfirmCb): boolean {
    if (this.closed) throw new Error('Channel closed');
    if (this.closing) throw new Error('Channel closing');
    this.published.push({ id: props.messageId, cb, body: body.toString() });
    return true;
  }
  /** answers of the broker, oldest unanswered first */
  private answer(id: string | undefined, err: Error | null): boolean {
    const p = this.published.find((x) => x.cb && (id === undefined || x.id === id));
    if (!p) return false;
    const cb = p.cb!;
    p.cb = null;
    cb(err);
    return true;
  }
  ack(id?: string): boolean {
    return this.answer(id, null);
  }
  nack(id?: string): boolean {
    return this.answer(id, new Error('message nacked'));
  }
  unanswered(): string[] {
    return this.published.filter((p) => p.cb).map((p) => p.id);
  }
  returnMessage(id: string): void {
    this.emit('return', { properties: { messageId: id }, fields: {}, content: Buffer.alloc(0) });
  }
  /** as amqplib: every unconfirmed callback fails with "channel closed", then 'close' */
  closeByBroker(error?: Error): void {
    if (this.closed) return;
    if (error) this.emit('error', error);
    this.closed = true;
    for (const p of this.published) {
      const cb = p.cb;
      p.cb = null;
      cb?.(new Error('channel closed'));
    }
    this.emit('close');
  }
  async close(): Promise<void> {
    if (this.slowClose) this.closing = true;
    else this.closeByBroker();
  }
  /** close-ok arrived (after a slow close) */
  finishClose(): void {
    this.closing = false;
    this.closeByBroker();
  }
}

class FakeConnection extends EventEmitter {
  readonly channels: FakeConfirmChannel[] = [];
  up = true;
  async createConfirmChannel(): Promise<FakeConfirmChannel> {
    if (!this.up) throw new Error('connection closed');
    const ch = new FakeConfirmChannel();
    this.channels.push(ch);
    return ch;
  }
  get channel(): FakeConfirmChannel {
    return this.channels[this.channels.length - 1]!;
  }
  /** connection lost: the channel closes; 'connect' comes back on reconnect() */
  drop(): void {
    this.up = false;
    this.channel.closeByBroker();
  }
  reconnect(): void {
    this.up = true;
    this.emit('connect');
  }
}

class FakeClock implements PublisherClock {
  t = 0;
  private timers: Array<{ at: number; fn: () => void }> = [];
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    this.timers.push({ at: this.t + ms, fn });
  };
  /** moves time forward, running the timers that come due, in order */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
  /** time to the next timer */
  get nextIn(): number | undefined {
    const at = Math.min(...this.timers.map((x) => x.at));
    return Number.isFinite(at) ? at - this.t : undefined;
  }
}

const tick = () => new Promise((r) => setImmediate(r));

/** runs the clock's timers until the channel has an unanswered publish (the backoff ran out) */
function untilRepublished(clock: FakeClock, conn: FakeConnection): void {
  for (let i = 0; i < 10 && conn.channel.unanswered().length === 0; i++) {
    const next = clock.nextIn;
    if (next === undefined) return;
    clock.advance(next);
  }
}

function message(id: string): OutgoingMessage<string> {
  return { messageId: id, body: Buffer.from(`{"id":"${id}"}`), properties: { messageId: id }, events: 1, meta: id };
}

/** ready() stays pending while the window is full, and resolves once the broker acks `id`. */
async function readyOnlyAfterAck(publisher: Publisher<string>, conn: FakeConnection, id: string): Promise<void> {
  let ready = false;
  const waiting = publisher.ready().then(() => {
    ready = true;
  });
  await tick();
  assert.equal(ready, false, 'ready() waits while the window is full');
  conn.channel.ack(id);
  await waiting;
}

async function setup(opts: { maxInflight?: number; maxInflightBytes?: number; recycleAfterNacks?: number } = {}) {
  const conn = new FakeConnection();
  const clock = new FakeClock();
  const publisher = new Publisher<string>(conn as unknown as RecoveringChannelModel, {
    exchange: 'logs',
    routingKey: 'logs',
    maxInflight: opts.maxInflight ?? 100,
    maxInflightBytes: opts.maxInflightBytes ?? 1 << 20,
    logger: createLogger({ level: 'silent' }),
    clock,
    random: () => 0.5,
    // the window's nack rules on one channel; channel replacement has its own test
    recycleAfterNacks: opts.recycleAfterNacks ?? 0,
  });
  const settled: Array<{ id: string; outcome: Outcome; error?: Error }> = [];
  publisher.on('settled', (m, outcome, error) => settled.push({ id: m.meta!, outcome, ...(error ? { error } : {}) }));
  await publisher.start();
  /** reconnects and waits for the new channel */
  const reconnect = async () => {
    const before = conn.channels.length;
    conn.reconnect();
    await tick();
    assert.equal(conn.channels.length, before + 1, 'a new channel');
  };
  return { conn, clock, publisher, settled, reconnect };
}

/** setup() with one message "a" sent */
async function setupWith(opts: { recycleAfterNacks: number }) {
  const t = await setup(opts);
  t.publisher.send(message('a'));
  return t;
}

describe('Publisher', () => {
  it('nacks during a leader election are retried by time: 30 s of nacks and three reconnects, then an ack, confirm the message', async () => {
    const { conn, clock, publisher, settled, reconnect } = await setup();
    publisher.send(message('a'));
    let nacks = 0;
    while (clock.t < 30_000) {
      assert.deepEqual(conn.channel.unanswered(), ['a'], 'published again');
      if (nacks % 5 === 4) {
        // the connection drops during the election, and comes back: the message goes out again at once
        conn.drop();
        await reconnect();
        assert.deepEqual(conn.channel.unanswered(), ['a'], 're-published on the new channel');
      }
      assert.ok(conn.channel.nack('a'));
      nacks++;
      assert.equal(settled.length, 0, `not failed after ${nacks} nacks at ${clock.t} ms`);
      untilRepublished(clock, conn);
    }
    assert.ok(nacks > 6, `${nacks} nacks`);
    assert.ok(conn.channel.ack('a'));
    assert.deepEqual(settled, [{ id: 'a', outcome: 'confirmed' }]);
    await publisher.idle();
  });

  it('re-publishes after channel losses never count: 20 channel losses, a nack, then an ack confirm the message', async () => {
    const { conn, clock, publisher, settled, reconnect } = await setup();
    publisher.send(message('a'));
    for (let i = 0; i < 20; i++) {
      conn.drop();
      await reconnect();
    }
    assert.equal(conn.channels.length, 21);
    assert.ok(conn.channel.nack('a'));
    untilRepublished(clock, conn);
    assert.ok(conn.channel.ack('a'));
    assert.deepEqual(settled, [{ id: 'a', outcome: 'confirmed' }]);
  });

  it('a message nacked for longer than the nack budget fails with NOT_CONFIRMED, and only that message', async () => {
    const { conn, clock, publisher, settled } = await setup();
    publisher.send(message('a'));
    publisher.send(message('b'));
    assert.ok(conn.channel.ack('b'));
    let nacks = 0;
    while (settled.length < 2) {
      assert.ok(conn.channel.nack('a'), 'published again after its backoff');
      nacks++;
      if (settled.length === 2) break;
      untilRepublished(clock, conn);
    }
    assert.ok(clock.t >= NACK_BUDGET_MS && clock.t < NACK_BUDGET_MS + 5_000, `failed at ${clock.t} ms, soon after the budget`);
    const failed = settled.find((s) => s.id === 'a')!;
    assert.equal(failed.outcome, 'failed');
    assert.equal((failed.error as { code?: string }).code, ErrorCodes.NOT_CONFIRMED);
    assert.match(failed.error!.message, new RegExp(`kept rejecting a message \\(nack\\) for \\d+ s, ${nacks} times`));
    assert.equal(publisher.failure, null, 'the publisher goes on');
    await publisher.idle();
  });

  it('backs off between re-publishes of a nacked message: nothing is published before the delay', async () => {
    const { conn, clock, publisher } = await setup();
    publisher.send(message('a'));
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      conn.channel.nack('a');
      const wait = clock.nextIn!;
      delays.push(wait);
      clock.advance(wait - 1);
      assert.deepEqual(conn.channel.unanswered(), [], 'not yet');
      clock.advance(1);
      assert.deepEqual(conn.channel.unanswered(), ['a']);
    }
    assert.deepEqual(delays, [75, 150, 300, 600, 1200]);
  });

  it('every confirm callback of a closed channel fires with an error; the messages are re-published once each, in order, on the next channel', async () => {
    const { conn, publisher, settled, reconnect } = await setup();
    for (const id of ['a', 'b', 'c', 'd']) publisher.send(message(id));
    assert.ok(conn.channel.ack('b'));
    conn.drop();
    assert.equal(publisher.inflight, 3);
    await reconnect();
    assert.deepEqual(conn.channel.unanswered(), ['a', 'c', 'd']);
    for (const id of ['a', 'c', 'd']) assert.ok(conn.channel.ack(id));
    assert.deepEqual(
      settled.map((s) => `${s.id}:${s.outcome}`),
      ['b:confirmed', 'a:confirmed', 'c:confirmed', 'd:confirmed'],
    );
    assert.equal(publisher.inflight, 0);
    assert.equal(publisher.inflightBytes, 0);
  });

  it('a message sent while no channel is open waits and goes out on the next channel', async () => {
    const { conn, publisher, settled, reconnect } = await setup();
    conn.drop();
    publisher.send(message('a'));
    assert.equal(publisher.inflight, 1);
    await reconnect();
    assert.ok(conn.channel.ack('a'));
    assert.deepEqual(settled, [{ id: 'a', outcome: 'confirmed' }]);
  });

  it('a body is released to its encoder once, when its message is settled, never while it may be re-published; a nack retry copies it out first', async () => {
    const { conn, clock, publisher, reconnect } = await setup();
    const released: string[] = [];
    /** a body in a shared slab, as the encoder makes them; release() lets the encoder reuse the slab */
    const slab = Buffer.alloc(256, 0x20);
    let at = 0;
    const inSlab = (id: string): OutgoingMessage<string> => {
      const text = `{"id":"${id}"}`;
      const body = slab.subarray(at, at + text.length);
      at += body.write(text);
      return { ...message(id), body, release: () => released.push(id) };
    };
    publisher.send(inSlab('a'));
    publisher.send(inSlab('b'));
    publisher.send(inSlab('c'));
    publisher.send(inSlab('d'));
    assert.deepEqual(released, [], 'nothing is released while it waits for the broker');
    conn.channel.ack('a');
    assert.deepEqual(released, ['a']);
    conn.channel.returnMessage('b');
    conn.channel.ack('b');
    assert.deepEqual(released, ['a', 'b'], 'unroutable is settled too');
    conn.channel.nack('c');
    assert.deepEqual(released, ['a', 'b', 'c'], 'a nacked body is copied out of the slab and the slab released');
    conn.drop();
    assert.deepEqual(released, ['a', 'b', 'c'], 'a message left unconfirmed by a lost channel is kept for the next');
    slab.fill(0x78, 0, slab.indexOf('{"id":"d"}')); // the encoder reuses what a, b and c held (d still reads its bytes)
    await reconnect();
    clock.advance(10_000); // c's backoff after the nack
    assert.deepEqual(conn.channel.published.map((p) => p.body).sort(), ['{"id":"c"}', '{"id":"d"}'], 'c re-published from its copy');
    conn.channel.ack('c');
    conn.channel.ack('d');
    assert.deepEqual(released, ['a', 'b', 'c', 'd'], 'released once each');
  });

  it('a basic.return before the ack settles the message as unroutable', async () => {
    const { conn, publisher, settled } = await setup();
    publisher.send(message('a'));
    conn.channel.returnMessage('a');
    conn.channel.ack('a');
    assert.deepEqual(settled, [{ id: 'a', outcome: 'unroutable' }]);
  });

  it('the window bounds messages in flight: ready() waits for a confirm', async () => {
    const { conn, publisher } = await setup({ maxInflight: 2 });
    publisher.send(message('a'));
    publisher.send(message('b'));
    assert.equal(publisher.hasRoom(), false);
    await readyOnlyAfterAck(publisher, conn, 'a');
    assert.equal(publisher.hasRoom(), true);
  });

  it('the window bounds bytes in flight (--max-inflight-bytes): ready() waits for a confirm; a larger message still goes alone', async () => {
    const { conn, publisher } = await setup({ maxInflightBytes: 20 });
    const sized = (id: string, bytes: number) => ({ ...message(id), body: Buffer.alloc(bytes, 0x20) });
    publisher.send(sized('a', 12));
    assert.equal(publisher.hasRoom(), true, '12 of 20 bytes');
    publisher.send(sized('b', 12));
    assert.equal(publisher.hasRoom(), false, '24 of 20 bytes');
    await readyOnlyAfterAck(publisher, conn, 'a');
    conn.channel.ack('b');
    publisher.send(sized('c', 100));
    assert.deepEqual(conn.channel.unanswered(), ['c'], 'a message over the bound is sent, alone');
    assert.equal(publisher.hasRoom(), false);
  });

  it('a channel closed by a fatal broker error (NOT_FOUND) fails every message once and stops the publisher', async () => {
    const { conn, clock, publisher, settled } = await setup();
    publisher.send(message('a'));
    publisher.send(message('b'));
    conn.channel.nack('b'); // b waits out a backoff
    conn.channel.closeByBroker(new Error("Channel closed by server: 404 (NOT-FOUND) with message \"NOT_FOUND - no exchange 'logs' in vhost '/'\""));
    assert.deepEqual(
      settled.map((s) => `${s.id}:${s.outcome}`),
      ['a:failed', 'b:failed'],
    );
    assert.ok(publisher.failure);
    await assert.rejects(publisher.ready(), /logs/);
    await publisher.idle();
    clock.advance(10_000);
    assert.equal(settled.length, 2, 'the backoff timer of b settles nothing again');
    assert.throws(() => publisher.send(message('c')));
  });
  it('a node that blocked publishing and is then lost does not keep the input paused: the next node starts unblocked', async () => {
    const { conn, publisher, reconnect } = await setup();
    conn.emit('blocked', 'low on memory');
    assert.equal(publisher.hasRoom(), false);
    conn.drop();
    conn.emit('disconnect', new Error('connection lost'));
    await reconnect();
    assert.equal(publisher.blocked, false);
    assert.equal(publisher.hasRoom(), true);
  });

  it('a channel refused on a live connection is opened again later: the waiting message goes out', async () => {
    const { conn, clock, publisher, settled } = await setup();
    conn.channel.closeByBroker(new Error('Channel closed by server: 504 (CHANNEL-ERROR)'));
    conn.up = false; // the next channel request is refused, with no 'connect' to come
    clock.advance(200);
    await tick();
    publisher.send(message('a'));
    conn.up = true;
    clock.advance(1000);
    await tick();
    assert.deepEqual(conn.channel.unanswered(), ['a']);
    conn.channel.ack('a');
    assert.deepEqual(
      settled.map((x) => `${x.id}:${x.outcome}`),
      ['a:confirmed'],
    );
  });

  it('a publish the client refuses on a live channel fails that message instead of leaving it unsettled', async () => {
    const { conn, publisher, settled } = await setup();
    conn.channel.publish = () => {
      throw new Error('frame size exceeded');
    };
    publisher.send(message('a'));
    assert.deepEqual(
      settled.map((x) => `${x.id}:${x.outcome}`),
      ['a:failed'],
    );
    await publisher.idle();
  });
  it('a channel that keeps nacking is replaced (a quorum queue whose leader moved can keep rejecting one channel): the message is confirmed on the new channel', async () => {
    const { conn, clock, settled } = await setupWith({ recycleAfterNacks: 2 });
    assert.equal(conn.channels.length, 1);
    conn.channel.nack('a');
    untilRepublished(clock, conn);
    conn.channel.nack('a'); // the second nack in a row: the channel is closed and a new one opened
    clock.advance(200);
    await tick();
    assert.equal(conn.channels.length, 2, 'a new channel');
    untilRepublished(clock, conn);
    await tick();
    assert.deepEqual(conn.channel.unanswered(), ['a'], 'published again on the new channel');
    conn.channel.ack('a');
    assert.deepEqual(settled, [{ id: 'a', outcome: 'confirmed' }]);
  });

  it('a message sent while a replaced channel is closing waits for the next channel instead of failing', async () => {
    const { conn, clock, publisher, settled } = await setupWith({ recycleAfterNacks: 2 });
    const old = conn.channel;
    old.slowClose = true;
    old.nack('a');
    untilRepublished(clock, conn);
    old.nack('a'); // the channel is replaced: close() sent, close-ok not yet back
    assert.equal(old.closing, true);
    publisher.send(message('b'));
    assert.equal(settled.length, 0, 'b did not fail on the closing channel');
    old.finishClose();
    clock.advance(200);
    await tick();
    assert.equal(conn.channels.length, 2, 'a new channel');
    untilRepublished(clock, conn);
    await tick();
    assert.deepEqual(conn.channel.unanswered().sort(), ['a', 'b']);
    conn.channel.ack('a');
    conn.channel.ack('b');
    assert.deepEqual(settled.map((x) => `${x.id}:${x.outcome}`).sort(), ['a:confirmed', 'b:confirmed']);
  });
});
