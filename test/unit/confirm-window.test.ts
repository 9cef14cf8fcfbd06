/**
 * The publisher's confirm window on its own (no channel, no timers): room by
 * count and bytes, what each broker answer does to a message, stale answers
 * ignored, the nack budget measured in time, and a fast-check property over
 * random interleavings of publishes, acks, nacks, returns, channel losses and
 * clock jumps: every message added is settled exactly once, and the pending
 * count and bytes return to 0.
 *
 * A failure prints fast-check's seed and path; LOGSHIP_TEST_SEED=<seed> replays it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, LogshipError } from '@logship/common';
import { ConfirmWindow, NACK_BUDGET_MS, type OutgoingMessage, type Outcome } from '@logship/shipper';
import fc from 'fast-check';

const SEED = process.env.LOGSHIP_TEST_SEED ? Number(process.env.LOGSHIP_TEST_SEED) : undefined;

function msg(id: string, bytes = 10): OutgoingMessage<string> {
  return { messageId: id, body: Buffer.alloc(bytes, 'x'), properties: {}, events: 1, meta: id };
}

function makeWindow(opts: { maxMessages?: number; maxBytes?: number } = {}) {
  let t = 0;
  const settled: Array<{ id: string; outcome: Outcome; error?: Error }> = [];
  const w = new ConfirmWindow<string>(
    { maxMessages: opts.maxMessages ?? 100, maxBytes: opts.maxBytes ?? 1 << 20, now: () => t, random: () => 0.5 },
    (m, outcome, error) => settled.push({ id: m.meta!, outcome, ...(error ? { error } : {}) }),
  );
  return {
    w,
    settled,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe('ConfirmWindow', () => {
  it('has room until the message count or the byte limit is reached; one message always fits', () => {
    const { w } = makeWindow({ maxMessages: 3, maxBytes: 25 });
    assert.ok(w.hasRoom() && w.idle);
    const a = w.add(msg('a', 10));
    w.add(msg('b', 10));
    assert.ok(w.hasRoom(), '20 of 25 bytes, 2 of 3 messages');
    w.add(msg('c', 10));
    assert.equal(w.pending, 3);
    assert.equal(w.bytes, 30);
    assert.ok(!w.hasRoom());
    w.confirm(a, w.sent(a));
    assert.equal(w.bytes, 20);
    assert.ok(w.hasRoom());

    const big = makeWindow({ maxBytes: 5 });
    assert.ok(big.w.hasRoom());
    big.w.add(msg('huge', 1000));
    assert.ok(!big.w.hasRoom(), 'a message larger than the byte limit fits an empty window only');
  });

  it('an ack settles a message as confirmed, or unroutable after a basic.return; answers for an older publish are stale', () => {
    const { w, settled } = makeWindow();
    const a = w.add(msg('a'));
    const first = w.sent(a);
    assert.ok(w.lost(a, first), 'its channel closed');
    assert.equal(w.confirm(a, first), null, 'a late answer of the closed channel');
    assert.deepEqual(
      w.waiting().map((e) => e.msg.messageId),
      ['a'],
    );
    const second = w.sent(a);
    assert.equal(w.nack(a, first), null, 'stale nack');
    assert.equal(w.confirm(a, second), 'confirmed');
    assert.equal(w.confirm(a, second), null, 'settled once');

    const b = w.add(msg('b'));
    const tb = w.sent(b);
    w.returned('b');
    assert.equal(w.confirm(b, tb), 'unroutable');
    assert.deepEqual(
      settled.map((s) => `${s.id}:${s.outcome}`),
      ['a:confirmed', 'b:unroutable'],
    );
    assert.ok(w.idle);
    assert.equal(w.bytes, 0);
  });

  it('a return marks only a message on the wire, and a re-publish clears it', () => {
    const { w } = makeWindow();
    const a = w.add(msg('a'));
    const t1 = w.sent(a);
    w.returned('a');
    w.lost(a, t1);
    const t2 = w.sent(a);
    assert.equal(w.confirm(a, t2), 'confirmed', 'the return was for the lost publish');
  });

  it('lostFrom puts back every message on the wire published since a ticket, and none published before it', () => {
    const { w } = makeWindow();
    const a = w.add(msg('a'));
    w.sent(a);
    const mark = w.ticketMark;
    const b = w.add(msg('b'));
    const c = w.add(msg('c'));
    w.sent(b);
    w.sent(c);
    assert.equal(w.lostFrom(mark), 2);
    assert.deepEqual(
      w.waiting().map((e) => e.msg.messageId),
      ['b', 'c'],
    );
    assert.equal(a.state, 'wire');
  });

  it('nacks are retried with a growing backoff until they have kept coming for the nack budget, then the message fails', () => {
    const { w, settled, advance } = makeWindow();
    const a = w.add(msg('a'));
    const delays: number[] = [];
    let elapsed = 0;
    for (;;) {
      const d = w.nack(a, w.sent(a));
      assert.ok(d);
      if (d.kind === 'failed') {
        assert.ok(d.error instanceof LogshipError);
        assert.equal(d.error.code, ErrorCodes.NOT_CONFIRMED);
        assert.match(d.error.message, /kept rejecting a message \(nack\) for \d+ s, \d+ times \(the limit is 60 s\)/);
        break;
      }
      delays.push(d.delayMs);
      advance(d.delayMs);
      elapsed += d.delayMs;
      assert.equal(w.retryDue(a), true);
      assert.ok(elapsed < NACK_BUDGET_MS + 5_000, 'fails once the budget is spent');
    }
    assert.ok(elapsed >= NACK_BUDGET_MS);
    assert.ok(delays.length > 10, `more than a few retries within the budget (${delays.length})`);
    assert.deepEqual(delays.slice(0, 4), [75, 150, 300, 600], 'doubling from 100 ms, half jittered');
    assert.ok(Math.max(...delays) <= 5_000);
    assert.deepEqual(
      settled.map((s) => s.outcome),
      ['failed'],
    );
    assert.ok(w.idle);
  });

  it('time spent waiting for a channel, and channel losses, do not count against the nack budget', () => {
    const { w, settled, advance } = makeWindow();
    const a = w.add(msg('a'));
    const nackAfter = (ms: number) => {
      const t = w.sent(a);
      advance(ms); // on the wire
      const d = w.nack(a, t);
      if (d?.kind === 'retry') {
        advance(d.delayMs); // the backoff counts
        assert.ok(w.retryDue(a));
      }
      return d?.kind;
    };
    assert.equal(nackAfter(0), 'retry');
    advance(10 * 60_000); // no channel for 10 minutes
    for (let i = 0; i < 50; i++) assert.ok(w.lost(a, w.sent(a)), 'a channel loss');
    assert.equal(nackAfter(5_000), 'retry', 'about 5 s of nacking, not 10 minutes');
    assert.equal(nackAfter(50_000), 'retry', 'about 55 s');
    assert.equal(nackAfter(5_000), 'failed', 'past 60 s');
    assert.equal(settled.length, 1);
  });

  it('a message waiting out its backoff is not handed out for a new channel; retryDue is true once', () => {
    const { w } = makeWindow();
    const a = w.add(msg('a'));
    w.nack(a, w.sent(a));
    assert.deepEqual(w.waiting(), []);
    assert.equal(w.retryDue(a), true);
    assert.equal(w.retryDue(a), false);
    assert.deepEqual(w.waiting(), [a]);
  });

  it('failAll settles every message once, wherever it is', () => {
    const { w, settled } = makeWindow();
    const a = w.add(msg('a'));
    const b = w.add(msg('b'));
    w.add(msg('c'));
    w.sent(a);
    w.nack(b, w.sent(b));
    w.failAll(new Error('stopped'));
    assert.deepEqual(settled.map((s) => `${s.id}:${s.outcome}`).sort(), ['a:failed', 'b:failed', 'c:failed']);
    assert.equal(w.retryDue(b), false);
    assert.ok(w.idle);
    assert.equal(w.bytes, 0);
  });

  it('property: every message added is settled exactly once, confirmed or failed; counts and bytes return to 0', () => {
    type Op =
      | { op: 'add'; bytes: number }
      | { op: 'send'; pick: number }
      | { op: 'ack'; pick: number; stale: boolean }
      | { op: 'nack'; pick: number; stale: boolean }
      | { op: 'return'; pick: number }
      | { op: 'lose'; pick: number }
      | { op: 'channelClosed' }
      | { op: 'retryDue'; pick: number }
      | { op: 'tick'; ms: number }
      | { op: 'failOne'; pick: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ op: fc.constant('add' as const), bytes: fc.integer({ min: 0, max: 300 }) }) },
      { weight: 5, arbitrary: fc.record({ op: fc.constant('send' as const), pick: fc.nat() }) },
      { weight: 4, arbitrary: fc.record({ op: fc.constant('ack' as const), pick: fc.nat(), stale: fc.boolean() }) },
      { weight: 4, arbitrary: fc.record({ op: fc.constant('nack' as const), pick: fc.nat(), stale: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('return' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('lose' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('channelClosed' as const) }) },
      { weight: 3, arbitrary: fc.record({ op: fc.constant('retryDue' as const), pick: fc.nat() }) },
      { weight: 2, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 40_000 }) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('failOne' as const), pick: fc.nat() }) },
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 1000 }), (ops, maxMessages, maxBytes) => {
        const { w, settled, advance } = makeWindow({ maxMessages, maxBytes });
        const added: Array<{ id: string; bytes: number }> = [];
        /** every ticket handed out, per message id: the latest is current, the others stale */
        const tickets = new Map<string, number[]>();
        const allEntries: ReturnType<typeof w.add>[] = [];
        const entries = () => allEntries.filter((e) => !e.settled);
        const pick = <T>(xs: T[], i: number): T | undefined => (xs.length === 0 ? undefined : xs[i % xs.length]);
        const sendEntry = (e: ReturnType<typeof w.add>) => {
          const t = w.sent(e);
          tickets.get(e.msg.messageId)!.push(t);
          return t;
        };
        let mark = w.ticketMark;
        for (const o of ops) {
          switch (o.op) {
            case 'add': {
              const id = `m${added.length}`;
              added.push({ id, bytes: o.bytes });
              tickets.set(id, []);
              allEntries.push(w.add(msg(id, o.bytes)));
              break;
            }
            case 'send': {
              const e = pick(w.waiting(), o.pick);
              if (e) sendEntry(e);
              break;
            }
            case 'ack':
            case 'nack': {
              const e = pick(
                entries().filter((x) => x.state === 'wire'),
                o.pick,
              );
              if (!e) break;
              const ts = tickets.get(e.msg.messageId)!;
              const t = o.stale && ts.length > 1 ? ts[0]! : ts[ts.length - 1]!;
              const stale = t !== e.ticket;
              const r = o.op === 'ack' ? w.confirm(e, t) : w.nack(e, t);
              assert.equal(r === null, stale, 'only the latest publish is answered');
              break;
            }
            case 'return': {
              const e = pick(entries(), o.pick);
              if (e) w.returned(e.msg.messageId);
              break;
            }
            case 'lose': {
              const e = pick(
                entries().filter((x) => x.state === 'wire'),
                o.pick,
              );
              if (e) assert.ok(w.lost(e, e.ticket));
              break;
            }
            case 'channelClosed':
              w.lostFrom(mark);
              mark = w.ticketMark;
              break;
            case 'retryDue': {
              const e = pick(
                entries().filter((x) => x.state === 'backoff'),
                o.pick,
              );
              if (e) assert.ok(w.retryDue(e));
              break;
            }
            case 'tick':
              advance(o.ms);
              break;
            case 'failOne': {
              const e = pick(entries(), o.pick);
              if (e) w.fail(e, new Error('given up'));
              break;
            }
          }
          // invariants after every step
          const open = allEntries.filter((e) => !e.settled);
          assert.equal(w.pending, open.length);
          assert.equal(
            w.bytes,
            open.reduce((n, e) => n + e.msg.body.length, 0),
          );
          assert.equal(w.hasRoom(), open.length < maxMessages && (w.bytes < maxBytes || open.length === 0));
        }
        // drive every message to its end: publish what waits, retry what backs off, ack the wire
        for (let round = 0; !w.idle; round++) {
          assert.ok(round < 10, 'every message can be settled');
          for (const e of allEntries.filter((x) => !x.settled)) {
            if (e.state === 'backoff') w.retryDue(e);
            if (e.state === 'waiting') sendEntry(e);
            if (e.state === 'wire') w.confirm(e, e.ticket);
          }
        }
        assert.equal(w.pending, 0);
        assert.equal(w.bytes, 0);
        const ids = settled.map((s) => s.id);
        assert.equal(ids.length, added.length, 'one settle per message');
        assert.deepEqual([...ids].sort(), added.map((a) => a.id).sort(), 'each message exactly once');
        for (const s of settled) assert.ok(['confirmed', 'unroutable', 'failed'].includes(s.outcome));
        for (const s of settled.filter((x) => x.outcome === 'failed')) assert.ok(s.error instanceof Error);
      }),
      { seed: SEED, numRuns: 400 },
    );
  });
});
