/** Dead letters from the batch processor that the broker can take: encodings kept, sizes bounded, failures retried or requeued; the dead-letter publisher's properties. */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ErrorCodes, LogshipError, createLogger, type IndexNamer, type Logger, type RecoveringChannelModel } from '@logship/common';
import { DeadLetterPublisher, MAX_DEAD_LETTER_BYTES, decodeDelivery } from '@logship/indexer';
import { R400, byId, setup } from '../helpers/processor-harness.js';
import { waitFor } from '../helpers/wait.js';

describe('dead letters the broker can take', () => {
  it('poison whose content_encoding cannot be removed is dead-lettered as received, with its content_encoding and content type kept', async () => {
    const t = setup(byId({}));
    const namer = { nameFor: () => 'i' } as unknown as IndexNamer;
    const corrupt = decodeDelivery(
      { content: Buffer.from('not gzip at all'), properties: { contentType: 'application/json', contentEncoding: 'gzip' } },
      namer,
    );
    const unknown = decodeDelivery({ content: Buffer.from('zstd bytes'), properties: { contentType: 'text/plain', contentEncoding: 'zstd' } }, namer);
    t.deliverPoison(corrupt.poison);
    t.deliverPoison(unknown.poison);
    await t.processor.drain();
    assert.deepEqual(
      t.deadLetters.map((l) => [l.body, l.props.contentType, l.props.contentEncoding]),
      [
        ['not gzip at all', 'application/json', 'gzip'],
        ['zstd bytes', 'text/plain', 'zstd'],
      ],
    );
    assert.deepEqual(t.acked, [1, 2]);
    await t.processor.stop();
  });

  it('a body declared application/json that is not JSON is dead-lettered with its content type, and without an encoding once inflated', async () => {
    const t = setup(byId({}));
    const namer = { nameFor: () => 'i' } as unknown as IndexNamer;
    const gz = decodeDelivery({ content: gzipSync('{"truncated": '), properties: { contentType: 'application/json', contentEncoding: 'gzip' } }, namer);
    t.deliverPoison(gz.poison);
    await t.processor.drain();
    assert.equal(t.deadLetters.length, 1);
    assert.equal(t.deadLetters[0]!.body, '{"truncated": ', 'the inflated body');
    assert.equal(t.deadLetters[0]!.props.contentType, 'application/json');
    assert.equal(t.deadLetters[0]!.props.contentEncoding, undefined, 'the body is no longer gzip');
    await t.processor.stop();
  });

  it('a dead letter larger than MAX_DEAD_LETTER_BYTES is cut to it, with its original size in the truncated property, and acked', async () => {
    const t = setup(byId({}));
    const size = MAX_DEAD_LETTER_BYTES + 1000;
    t.deliverPoison([{ reason: 'x', body: Buffer.alloc(size, 0x61), contentType: 'text/plain' }]);
    await t.processor.drain();
    assert.equal(t.deadLetters.length, 1);
    assert.equal(t.deadLetters[0]!.bytes, MAX_DEAD_LETTER_BYTES);
    assert.equal(t.deadLetters[0]!.props.truncatedFrom, size);
    assert.equal(t.deadLetters[0]!.props.contentType, 'text/plain');
    assert.deepEqual(t.acked, [1]);
    await t.processor.stop();
  });

  it('a dead letter the broker refuses for its size (max_message_size) is not retried as it is: a truncated copy is dead-lettered and the delivery acked', async () => {
    const brokerMax = 1024 * 1024;
    const sizes: number[] = [];
    const t = setup(byId({}), {
      publish: async (body) => {
        sizes.push(body.length);
        if (body.length > brokerMax) {
          throw new LogshipError(ErrorCodes.NOT_CONFIRMED, 'the broker did not confirm a dead letter to exchange "x.dlx": channel closed', {
            cause: new Error(
              `Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - message size ${body.length} is larger than configured max size ${brokerMax}"`,
            ),
          });
        }
      },
    });
    const size = 2 * brokerMax;
    t.deliverPoison([{ reason: 'x', body: Buffer.alloc(size, 0x61) }]);
    await waitFor('acked', () => t.acked.length === 1, 5_000, 1);
    assert.equal(t.deadLetters.length, 1);
    assert.ok(t.deadLetters[0]!.bytes <= brokerMax, `cut short (${t.deadLetters[0]!.bytes} bytes)`);
    assert.equal(t.deadLetters[0]!.props.truncatedFrom, size);
    assert.deepEqual(sizes, [size, t.deadLetters[0]!.bytes], 'refused once, then the truncated copy');
    assert.deepEqual(t.nacked, []);
    await t.processor.stop();
  });

  it('a dead-letter publish that never confirms is given up past the retry budget: the delivery is nacked with requeue, not held', async () => {
    const t = setup(byId({ a: R400 }), { retryTimeoutMs: 50, publish: () => new Promise<void>(() => {}) });
    t.deliver('a');
    await waitFor('the delivery nacked', () => t.nacked.length > 0, 5_000, 1);
    assert.deepEqual(t.nacked, [[1, true]]);
    assert.deepEqual(t.acked, []);
    assert.equal(t.processor.unackedDeliveries, 0, 'not held');
    await t.processor.stop();
  });

  it('an unexpected failure while dead-lettering is logged, never an unhandled rejection', async () => {
    const errors: string[] = [];
    const noop = () => {};
    const logger = { error: (_o: unknown, msg: string) => errors.push(msg), warn: noop, info: noop, debug: noop, fatal: noop } as unknown as Logger;
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      const t = setup(byId({}), {
        logger,
        isLive: () => {
          throw new Error('settler broke');
        },
      });
      t.deliverPoison([{ reason: 'x', body: Buffer.from('p') }]);
      await waitFor('the failure logged', () => errors.some((m) => /dead-lettering failed unexpectedly/.test(m)), 5_000, 1);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(unhandled, []);
      await t.processor.stop();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('dead-letter publisher', () => {
  function fakeConn() {
    const published: Array<{ body: Buffer; options: Record<string, unknown> }> = [];
    const ch = Object.assign(new EventEmitter(), {
      publish(_ex: string, _rk: string, body: Buffer, options: Record<string, unknown>, cb: (err: unknown) => void) {
        published.push({ body, options });
        setImmediate(() => cb(null));
        return true;
      },
      async close() {},
    });
    const conn = { createConfirmChannel: async () => ch } as unknown as RecoveringChannelModel;
    return { conn, published };
  }

  it('publishes the content type, the content encoding and the truncated size of a dead letter as its properties', async () => {
    const { conn, published } = fakeConn();
    const pub = new DeadLetterPublisher(conn, 'x.dlx', 'rk', createLogger({ level: 'silent' }), 'x.dead');
    await pub.publish(Buffer.from('gz'), { type: 'undecodable', reason: 'r' }, { contentType: 'text/plain', contentEncoding: 'gzip', truncatedFrom: 99 });
    await pub.publish(Buffer.from('{}'), { type: 't', reason: 'r' });
    assert.equal(published[0]!.options.contentType, 'text/plain');
    assert.equal(published[0]!.options.contentEncoding, 'gzip');
    assert.equal((published[0]!.options.headers as Record<string, unknown>)['x-logship-truncated'], 99);
    assert.equal(published[1]!.options.contentType, 'application/json');
    assert.equal(published[1]!.options.contentEncoding, undefined);
    assert.equal((published[1]!.options.headers as Record<string, unknown>)['x-logship-truncated'], undefined);
    await pub.close();
  });
});
